"""The city's towns and grid cells in the record (``places``, issue 20) and the history's
breakdown by them in PostGIS: which case lies in which polygon (``ST_Within`` on the case's
point), for any period the record holds. The polygons come from the city model (``sync``)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

KINDS = ("town", "cell")

_UPSERT = """
INSERT INTO places (kind, code, name, town_code, geom)
VALUES (%s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)))
ON CONFLICT (kind, code) DO UPDATE SET name = EXCLUDED.name, town_code = EXCLUDED.town_code,
    geom = EXCLUDED.geom
"""


def sync(conn: psycopg.Connection, city) -> int:  # noqa: ANN001 (grid.model.City)
    """Put the city's towns and cells in ``places`` when they are not there yet (counted by
    kind): returns how many were written (0: already there)."""
    have = dict(conn.execute("SELECT kind, count(*) FROM places GROUP BY kind").fetchall())
    rows = []
    if have.get("town", 0) != len(city.towns):
        rows += [("town", str(t.code), str(t.name), str(t.code), t.geometry.wkt)
                 for t in city.towns.itertuples()]
    if have.get("cell", 0) != len(city.cells):
        names = {}
        if "name" in city.cells:
            names = dict(zip(city.cells["code"].astype(str), city.cells["name"].astype(str),
                             strict=True))
        rows += [("cell", str(c.code), names.get(str(c.code), str(c.code)), str(c.town_code),
                  c.geometry.wkt) for c in city.cells.itertuples()]
    if rows:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_UPSERT, rows)
    return len(rows)


BREAKDOWN_SQL = """
SELECT p.code, p.name, p.town_code, count(i.id)::int AS received,
       count(i.closed_at)::int AS closed, count(i.voided_at)::int AS voided
FROM places p JOIN incidents i ON ST_Within(i.geom, p.geom)
WHERE p.kind = %(kind)s AND i.created_at >= %(since)s AND i.created_at <= %(until)s
  {ids}
GROUP BY p.code, p.name, p.town_code ORDER BY received DESC, p.code
"""


def breakdown(conn: psycopg.Connection, kind: str, since: float, until: float,
              ids: list[str] | None = None) -> list[tuple]:
    """(code, name, town_code, received, closed, voided) per town or cell (``kind``) of the
    cases created in [since, until] lying inside it; ``ids``: only these cases (what the viewer
    may read, decided by the one policy before)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    sql = BREAKDOWN_SQL.format(ids="AND i.id = ANY(%(ids)s)" if ids is not None else "")
    return conn.execute(sql, {"kind": kind, "since": datetime.fromtimestamp(since, UTC),
                              "until": datetime.fromtimestamp(until, UTC), "ids": ids}).fetchall()


CASES_SQL = """
SELECT record FROM incidents WHERE created_at >= %s AND created_at <= %s
ORDER BY created_at LIMIT %s
"""


def cases(conn: psycopg.Connection, since: float, until: float, limit: int) -> list[dict]:
    """The archived cases (their ``record``) created in [since, until], oldest first."""
    return [r for (r,) in conn.execute(CASES_SQL, (datetime.fromtimestamp(since, UTC),
                                                   datetime.fromtimestamp(until, UTC), limit))]


__all__ = ["BREAKDOWN_SQL", "KINDS", "breakdown", "cases", "sync"]
