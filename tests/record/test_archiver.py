"""The archiver (issue 20, E32 trails kept for good, E18 复盘 over history): cases made through
the real IncidentService on the private Redis are copied into a real PostgreSQL + PostGIS —
newest version, audit trail in stream order, sub-tasks, stage times, geometry — idempotently
(the feed replayed changes nothing, an older version never overwrites a newer one), a trimmed
feed is caught up by the sweep, a case Redis no longer holds is found through the record, and
the geometry answers spatial SQL."""

from __future__ import annotations

import psycopg
import pytest

from app.pg import connector
from incidents import keys
from incidents.errors import Forbidden, NotFound
from incidents.record import rows, scope
from incidents.record.archiver import Archiver
from incidents.record.reader import ArchiveReader

from .helpers import make_cases, record_view, redis_view, table_digest


def archiver(r, url: str, **kw) -> Archiver:  # noqa: ANN001
    return Archiver(r, connector(url, "test-archiver"), batch=7, **kw)


@pytest.mark.also_on_cluster   # issue 20: the record of a city on Redis Cluster
def test_archiver_copies_cases_trails_tasks_and_stage_times(svc, who, here, clock, demo_city,
                                                            redis_client, record_url):
    ids = make_cases(svc, who, demo_city, 9, clock, here.town)
    a = archiver(redis_client, record_url)
    assert a.drain() == redis_client.xlen(keys.FEED)
    assert record_view(record_url, ids) == redis_view(redis_client, ids)
    assert redis_client.xpending(keys.FEED, keys.ARCHIVE_GROUP)["pending"] == 0
    closed = svc.store.load(ids[0])
    assert closed.state == "closed"
    with psycopg.connect(record_url) as c:
        row = c.execute("SELECT state, center, town_code, ST_X(geom), ST_Y(geom), ST_SRID(geom), "
                        "extract(epoch FROM reported_at), extract(epoch FROM closed_at), record "
                        "FROM incidents WHERE id = %s", (closed.id,)).fetchone()
        assert row[:3] == ("closed", closed.center, here.town)
        assert row[3:6] == (pytest.approx(closed.lon), pytest.approx(closed.lat), 4326)
        assert float(row[6]) == pytest.approx(closed.times["reported"])
        assert float(row[7]) == pytest.approx(closed.times["closed"])
        assert rows.incident_of(row[8]) == closed       # the whole case, exactly
        task = c.execute("SELECT center, state, handler FROM incident_tasks WHERE incident_id = %s",
                         (closed.id,)).fetchall()
        assert task == [(t.center, t.state, t.handler) for t in closed.tasks] != []
        actions = [a for (a,) in c.execute("SELECT action FROM incident_audit WHERE incident_id = "
                                           "%s ORDER BY seq", (closed.id,))]
    assert actions == [e["action"] for e in svc.timeline(closed.id, who.town)]
    assert actions[0] == "report" and actions[-1] == "close"


@pytest.mark.also_on_cluster   # issue 20: the record of a city on Redis Cluster
def test_replaying_the_feed_twice_changes_nothing(svc, who, here, clock, demo_city, redis_client,
                                                  record_url):
    ids = make_cases(svc, who, demo_city, 6, clock, here.town)
    archiver(redis_client, record_url).drain()
    before = table_digest(record_url)
    # the whole feed given again, to a new archiver (a restart that lost every acknowledgement)
    redis_client.xgroup_setid(keys.FEED, keys.ARCHIVE_GROUP, "0")
    again = archiver(redis_client, record_url, consumer="second")
    assert again.drain() == redis_client.xlen(keys.FEED)
    assert table_digest(record_url) == before
    # an older version arriving late never overwrites the newer one
    old = svc.store.load(ids[0])
    old.version, old.state = old.version - 3, "accepted"
    with psycopg.connect(record_url) as c:
        c.execute(rows.UPSERT_INCIDENT, rows.incident_row(old, scope.writer_city()))
    assert table_digest(record_url) == before
    assert record_view(record_url, ids) == redis_view(redis_client, ids)


def test_a_feed_trimmed_while_the_archiver_was_away_is_swept_in(svc, who, here, clock, demo_city,
                                                                redis_client, record_url):
    ids = make_cases(svc, who, demo_city, 3, clock, here.town)
    archiver(redis_client, record_url).drain()
    ids += make_cases(svc, who, demo_city, 4, clock, here.town)   # while it is away …
    redis_client.xtrim(keys.FEED, maxlen=0)                         # … the feed loses them
    back = archiver(redis_client, record_url)
    back.drain()
    assert back.stats["swept"] == 4
    assert record_view(record_url, ids) == redis_view(redis_client, ids)


def test_a_feed_trimmed_under_a_running_archiver_is_swept_in(svc, who, here, clock, demo_city,
                                                              redis_client, record_url):
    """The full rate trims the capped feed within seconds: an archiver that falls behind it
    (PostgreSQL slow) finds the gap before its next batch and sweeps the cases in."""
    a = archiver(redis_client, record_url)
    ids = make_cases(svc, who, demo_city, 3, clock, here.town)
    a.drain()
    ids += make_cases(svc, who, demo_city, 4, clock, here.town)
    redis_client.xtrim(keys.FEED, maxlen=2)                         # it had read none of them
    a.drain()
    assert a.stats["swept"] == 3 + 4        # the first 3: its group was new (swept at start)
    assert record_view(record_url, ids) == redis_view(redis_client, ids)


def test_a_case_redis_no_longer_holds_is_found_through_the_record(svc, who, here, clock, demo_city,
                                                                  redis_client, record_url):
    ids = make_cases(svc, who, demo_city, 3, clock, here.town)
    archiver(redis_client, record_url).drain()
    closed = svc.store.load(ids[0])
    trail = svc.timeline(closed.id, who.town)
    redis_client.delete(keys.incident(closed.id), keys.audit(closed.id))
    svc.store.forget(closed.id)
    with pytest.raises(NotFound):
        svc.get(closed.id, who.town)
    reader = ArchiveReader(connector(record_url, "test-reader"))
    svc.archive, svc.archive_trail = reader, reader.trail
    try:
        assert svc.get(closed.id, who.town) == closed
        assert svc.timeline(closed.id, who.town) == trail        # the trail too, as it was
        with pytest.raises(Forbidden):      # the same read scope as a live case (S1/S2)
            svc.get(closed.id, who.other_town)
        with pytest.raises(NotFound):
            svc.get("NO-SUCH-CASE", who.town)
    finally:
        reader.close()


def test_spatial_queries_on_the_archived_geometry(svc, who, here, clock, demo_city, redis_client,
                                                  record_url):
    other = who.other_worker
    ids = make_cases(svc, who, demo_city, 4, clock, here.town)
    other_town = who.other_town.center[1:]
    cells = demo_city.cells[demo_city.cells["town_code"] == other_town]
    for k in range(3):
        p = cells.geometry.iloc[k].representative_point()
        ids.append(svc.report(other, "0107", p.x, p.y, correlate=False).id)
    archiver(redis_client, record_url).drain()
    towns = demo_city.towns
    with psycopg.connect(record_url) as c:
        by_polygon = {}
        for code, geom in zip(towns["code"], towns.geometry, strict=True):
            n = c.execute("SELECT count(*) FROM incidents WHERE "
                          "ST_Within(geom, ST_GeomFromText(%s, 4326))", (geom.wkt,)).fetchone()[0]
            if n:
                by_polygon[str(code)] = n
        by_code = dict(c.execute("SELECT town_code, count(*) FROM incidents GROUP BY town_code"))
        assert by_polygon == by_code == {here.town: 4, other_town: 3}
        first = svc.store.load(ids[0])
        near = c.execute("SELECT array_agg(id) FROM incidents WHERE ST_DWithin(geom::geography, "
                         "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, 1.0)",
                         (first.lon, first.lat)).fetchone()[0]
        assert first.id in near


def test_what_cannot_be_archived_is_kept_with_its_reason(svc, who, here, clock, demo_city,
                                                        redis_client, record_url):
    ids = make_cases(svc, who, demo_city, 2, clock, here.town)
    redis_client.xadd(keys.FEED, {"e": "not json"})                     # a broken feed entry
    redis_client.hset(keys.incident("BAD-1"), mapping={"state": "reported"})   # no category
    redis_client.xadd(keys.FEED, {"e": '{"id": "BAD-1"}'})
    a = archiver(redis_client, record_url)
    a.drain()
    assert record_view(record_url, ids) == redis_view(redis_client, ids)   # the rest is stored
    with psycopg.connect(record_url) as c:
        kept = c.execute("SELECT source, key, reason FROM archive_rejects ORDER BY id").fetchall()
    assert [(s, k) for s, k, _ in kept][-1] == ("incident", "BAD-1")
    assert kept[0][0] == "feed" and "incident id" in kept[0][2]
    assert a.stats["rejected"] == 2
    assert redis_client.xpending(keys.FEED, keys.ARCHIVE_GROUP)["pending"] == 0


def test_bulk_path_copies_straight_in_then_upserts_a_repeat_and_newer_versions(
        svc, who, here, clock, demo_city, redis_client, record_url):
    """归档导入 (``bulk_load``): the same rows as the feed path — a batch the record holds none
    of is COPYed straight in, a repeat goes through the upserts and changes nothing, a newer
    version replaces the row; the daily KPI rows count each case once."""
    from incidents.record.archiver import bulk_load  # noqa: PLC0415

    ids = make_cases(svc, who, demo_city, 5, clock, here.town)
    items = [(svc.store.load(i), [(eid, f) for eid, f in redis_client.xrange(keys.audit(i))])
             for i in ids]
    with psycopg.connect(record_url, autocommit=True) as c:
        assert bulk_load(c, items) == (5, sum(len(t) for _, t in items))
    assert record_view(record_url, ids) == redis_view(redis_client, ids)
    digest = table_digest(record_url)
    with psycopg.connect(record_url, autocommit=True) as c:
        bulk_load(c, items)                             # a repeat: nothing changes
        assert table_digest(record_url) == digest
        inc = items[0][0]
        inc.version += 1
        inc.title = "新版本"
        bulk_load(c, [(inc, items[0][1])])
        got = c.execute("SELECT version, record->>'title', ST_X(geom), ST_Y(geom) FROM incidents "
                        "WHERE id = %s", (inc.id,)).fetchone()
        assert got == (inc.version, "新版本", pytest.approx(inc.lon), pytest.approx(inc.lat))
        assert c.execute("SELECT sum(received) FROM kpi_daily").fetchone()[0] == 5
