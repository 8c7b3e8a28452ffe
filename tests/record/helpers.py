"""Helpers of the record's tests: cases made through the real IncidentService, and the record
compared with Redis row by row."""

from __future__ import annotations

import psycopg
import redis

from incidents import keys
from incidents.service import IncidentService
from tests.incidents.conftest import Actors, Clock


def make_cases(svc: IncidentService, who: Actors, city, n: int, clock: Clock,  # noqa: ANN001
               town: str) -> list[str]:
    """``n`` cases in ``town`` through the real service; every third walked to 结案 (accept,
    register, dispatch to 城管, start, handle, verify, close), every third dispatched only."""
    cells = city.cells[city.cells["town_code"] == town].geometry
    ids = []
    for k in range(n):
        p = cells.iloc[k % len(cells)].representative_point()
        inc = svc.report(who.worker, "0107", p.x, p.y, correlate=False, description=f"第{k}件")
        ids.append(inc.id)
        clock.advance(30)
        if k % 3 == 2:
            continue
        svc.accept(inc.id, who.town)
        svc.register(inc.id, who.town)
        svc.dispatch(inc.id, who.town, ["CG"])
        if k % 3 == 1:
            continue
        svc.start(inc.id, who.cg)
        clock.advance(600)
        svc.handle(inc.id, who.cg, note="已处置")
        svc.verify(inc.id, who.town_sup, passed=True)
        svc.close(inc.id, who.town)
    return ids


def redis_view(r: redis.Redis, ids: list[str]) -> dict[str, tuple[int, list[str]]]:
    """id → (version, audit stream ids in order) as Redis holds them."""
    out = {}
    for i in ids:
        out[i] = (int(r.hget(keys.incident(i), "version")),
                  [eid for eid, _ in r.xrange(keys.audit(i))])
    return out


def record_view(url: str, ids: list[str]) -> dict[str, tuple[int, list[str]]]:
    """id → (version, audit stream ids by seq) as the record holds them; asserts seq is 1..n."""
    out = {}
    with psycopg.connect(url) as c:
        versions = dict(c.execute("SELECT id, version FROM incidents WHERE id = ANY(%s)",
                                  (ids,)).fetchall())
        trails: dict[str, list[tuple[int, str]]] = {i: [] for i in ids}
        for i, seq, sid in c.execute("SELECT incident_id, seq, stream_id FROM incident_audit "
                                     "WHERE incident_id = ANY(%s) ORDER BY incident_id, seq", (ids,)):
            trails[i].append((seq, sid))
    for i in ids:
        if i not in versions:
            continue
        assert [s for s, _ in trails[i]] == list(range(1, len(trails[i]) + 1)), i
        out[i] = (versions[i], [sid for _, sid in trails[i]])
    return out


def table_digest(url: str) -> dict[str, str]:
    """Every record table's content as one md5 each (``archived_at`` aside: when, not what)."""
    queries = {
        "incidents": "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM (SELECT id, version, "
                     "state, geom, record, closed_at FROM incidents) t",
        "incident_audit": "SELECT md5(string_agg(t::text, '|' ORDER BY incident_id, seq)) "
                          "FROM incident_audit t",
        "incident_tasks": "SELECT md5(string_agg(t::text, '|' ORDER BY incident_id, n)) "
                          "FROM incident_tasks t",
        "counts": "SELECT (SELECT count(*) FROM incidents) || '/' || "
                  "(SELECT count(*) FROM incident_audit) || '/' || (SELECT count(*) FROM incident_tasks)",
    }
    with psycopg.connect(url) as c:
        return {k: c.execute(q).fetchone()[0] for k, q in queries.items()}
