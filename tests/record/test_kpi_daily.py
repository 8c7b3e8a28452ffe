"""KPI rows per center and day (``kpi_daily``, issue 20; 考核 over a year, E14/E15): kept by the
archiver in the same transaction as the cases it writes, idempotent on re-archive, a case moved
to another center leaves its old row, and a period read from the rows (+ today's from the live
store) gives the same figures as the direct query over every case."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from app.pg import connector
from incidents import keys
from incidents.record import kpi_daily, rows
from incidents.record.archiver import Archiver, write_rows

from .helpers import make_cases


def _direct(url: str, d0, d1) -> list[tuple]:  # noqa: ANN001
    with psycopg.connect(url) as c:
        return c.execute(
            kpi_daily.DIRECT_SQL,
            {
                "since": datetime.fromtimestamp(kpi_daily.day_start(d0), UTC),
                "until": datetime.fromtimestamp(kpi_daily.day_start(d1), UTC),
                "city": "",
            },
        ).fetchall()


def _period(url: str, d0, d1, live=None) -> list[tuple]:  # noqa: ANN001
    with psycopg.connect(url) as c:
        return kpi_daily.period(c, d0, d1, live)


def _same(a: list[tuple], b: list[tuple]) -> None:
    assert [r[:4] + r[6:] for r in a] == [r[:4] + r[6:] for r in b]
    assert [r[4:6] for r in a] == [pytest.approx(r[4:6]) for r in b]


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT * FROM kpi_daily ORDER BY center, day").fetchall()


def test_kpi_rows_kept_by_the_archiver_match_the_direct_query(
    svc, who, here, clock, demo_city, redis_client, record_url
):
    d0 = kpi_daily.day_of(datetime.fromtimestamp(clock(), UTC))
    make_cases(svc, who, demo_city, 7, clock, here.town)
    clock.advance(86400)
    make_cases(svc, who, demo_city, 5, clock, here.town)
    a = Archiver(redis_client, connector(record_url, "t"), batch=4)
    a.drain()
    today = kpi_daily.day_of(datetime.fromtimestamp(clock(), UTC))
    d2 = today.fromordinal(today.toordinal() + 1)
    direct = _direct(record_url, d0, d2)
    assert sum(r[1] for r in direct) == 12 and any(r[2] for r in direct)
    _same(_period(record_url, d0, d2), direct)
    before = _rows(record_url)
    assert {r[1] for r in before} == {d0, today}
    # the whole feed again (a restart that lost its acknowledgements): the same rows
    redis_client.xgroup_setid(keys.FEED, keys.ARCHIVE_GROUP, "0")
    Archiver(redis_client, connector(record_url, "t2"), consumer="again").drain()
    assert _rows(record_url) == before
    # today from the live store: cases the archiver has not copied yet count too
    make_cases(svc, who, demo_city, 4, clock, here.town)
    live = kpi_daily.live_rows(
        kpi_daily.live_cases(redis_client, svc.store.load_many, kpi_daily.day_start(today))
    )
    assert sum(r["received"] for r in live) == 9
    from_rows = _period(record_url, d0, today, live)
    a.drain()
    _same(from_rows, _direct(record_url, d0, d2))


def test_a_case_moved_to_another_center_leaves_its_old_row(
    svc, who, here, clock, demo_city, redis_client, record_url
):
    ids = make_cases(svc, who, demo_city, 3, clock, here.town)
    Archiver(redis_client, connector(record_url, "t"), batch=10).drain()
    inc = svc.store.load(ids[0])
    old_center = inc.center
    inc.center, inc.version = "CITY-TEST", inc.version + 1
    with psycopg.connect(record_url) as c, c.transaction():
        write_rows(c, [rows.incident_row(inc)], [], [])
    got = {r[0]: r[2] for r in _rows(record_url)}
    assert got == {old_center: 2, "CITY-TEST": 1}


def test_place_rows_per_day_match_the_spatial_join(svc, who, here, clock, demo_city, redis_client,
                                                   record_url):
    """``place_daily``: the cases per town and cell and day, placed by PostGIS when the polygons
    arrive (``places.sync``) and kept by the archiver after — the same as ``ST_Within`` at query
    time over the same days."""
    from incidents.record import places  # noqa: PLC0415

    d0 = kpi_daily.day_of(datetime.fromtimestamp(clock(), UTC))
    make_cases(svc, who, demo_city, 4, clock, here.town)
    a = Archiver(redis_client, connector(record_url, "t"), batch=3)
    a.drain()
    with psycopg.connect(record_url, autocommit=True) as c:
        assert places.sync(c, demo_city) == len(demo_city.towns) + len(demo_city.cells)
        assert places.sync(c, demo_city) == 0
    clock.advance(86400)
    make_cases(svc, who, demo_city, 5, clock, here.town)
    a.drain()
    d2 = d0.fromordinal(d0.toordinal() + 2)
    since, until = kpi_daily.day_start(d0), kpi_daily.day_start(d2) - 0.001
    with psycopg.connect(record_url) as c:
        for kind in places.KINDS:
            daily = places.daily_breakdown(c, kind, d0, d2)
            assert daily == places.breakdown(c, kind, since, until)
            assert sum(r[3] for r in daily) == 9
