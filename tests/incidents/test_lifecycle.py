"""Lifecycle through every tier (E14), refused transitions, 监管分离 (T11), fan-out (E29)."""

from __future__ import annotations

import pytest

from incidents import invariants
from incidents.actor import Actor
from incidents.errors import Forbidden, InvalidTransition, NotFound

pytestmark = pytest.mark.also_on_cluster   # issue 20: also on a real 3-master Redis Cluster


def actions(svc, inc_id, actor):
    return [e["action"] for e in svc.timeline(inc_id, actor)]


def test_full_lifecycle_at_town_tier(svc, who, here, clock):
    inc = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖缺失")
    assert (inc.state, inc.center, inc.place, inc.tier) == ("reported", f"T{here.town}",
                                                           f"q:T{here.town}", "town")
    assert inc.cell_code == here.cell and inc.intake == "created"
    assert [i.id for i in svc.list_queue(who.town, "new")] == [inc.id]
    clock.advance(60)
    svc.accept(inc.id, who.town)
    svc.register(inc.id, who.town)
    inc = svc.dispatch(inc.id, who.town, ["CG"])
    assert inc.state == "dispatched" and inc.place == f"x:T{here.town}"
    assert [i.id for i in svc.list_queue(who.cg, "mine")] == [inc.id]
    svc.start(inc.id, who.cg)
    clock.advance(3600)
    inc = svc.handle(inc.id, who.cg, note="已更换井盖")
    assert inc.state == "handled" and inc.place == f"q:T{here.town}"
    inc = svc.verify(inc.id, who.town_sup, passed=True)
    inc = svc.close(inc.id, who.town)
    assert inc.state == "closed" and inc.place == "" and not inc.is_open
    svc.callback(inc.id, who.town, satisfaction=5)
    assert actions(svc, inc.id, who.town) == ["report", "accept", "register", "dispatch", "start",
                                              "handle", "verify", "close", "callback"]
    k = svc.kpis(f"T{here.town}")
    assert k["received"] == 1 and k["closed"] == 1 and k["closure_rate"] == 1.0
    assert k["accepted_on_time"] == 1 and k["satisfaction"] == 5.0
    assert svc.kpis("DCG")["handled"] == 1
    assert svc.kpis()["stage_seconds"]["handle"]["mean"] == pytest.approx(3600, abs=1)
    assert invariants.check(svc.r) == []


def test_lifecycle_through_every_tier(svc, who, here, clock):
    """town → escalate → city; city dispatches to two departments; city verifies and closes;
    a 12345 case owned by a department center (条) goes round too."""
    inc = svc.report(who.worker, "0104", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    inc = svc.escalate(inc.id, who.town, reason="跨部门, 需市级协调")
    assert (inc.center, inc.tier, inc.place) == ("CITY", "city", "q:CITY")
    assert inc.id in [i.id for i in svc.list_queue(who.city, "mine")]
    with pytest.raises(InvalidTransition, match="top tier"):
        svc.escalate(inc.id, who.city)
    svc.dispatch(inc.id, who.city, ["CG", "STHJ"])
    svc.handle(inc.id, who.cg)
    inc = svc.handle(inc.id, Actor("st-op", "dept_operator", "DSTHJ"))
    assert inc.state == "handled" and inc.place == "q:CITY"
    svc.verify(inc.id, who.city_sup, passed=True)
    inc = svc.close(inc.id, who.city)
    assert inc.state == "closed"

    hot = svc.report(who.city, "1202", here.lon, here.lat, channel="hotline", description="噪音投诉")
    assert (hot.center, hot.tier) == ("DRX", "department")
    svc.accept(hot.id, who.rx)
    svc.dispatch(hot.id, who.rx, ["GA"])
    svc.handle(hot.id, who.ga)
    with pytest.raises(Forbidden):
        svc.close(hot.id, who.ga)
    svc.verify(hot.id, who.rx, passed=True)
    assert svc.close(hot.id, who.rx).state == "closed"
    assert invariants.check(svc.r) == []


def test_refused_transitions(svc, who, here):
    inc = svc.report(who.worker, "0107", here.lon, here.lat)
    for call, match in [
        (lambda: svc.close(inc.id, who.town), "close"),
        (lambda: svc.verify(inc.id, who.town, passed=True), "verify"),
        (lambda: svc.dispatch(inc.id, who.town, ["CG"]), "dispatch"),
        (lambda: svc.register(inc.id, who.town), "register"),
        (lambda: svc.callback(inc.id, who.town, 4), "callback"),
        (lambda: svc.return_(inc.id, who.town, "信息不全"), "no lower center"),
    ]:
        with pytest.raises(InvalidTransition, match=match):
            call()
    svc.accept(inc.id, who.town)
    with pytest.raises(InvalidTransition, match="accept"):
        svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    with pytest.raises(InvalidTransition, match="void"):
        svc.void(inc.id, who.town, "重复")
    svc.start(inc.id, who.cg)
    with pytest.raises(InvalidTransition):
        svc.start(inc.id, who.cg)
    svc.handle(inc.id, who.cg)
    with pytest.raises(InvalidTransition, match="handle"):
        svc.handle(inc.id, who.cg)
    svc.verify(inc.id, who.town, passed=True)
    svc.close(inc.id, who.town)
    for call in (lambda: svc.urge(inc.id, who.town), lambda: svc.escalate(inc.id, who.town),
                 lambda: svc.close(inc.id, who.town), lambda: svc.take_over(inc.id, who.commander)):
        with pytest.raises(InvalidTransition):
            call()
    with pytest.raises(ValueError):
        svc.callback(inc.id, who.town, 9)
    with pytest.raises(NotFound):
        svc.accept("E-nope", who.town)
    assert invariants.check(svc.r) == []


def test_scope_is_enforced_and_denials_audited(svc, who, here, elsewhere):
    inc = svc.report(who.worker, "0106", here.lon, here.lat)
    for actor, call in [
        (who.other_town, lambda a: svc.get(inc.id, a)),
        (who.other_town, lambda a: svc.accept(inc.id, a)),
        (who.cg, lambda a: svc.accept(inc.id, a)),
        (who.other_worker, lambda a: svc.get(inc.id, a)),
        (who.worker, lambda a: svc.accept(inc.id, a)),
        (who.wall, lambda a: svc.accept(inc.id, a)),
        (who.admin, lambda a: svc.get(inc.id, a)),
        (who.city, lambda a: svc.accept(inc.id, a)),        # city works the city queue only
        (who.town, lambda a: svc.emergency_on({"type": "Point", "coordinates": [0, 0]}, 2e9, a)),
        (who.town, lambda a: svc.take_over(inc.id, a)),
    ]:
        with pytest.raises(Forbidden):
            call(actor)
    assert svc.get(inc.id, who.worker).id == inc.id       # own report
    assert svc.get(inc.id, who.wall).id == inc.id         # the wall reads everything
    trail = svc.timeline(inc.id, who.town)
    denied = [e for e in trail if e["action"].startswith("denied:")]
    assert {e["actor"] for e in denied} >= {"other-town-op", "cg-op", who.worker.user_id, "wall",
                                            "city-op"}
    assert all(e["reason"] for e in denied)
    assert svc.get(inc.id, who.town).state == "reported"
    assert inc.id not in [i.id for i in svc.list_queue(who.other_town, "open")]
    assert inc.id in [i.id for i in svc.list_queue(who.town, "open")]
    with pytest.raises(Forbidden):
        svc.report(who.wall, "0106", here.lon, here.lat)


def test_handler_cannot_verify_or_close_its_own_case(svc, who, here):
    """监管分离 (T11): a town that handles its own case (its enforcement team, T24) may not
    verify or close it; the city center's supervisor does."""
    inc = svc.report(who.worker, "0105", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, [f"T{here.town}"])
    svc.start(inc.id, who.town)
    svc.handle(inc.id, who.town, note="已劝离")
    with pytest.raises(Forbidden, match="监管分离"):
        svc.verify(inc.id, who.town, passed=True)
    with pytest.raises(Forbidden, match="监管分离"):
        svc.verify(inc.id, who.town_sup, passed=True)
    svc.verify(inc.id, who.city_sup, passed=True)
    with pytest.raises(Forbidden, match="监管分离"):
        svc.close(inc.id, who.town)
    assert svc.close(inc.id, who.commander).state == "closed"
    trail = svc.timeline(inc.id, who.commander)
    assert sum(e["action"] == "denied:verify" for e in trail) == 2
    assert sum(e["action"] == "denied:close" for e in trail) == 1


def test_fan_out_closes_only_when_all_sub_tasks_done(svc, who, here):
    inc = svc.report(who.worker, "0102", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    inc = svc.dispatch(inc.id, who.town, ["CG", "ZJ", "GA"])
    assert [t.center for t in inc.tasks] == ["DCG", "DZJ", "DGA"]
    svc.handle(inc.id, who.cg)
    inc = svc.handle(inc.id, who.zj)
    assert inc.state == "in_progress" and inc.place == f"x:T{here.town}"
    with pytest.raises(InvalidTransition):
        svc.verify(inc.id, who.town, passed=True)
    with pytest.raises(InvalidTransition):
        svc.close(inc.id, who.town)
    with pytest.raises(Forbidden):
        svc.handle(inc.id, who.rx)          # not one of its handlers
    inc = svc.verify(svc.handle(inc.id, who.ga).id, who.town, passed=False, note="未整改到位")
    assert inc.state == "dispatched" and inc.reopen_count == 1
    assert all(t.state == "dispatched" for t in inc.tasks)
    for a in (who.cg, who.zj, who.ga):
        svc.handle(inc.id, a)
    svc.verify(inc.id, who.town, passed=True)
    inc = svc.close(inc.id, who.town)
    assert inc.state == "closed" and not inc.open_tasks
    assert svc.kpis(f"T{here.town}")["reopened"] == 1
    assert invariants.check(svc.r) == []


def test_return_void_urge_take_over(svc, who, here, elsewhere):
    inc = svc.report(who.worker, "0101", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["ZJ"])
    inc = svc.return_(inc.id, who.zj, "非本部门职责")
    assert inc.state == "registered" and inc.place == f"q:T{here.town}"
    assert inc.tasks[0].state == "returned"
    inc = svc.dispatch(inc.id, who.town, ["CG"])
    svc.urge(inc.id, who.town, "请加快")
    svc.urge(inc.id, who.city, "市级督办")
    inc = svc.take_over(inc.id, who.commander, "重大舆情")
    assert (inc.center, inc.place, inc.urged) == ("CITY", "x:CITY", 2)
    svc.handle(inc.id, who.cg)
    svc.verify(inc.id, who.city_sup, passed=True)
    svc.close(inc.id, who.commander)

    dup = svc.report(who.worker, "0401", here.lon, here.lat, severity="较大")
    assert dup.center == "CITY"                 # sudden: straight to the city
    svc.void(dup.id, who.city, "误报")
    assert svc.get(dup.id, who.city).void_reason == "误报"
    esc = svc.report(who.other_worker, "0104", elsewhere.lon, elsewhere.lat)
    svc.escalate(esc.id, who.other_town)
    back = svc.return_(esc.id, who.city, "请属地处理")
    assert (back.center, back.place, back.state) == (esc.center, f"q:{esc.center}", "reported")
    with pytest.raises(ValueError):
        svc.void(esc.id, who.city, " ")
    assert invariants.check(svc.r) == []


def test_top_down_task(svc, who, here):
    """上情下达: the town gives its grid worker an inspection task with a deadline."""
    task = svc.assign_task(who.town, f"W{here.cell}", "巡查辖区内井盖", deadline_s=7200)
    assert task.kind == "task" and task.state == "dispatched" and task.center == f"T{here.town}"
    assert task.due_ts == pytest.approx(task.created_ts + 7200)
    assert [i.id for i in svc.list_queue(who.worker, "mine")] == [task.id]
    with pytest.raises(Forbidden):
        svc.start(task.id, who.other_worker)
    with pytest.raises(Forbidden):
        svc.assign_task(who.town, f"W{who.other_worker.cell}", "越界")
    svc.start(task.id, who.worker)
    svc.handle(task.id, who.worker, note="巡查完毕, 无异常")
    svc.verify(task.id, who.town_sup, passed=True)
    assert svc.close(task.id, who.town).state == "closed"
    city_task = svc.assign_task(who.city, "CG", "全市占道经营专项整治")
    assert city_task.tasks[0].center == "DCG"
    assert invariants.check(svc.r) == []


def test_separation_covers_the_towns_grid_workers_worked_returns_and_callbacks(svc, who, here):
    """监管分离 (T11) without back doors: a town whose own grid worker fixed the case (T24), or
    which worked a sub-task and then returned it, neither verifies, closes nor rates it."""
    inc = svc.report(who.worker, "0105", here.lon, here.lat, correlate=False)
    svc.accept(inc.id, who.town)
    inc = svc.dispatch(inc.id, who.town, [f"W{here.cell}"])
    assert inc.tasks[0].town == here.town
    svc.start(inc.id, who.worker)
    svc.handle(inc.id, who.worker, note="已清理")
    for actor in (who.town, who.town_sup):
        with pytest.raises(Forbidden, match="监管分离"):
            svc.verify(inc.id, actor, passed=True)
    svc.verify(inc.id, who.city_sup, passed=True)
    with pytest.raises(Forbidden, match="监管分离"):
        svc.close(inc.id, who.town)
    svc.close(inc.id, who.city_sup)
    with pytest.raises(Forbidden, match="监管分离"):
        svc.callback(inc.id, who.town_sup, 5)          # a handler never rates its own work
    assert svc.callback(inc.id, who.city_sup, 4).satisfaction == 4

    worked = svc.report(who.worker, "0105", here.lon, here.lat, correlate=False)
    svc.accept(worked.id, who.town)
    svc.dispatch(worked.id, who.town, ["CG", f"T{here.town}"])
    svc.start(worked.id, who.town, task=2)
    svc.return_(worked.id, who.town, "人手不足", task=2)   # worked on it first: still a handler
    svc.handle(worked.id, who.cg)
    with pytest.raises(Forbidden, match="监管分离"):
        svc.verify(worked.id, who.town_sup, passed=True)

    unworked = svc.report(who.worker, "0105", here.lon, here.lat, correlate=False)
    svc.accept(unworked.id, who.town)
    svc.dispatch(unworked.id, who.town, ["CG", f"T{here.town}"])
    svc.return_(unworked.id, who.town, "不属本镇职责", task=2)   # never started: no handler
    svc.handle(unworked.id, who.cg)
    assert svc.verify(unworked.id, who.town_sup, passed=True).state == "verified"
    assert invariants.check(svc.r) == []


def test_dispatch_targets_are_checked(svc, who, here, elsewhere):
    """A town sends its own grid workers and the departments; another town's ground goes
    through the city center (跨镇街); a target that does not exist is refused, not left as a
    sub-task nobody can work."""
    inc = svc.report(who.worker, "0105", here.lon, here.lat, correlate=False)
    svc.accept(inc.id, who.town)
    with pytest.raises(Forbidden, match="跨镇街"):
        svc.dispatch(inc.id, who.town, [f"W{elsewhere.cell}"])
    with pytest.raises(Forbidden, match="跨镇街"):
        svc.dispatch(inc.id, who.town, [f"T{elsewhere.town}"])
    with pytest.raises(ValueError, match="unknown grid cell"):
        svc.dispatch(inc.id, who.town, ["W999999999999999"])
    with pytest.raises(ValueError, match="unknown department"):
        svc.dispatch(inc.id, who.town, ["NOPE"])
    assert svc.get(inc.id, who.town).tasks == []           # every refusal changed nothing
    city = svc.report(who.city, "0105", elsewhere.lon, elsewhere.lat, severity="重大", correlate=False)
    svc.accept(city.id, who.city)
    assert svc.dispatch(city.id, who.city, [f"W{here.cell}"]).tasks[0].center == f"W{here.cell}"


def test_a_returned_part_waits_in_the_owners_queue_to_be_sent_elsewhere(redis_client, svc, who, here):
    """Fan-out (E29) with a 退回: while the others work on, the case waits in its owner's
    queue (told by a queue entry) and is sent to another department (改派); it is handled only
    when every part that was not returned is."""
    from incidents import keys

    inc = svc.report(who.worker, "0102", here.lon, here.lat, correlate=False)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG", "ZJ"])
    svc.start(inc.id, who.cg)
    before = redis_client.xlen(keys.queue(f"T{here.town}"))
    inc = svc.return_(inc.id, who.zj, "不属住建职责")
    assert (inc.state, inc.place) == ("in_progress", f"q:T{here.town}")
    last = redis_client.xrevrange(keys.queue(f"T{here.town}"), count=1)[0][1]["e"]
    assert redis_client.xlen(keys.queue(f"T{here.town}")) == before + 1 and "|return|" in last
    with pytest.raises(InvalidTransition, match="already has an open sub-task"):
        svc.dispatch(inc.id, who.town, ["CG"])
    inc = svc.dispatch(inc.id, who.town, ["GA"], note="改派公安")
    assert (inc.state, inc.place) == ("in_progress", f"x:T{here.town}")
    assert [(t.center, t.state) for t in inc.tasks] == [("DCG", "in_progress"), ("DZJ", "returned"),
                                                       ("DGA", "dispatched")]
    assert svc.handle(inc.id, who.cg).state == "in_progress"
    inc = svc.handle(inc.id, who.ga)
    assert (inc.state, inc.place) == ("handled", f"q:T{here.town}")
    assert svc.close(svc.verify(inc.id, who.town, passed=True).id, who.town).state == "closed"
    assert invariants.check(svc.r) == []
