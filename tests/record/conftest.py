"""Fixtures of the record's tests (issue 20): one private PostgreSQL 15 + PostGIS for the whole
session (``app.pg.start_postgres``), a fresh database per test made from its template (a copy,
not a new CREATE EXTENSION), the schema migrated, and an incident service on the private Redis.
PostgreSQL missing fails the suite (never a skip): scripts/install-system.sh installs it."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.pg import DATABASE, PgService, migrate, start_postgres
from incidents.service import IncidentService
from tests.incidents.conftest import Actors, Clock, Place, point_in

_DBS = itertools.count(1)


@pytest.fixture(scope="session")
def pg_service() -> Iterator[PgService]:
    """A private PostgreSQL + PostGIS on a free port for the whole session (no fsync: tests).
    Its data dir is under /tmp (reachable by the ``postgres`` user when tests run as root)."""
    data = Path(tempfile.mkdtemp(prefix="onemap-pg-test-"))
    svc = start_postgres(data, durable=False)
    yield svc
    svc.stop()
    shutil.rmtree(data, ignore_errors=True)


def admin_url(svc: PgService) -> str:
    return svc.url.rsplit("/", 1)[0] + "/postgres"


def _copy(svc: PgService, template: str) -> str:
    name = f"t{next(_DBS)}"
    with psycopg.connect(admin_url(svc), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return svc.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def pg_url(pg_service: PgService) -> str:
    """A fresh empty database with PostGIS (a copy of the instance's ``onemap`` database)."""
    return _copy(pg_service, DATABASE)


@pytest.fixture(scope="session")
def _record_template(pg_service: PgService) -> str:
    """A database migrated to head once per session: each test's record is a copy of it."""
    url = _copy(pg_service, DATABASE)
    migrate(url)
    return url.rsplit("/", 1)[1]


@pytest.fixture
def record_url(pg_service: PgService, _record_template: str) -> str:
    """A fresh database with the record's schema at head (a copy of the migrated template)."""
    return _copy(pg_service, _record_template)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(redis_client, demo_city, clock) -> IncidentService:  # noqa: ANN001
    return IncidentService(redis_client, demo_city, clock=clock)


@pytest.fixture
def here(demo_city) -> Place:  # noqa: ANN001
    return point_in(demo_city, 100)


@pytest.fixture
def who(demo_city, here: Place) -> Actors:  # noqa: ANN001
    for i in range(len(demo_city.cells) - 1, 0, -1):
        p = point_in(demo_city, i)
        if p.town != here.town:
            return Actors(here, p)
    raise AssertionError("demo city has one town only")
