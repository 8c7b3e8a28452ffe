"""保留期 (retention, issue 20: "a closed incident leaves Redis after a configurable retention
only once the archive has confirmed it; nothing is ever in neither place"), on the private
Redis and PostgreSQL + PostGIS: a closed case past the retention that the record holds whole
leaves Redis (hash, trail, every index) and is still found by id with its timeline; one the
record lacks stays; one changed after the check (回访 on a closed case: the race a reopen is)
is never evicted; a retention process killed with SIGKILL mid-pass leaves every case whole in
at least one place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from app.pg import connector
from incidents import keys
from incidents.record.archiver import Archiver
from incidents.record.reader import ArchiveReader
from incidents.record.retention import Retention, index_keys

from .helpers import make_cases

DAY = 86400.0


def setup(svc, who, here, clock, city, r, url, n: int = 6):  # noqa: ANN001, ANN201
    """``n`` cases (every third closed), archived; the reader attached to the service."""
    ids = make_cases(svc, who, city, n, clock, here.town)
    Archiver(r, connector(url)).drain()
    reader = ArchiveReader(connector(url))
    svc.archive, svc.archive_trail = reader, reader.trail
    closed = [i for i in ids if r.hget(keys.incident(i), "state") == "closed"]
    return ids, closed


def members(r, inc) -> list[str]:  # noqa: ANN001
    """The indexes that still name the case."""
    return [k for k in index_keys(inc) if r.zscore(k, inc.id) is not None]


@pytest.mark.also_on_cluster   # issue 20: the record of a city on Redis Cluster
def test_closed_confirmed_cases_leave_redis_and_are_found_by_id_with_their_timeline(
        svc, who, here, clock, demo_city, redis_client, record_url):
    r = redis_client
    ids, closed = setup(svc, who, here, clock, demo_city, r, record_url)
    before = {i: svc.timeline(i, who.town) for i in closed}
    incs = {i: svc.store.load(i) for i in closed}
    kpi_keys = sorted(r.scan_iter(match=keys.kpi("*", "*")))
    kpi_before = {k: r.hgetall(k) for k in kpi_keys}
    ret = Retention(r, connector(record_url), 7 * DAY, clock=clock)

    assert ret.pass_() == 0                 # closed just now: within the retention
    clock.advance(7 * DAY + 1)
    assert ret.pass_() == len(closed) == 2
    for i in closed:
        assert not r.exists(keys.incident(i), keys.audit(i))
        assert members(r, incs[i]) == []
        assert svc.get(i, who.town).state == "closed"       # falls through to the record
        assert svc.timeline(i, who.town) == before[i]
    # open cases stay, KPI counters stay
    for i in set(ids) - set(closed):
        assert r.exists(keys.incident(i)) and r.zscore(keys.ALL, i) is not None
    assert {k: r.hgetall(k) for k in kpi_keys} == kpi_before
    # view "all" lists what Redis holds: the open cases (history is the record's)
    listed = {i.id for i in svc.list_queue(who.town, view="all", limit=100)}
    assert listed and not listed & set(closed)
    assert ret.pass_() == 0                 # nothing left to do, nothing done twice


def test_a_case_the_record_lacks_or_lags_on_stays(svc, who, here, clock, demo_city,
                                                   redis_client, record_url):
    r = redis_client
    ids = make_cases(svc, who, demo_city, 3, clock, here.town)   # one closed, never archived
    closed = next(i for i in ids if r.hget(keys.incident(i), "state") == "closed")
    clock.advance(8 * DAY)
    ret = Retention(r, connector(record_url), 7 * DAY, clock=clock)
    assert ret.pass_() == 0
    assert r.exists(keys.incident(closed), keys.audit(closed)) == 2
    assert ret.stats["unconfirmed"] == 1
    # archived, then a refusal lands on its trail (no version change, no feed entry): the
    # record lags on the trail, so it stays until the retention has it copied
    Archiver(r, connector(record_url)).drain()
    svc.store.audit_denied(who.cg, "close", "测试拒绝", closed, clock())
    assert ret.pass_() == 0 and r.exists(keys.incident(closed))
    ret.archive = Archiver(r, connector(record_url)).archive     # what the process wires
    assert ret.pass_() == 0 and ret.stats["archived"] == 1        # copied this pass
    assert ret.pass_() == 1 and not r.exists(keys.incident(closed))


def test_a_case_changed_after_the_check_is_never_evicted(svc, who, here, clock, demo_city,
                                                          redis_client, record_url):
    r = redis_client
    _, closed = setup(svc, who, here, clock, demo_city, r, record_url, n=3)
    case = closed[0]
    clock.advance(8 * DAY)
    ret = Retention(r, connector(record_url), 7 * DAY, clock=clock)
    due = ret.due([case], clock() - 7 * DAY)
    confirmed = ret.confirmed(due)
    assert list(confirmed) == [case]
    # the race: the case changes between the check and the eviction (回访 on the closed case
    # bumps its version as a reopen does); the script's guard refuses
    svc.callback(case, who.town, 5, note="满意")
    assert ret.evict([(due[0], confirmed[case])]) == 0
    assert ret.stats["changed"] == 1
    assert r.exists(keys.incident(case), keys.audit(case)) == 2
    assert r.zscore(keys.ALL, case) is not None
    # the record has not got the 回访 yet: later passes keep it until it has
    assert ret.pass_() == 0
    Archiver(r, connector(record_url)).drain()
    clock.advance(8 * DAY)
    assert ret.pass_() == 1


_PROC = """
import sys, time
import redis
from app.pg import connector
from incidents.record.retention import Retention
r = redis.Redis.from_url(sys.argv[1], decode_responses=True)
ret = Retention(r, connector(sys.argv[2]), 1.0, clock=lambda: time.time() + 10 * 365 * 86400,
                page=1)
while True:
    ret.pass_()
"""


def test_kill_9_mid_eviction_leaves_every_case_in_at_least_one_place(
        svc, who, here, clock, demo_city, redis_client, redis_service, record_url):
    r = redis_client
    ids, closed = setup(svc, who, here, clock, demo_city, r, record_url, n=24)
    assert len(closed) == 8
    trails = {i: [e for e, _ in r.xrange(keys.audit(i))] for i in closed}
    # one case at a time (page=1); writes paused once the first has gone: the process is
    # killed between two evictions, its next script waiting
    proc = subprocess.Popen([sys.executable, "-c", _PROC, redis_service.url, record_url],
                            env=dict(os.environ), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while r.zcard(keys.ALL) == len(ids):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no case evicted"
            time.sleep(0.01)
        r.execute_command("CLIENT", "PAUSE", "30000", "WRITE")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    gone = [i for i in closed if not r.exists(keys.incident(i))]
    assert 1 <= len(gone) < len(closed)
    with psycopg.connect(record_url) as c:
        held = {i: [s for (s,) in c.execute("SELECT stream_id FROM incident_audit WHERE "
                                            "incident_id = %s ORDER BY seq", (i,))]
                for i in closed}
    for i in closed:
        in_redis = [e for e, _ in r.xrange(keys.audit(i))]
        # whole in Redis (hash and trail), or gone from Redis and whole in the record
        if r.exists(keys.incident(i)):
            assert in_redis == trails[i]
        else:
            assert in_redis == [] and held[i] == trails[i]
            assert svc.get(i, who.town).id == i
