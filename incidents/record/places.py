"""The city's towns and grid cells in the record (``places``, issue 20) and the history's
breakdown by them in PostGIS: which case lies in which polygon (``ST_Within`` on the case's
point), for any period the record holds. The polygons come from the city model (``sync``)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from incidents.record import scope

KINDS = ("town", "cell")

_UPSERT = """
INSERT INTO places (kind, code, name, town_code, geom, city)
VALUES (%s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), %s)
ON CONFLICT (city, kind, code) DO UPDATE SET name = EXCLUDED.name, town_code = EXCLUDED.town_code,
    geom = EXCLUDED.geom
"""


def sync(conn: psycopg.Connection, city, tag: str | None = None) -> int:  # noqa: ANN001 (grid.model.City)
    """Put the city's towns and cells in ``places`` (as the places of city ``tag``, default
    ``scope.writer_city()``) when they are not there yet (counted by kind): returns how many
    were written (0: already there)."""
    tag = scope.writer_city() if tag is None else tag
    have = dict(conn.execute("SELECT kind, count(*) FROM places WHERE city = %s GROUP BY kind",
                             (tag,)).fetchall())
    rows = []
    if have.get("town", 0) != len(city.towns):
        rows += [("town", str(t.code), str(t.name), str(t.code), t.geometry.wkt, tag)
                 for t in city.towns.itertuples()]
    if have.get("cell", 0) != len(city.cells):
        names = {}
        if "name" in city.cells:
            names = dict(zip(city.cells["code"].astype(str), city.cells["name"].astype(str),
                             strict=True))
        rows += [("cell", str(c.code), names.get(str(c.code), str(c.code)), str(c.town_code),
                  c.geometry.wkt, tag) for c in city.cells.itertuples()]
    if rows:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_UPSERT, rows)
            # the polygons changed: every day's placement again
            cur.execute(_LOCK_ALL)
            cur.execute("DELETE FROM place_daily WHERE city = %s", (tag,))
            cur.execute(_DAILY_ALL, {"city": tag})
    return len(rows)


_LOCK_ALL = "SELECT pg_advisory_xact_lock(hashtextextended('place_daily', 0))"
_DAILY_ALL = """
INSERT INTO place_daily (kind, code, day, received, closed, voided, city)
SELECT p.kind, p.code, ((i.created_at AT TIME ZONE 'UTC') + interval '8 hours')::date AS day,
       count(*), count(i.closed_at), count(i.voided_at), %(city)s
FROM incidents i JOIN places p ON p.city = i.city AND ST_Within(i.geom, p.geom)
WHERE i.city = %(city)s
GROUP BY 1, 2, 3
"""


_DAILY_DAYS = """
INSERT INTO place_daily (kind, code, day, received, closed, voided, city)
SELECT p.kind, p.code, g.day, count(*), count(i.closed_at), count(i.voided_at), %(city)s
FROM unnest(%(days)s::date[]) g(day)
JOIN incidents i
  ON i.city = %(city)s
 AND i.created_at >= (g.day::timestamp - interval '8 hours') AT TIME ZONE 'UTC'
 AND i.created_at < (g.day::timestamp + interval '16 hours') AT TIME ZONE 'UTC'
JOIN places p ON p.city = i.city AND ST_Within(i.geom, p.geom)
GROUP BY 1, 2, 3
"""


def refresh_daily(conn: psycopg.Connection, days: set, city: str = "") -> None:
    """Recompute ``place_daily`` of ``city`` for these CST days from ``incidents`` and ``places`` (in the
    caller's transaction: the archiver's batch). One lock for the table (the days of two
    archivers' batches overlap, and a day's rows are rewritten whole)."""
    if not days:
        return
    d = sorted(days)
    conn.execute(_LOCK_ALL)
    conn.execute("DELETE FROM place_daily WHERE city = %s AND day = ANY(%s)", (city, d))
    conn.execute(_DAILY_DAYS, {"days": d, "city": city})


DAILY_SQL = """
SELECT p.code, p.name, p.town_code, sum(d.received)::int, sum(d.closed)::int, sum(d.voided)::int
FROM place_daily d JOIN places p USING (city, kind, code)
WHERE d.kind = %(kind)s AND d.day >= %(d0)s AND d.day < %(d1)s AND {city}
GROUP BY p.code, p.name, p.town_code ORDER BY 4 DESC, p.code
"""


def daily_breakdown(conn: psycopg.Connection, kind: str, d0, d1) -> list[tuple]:  # noqa: ANN001
    """``breakdown``'s rows for the whole CST days d0 ≤ day < d1 from ``place_daily`` (every
    case: for a viewer who reads the whole city; of the reader's city, ``scope.city()``)."""
    return conn.execute(DAILY_SQL.format(city=scope.where("d.city")),
                        {"kind": kind, "d0": d0, "d1": d1, "city": scope.city()}).fetchall()


BREAKDOWN_SQL = """
SELECT p.code, p.name, p.town_code, count(i.id)::int AS received,
       count(i.closed_at)::int AS closed, count(i.voided_at)::int AS voided
FROM places p JOIN incidents i ON i.city = p.city AND ST_Within(i.geom, p.geom)
WHERE p.kind = %(kind)s AND i.created_at >= %(since)s AND i.created_at <= %(until)s
  AND {city} {ids}
GROUP BY p.code, p.name, p.town_code ORDER BY received DESC, p.code
"""


def breakdown(conn: psycopg.Connection, kind: str, since: float, until: float,
              ids: list[str] | None = None) -> list[tuple]:
    """(code, name, town_code, received, closed, voided) per town or cell (``kind``) of the
    cases created in [since, until] lying inside it; ``ids``: only these cases (what the viewer
    may read, decided by the one policy before)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    sql = BREAKDOWN_SQL.format(ids="AND i.id = ANY(%(ids)s)" if ids is not None else "",
                               city=scope.where("i.city"))
    return conn.execute(sql, {"kind": kind, "since": datetime.fromtimestamp(since, UTC),
                              "until": datetime.fromtimestamp(until, UTC), "ids": ids,
                              "city": scope.city()}).fetchall()


CASES_SQL = f"""
SELECT record FROM incidents WHERE created_at >= %(since)s AND created_at <= %(until)s
  AND {scope.where()} ORDER BY created_at LIMIT %(limit)s
"""


def cases(conn: psycopg.Connection, since: float, until: float, limit: int) -> list[dict]:
    """The archived cases (their ``record``) created in [since, until], oldest first, of the
    reader's city (``scope.city()``)."""
    return [r for (r,) in conn.execute(CASES_SQL, {
        "since": datetime.fromtimestamp(since, UTC), "until": datetime.fromtimestamp(until, UTC),
        "limit": limit, "city": scope.city()})]


__all__ = ["BREAKDOWN_SQL", "DAILY_SQL", "KINDS", "breakdown", "cases", "daily_breakdown",
           "refresh_daily", "sync"]
