"""应急响应 (issue 16): a trigger suggests the right level (E30); activation gives each member
unit's tasks once under a race of two dispatch workers; level change and end are audited; a
town's activation is scoped to its territory (T5) and the city can take it over (X19); an
exercise (推演, X3) never creates real cases."""

from __future__ import annotations

import threading

import pytest
import redis

from incidents import keys
from incidents.actor import SYSTEM, Actor
from incidents.config import IncidentConfig
from incidents.emergency.plans import Known, PlanBook
from incidents.emergency.response import Responses, Signal, suggest
from incidents.errors import Forbidden, InvalidTransition
from incidents.service import IncidentService

SL = Actor("sl-op", "dept_operator", "DSL", "水利值班员")
QX = Actor("qx-op", "dept_operator", "DQX", "气象值班员")
JY = Actor("jy-op", "dept_operator", "DJY", "教育值班员")


def _responses(svc: IncidentService) -> Responses:
    known = Known(svc.city, frozenset(s.name for s in IncidentConfig().situations))
    book = PlanBook(svc.r, known, svc.policy, svc.clock)
    book.load_demo(SYSTEM)
    return Responses(svc, book)


@pytest.fixture
def resp(svc) -> Responses:
    return _responses(svc)


def _real_cases(r: redis.Redis) -> list[str]:
    return list(r.zrange(keys.ALL, 0, -1))


def test_trigger_suggests_the_right_level(resp, svc, here) -> None:
    plans = resp.plans.all()
    by_plan = lambda s: {x["plan"]: x["level"] for x in suggest(plans, s)}  # noqa: E731
    assert by_plan(Signal("0306", "flood", "一般", 1)) == {}                 # one source: nothing
    assert by_plan(Signal("0306", "flood", "一般", 3)) == {"flood-typhoon": "IV"}
    assert by_plan(Signal("0306", "flood", "较大", 6))["flood-typhoon"] == "III"
    assert by_plan(Signal("0306", "flood", "特别重大", 25))["flood-typhoon"] == "I"
    assert by_plan(Signal("0302", "flood", "较大", 6)) == {"flood-typhoon": "III",
                                                          "urban-waterlogging": "III"}
    assert by_plan(Signal.of_alarm({"device_type": "water_level", "metric": "level_m",
                                    "level": "orange", "category": "0306"})) == {"flood-typhoon": "IV"}
    assert by_plan(Signal.of_alarm({"device_type": "water_level", "metric": "level_m",
                                    "level": "yellow", "category": "0306"})) == {}
    # a real situation: three water-level alarms in one town are one case with three sources
    for i in range(3):
        inc = svc.report(SYSTEM, "0306", here.lon, here.lat, severity="一般", channel="iot",
                         idempotency_key=f"ep-{i}", ref=f"wl-{i}")
    assert inc.situation == "flood" and len(svc.get(inc.id, SYSTEM).sources) == 3
    commander = Actor("boss", "city_commander", "CITY", "市指挥长")
    got = resp.suggestions(commander, inc.id)
    assert [(g["plan"], g["level"], g["town"]) for g in got] == [("flood-typhoon", "IV", here.town)]
    assert "来源 3 ≥ 3" in got[0]["reasons"]
    # the alarms' device kinds (the app's registry) let an alarm-rule trigger hold on a case
    sig = Signal.of_incident(svc.get(inc.id, SYSTEM), lambda dev: "water_level" if dev.startswith("wl-") else None)
    assert sig.rules == {"water_level"} and sig.alarm_level == "blue"
    assert resp.list(commander) == []                       # a suggestion starts nothing (E30)


def test_activation_gives_each_task_once_under_a_race(resp, svc, who, here, redis_service) -> None:
    r = resp.activate(who.commander, "flood-typhoon", "IV", town=here.town, reason="汛情",
                      dispatch=False)
    assert r["owner"] == "CITY" and r["emergency"] is True
    assert svc.emergency_state()["reason"].startswith(f"应急响应 {r['id']}")
    barrier = threading.Barrier(2)
    made: list[int] = []

    def worker() -> None:       # a dispatch worker of its own: own connection, own service
        c = redis.Redis.from_url(redis_service.url, decode_responses=True)
        mine = _responses(IncidentService(c, svc.city, clock=svc.clock))
        barrier.wait()
        n = sum(mine.dispatch_tasks(r["id"]) for _ in range(3))
        made.append(n)
        c.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    board = resp.board(who.commander, r["id"])
    expected = {("DSL", 1), ("DSL", 2), ("DQX", 1), (f"T{here.town}", 1), (f"T{here.town}", 2)}
    got = [(t["unit"], t["n"]) for u in board["units"] for t in u["tasks"]]
    assert sorted(got) == sorted(expected) and sum(made) == len(expected)
    cases = _real_cases(svc.r)
    assert len(cases) == len(expected) == len({t["case"] for u in board["units"] for t in u["tasks"]})
    assert resp.dispatch_tasks(r["id"]) == 0 and len(_real_cases(svc.r)) == len(expected)
    assert resp.sweep() == 0                                   # a later worker pass: nothing new
    # the unit's task is a 上情下达 case with the plan's deadline: 签收 and 完成 show on the board
    sl = next(u for u in board["units"] if u["unit"] == "DSL")["tasks"][0]
    assert sl["deadline_ts"] == pytest.approx(r["level_since"] + 60 * 60)
    svc.start(sl["case"], SL)
    qx = next(u for u in board["units"] if u["unit"] == "DQX")["tasks"][0]
    svc.start(qx["case"], QX)
    svc.handle(qx["case"], QX, note="已发布")
    svc.clock.advance(61 * 60)
    b = resp.board(who.commander, r["id"])
    assert b["totals"] == {"tasks": 5, "acknowledged": 2, "done": 1, "overdue": 2}
    assert b["resources"][0] == {"type": "抽水泵", "quantity": 4, "unit": "台"}


def test_level_change_and_end_are_audited(resp, svc, who, here) -> None:
    r = resp.activate(who.commander, "flood-typhoon", "IV", town=here.town)
    before = len(_real_cases(svc.r))
    up = resp.change_level(who.commander, r["id"], "III", reason="雨势加大")
    assert up["level"] == "III" and len(_real_cases(svc.r)) == before + 5   # III's five tasks
    with pytest.raises(InvalidTransition):
        resp.change_level(who.commander, r["id"], "III")
    resp.change_level(who.commander, r["id"], "IV", reason="雨势减弱")
    with pytest.raises(ValueError, match="须填写总结"):
        resp.end(who.commander, r["id"], "  ")
    end = resp.end(who.commander, r["id"], "转移群众 320 人，无人员伤亡")
    assert end["state"] == "ended" and svc.emergency_state() is None
    log = resp.log(who.commander, r["id"])
    assert [e["action"] for e in log] == ["activate", "level", "level", "end"]
    assert log[1]["before"] == {"level": "IV", "level_since": log[1]["before"]["level_since"]}
    assert log[1]["after"]["level"] == "III" and log[1]["reason"] == "雨势加大"
    assert log[3]["reason"] == "转移群众 320 人，无人员伤亡" and log[3]["actor"] == "boss"
    with pytest.raises(InvalidTransition):
        resp.change_level(who.commander, r["id"], "II")
    assert resp.list(who.commander) == []


def test_two_city_responses_share_emergency_mode(resp, svc, who, here, elsewhere) -> None:
    """应急模式 is one area: ending one response keeps the other's town in it."""
    from incidents import routing

    a = resp.activate(who.commander, "flood-typhoon", "IV", town=here.town)
    b = resp.activate(who.commander, "urban-waterlogging", "IV", town=elsewhere.town)
    now = svc.clock()
    inside = lambda p: routing.in_emergency(svc.emergency_state(), p.lon, p.lat, now)  # noqa: E731
    assert inside(here) and inside(elsewhere)
    resp.end(who.commander, a["id"], "险情解除")
    assert not inside(here) and inside(elsewhere)
    assert svc.emergency_state()["reason"].startswith(f"应急响应 {b['id']}")
    resp.end(who.commander, b["id"], "积水退去")
    assert svc.emergency_state() is None


def test_a_worker_sweep_gives_what_an_interrupted_activation_left(resp, svc, who, here) -> None:
    r = resp.activate(who.commander, "power-outage", "IV", town=here.town, dispatch=False)
    x = resp.activate(who.commander, "flood-typhoon", "IV", town=here.town, exercise=True,
                      dispatch=False)
    assert resp.board(who.commander, r["id"])["totals"]["tasks"] == 0
    assert resp.sweep() == 4 + 5 and resp.sweep() == 0
    assert resp.board(who.commander, r["id"])["totals"]["tasks"] == 4
    assert resp.board(who.commander, x["id"], exercise=True)["totals"]["tasks"] == 5
    assert len(_real_cases(svc.r)) == 4


def test_town_activation_is_scoped_and_the_city_takes_over(resp, svc, who, here, elsewhere) -> None:
    with pytest.raises(Forbidden, match="本辖区"):
        resp.activate(who.town, "flood-typhoon", "IV", town=elsewhere.town)
    with pytest.raises(Forbidden, match="IV 级"):
        resp.activate(who.town, "flood-typhoon", "III", town=here.town)
    with pytest.raises(Forbidden, match="市指挥部统一启动"):
        resp.activate(who.town, "power-outage", "IV", town=here.town)
    with pytest.raises(Forbidden):
        resp.activate(who.cg, "flood-typhoon", "IV", town=here.town)
    assert _real_cases(svc.r) == []
    r = resp.activate(who.town, "urban-waterlogging", "IV", town=here.town)
    assert r["owner"] == f"T{here.town}" and r["emergency"] is False and svc.emergency_state() is None
    units = {u["unit"] for u in resp.board(who.town, r["id"])["units"]}
    assert units == {"DZJ", "DCG", f"T{here.town}"}
    with pytest.raises(Forbidden):
        resp.board(who.other_town, r["id"])                    # another town reads not
    assert resp.board(who.zj, r["id"])["totals"]["tasks"] == 3  # a member unit reads its board
    with pytest.raises(Forbidden):
        resp.take_over(who.town, r["id"])
    resp.take_over(who.commander, r["id"], reason="多点积水，市级统一指挥")
    assert svc.emergency_state()["reason"].startswith(f"应急响应 {r['id']}")
    with pytest.raises(Forbidden, match="接管"):
        resp.change_level(who.town, r["id"], "IV")
    resp.change_level(who.commander, r["id"], "III")
    units = {u["unit"] for u in resp.board(who.commander, r["id"])["units"]}
    other_towns = {"T440981001", "T440981002"} - {f"T{here.town}"}
    assert not units & other_towns                               # its territory only
    assert [e["action"] for e in resp.log(who.commander, r["id"])] == ["activate", "take_over", "level"]


def test_an_exercise_never_creates_real_cases(resp, svc, who, here) -> None:
    x = resp.activate(who.commander, "flood-typhoon", "IV", town=here.town, exercise=True,
                      reason="汛前推演")
    assert x["id"].startswith("X") and x["exercise"] is True
    assert _real_cases(svc.r) == [] and svc.emergency_state() is None
    assert resp.list(who.commander) == [] and [r["id"] for r in resp.list(who.commander, exercise=True)] == [x["id"]]
    resp.change_level(who.commander, x["id"], "III", exercise=True)
    b = resp.board(who.commander, x["id"], exercise=True)
    assert b["totals"]["tasks"] == 10 and all(t["exercise"] == 1 and "case" not in t
                                               for u in b["units"] for t in u["tasks"])
    key = next(u for u in b["units"] if u["unit"] == "DSL")["tasks"][0]["key"]
    with pytest.raises(Forbidden):
        resp.exercise_step(QX, x["id"], key, "start")
    resp.exercise_step(SL, x["id"], key, "start")
    resp.exercise_step(SL, x["id"], key, "handle")
    b = resp.board(who.commander, x["id"], exercise=True)
    assert b["totals"]["done"] == 1
    resp.end(who.commander, x["id"], "推演结束：响应链路畅通", exercise=True)
    assert _real_cases(svc.r) == [] and svc.list_queue(SL, "mine") == []
    assert not [k for k in svc.r.scan_iter("om:inc:resp:*")]
    assert [e["action"] for e in resp.replay(who.commander, x["id"], exercise=True)] == [
        "activate", "level", "task_start", "task_handle", "end"]
    with pytest.raises(Forbidden):
        resp.activate(JY, "flood-typhoon", "IV", exercise=True)
