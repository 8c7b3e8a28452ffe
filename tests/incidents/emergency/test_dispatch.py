"""一键调度 (X19, X23, X18; issue 16) on the real redis-server: the nearest available resources of the
kinds a response's level needs are suggested; the LAST unit of a material raced by two processes
goes to exactly one; release returns it; a process killed (SIGKILL) mid-dispatch or while
looping dispatch/release leaves every resource in exactly one state with consistent quantities
(``invariants``); a retried click commits once; a town cannot dispatch another town's team;
every step is a note on the incident's trail and the response board lists what is committed."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest
import redis

from grid import keys as rkeys
from grid.resources import Register, read_csv
from incidents.actor import SYSTEM, Actor
from incidents.config import IncidentConfig
from incidents.emergency.dispatch import ResourceDispatch, invariants
from incidents.emergency.plans import Known, PlanBook
from incidents.emergency.response import Responses
from incidents.errors import Conflict, Forbidden, InvalidTransition
from incidents.service import IncidentService

XF = Actor("xf-op", "dept_operator", "DXF", "消防值班员")
CG = Actor("cg-op", "dept_operator", "DCG", "城管值班员")
_FORK = mp.get_context("fork")


def _town_pt(city, town: str, dy: float = 0.0) -> tuple[float, float]:
    p = city.towns[city.towns["code"].astype(str) == town].geometry.iloc[0].representative_point()
    return round(p.x, 6), round(p.y + dy, 6)


def _csv(city, here, elsewhere) -> str:
    """Two teams of ``here``'s town (one near the case, one farther), one of the other town, a
    fire-brigade team, a pump warehouse near and far, and the LAST sandbag; every point a grid
    cell's of the town, ordered by distance from the case."""
    cells = city.cells[city.cells["town_code"].astype(str) == here.town]
    pts = [(round(p.x, 6), round(p.y, 6)) for p in cells.geometry.representative_point()]
    pts.sort(key=lambda q: (q[0] - here.lon) ** 2 + (q[1] - here.lat) ** 2)
    near, xf, last, far, farthest = pts[1], pts[2], pts[3], pts[len(pts) // 2], pts[-1]
    ox, oy = _town_pt(city, elsewhere.town)
    return ("category,id,name,owner,lon,lat,kind,people,contact,item,quantity,unit\n"
            f"team,t-near,近队,T{here.town},{near[0]},{near[1]},防汛抢险队,20,,,,\n"
            f"team,t-far,远队,T{here.town},{far[0]},{far[1]},防汛抢险队,20,,,,\n"
            f"team,t-other,外镇队,T{elsewhere.town},{ox},{oy},防汛抢险队,20,,,,\n"
            f"team,t-xf,消防队,DXF,{xf[0]},{xf[1]},消防救援队,30,13800001111,,,\n"
            f"material,m-pump-near,近仓,DYJ,{near[0]},{near[1]},,,,抽水泵,3,台\n"
            f"material,m-pump-far,远仓,DYJ,{farthest[0]},{farthest[1]},,,,抽水泵,5,台\n"
            f"material,m-last,末仓,DYJ,{last[0]},{last[1]},,,,沙袋,1,个\n")


@pytest.fixture
def world(svc, redis_client, demo_city, here, elsewhere):
    reg = Register(redis_client, demo_city)
    reg.import_rows(read_csv(_csv(demo_city, here, elsewhere)))
    inc = svc.report(SYSTEM, "0306", here.lon, here.lat, severity="一般", channel="iot",
                     idempotency_key="rd-1", ref="wl-1")
    return ResourceDispatch(svc, reg), inc


def _notes(svc: IncidentService, inc_id: str) -> list[str]:
    return [e.get("reason", "") for e in svc.timeline(inc_id, SYSTEM)
            if e.get("action") == "note" and "一键调度" in e.get("reason", "")]


def test_suggestion_is_the_nearest_available_of_the_kinds_needed(world, svc, who, here) -> None:
    d, inc = world
    got = d.suggest(who.commander, incident_id=inc.id)
    teams = next(g for g in got["groups"] if g["need"] == "队伍")["resources"]
    assert [t["id"] for t in teams] == ["t-near", "t-xf", "t-far"]
    assert teams[0]["distance_m"] < teams[1]["distance_m"] < teams[2]["distance_m"]
    assert got["distance"] == "straight_line"
    t = d.dispatch(who.commander, "t-near", incident=inc.id)          # committed: not suggested
    teams = next(g for g in d.suggest(who.commander, incident_id=inc.id)["groups"]
                 if g["need"] == "队伍")["resources"]
    assert [t["id"] for t in teams] == ["t-xf", "t-far", "t-other"]
    # a response's level names what it needs: 防汛防台 IV needs 抽水泵 4 (near 3 + far 1), 沙袋 2000
    resp = Responses(svc, PlanBook(svc.r, Known(svc.city, frozenset(
        s.name for s in IncidentConfig().situations)), svc.policy, svc.clock))
    resp.plans.load_demo(SYSTEM)
    r = resp.activate(who.commander, "flood-typhoon", "IV", town=here.town, incident=inc.id)
    got = d.suggest(who.commander, incident_id=inc.id)                # the case's response
    assert got["response"] == r["id"]
    need = {g["need"]: g for g in got["groups"]}
    pumps = need["抽水泵"]
    assert [(x["id"], x["suggested_quantity"]) for x in pumps["resources"]] == [
        ("m-pump-near", 3), ("m-pump-far", 1)] and pumps["covered"]
    assert not need["沙袋"]["covered"] and need["沙袋"]["resources"][0]["id"] == "m-last"
    a = d.dispatch(who.commander, "m-pump-near", response=r["id"], quantity=3)
    assert a["incident"] == inc.id and a["response"] == r["id"] and a["state"] == "requested"
    pumps = {g["need"]: g for g in d.suggest(who.commander, response_id=r["id"])["groups"]}["抽水泵"]
    assert [(x["id"], x["suggested_quantity"]) for x in pumps["resources"]] == [("m-pump-far", 4)]
    board = resp.board(who.commander, r["id"])
    assert [(c["id"], c["resource"], c["qty"], c["state_name"]) for c in board["committed"]] == [
        (a["id"], "m-pump-near", 3, "已请求")]
    assert t["response"] == ""
    # a town operator is told which it may dispatch (its own town's only)
    mine = {x["id"]: x["may_dispatch"] for g in d.suggest(who.town, incident_id=inc.id)["groups"]
            for x in g["resources"]}
    assert mine == {"m-pump-far": False, "m-last": False}
    reg = d.register
    assert d.may(who.town, reg.get("t-far"), inc) and not d.may(who.town, reg.get("t-xf"), inc)


def test_lifecycle_steps_audit_and_release_returns_the_quantity(world, svc, who, here) -> None:
    d, inc = world
    a = d.dispatch(who.commander, "m-pump-near", incident=inc.id, quantity=2)
    assert d.register.get("m-pump-near").avail == 1
    with pytest.raises(Conflict, match="库存不足"):
        d.dispatch(who.commander, "m-pump-near", incident=inc.id, quantity=2)
    t = d.dispatch(who.commander, "t-near", incident=inc.id)
    with pytest.raises(Conflict, match="已被调派"):
        d.dispatch(who.commander, "t-near", incident=inc.id)
    for step in ("acknowledged", "en_route"):
        assert d.step(who.town, t["id"], step)["state"] == step     # the owning town moves it
    assert d.register.get("t-near").status == "en_route"
    d.update_position(t["id"], here.lon + 0.001, here.lat)
    row = d.register.frame().set_index("id").loc["t-near"]
    assert (row["status"], round(row["lon"], 6)) == ("en_route", round(here.lon + 0.001, 6))
    with pytest.raises(InvalidTransition):
        d.step(who.town, t["id"], "acknowledged")                     # never backwards
    assert d.step(who.town, t["id"], "en_route")["state"] == "en_route"    # a repeat: nothing
    d.step(who.town, t["id"], "on_scene")
    d.release(who.commander, t["id"])
    assert d.register.get("t-near").status == "available"
    d.release(who.commander, a["id"], consumed=1)
    pump = d.register.get("m-pump-near")
    assert (pump.avail, pump.total) == (2, 2)                          # 1 used, 1 returned
    assert invariants(svc.r) == []
    notes = _notes(svc, inc.id)
    assert [n.rsplit("：", 1)[1] for n in notes if t["id"] in n] == [
        "已请求", "已确认", "在途", "到场", "已释放"]
    assert [s["after"] for s in d.log(t["id"])] == ["requested", "acknowledged", "en_route",
                                                    "on_scene", "released"]


def test_a_retried_click_commits_once(world, svc, who) -> None:
    d, inc = world
    a = d.dispatch(who.commander, "m-pump-far", incident=inc.id, quantity=2, idempotency_key="k1")
    b = d.dispatch(who.commander, "m-pump-far", incident=inc.id, quantity=2, idempotency_key="k1")
    assert a["id"] == b["id"] and d.register.get("m-pump-far").avail == 3
    assert len(d.assignments(incident=inc.id)) == 1 and len(_notes(svc, inc.id)) == 1


def test_who_may_dispatch(world, svc, who) -> None:
    d, inc = world
    with pytest.raises(Forbidden):
        d.dispatch(who.town, "t-other", incident=inc.id)               # another town's team
    with pytest.raises(Forbidden):
        d.dispatch(who.other_town, "t-other", incident=inc.id)         # its team, not its case
    with pytest.raises(Forbidden):
        d.dispatch(CG, "t-xf", incident=inc.id)                         # another department's
    denied = [(e["actor"], e["action"]) for e in svc.timeline(inc.id, SYSTEM)
              if str(e.get("action")).startswith("denied:")]           # refusals on the trail
    assert denied[0] == (who.town.user_id, "denied:resource_dispatch")
    assert {a for a, _ in denied} == {who.town.user_id, who.other_town.user_id, CG.user_id}
    assert d.dispatch(who.town, "t-far", incident=inc.id)["state"] == "requested"      # its own
    for step in (svc.accept, svc.register):
        step(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["XF"])                              # the case is 消防's too
    assert d.dispatch(XF, "t-xf", incident=inc.id)["state"] == "requested"      # a dept's own
    assert d.dispatch(who.commander, "t-other", incident=inc.id)["state"] == "requested"  # the city
    assert invariants(svc.r) == []


# --- two processes, and a process killed mid-dispatch ---------------------------------------------
def _racer(url: str, city, inc_id: str, rid: str, barrier, out) -> None:  # noqa: ANN001
    r = redis.Redis.from_url(url, decode_responses=True)       # its own connection
    d = ResourceDispatch(IncidentService(r, city), Register(r, city))
    boss = Actor("boss", "city_commander", "CITY", "市指挥长")
    barrier.wait()
    try:
        out.put(("ok", d.dispatch(boss, rid, incident=inc_id)["id"]))
    except Conflict as exc:
        out.put(("conflict", str(exc)))


def test_two_processes_race_for_the_last_unit_exactly_one_wins(world, svc, redis_service, demo_city) -> None:
    d, inc = world
    for rid in ("m-last", "t-far"):
        barrier, out = _FORK.Barrier(2), _FORK.Queue()
        procs = [_FORK.Process(target=_racer, args=(redis_service.url, demo_city, inc.id, rid, barrier, out))
                 for _ in range(2)]
        for p in procs:
            p.start()
        got = sorted(out.get(timeout=30)[0] for _ in procs)
        for p in procs:
            p.join(timeout=30)
        assert got == ["conflict", "ok"], (rid, got)
    assert d.register.get("m-last").avail == 0 and invariants(svc.r) == []
    (last,) = d.assignments(incident=inc.id, open_only=False)[1:]      # oldest: the sandbag
    d.release(Actor("boss", "city_commander", "CITY"), last["id"])
    assert d.register.get("m-last").avail == 1 and invariants(svc.r) == []


def _killed_between(url: str, city, inc_id: str) -> None:  # noqa: ANN001
    r = redis.Redis.from_url(url, decode_responses=True)
    d = ResourceDispatch(IncidentService(r, city), Register(r, city),
                         between=lambda step: os.kill(os.getpid(), signal.SIGKILL))
    d.dispatch(Actor("boss", "city_commander", "CITY", "市指挥长"), "m-pump-near", incident=inc_id,
               quantity=2)


def _looper(url: str, city, inc_id: str) -> None:  # noqa: ANN001
    r = redis.Redis.from_url(url, decode_responses=True)
    d = ResourceDispatch(IncidentService(r, city), Register(r, city))
    boss = Actor("boss", "city_commander", "CITY", "市指挥长")
    while True:
        for rid, q in (("t-far", 1), ("m-pump-far", 2)):
            a = d.dispatch(boss, rid, incident=inc_id, quantity=q)
            d.step(boss, a["id"], "en_route")
            d.release(boss, a["id"])


def test_a_kill_mid_dispatch_leaves_every_resource_in_one_state(world, svc, redis_service,
                                                                demo_city) -> None:
    d, inc = world
    p = _FORK.Process(target=_killed_between, args=(redis_service.url, demo_city, inc.id))
    p.start()
    p.join(timeout=30)
    assert p.exitcode == -signal.SIGKILL
    assert invariants(svc.r) == [] and d.register.get("m-pump-near").avail == 1
    (a,) = d.assignments(incident=inc.id)
    assert a["state"] == "requested" and _notes(svc, inc.id) == []     # committed, note not yet
    assert d.sweep() == 1 and len(_notes(svc, inc.id)) == 1 and d.sweep() == 0

    # killed at an arbitrary moment while looping dispatch / en route / release
    p = _FORK.Process(target=_looper, args=(redis_service.url, demo_city, inc.id))
    p.start()
    deadline = time.monotonic() + 20
    while svc.r.zcard(rkeys.ASG_ALL) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)                                # polling a condition with a deadline
    os.kill(p.pid, signal.SIGKILL)
    p.join(timeout=10)
    assert svc.r.zcard(rkeys.ASG_ALL) >= 40
    assert invariants(svc.r) == []
    boss = Actor("boss", "city_commander", "CITY", "市指挥长")
    for x in d.assignments(open_only=True):            # whatever it left open is released cleanly
        d.release(boss, x["id"])
    assert invariants(svc.r) == []
    assert d.register.get("t-far").status == "available"
    assert d.register.get("m-pump-far").avail == 5
    # the checker sees what a non-atomic change would leave behind
    svc.r.hincrby(rkeys.item("m-pump-far"), "avail", -1)
    svc.r.hset(rkeys.item("t-far"), "state", "en_route")
    assert sorted(p.split(":")[0] for p in invariants(svc.r)) == ["m-pump-far", "t-far"]
