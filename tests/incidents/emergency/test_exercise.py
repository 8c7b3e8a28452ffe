"""推演 (X3, issue 16) on the real redis-server: a plan run as an exercise on a COPY of the live
picture, with a scenario's alarms as its trigger: the level suggested, the exercise response
activated in its own namespace (tasks as board entries), resources dispatched from the copy
(a team already committed for real is not taken again) — and the real picture untouched: the
real incident counts, responses, 应急模式 and every resource's state are as they were. The run
replays in order; a scenario that crosses no trigger activates nothing."""

from __future__ import annotations

import json

import pytest

from grid import keys as rkeys
from grid.resources import Register
from incidents import keys
from incidents.actor import SYSTEM
from incidents.config import IncidentConfig
from incidents.emergency.dispatch import ResourceDispatch
from incidents.emergency.exercise import MARK, Exercises, situation_signal
from incidents.emergency.plans import Known, PlanBook
from incidents.emergency.response import Responses

CFG = IncidentConfig()


def _family(category: str) -> str:
    return next((f.name for f in CFG.situations if f.covers(category)), "")


def _alarms(here, n: int, level: str = "orange") -> list[dict]:
    return [{"device_id": f"wl-{i}", "device_type": "water_level", "metric": "level", "rule": "level",
             "level": level, "category": "0306", "town_code": here.town, "lon": here.lon + i * 1e-4,
             "lat": here.lat, "message": "水位超警戒"} for i in range(n)]


def _real(r, reg: Register) -> tuple:
    """What an exercise must never change: real cases, responses, 应急模式, resources."""
    return (r.zcard(keys.ALL), r.zcard(keys.responses_all(False)), r.zcard(keys.responses_active(False)),
            r.exists(keys.EMERGENCY), r.xlen(keys.EMERGENCY_LOG),
            sorted((h.id, h.status, h.avail) for h in reg.all()), r.zcard(rkeys.ASG_ALL))


@pytest.fixture
def world(svc, redis_client, demo_city):
    book = PlanBook(svc.r, Known(svc.city, frozenset(s.name for s in CFG.situations)), svc.policy, svc.clock)
    book.load_demo(SYSTEM)
    rs = Responses(svc, book)
    reg = Register(redis_client, demo_city)
    reg.ensure_demo()
    return rs, reg, Exercises(rs, reg, _family)


def test_an_exercise_runs_on_a_copy_and_leaves_the_real_picture(world, svc, who, here) -> None:
    rs, reg, ex = world
    # the live picture: a real case, a real team committed to it
    inc = svc.report(SYSTEM, "0306", here.lon, here.lat, channel="iot", idempotency_key="real-1")
    d = ResourceDispatch(svc, reg)
    near = d.suggest(who.commander, incident_id=inc.id)
    team = next(g for g in near["groups"] if g["need"] == "队伍")["resources"][0]["id"]
    d.dispatch(who.commander, team, incident=inc.id)
    before = _real(svc.r, reg)

    sig = situation_signal(_alarms(here, 3), here.town, _family)
    assert (sig.family, sig.sources, sig.alarm_level) == ("flood", 3, "orange")
    run = ex.start(who.commander, "flood-typhoon", "flood", _alarms(here, 3), town=here.town)
    assert run["state"] == "running" and run["mark"] == MARK and run["level"] == "IV"
    assert run["picture"]["open_cases"] == before[0] and run["picture"]["real_responses_active"] == 0
    assert _real(svc.r, reg) == before                          # nothing real changed
    assert svc.emergency_state() is None                         # 应急模式 never switched

    # its response: in the 推演 namespace, tasks as board entries (never cases)
    resp = rs.get(who.commander, run["response"], exercise=True)
    assert resp["exercise"] is True and run["response"].startswith("X")
    board = rs.board(who.commander, run["response"], exercise=True)
    assert board["totals"]["tasks"] == 5 and not any(t.get("case") for u in board["units"] for t in u["tasks"])
    assert rs.list(who.commander) == []                           # no real response listed

    events = ex.replay(who.commander, run["id"])
    acts = [e["action"] for e in events]
    assert acts[:6] == ["start", "copy", "alarm", "alarm", "alarm", "suggest"]
    assert acts[6] == "activate" and set(acts[7:]) == {"dispatch"}
    assert all(e["mark"] == MARK for e in events)
    sent = [e for e in events if e["action"] == "dispatch"]
    assert team not in {e["resource"] for e in sent}              # committed for real: not in the copy
    pumps = sum(e["quantity"] for e in sent if e["need"] == "抽水泵")
    assert pumps == 4                                             # the level's need, from the copy
    copy = {k: json.loads(v) for k, v in svc.r.hgetall(keys.exercise_resources(run["id"])).items()}
    assert copy[team]["usable"] is False and copy[team]["state"] != "available"
    assert _real(svc.r, reg) == before

    # a second exercise runs on ITS copy: the first one's dispatches are not carried over
    again = ex.start(who.commander, "flood-typhoon", "flood", _alarms(here, 3), town=here.town)
    sent2 = [e for e in ex.replay(who.commander, again["id"]) if e["action"] == "dispatch"]
    assert [e["resource"] for e in sent2] == [e["resource"] for e in sent]

    ended = ex.end(who.commander, run["id"], "演练完成，队伍 30 分钟到场")
    assert ended["state"] == "ended"
    assert rs.get(who.commander, run["response"], exercise=True)["state"] == "ended"
    tail = ex.replay(who.commander, run["id"])
    assert [e["action"] for e in tail][-2:] == ["end", "end"]     # the response's, the run's
    assert [x["id"] for x in ex.list()] == [again["id"], run["id"]]
    assert _real(svc.r, reg) == before


def test_a_scenario_under_every_trigger_activates_nothing(world, svc, who, here) -> None:
    rs, reg, ex = world
    run = ex.start(who.commander, "flood-typhoon", "flood", _alarms(here, 1, "yellow"), town=here.town)
    assert run["state"] == "no_trigger" and not run.get("response")
    assert [e["action"] for e in ex.replay(who.commander, run["id"])] == ["start", "copy", "alarm",
                                                                          "no_trigger"]
    assert svc.r.zcard(keys.responses_all(True)) == 0


def test_who_may_run_an_exercise(world, who, here) -> None:
    from incidents.errors import Forbidden

    _rs, _reg, ex = world
    with pytest.raises(Forbidden):
        ex.start(who.cg, "flood-typhoon", "flood", _alarms(here, 3), town=here.town)
