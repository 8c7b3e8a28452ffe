"""Whose cities the record's reads cover (issue 20: several cities in one deployment, T13,
T27–T29). Every table of the record that a city's workers write carries the city's keyspace
tag (``city``, migrations/versions/0007_record_city.py: ``""`` on an untagged single-city
deployment), so that two cities' cases — whose numbers are per city — never mix.

- Writers (the archiver, the copiers, the retention) write ``keyspace.current()`` at the time
  they were made: each city has its own workers.
- Readers filter by ``city()``: the city the code works for now (``grid.keyspace.use``), or
  every city inside ``all_cities()`` (the prefecture center's reads, ``incidents.cities``).
  The web sets both per request from the logged-in user (``app.context.scope_request``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from grid import keyspace

_ALL: contextvars.ContextVar[bool] = contextvars.ContextVar("onemap_record_all_cities",
                                                            default=False)

CITY_FILTER = "(%(city)s::text IS NULL OR {col} = %(city)s::text)"
"""The SQL condition of a read: ``city`` None (the prefecture) is every city."""


def city() -> str | None:
    """The city a read covers (None: every city, the prefecture's reads)."""
    return None if _ALL.get() else keyspace.current()


def writer_city() -> str:
    """The city a writer made now writes (its keyspace tag; "" untagged)."""
    return keyspace.current()


def where(col: str = "city") -> str:
    """``CITY_FILTER`` on column ``col`` (named parameter ``%(city)s``)."""
    return CITY_FILTER.format(col=col)


@contextmanager
def all_cities() -> Iterator[None]:
    """Reads inside the block cover every city (the prefecture center, 地市指挥中心)."""
    token = _ALL.set(True)
    try:
        yield
    finally:
        _ALL.reset(token)


def set_all(on: bool) -> contextvars.Token:
    """Set for a request (``app.context.scope_request``): reset with ``reset(token)``."""
    return _ALL.set(on)


def reset(token: contextvars.Token) -> None:
    _ALL.reset(token)


__all__ = ["CITY_FILTER", "all_cities", "city", "reset", "set_all", "where", "writer_city"]
