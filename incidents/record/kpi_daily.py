"""KPI rows per center and day in the record (``kpi_daily``, issue 20; 考核 over a year, E14/E15).

One row per (owning center, CST day of creation): received, closed, voided, accepted within an
hour, and the close times (closed − reported, s; their sum and every value, sorted), so that a
period's mean and p90 are exact and a year's KPIs read 365 × centers rows instead of every case.

Kept by the archiver: ``write_rows`` (the archiver's batch and its bulk path) asks ``held`` for
the groups its incidents were in before the upsert, then ``refresh``es those and the new ones
from ``incidents`` in the same transaction — a case moved to another center leaves its old row,
a re-archive recomputes the same figures (idempotent). ``period`` reads whole days from the
rows and today's from the live store (``live_rows`` over today's cases in Redis), the same
figures as a direct query over ``incidents`` (tests/record/test_kpi_daily.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import psycopg
import redis

from incidents import keys
from incidents.incident import Incident
from incidents.record import scope
from incidents.record.rows import INCIDENT_COLUMNS

CST = timedelta(hours=8)
"""KPI days are China Standard Time days (as ``incidents.kpi`` counts them)."""

COLUMNS = ("center", "received", "closed", "voided", "mean_close_s", "p90_close_s", "accepted_1h")
"""What ``period`` answers per center, in this order (the bench's year query's columns)."""

Group = tuple[str, date]


def day_of(ts: datetime) -> date:
    """The CST day of a time (aware, or naive UTC)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return (ts + CST).date()


_CENTER, _CREATED = INCIDENT_COLUMNS.index("center"), INCIDENT_COLUMNS.index("created_at")


def groups_of(incident_rows: Iterable[tuple]) -> set[Group]:
    """The (center, day) of each ``rows.incident_row``."""
    return {(r[_CENTER], day_of(r[_CREATED])) for r in incident_rows if r[_CREATED]}


def held(conn: psycopg.Connection, ids: list[str], city: str = "") -> set[Group]:
    """The groups these incidents of ``city`` are in now (before a batch rewrites them)."""
    if not ids:
        return set()
    return {
        (c, day_of(t))
        for c, t in conn.execute("SELECT center, created_at FROM incidents WHERE city = %s "
                                 "AND id = ANY(%s)", (city, ids))
    }


_LOCK = """
SELECT pg_advisory_xact_lock(hashtextextended('kpi_daily:' || %s::text || ':' || g.center
                                              || ':' || g.day, 0))
FROM unnest(%s::text[], %s::date[]) g(center, day) ORDER BY g.center, g.day
"""
_DELETE = """
DELETE FROM kpi_daily k USING unnest(%s::text[], %s::date[]) g(center, day)
WHERE k.city = %s AND k.center = g.center AND k.day = g.day
"""
_REFRESH = """
INSERT INTO kpi_daily (center, day, received, closed, voided, accepted_1h, close_n, close_s_sum,
                       close_s, city)
SELECT g.center, g.day, count(*), count(i.closed_at), count(i.voided_at),
       count(*) FILTER (WHERE i.accepted_at - i.reported_at <= interval '1 hour'),
       count(i.closed_at - i.reported_at),
       coalesce(sum(extract(epoch FROM i.closed_at - i.reported_at)), 0),
       coalesce(array_agg(extract(epoch FROM i.closed_at - i.reported_at)::float8
                          ORDER BY i.closed_at - i.reported_at)
                FILTER (WHERE i.closed_at - i.reported_at IS NOT NULL), '{}'), %s::text
FROM unnest(%s::text[], %s::date[]) g(center, day)
JOIN incidents i ON i.city = %s AND i.center = g.center
 AND i.created_at >= (g.day::timestamp - interval '8 hours') AT TIME ZONE 'UTC'
 AND i.created_at < (g.day::timestamp + interval '16 hours') AT TIME ZONE 'UTC'
GROUP BY g.center, g.day
"""


def refresh(conn: psycopg.Connection, groups: set[Group], city: str = "") -> None:
    """Recompute these groups' rows of ``city`` from ``incidents`` (in the caller's transaction); a group
    left with no case loses its row. Each group is locked for the transaction (an advisory
    lock, in one order), so that two archivers never count the same day from different
    snapshots: the second reads after the first committed."""
    if not groups:
        return
    g = sorted(groups)
    args = ([c for c, _ in g], [d for _, d in g])
    conn.execute(_LOCK, (city, *args))
    conn.execute(_DELETE, (*args, city))
    conn.execute(_REFRESH, (city, *args, city))


def live_rows(cases: Iterable[Incident]) -> list[dict[str, Any]]:
    """``kpi_daily``'s figures from cases as the live store holds them (today's, not yet final):
    one dict per center, the same columns as a row (``day`` left out)."""
    out: dict[str, dict[str, Any]] = {}
    for inc in cases:
        t = inc.times
        row = out.setdefault(
            inc.center,
            {
                "center": inc.center,
                "received": 0,
                "closed": 0,
                "voided": 0,
                "accepted_1h": 0,
                "close_n": 0,
                "close_s_sum": 0.0,
                "close_s": [],
            },
        )
        row["received"] += 1
        row["closed"] += "closed" in t
        row["voided"] += "voided" in t
        rep = t.get("reported")
        if rep and t.get("accepted") and t["accepted"] - rep <= 3600:
            row["accepted_1h"] += 1
        if rep and "closed" in t:
            s = float(t["closed"] - rep)
            row["close_n"] += 1
            row["close_s_sum"] += s
            row["close_s"].append(s)
    return list(out.values())


def live_cases(
    r: redis.Redis, load_many: Callable[[list[str]], list[Incident]], since: float
) -> list[Incident]:
    """The cases the live store holds created at or after ``since`` (``keys.ALL`` is scored by
    creation time): today's, for ``live_rows``."""
    return load_many(r.zrangebyscore(keys.ALL, since, "+inf"))


def day_start(day: date) -> float:
    """Epoch seconds of a CST day's start."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() - CST.total_seconds()


PERIOD_SQL = """
WITH d AS (
    SELECT center, received, closed, voided, accepted_1h, close_n, close_s_sum, close_s
    FROM kpi_daily WHERE day >= %(d0)s AND day < %(d1)s AND {city} {centers}
    UNION ALL
    SELECT center, received, closed, voided, accepted_1h, close_n, close_s_sum, close_s
    FROM jsonb_to_recordset(%(live)s::jsonb) AS l(center text, received int, closed int,
        voided int, accepted_1h int, close_n int, close_s_sum float8, close_s float8[])
)
SELECT c.center, c.received, c.closed, c.voided, c.mean_close_s, p.p90, c.accepted_1h
FROM (SELECT center, sum(received)::int AS received, sum(closed)::int AS closed,
             sum(voided)::int AS voided, sum(close_s_sum) / nullif(sum(close_n), 0) AS mean_close_s,
             sum(accepted_1h)::int AS accepted_1h
      FROM d GROUP BY center) c
LEFT JOIN (SELECT center, percentile_cont(0.9) WITHIN GROUP (ORDER BY s) AS p90
           FROM d, unnest(d.close_s) s GROUP BY center) p USING (center)
ORDER BY c.center
"""

DIRECT_SQL = f"""
SELECT center, count(*)::int, count(closed_at)::int, count(voided_at)::int,
       avg(extract(epoch FROM closed_at - reported_at))::float8,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - reported_at)),
       (count(*) FILTER (WHERE accepted_at - reported_at <= interval '1 hour'))::int
FROM incidents WHERE created_at >= %(since)s AND created_at < %(until)s AND {scope.where()}
GROUP BY center ORDER BY center
"""
"""The same figures straight from every case of the period (what ``period`` replaces; kept
for tests and for a period that does not start and end on CST days); parameters ``since``,
``until`` and ``city`` (``scope.city()``)."""


def period(
    conn: psycopg.Connection,
    d0: date,
    d1: date,
    live: list[dict] | None = None,
    centers: list[str] | None = None,
) -> list[tuple]:
    """KPIs per center (``COLUMNS``) of the cases created on CST days ``d0`` ≤ day < ``d1``
    from ``kpi_daily``, plus ``live`` rows (``live_rows`` of the cases of days the caller
    reads from the live store: give ``d1`` = that first day). ``centers``: only those. Of the
    reader's city (``scope.city()``: every city for the prefecture)."""
    sql = PERIOD_SQL.format(centers="AND center = ANY(%(centers)s)" if centers else "",
                            city=scope.where())
    return conn.execute(
        sql, {"d0": d0, "d1": d1, "centers": centers, "live": orjson.dumps(live or []).decode(),
              "city": scope.city()}
    ).fetchall()


__all__ = [
    "COLUMNS",
    "CST",
    "DIRECT_SQL",
    "day_of",
    "day_start",
    "live_cases",
    "groups_of",
    "held",
    "live_rows",
    "period",
    "refresh",
]
