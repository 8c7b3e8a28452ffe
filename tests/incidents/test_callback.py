"""回访 after 结案 (issue 24; E4 按时反馈回访, E10 事件回访): the working-day deadline, the center's
and the cell's queue, the overdue callback urged once (injected clock), 不满意 reopening the case
with its reason through the one write path, the grid worker's callback in their own cell only,
and the caller's number a masked field of the case. Real Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from incidents import invariants, keys, masking
from incidents.callback import CallbackDesk, HotlineConfig, callback_due
from incidents.errors import Forbidden
from incidents.evaluation import caller_phone

PHONE = "13812345678"


def cst(text: str) -> float:
    """A Beijing wall time as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() - 8 * 3600


def test_the_deadline_counts_working_days_and_skips_weekends_and_holidays():
    cfg = HotlineConfig()                                     # 2 working days
    assert callback_due(cst("2026-11-18 19:06"), cfg) == cst("2026-11-21 00:00")   # Wed → Fri 24:00
    assert callback_due(cst("2026-11-20 15:00"), cfg) == cst("2026-11-25 00:00")   # Fri → Tue 24:00
    assert callback_due(cst("2026-11-21 10:00"), cfg) == cst("2026-11-25 00:00")   # Sat → Tue 24:00
    hol = HotlineConfig.from_table({"holidays": ["2026-11-23"], "workdays": ["2026-11-22"]})
    assert callback_due(cst("2026-11-20 15:00"), hol) == cst("2026-11-25 00:00")   # Sun 调休, Mon off
    assert callback_due(cst("2026-11-20 15:00"), HotlineConfig(working_days=0)) == cst("2026-11-21 00:00")
    with pytest.raises(ValueError, match="未知配置项"):
        HotlineConfig.from_table({"working_dayz": 2})
    with pytest.raises(ValueError, match="不是日期"):
        HotlineConfig.from_table({"holidays": ["11/23"]})


def hotline_case(svc, who, here, phone: str = PHONE) -> str:
    """A 12345 call taken by the town, sent to 城管, handled, verified and closed."""
    inc = svc.report(who.town, "0108", here.lon, here.lat, channel="hotline",
                     description=f"市民来电反映井盖缺失 {phone}", caller={"phone": phone, "call_id": "C1"})
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    svc.start(inc.id, who.cg)
    svc.handle(inc.id, who.cg, note="已更换井盖")
    svc.verify(inc.id, who.town_sup, passed=True)
    svc.close(inc.id, who.town)
    return inc.id


def test_a_closed_hotline_case_is_queued_and_urged_once_when_overdue(svc, who, here, clock,
                                                                     redis_client, demo_city):
    desk = CallbackDesk(redis_client, svc)
    iid = hotline_case(svc, who, here)
    grid = svc.report(who.worker, "0108", here.lon + 0.003, here.lat, description="网格员发现")
    assert desk.sync() == 1                                  # the hotline case only
    queue = desk.queue(center=who.town.center)
    assert [q["id"] for q in queue] == [iid] and not queue[0]["overdue"]
    assert [q["id"] for q in desk.queue(cell=here.cell)] == [iid]
    assert float(queue[0]["due_ts"]) == callback_due(clock(), desk.config)
    assert grid.id not in redis_client.zrange(keys.CALLBACK_ALL, 0, -1)
    assert desk.sync() == 0                                   # read once
    assert desk.urge_due() == []                              # not due yet

    clock.t = float(queue[0]["due_ts"]) + 1                   # past the deadline
    assert desk.queue(center=who.town.center)[0]["overdue"]
    assert desk.urge_due() == [iid]
    assert desk.urge_due() == []                              # once
    last = svc.timeline(iid, who.town)[-1]
    assert last["action"] == "note" and last["reason"].startswith("督办: 回访超时")
    notes = [json.loads(f["e"]) for _, f in redis_client.xrange(keys.NOTICES)]
    assert any(n["kind"] == "callback_overdue" and n["id"] == iid and n["center"] == who.town.center
               for n in notes)
    assert [n["id"] for n in svc.notices(who.town) if n.get("kind") == "callback_overdue"] == [iid]

    inc = desk.record(iid, who.town, 5)                       # late, satisfied: done, out of the queue
    assert inc.state == "closed" and inc.satisfaction == 5
    rec = redis_client.hgetall(keys.callback(iid))
    assert rec["status"] == "done" and rec["on_time"] == "0" and rec["score"] == "5"
    assert desk.queue(center=who.town.center) == []
    assert invariants.check(redis_client, city=demo_city) == []


def test_unsatisfied_reopens_the_case_with_its_reason_and_it_is_called_back_again(
        svc, who, here, clock, redis_client, demo_city):
    desk = CallbackDesk(redis_client, svc)
    iid = hotline_case(svc, who, here)
    desk.sync()
    with pytest.raises(ValueError, match="须说明原因"):
        desk.record(iid, who.town, 1, "")
    with pytest.raises(Forbidden):                            # 监管分离: the handler never rates itself
        desk.record(iid, who.cg, 1, "不满意")
    clock.advance(3600)
    inc = desk.record(iid, who.town, 1, "井盖仍然松动")
    assert inc.state == "dispatched" and inc.reopen_count == 1
    last = svc.timeline(iid, who.town)[-1]
    assert last["action"] == "follow_up" and last["reason"] == "井盖仍然松动"
    assert last["from_state"] == "closed" and last["state"] == "dispatched"
    assert [i.id for i in svc.list_queue(who.cg, "mine")] == [iid]   # back with its handler
    rec = redis_client.hgetall(keys.callback(iid))
    assert rec["status"] == "reopened" and rec["on_time"] == "1"
    assert desk.queue(center=who.town.center) == []

    svc.start(iid, who.cg)
    svc.handle(iid, who.cg, note="重新固定")
    svc.verify(iid, who.town_sup, passed=True)
    clock.advance(60)
    svc.close(iid, who.town)
    desk.sync()                                               # closed again: due again
    rec = redis_client.hgetall(keys.callback(iid))
    assert rec["status"] == "pending" and rec["round"] == "2"
    assert invariants.check(redis_client, city=demo_city) == []


def test_the_grid_worker_calls_back_cases_of_their_own_cell_only(svc, who, here, redis_client):
    desk = CallbackDesk(redis_client, svc)
    iid = hotline_case(svc, who, here)
    desk.sync()
    with pytest.raises(Forbidden, match="本网格"):
        desk.record(iid, who.other_worker, 5)
    inc = desk.record(iid, who.worker, 4)
    assert inc.satisfaction == 4 and inc.state == "closed"
    assert redis_client.hget(keys.callback(iid), "status") == "done"
    assert desk.queue(cell=here.cell) == []


def test_the_callers_number_is_a_masked_field_of_the_case(svc, who, here):
    iid = hotline_case(svc, who, here)
    inc = svc.get(iid, who.town)
    assert caller_phone(inc) == PHONE and inc.sources[0]["ref"] == ""
    shown = masking.view(inc.to_dict(), "wall_viewer")
    assert shown["sources"][0]["phone"] == "138****5678"
    assert PHONE not in json.dumps(shown, ensure_ascii=False)
    assert masking.view(inc.to_dict(), "city_operator")["sources"][0]["phone"] == PHONE


def test_the_deadline_worker_ticks_the_desk(svc, who, here, clock, redis_client):
    from incidents.deadlines import DeadlineWorker

    worker = DeadlineWorker(svc)
    worker.callbacks = CallbackDesk(redis_client, svc)
    iid = hotline_case(svc, who, here)
    assert worker.tick()["callback_synced"] == 1
    clock.t = float(redis_client.hget(keys.callback(iid), "due_ts")) + 60
    assert worker.tick()["callback_urged"] == 1
    assert worker.tick()["callback_urged"] == 0


def test_a_closing_read_by_a_desk_that_died_is_taken_over(svc, who, here, redis_client):
    iid = hotline_case(svc, who, here)
    dead = CallbackDesk(redis_client, svc, consumer="dead")
    dead.ensure_group()
    redis_client.xreadgroup(keys.CALLBACK_GROUP, "dead", {keys.FEED: ">"})   # read, never finished
    alive = CallbackDesk(redis_client, svc, consumer="alive", claim_idle_ms=0)
    assert alive.sync() == 1 and [q["id"] for q in alive.queue(center=who.town.center)] == [iid]
    assert redis_client.xpending(keys.FEED, keys.CALLBACK_GROUP)["pending"] == 0


def test_the_operators_own_callback_settles_the_record(svc, who, here, clock, redis_client):
    desk = CallbackDesk(redis_client, svc)
    iid = hotline_case(svc, who, here)
    desk.sync()
    clock.advance(600)
    svc.callback(iid, who.town, 4, note="市民表示满意")           # the console's 回访 button
    assert desk.sync() == 1
    rec = redis_client.hgetall(keys.callback(iid))
    assert (rec["status"], rec["on_time"], rec["score"]) == ("done", "1", "4")
    assert desk.queue(center=who.town.center) == [] and desk.urge_due() == []
