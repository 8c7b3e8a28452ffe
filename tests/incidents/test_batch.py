"""IncidentService.batch(): a queue batch worked in one round trip, still atomic per action,
chained per incident, and redone one by one when a concurrent change got in between."""

from __future__ import annotations

import time

import pytest

from incidents import defaults as D
from incidents import invariants
from incidents.errors import Forbidden, InvalidTransition
from incidents.service import IncidentService


def actions(svc, inc_id, actor):
    return [e["action"] for e in svc.timeline(inc_id, actor) if not e["action"].startswith("denied")]


def test_batch_applies_chained_actions(svc, who, here):
    """A batch's actions land in order, chained pairs in one call each; a long batch is sent in
    chunks while it is prepared (the server works meanwhile), never splitting a pair."""
    ids = [svc.report(who.worker, "0107", here.lon, here.lat, correlate=False).id for _ in range(20)]
    calls_before = int(svc.r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    assert len(ids) * 2 > D.BATCH_SEND_EVERY        # this batch is sent in chunks
    with svc.batch() as b:
        for k, i in enumerate(ids):
            assert svc.accept(i, who.town).state == "accepted"           # predicted
            if k == 0:
                assert svc.get(i, who.town).state == "reported"         # nothing sent yet
            svc.dispatch(i, who.town, ["CG"])
        # the first chunk went out while the rest was prepared: it lands before the block ends
        # (read on another connection: wait for it), the last incident's steps are still held
        deadline = time.monotonic() + 10
        while svc.get(ids[0], who.town).state != "dispatched":
            assert time.monotonic() < deadline, "the first chunk never landed"
        assert svc.get(ids[-1], who.town).state == "reported"
    assert len(b.results) == 40 and b.errors == []
    for i in ids:
        inc = svc.get(i, who.town)
        assert (inc.state, inc.place) == ("dispatched", f"x:T{here.town}")
        assert actions(svc, i, who.town) == ["report", "accept", "dispatch"]
    # one atomic script call per incident: its chained accept + dispatch travel together
    assert int(svc.r.info("commandstats")["cmdstat_evalsha"]["calls"]) - calls_before == 20
    with svc.batch():
        for i in ids:
            svc.handle(i, who.cg)
    with svc.batch():
        for i in ids:
            svc.verify(i, who.town, passed=True)
            svc.close(i, who.town)
    assert all(svc.get(i, who.town).state == "closed" for i in ids)
    assert invariants.check(svc.r) == []


def test_refusals_raise_when_called(svc, who, here):
    inc = svc.report(who.worker, "0107", here.lon, here.lat)
    with pytest.raises(InvalidTransition), svc.batch():
        svc.accept(inc.id, who.town)
        svc.accept(inc.id, who.town)          # the predicted state is already accepted
    assert svc.get(inc.id, who.town).state == "accepted"      # the first one was still sent
    with pytest.raises(Forbidden), svc.batch():
        svc.register(inc.id, who.cg)
    assert invariants.check(svc.r) == []


def test_a_concurrent_change_makes_the_chain_redo_one_by_one(redis_client, svc, who, here,
                                                             demo_city, clock):
    other = IncidentService(redis_client, demo_city, clock=clock)
    a = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    b_ = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    svc.get(a.id, who.town)
    with svc.batch() as b:
        svc.accept(a.id, who.town)
        svc.dispatch(a.id, who.town, ["CG"])
        svc.accept(b_.id, who.town)
        svc.dispatch(b_.id, who.town, ["CG"])
        other.urge(a.id, who.city, "插队")      # exactly one change: version +1 under our feet
        other.accept(b_.id, who.town)            # b is accepted by someone else meanwhile
        other.escalate(b_.id, who.town)
    assert b.errors and len(b.results) == 4
    inc_a = svc.get(a.id, who.town)
    assert inc_a.state == "dispatched"
    assert actions(svc, a.id, who.town) == ["report", "urge", "accept", "dispatch"]
    inc_b = svc.get(b_.id, who.commander)
    assert (inc_b.state, inc_b.center) == ("accepted", "CITY")
    assert actions(svc, b_.id, who.commander) == ["report", "accept", "escalate"]
    assert [type(e) for e in b.errors] == [Forbidden, Forbidden]     # b now belongs to CITY
    assert invariants.check(svc.r) == []


def test_prefetch_reads_only_what_the_cache_lacks(redis_client, svc, who, here, demo_city, clock):
    """A queue batch's incidents are read in one round trip; a cached copy at least as new as
    the entry's version is kept, an older one is read again (the consumer reads what changed)."""
    from incidents.queue import QueueConsumer

    reporter = IncidentService(redis_client, demo_city, clock=clock)
    ids = [reporter.report(who.worker, "0107", here.lon, here.lat, correlate=False).id
           for _ in range(5)]
    qc = QueueConsumer(redis_client, [f"T{here.town}"], "c1", group="prefetch-test")
    entries = [e for e in qc.read(count=100, block_ms=None) if e.incident_id in ids]
    assert len(entries) == 5
    assert svc.prefetch(entries) == 5                   # none cached yet: all read, one pipeline
    assert svc.prefetch(entries) == 0                   # cached at the announced version
    reporter.accept(ids[0], who.town)                   # a change elsewhere: version 2
    assert svc.prefetch([ids[0]]) == 1                  # a bare id is always read
    with svc.batch() as b:
        for e in entries:
            if e.incident_id == ids[0]:
                svc.urge(e.incident_id, who.town)       # validated against the re-read copy
            else:
                svc.accept(e.incident_id, who.town)
    assert b.errors == [] and svc.get(ids[0], who.town).state == "accepted"
    assert all(svc.get(i, who.town).state == "accepted" for i in ids)
    assert invariants.check(svc.r) == []


def _stored(r, inc_id: str) -> dict:
    """What the store keeps of one incident, without its id: hash, places, deadline events,
    overdue entries, indexes, and its audit trail (actions, states, before/after)."""
    from incidents import audit, keys  # noqa: PLC0415

    h = r.hgetall(keys.incident(inc_id))
    h.pop("id")
    h.pop("_tok", None)   # the batch's chaining nonce
    zsets = {}
    for k in r.scan_iter(match="om:inc:*", _type="zset"):
        for m, sc in r.zrange(k, 0, -1, withscores=True):
            if m.split("|")[0].split("#")[0] == inc_id:
                zsets[(k, m.replace(inc_id, "ID"))] = sc
    trail = [(e["action"], e["state"], e["from_state"], e["v"], e["before"], e["after"])
             for e in audit.timeline(r, inc_id)]
    return {"hash": h, "zsets": zsets, "trail": trail}


def test_a_pair_in_one_call_stores_what_two_calls_store(redis_client, svc, who, here):
    """Chained steps that share one script call write their net state once (store._joined:
    one HSET, no deadline event of a stage entered and left inside the call, no overdue entry
    the next step rewrites); what is stored must be exactly what the two calls apart store."""
    r = redis_client
    joined, apart = (svc.report(who.worker, "0107", here.lon, here.lat, correlate=False).id
                     for _ in range(2))
    hsets = int(r.info("commandstats")["cmdstat_hset"]["calls"])
    with svc.batch():
        svc.accept(joined, who.town)
        svc.dispatch(joined, who.town, ["CG"])
    assert int(r.info("commandstats")["cmdstat_hset"]["calls"]) - hsets == 1   # net state once
    svc.accept(apart, who.town)
    svc.dispatch(apart, who.town, ["CG"])
    svc.handle(joined, who.cg)
    svc.handle(apart, who.cg)
    assert _stored(r, joined)["zsets"] == _stored(r, apart)["zsets"]
    with svc.batch():
        svc.verify(joined, who.town, passed=True)
        svc.close(joined, who.town)
    svc.verify(apart, who.town, passed=True)
    svc.close(apart, who.town)
    a, b = _stored(r, joined), _stored(r, apart)
    assert a["hash"] == b["hash"]
    assert a["zsets"] == b["zsets"]
    assert a["trail"] == b["trail"] and len(a["trail"]) == 6
    assert invariants.check(r) == []


def test_the_queue_stream_says_what_arrived_not_a_centers_own_dispatch(redis_client, svc, who,
                                                                       here):
    """A center's stream carries what arrived for it: a report, a handled case back for 核查, a
    sub-task for a department, a case escalated to the city; not the case it dispatched itself
    (its own move into its ``x:`` list)."""
    from incidents import keys  # noqa: PLC0415

    r = redis_client

    def arrivals(center: str) -> list[str]:
        return [f["e"].split("|")[2] for _, f in r.xrange(keys.queue(center))]

    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    assert arrivals(f"T{here.town}") == ["report"]
    assert arrivals("DCG") == ["dispatch"]                   # the sub-task arrived there
    svc.escalate(inc.id, who.town, "跨部门")                    # x:T → x:CITY, sent by the town
    assert arrivals("CITY") == ["escalate"]
    svc.handle(inc.id, who.cg)
    assert arrivals("CITY") == ["escalate", "handle"]
    assert arrivals(f"T{here.town}") == ["report"]
    assert invariants.check(r) == []


def test_three_chained_steps_in_one_call_store_what_three_calls_store(redis_client, svc, who, here):
    """accept → register → dispatch in one call: two stages entered and left inside it."""
    r = redis_client
    joined, apart = (svc.report(who.worker, "0107", here.lon, here.lat, correlate=False).id
                     for _ in range(2))
    with svc.batch():
        svc.accept(joined, who.town)
        svc.register(joined, who.town)
        svc.dispatch(joined, who.town, ["CG", "ZJ"])
    svc.accept(apart, who.town)
    svc.register(apart, who.town)
    svc.dispatch(apart, who.town, ["CG", "ZJ"])
    a, b = _stored(r, joined), _stored(r, apart)
    assert a == b and len(a["trail"]) == 4
    assert invariants.check(r) == []


def test_the_feed_gets_one_entry_per_atomic_call(redis_client, svc, who, here):
    """The feed (实时动态) says what changed on the map: a call that carries two steps moves the
    map once, so it writes one entry, the last step's, whose ``steps`` name both."""
    from incidents import feed, keys  # noqa: PLC0415

    r = redis_client
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    with svc.batch():
        svc.accept(inc.id, who.town)
        svc.dispatch(inc.id, who.town, ["CG"])
    svc.handle(inc.id, who.cg)
    with svc.batch():
        svc.verify(inc.id, who.town, passed=True)
        svc.close(inc.id, who.town)
    got = [feed.fields(f) for _, f in r.xrange(keys.FEED) if feed.fields(f)["id"] == inc.id]
    assert [(e["action"], e["state"], e.get("steps")) for e in got] == [
        ("report", "reported", None), ("dispatch", "dispatched", ["accept", "dispatch"]),
        ("handle", "handled", None), ("close", "closed", ["verify", "close"])]
    assert got[1]["center"] == f"T{here.town}" and got[1]["lon"] == here.lon
