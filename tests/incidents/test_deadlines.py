"""Deadlines (时限): warn → urge (督办) → escalate (上报), each exactly once, with two dispatch
workers racing on the same redis-server; time is an injected clock (no waiting)."""

from __future__ import annotations

import threading

import pytest
import redis

from incidents import invariants, keys
from incidents.actor import SYSTEM
from incidents.deadlines import DeadlineWorker
from incidents.service import IncidentService

pytestmark = pytest.mark.also_on_cluster   # issue 20: also on a real 3-master Redis Cluster


def race(workers: list[DeadlineWorker]) -> None:
    """Tick every worker at the same moment, in threads (as separate processes would)."""
    go = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(w: DeadlineWorker) -> None:
        try:
            go.wait(5)
            w.tick()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    ts = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not errors, errors


@pytest.fixture
def two_workers(redis_client, redis_connect, demo_city, clock):
    clients = [redis_connect() for _ in range(2)]     # the same backend (single or cluster)
    return [DeadlineWorker(IncidentService(c, demo_city, clock=clock)) for c in clients]


def system_actions(svc, inc_id, who):
    return [e["action"] for e in svc.timeline(inc_id, who.commander) if e["actor"] == "system"]


def test_deadline_warns_urges_then_escalates_once(svc, who, here, clock, two_workers, demo_city):
    cells = demo_city.cells[demo_city.cells["town_code"] == here.town].geometry.iloc[:5]
    incs = [svc.report(who.worker, "0107", p.x, p.y, correlate=False)
            for p in cells.representative_point()]
    limit = svc.config.stage_limit("accept", "0107", "一般")
    assert incs[0].due_ts == pytest.approx(clock() + limit)
    race(two_workers)
    assert all(system_actions(svc, i.id, who) == [] for i in incs)
    clock.advance(limit * 0.85)                          # inside the warning window
    race(two_workers)
    race(two_workers)
    assert all(system_actions(svc, i.id, who) == ["warn"] for i in incs)
    assert svc.list_queue(who.town, "overdue") == []
    clock.advance(limit * 0.2)                           # overdue: 督办
    race(two_workers)
    assert all(system_actions(svc, i.id, who) == ["warn", "urge"] for i in incs)
    assert {i.id for i in svc.list_queue(who.town, "overdue")} == {i.id for i in incs}
    assert svc.kpis(f"T{here.town}")["overdue_now"] == 5
    # the city sees every owning center's overdue cases (merged indexes), most overdue first
    assert {i.id for i in svc.list_queue(who.commander, "overdue")} == {i.id for i in incs}
    assert svc.kpis()["overdue_now"] == 5
    clock.advance(limit * 0.5)                           # past the further limit: 上报
    race(two_workers)
    race(two_workers)
    for i in incs:
        assert system_actions(svc, i.id, who) == ["warn", "urge", "escalate"]
        now = svc.get(i.id, who.commander)
        assert (now.center, now.place, now.escalations, now.urged) == ("CITY", "q:CITY", 1, 1)
        assert now.due_ts == pytest.approx(clock() + limit)       # the city gets a fresh clock
    k = svc.kpis(f"T{here.town}")
    assert (k["warned"], k["urged"], k["escalated"]) == (5, 5, 5)
    assert svc.kpis(f"T{here.town}")["overdue_now"] == 0
    assert svc.kpis()["overdue_now"] == 0 and svc.list_queue(who.commander, "overdue") == []
    assert invariants.check(svc.r) == []


def test_one_event_armed_per_stage_and_a_late_worker_catches_up(svc, who, here, clock, two_workers):
    """Only the stage's next event waits in om:inc:due; a worker that was down past every limit
    fires warn, urge and escalate in order, each once."""
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    assert svc.r.zrange(keys.DUE, 0, -1) == [f"{inc.id}|accept|warn"]
    limit = svc.config.stage_limit("accept", "0107", "一般")
    clock.advance(limit * 2)
    race(two_workers)
    assert system_actions(svc, inc.id, who) == ["warn", "urge", "escalate"]
    assert svc.r.zrange(keys.DUE, 0, -1) == [f"{inc.id}|accept|warn"]   # the city's fresh clock
    assert svc.get(inc.id, who.commander).center == "CITY"
    assert invariants.check(svc.r) == []


def test_acting_in_time_cancels_the_deadline(svc, who, here, clock, two_workers):
    inc = svc.report(who.worker, "0107", here.lon, here.lat)
    limit = svc.config.stage_limit("accept", "0107", "一般")
    clock.advance(limit * 0.5)
    svc.accept(inc.id, who.town)
    clock.advance(limit * 1.4)       # past the old accept deadline, not the register one
    race(two_workers)
    assert system_actions(svc, inc.id, who) == []
    assert not [m for m in svc.r.zrange(keys.DUE, 0, -1) if "|accept|" in m]
    svc.dispatch(inc.id, who.town, ["CG"])
    svc.handle(inc.id, who.cg)
    svc.verify(inc.id, who.town, passed=True)
    svc.close(inc.id, who.town)
    clock.advance(10 * 86400)
    race(two_workers)
    assert system_actions(svc, inc.id, who) == []
    assert svc.r.zcard(keys.DUE) == 0
    assert invariants.check(svc.r) == []


def test_deadline_depends_on_category_and_severity(svc):
    cfg = svc.config
    assert cfg.stage_limit("handle", "0107", "重大") < cfg.stage_limit("handle", "0107", "一般")
    assert cfg.stage_limit("handle", "0401", "一般") < cfg.stage_limit("handle", "0107", "一般")


def test_a_new_severity_re_times_the_running_stage(svc, who, here, clock, two_workers):
    """定级: the running stage keeps its start and takes the new severity's limit, its warning
    is armed afresh, and so are the open sub-tasks' deadlines; raised to 特别重大 the case goes
    to the city center, first in its queue (T3)."""
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    t0 = clock()
    clock.advance(60)
    inc = svc.update_severity(inc.id, who.town, "较大", reason="影响通行")
    assert inc.due_ts == pytest.approx(t0 + svc.config.stage_limit("accept", "0107", "较大"))
    warn = svc.r.zscore(keys.DUE, f"{inc.id}|accept|warn")
    assert warn is not None and warn < t0 + svc.config.stage_limit("accept", "0107", "一般")
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    clock.advance(600)
    stage_ts = svc.get(inc.id, who.town).stage_ts
    inc = svc.update_severity(inc.id, who.town, "特别重大", reason="多车受困")
    limit = svc.config.stage_limit("handle", "0107", "特别重大")
    assert (inc.center, inc.priority, inc.place) == ("CITY", 1, "x:CITY")
    assert inc.due_ts == pytest.approx(stage_ts + limit)
    assert inc.tasks[0].due_ts == pytest.approx(inc.tasks[0].dispatched_ts + limit)
    assert [m for m in svc.r.zrange(keys.DUE, 0, -1) if m.startswith(inc.id)] == [f"{inc.id}|handle|warn"]
    clock.advance(limit)                   # past the new (shorter) deadline: urged at once
    race(two_workers)
    assert system_actions(svc, inc.id, who)[-2:] == ["warn", "urge"]
    assert invariants.check(svc.r) == []


def test_the_dispatch_worker_outlives_a_redis_restart(tmp_path, demo_city, here, clock):
    """Redis goes away under a running `onemap dispatch` (a restart, a full pool): both loops,
    deadlines and alarm intake, log it, keep going, and act once it is back."""
    import time

    from app.services import restart_redis_server, start_redis_server
    from incidents.worker import DispatchWorker

    from .conftest import Actors

    service = start_redis_server(tmp_path / "redis")
    stop = threading.Event()
    try:
        r = redis.Redis.from_url(service.url, decode_responses=True, socket_timeout=2)
        worker = DispatchWorker(r, demo_city, clock=clock, name="w1", poll_s=0.05)
        svc = worker.service
        who = Actors(here, here)
        inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
        t = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        t.start()
        service.stop()

        def until(pred, what: str) -> None:
            deadline = time.monotonic() + 60
            while not pred():
                assert time.monotonic() < deadline, what
                stop.wait(0.05)

        until(lambda: worker.deadlines.stats["unavailable"] >= 1
              and worker.intake.stats.get("unavailable", 0) >= 1, "both loops saw Redis gone")
        service = restart_redis_server(service)
        clock.advance(svc.config.stage_limit("accept", "0107", "一般"))
        until(lambda: worker.deadlines.stats["urge"] >= 1, "urged once Redis was back")
        assert t.is_alive()
        assert [e["action"] for e in svc.timeline(inc.id, who.commander)][-2:] == ["warn", "urge"]
        r.xadd(keys.ALARMS, {"episode": "smoke-9:fire:1", "event": "raise", "source": "iot",
                             "device_id": "smoke-9", "category": "0401", "severity": "较大",
                             "lon": repr(here.lon), "lat": repr(here.lat), "message": "烟感报警"})
        until(lambda: svc.reported_with(SYSTEM, "alarm:smoke-9:fire:1"), "the alarm taken in")
    finally:
        stop.set()
        service.stop()
