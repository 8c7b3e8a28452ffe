"""The bad day (issue 15): alarms become situations, not case storms; severity never drops without
a person; cleared alarms → 已恢复 → 自动恢复; human reports joined to a situation are never
swallowed; machine deadlines and escalation limits. Real redis-server, injected clock."""

from __future__ import annotations

import json

import pytest

from incidents import invariants, keys
from incidents.actor import SYSTEM
from incidents.config import IncidentConfig, IncidentConfigError
from incidents.deadlines import DeadlineWorker
from incidents.errors import Forbidden, InvalidTransition
from incidents.intake import AlarmIntake
from incidents.service import IncidentService
from tests.incidents.conftest import point_in


def alarm(here, episode: str, *, event: str = "raise", category: str = "0306",
          source: str = "iot", level: str = "yellow", device: str = "wl-0001",
          dlon: float = 0.0, msg: str = "水位超警") -> dict:
    sev = {"blue": "一般", "yellow": "较大", "orange": "重大", "red": "特别重大"}[level]
    return {"episode": episode, "event": event, "source": source, "device_id": device,
            "device_type": "water_level", "category": category, "level": level, "severity": sev,
            "lon": repr(here.lon + dlon), "lat": repr(here.lat), "cell_code": here.cell,
            "town_code": here.town, "ts": "1795000000000", "message": msg}


def town_points(city, town: str, n: int):
    """``n`` points in distinct cells of one town (spread over its ground)."""
    idx = [i for i, t in enumerate(city.cells["town_code"]) if t == town]
    step = max(1, len(idx) // n)
    return [point_in(city, i) for i in idx[::step][:n]]


def five_alarm_situation(svc, here, demo_city) -> tuple[AlarmIntake, list, str]:
    """Five water-level alarms in distinct cells of one town, taken in: one situation."""
    intake = AlarmIntake(svc, consumer="c1")
    pts = town_points(demo_city, here.town, 5)
    for k, p in enumerate(pts):
        f = alarm(here, f"d-{k}:r:1", device=f"d-{k}")
        f.update(lon=repr(p.lon), lat=repr(p.lat), cell_code=p.cell)
        svc.r.xadd(keys.ALARMS, f)
    intake.poll(block_ms=None)
    return intake, pts, svc.reported_with(SYSTEM, "alarm:d-0:r:1")


def test_a_falling_level_never_lowers_a_case_only_a_person_does(svc, who, here):
    intake = AlarmIntake(svc, consumer="c1")
    r = svc.r
    r.xadd(keys.ALARMS, alarm(here, "smk-1:smoke:1", category="0401", level="red",
                              msg="烟感浓度超红色阈值"))
    r.xadd(keys.ALARMS, alarm(here, "smk-1:smoke:1", event="level", category="0401",
                              level="blue", msg="烟感浓度回落"))
    intake.poll(block_ms=None)
    inc = svc.get(svc.reported_with(SYSTEM, "alarm:smk-1:smoke:1"), who.commander)
    assert inc.severity == "特别重大"                        # the highest it reached
    assert intake.stats.get("severity-kept") == 1
    # the system's 定级 never lowers it either
    assert svc.update_severity(inc.id, SYSTEM, "一般").severity == "特别重大"
    # a person's 定级 does (the owner: the city center, a 特别重大 case)
    assert svc.update_severity(inc.id, who.city, "较大", reason="现场核实").severity == "较大"
    assert invariants.check(r) == []


def test_a_flood_in_one_town_is_one_situation_with_its_alarms_as_sources(svc, who, here,
                                                                        demo_city, clock):
    intake = AlarmIntake(svc, consumer="c1")
    pts = town_points(demo_city, here.town, 12)
    cats = ["0306", "0301", "0302", "0304"]           # water level, 防汛, manhole water, rain
    for k, p in enumerate(pts):
        f = alarm(here, f"dev-{k}:rule:1", category=cats[k % 4], device=f"dev-{k}")
        f.update(lon=repr(p.lon), lat=repr(p.lat), cell_code=p.cell)
        svc.r.xadd(keys.ALARMS, f)
        clock.advance(60)
    intake.poll(block_ms=None)
    n = len(pts)
    ids = {svc.reported_with(SYSTEM, f"alarm:dev-{k}:rule:1") for k in range(n)}
    assert len(ids) == 1 and n >= 8                     # every alarm linked, one case
    sit = svc.get(ids.pop(), who.commander)
    assert sit.situation == "flood" and sit.title.startswith("态势")
    assert [s["ref"] for s in sit.sources] == [f"dev-{k}" for k in range(n)]
    assert svc.r.zcard(keys.OPEN) == 1
    # a re-raise of one device × rule (a new episode) joins it too: no second case
    svc.r.xadd(keys.ALARMS, alarm(here, "dev-0:rule:2", device="dev-0"))
    intake.poll(block_ms=None)
    assert svc.r.zcard(keys.OPEN) == 1 and len(svc.get(sit.id, who.commander).sources) == n + 1
    # another town's flood is another situation
    other = alarm(here, "far-1:rule:1", device="far-1")
    other.update(lon=repr(point_in(demo_city, len(demo_city.cells) - 1).lon),
                 lat=repr(point_in(demo_city, len(demo_city.cells) - 1).lat))
    svc.r.xadd(keys.ALARMS, other)
    intake.poll(block_ms=None)
    assert svc.reported_with(SYSTEM, "alarm:far-1:rule:1") != sit.id
    assert invariants.check(svc.r) == []


def test_an_outage_becomes_one_situation_routed_to_the_owning_department(svc, who, here,
                                                                         demo_city, clock):
    intake = AlarmIntake(svc, consumer="c1")
    pts = town_points(demo_city, here.town, 40)
    for k, p in enumerate(pts):
        f = alarm(here, f"s-{k}:fault:1", source="device_fault", category="1101",
                  level="blue", device=f"s-{k}", msg="设备离线已 10 分钟（设备故障）")
        f.update(lon=repr(p.lon), lat=repr(p.lat), cell_code=p.cell)
        svc.r.xadd(keys.ALARMS, f)
    intake.poll(block_ms=None)
    n = len(pts)
    assert n >= 20
    ids = {svc.reported_with(SYSTEM, f"alarm:s-{k}:fault:1") for k in range(n)}
    assert len(ids) == 1
    sit = svc.get(ids.pop(), who.commander)
    assert sit.situation == "outage" and len(sit.sources) == n
    assert {s["ref"] for s in sit.sources} == {f"s-{k}" for k in range(n)}     # the devices
    assert [t.center for t in sit.tasks] == ["DZSJ"]           # the owning department, once
    assert len(svc.list_queue(who.town, "mine")) == 1
    # machine deadlines: the accept stage of a device fault is not a 10-minute one
    assert svc.config.stage_limit("accept", "1101", "一般", "device_fault") >= 3600
    assert invariants.check(svc.r) == []


def test_cleared_sources_recover_then_close_as_auto_recovered_and_reopen(svc, who, here, clock):
    intake = AlarmIntake(svc, consumer="c1")
    r = svc.r
    for k in range(3):
        r.xadd(keys.ALARMS, alarm(here, f"wl-{k}:level:1", device=f"wl-{k}", dlon=0.001 * k))
    intake.poll(block_ms=None)
    sid = svc.reported_with(SYSTEM, "alarm:wl-0:level:1")
    worker = DeadlineWorker(svc)
    for k in range(2):
        r.xadd(keys.ALARMS, alarm(here, f"wl-{k}:level:1", event="clear", device=f"wl-{k}",
                                  msg="水位回落"))
    intake.poll(block_ms=None)
    assert svc.get(sid, who.town).recovered_ts == 0          # one source still alarming
    r.xadd(keys.ALARMS, alarm(here, "wl-2:level:1", event="clear", device="wl-2"))
    intake.poll(block_ms=None)
    inc = svc.get(sid, who.town)
    assert inc.recovered_ts == clock() and inc.state == "reported"          # 已恢复
    clock.advance(svc.config.recovery_quiet_s - 1)
    worker.tick()
    assert svc.get(sid, who.town).state == "reported"                      # still quiet
    clock.advance(2)
    assert worker.tick()["recovered"] == 1
    inc = svc.get(sid, who.town)
    assert inc.state == "voided" and "自动恢复" in inc.void_reason
    trail = svc.timeline(sid, who.town)
    assert trail[-1]["action"] == "auto_recover" and trail[-1]["actor"] == "system"
    assert worker.tick()["recovered"] == 0                                  # once
    with pytest.raises(Forbidden):
        svc.perform(sid, who.other_town, "reactivate", {"reason": "x"})
    back = svc.perform(sid, who.town, "reactivate", {"reason": "现场仍有积水"})
    assert (back.state, back.place, back.recovered_ts) == ("reported", f"q:T{here.town}", 0)
    assert invariants.check(r) == []


def test_a_case_touched_by_a_person_never_closes_by_itself(svc, who, here, clock):
    intake = AlarmIntake(svc, consumer="c1")
    svc.r.xadd(keys.ALARMS, alarm(here, "wl-9:level:1", device="wl-9"))
    intake.poll(block_ms=None)
    sid = svc.reported_with(SYSTEM, "alarm:wl-9:level:1")
    svc.accept(sid, who.town)                                   # a person acted on it
    svc.r.xadd(keys.ALARMS, alarm(here, "wl-9:level:1", event="clear", device="wl-9"))
    intake.poll(block_ms=None)
    assert svc.get(sid, who.town).recovered_ts == 0
    clock.advance(10 * svc.config.recovery_quiet_s)
    DeadlineWorker(svc).tick()
    assert svc.get(sid, who.town).state == "accepted"
    # and a case closed otherwise (作废 by a person) does not reopen as 自动恢复 does
    other = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    svc.void(other.id, who.town, "重复")
    with pytest.raises(InvalidTransition):
        svc.perform(other.id, who.town, "reactivate", {})


def test_a_human_report_joins_the_situation_visible_and_its_owner_is_told(svc, who, here,
                                                                         demo_city, clock):
    intake, pts, sid = five_alarm_situation(svc, here, demo_city)
    sit = svc.get(sid, who.commander)
    owner = sit.center
    before = svc.r.xlen(keys.queue(owner))
    clock.advance(120)
    call = svc.report(who.city, "0302", pts[3].lon, pts[3].lat, channel="hotline",
                      description="路面积水严重，有车辆被困", idempotency_key="call-1")
    assert (call.id, call.intake) == (sid, "correlated")
    inc = svc.get(sid, who.commander)
    assert inc.sources[-1]["channel"] == "hotline" and inc.sources[-1]["reporter"] == "city-op"
    assert inc.human_ts == clock()                                # the queue's marker
    entry = svc.r.xrevrange(keys.queue(owner), count=1)[0][1]["e"].split("|")
    assert svc.r.xlen(keys.queue(owner)) == before + 1 and entry[:3] == [sid, "", "correlate"]
    notice = json.loads(svc.r.xrevrange(keys.NOTICES, count=1)[0][1]["e"])
    assert (notice["kind"], notice["id"], notice["reporter"], notice["center"]) == (
        "human_source", sid, "city-op", owner)
    last = svc.timeline(sid, who.commander)[-1]
    assert last["action"] == "correlate" and "city-op" in last["reason"]
    # the reporter keeps sight of their report; a retry is the same report, not a second source
    again = svc.report(who.city, "0302", pts[3].lon, pts[3].lat, channel="hotline",
                       description="路面积水严重，有车辆被困", idempotency_key="call-1")
    assert (again.id, len(svc.get(sid, who.commander).sources)) == (sid, 6)
    # a case with a person's report among its sources never closes by itself
    for k in range(5):
        svc.r.xadd(keys.ALARMS, alarm(here, f"d-{k}:r:1", event="clear", device=f"d-{k}"))
    intake.poll(block_ms=None)
    assert svc.get(sid, who.commander).recovered_ts == 0
    # a report of another category is its own case
    assert svc.report(who.worker, "0107", pts[3].lon, pts[3].lat).id != sid
    assert invariants.check(svc.r) == []


def test_escalations_are_rate_limited_per_center_and_summarised(redis_client, demo_city, clock,
                                                                who, here):
    cfg = IncidentConfig(escalation_limit=3, escalation_window_s=3600.0)
    svc = IncidentService(redis_client, demo_city, config=cfg, clock=clock)
    cells = demo_city.cells[demo_city.cells["town_code"] == here.town].geometry.iloc[:10]
    incs = [svc.report(who.worker, "0107", p.x, p.y, correlate=False)
            for p in cells.representative_point()]
    worker = DeadlineWorker(svc)
    clock.advance(3 * cfg.stage_limit("accept", "0107", "一般"))
    out = worker.tick()
    assert out["escalate"] == 3 and out["limited"] == 7
    now = [svc.get(i.id, who.commander) for i in incs]
    assert sum(i.center == "CITY" for i in now) == 3
    notices = [json.loads(e["e"]) for _, e in svc.r.xrange(keys.NOTICES)]
    assert [(n["kind"], n["center"], n["n"]) for n in notices] == [
        ("escalation_summary", f"T{here.town}", 7)]                  # ONE entry, not seven
    assert worker.tick()["escalate"] == 0                          # waits for the next window
    assert invariants.check(svc.r) == []
    clock.advance(3600)
    worker.tick()                       # the next window: three more move up (the city's own
    assert sum(svc.get(i.id, who.commander).center == "CITY" for i in incs) == 6   # are top tier)
    assert invariants.check(svc.r) == []


def test_situations_are_configuration_and_unknown_keys_still_fail():
    cfg = IncidentConfig.from_dict({
        "situations": {"storm": {"label": "风灾", "categories": ["0304"], "area": "radius",
                                 "radius_m": 1000, "window_s": 600}},
        "channel_min_stage_seconds": {"iot": {"accept": 1200}},
        "recovery_quiet_s": 60, "escalation_limit": 2})
    assert [f.name for f in cfg.situations] == ["storm"]
    assert cfg.family_of("0304").radius_m == 1000 and cfg.family_of("0306") is None
    assert cfg.stage_limit("accept", "0306", "特别重大", "iot") == 1200
    assert cfg.stage_limit("accept", "0306", "特别重大", "hotline") == 30
    assert (cfg.recovery_quiet_s, cfg.escalation_limit) == (60, 2)
    with pytest.raises(IncidentConfigError, match="situations.storm.windw_s"):
        IncidentConfig.from_dict({"situations": {"storm": {"categories": ["03"], "windw_s": 1}}})
    with pytest.raises(IncidentConfigError, match="area"):
        IncidentConfig.from_dict({"situations": {"storm": {"categories": ["03"], "area": "city"}}})


def test_a_call_into_a_dispatched_situation_is_first_in_the_owners_todo(svc, who, here, demo_city,
                                                                       clock):
    """bench/storm found it: the situation went out to its department, then a 12345 call joined
    it; the call was in no view of the owner. Now the owner's 待办 lists the case, first, until it
    moves on."""
    intake, pts, sid = five_alarm_situation(svc, here, demo_city)
    owner_actor = {"CITY": who.city, f"T{here.town}": who.town}[svc.get(sid, who.commander).center]
    for step in ("accept", "dispatch"):
        offers = {o.action: o for o in svc.available_actions(sid, owner_actor)}
        if step == "dispatch":
            svc.dispatch(sid, owner_actor, ["SL"])
        elif step in offers:
            svc.accept(sid, owner_actor)
    assert sid not in [i.id for i in svc.list_queue(owner_actor, "todo")]   # out: not the owner's
    clock.advance(300)
    call = svc.report(who.city, "0302", pts[2].lon, pts[2].lat, channel="hotline",
                      description="路面积水严重，有车辆被困", idempotency_key="call-9")
    assert call.id == sid
    assert [i.id for i in svc.list_queue(owner_actor, "todo")][0] == sid
    handler = who.zj.__class__("sl-op", "dept_operator", "DSL", "水利值班员")
    clock.advance(60)
    svc.start(sid, handler)                  # the case moves on: the owner's marker has been met
    assert sid not in [i.id for i in svc.list_queue(owner_actor, "todo")]


def town_samples(city, n: int) -> list:
    """One point in each of ``n`` different towns (the first cell of each)."""
    seen: dict[str, object] = {}
    for i, t in enumerate(city.cells["town_code"]):
        if t not in seen:
            seen[t] = point_in(city, i)
    assert len(seen) >= n
    return list(seen.values())[:n]


def rain(p, k: int, level: str = "yellow") -> dict:
    f = alarm(p, f"rg-{k}:rain:1", category="0304", device=f"rg-{k}", level=level,
              msg="雨强超黄色阈值")
    f.update(device_type="weather", cell_code=p.cell, town_code=p.town)
    return f


def test_rain_over_many_towns_is_one_city_situation(svc, who, demo_city, clock):
    """全市态势 (issue 15, make demo: a city-wide rain opened 16 town situations in 15 min, each
    重大 and escalated to the city): rain alarms across 10 towns within the window are ONE
    situation of the city center listing every alarm; a town situation a person reported into
    stays its town's (never swallowed), linked, and takes its town's new alarms; other towns'
    later alarms and people's reports join the city's and its owner is told. A flood in one town alone stays that town's (``city_towns`` = 3)."""
    intake = AlarmIntake(svc, consumer="c1")
    assert svc.config.family("flood").city_towns == 3
    pts = town_samples(demo_city, 10)
    sid = lambda k: svc.reported_with(SYSTEM, f"alarm:rg-{k}:rain:1")   # noqa: E731
    svc.r.xadd(keys.ALARMS, rain(pts[0], 0))
    intake.poll(block_ms=None)
    first = svc.get(sid(0), who.commander)
    assert (first.center, first.situation) == (f"T{pts[0].town}", "flood")      # one town: its own
    svc.r.xadd(keys.ALARMS, rain(pts[1], 1))
    intake.poll(block_ms=None)
    second = svc.get(sid(1), who.commander)
    assert second.center == f"T{pts[1].town}" and second.id != first.id
    # a grid worker's report joins the second town's situation: that town now has a stake in it
    worker = who.worker.__class__("w2", "grid_worker", second.center, "网格员丙", cell=pts[1].cell)
    joined = svc.report(worker, "0302", pts[1].lon, pts[1].lat, description="路口积水没过脚踝")
    assert joined.id == second.id
    for k in range(2, 10):                              # the rain spreads over 8 more towns
        clock.advance(60)
        svc.r.xadd(keys.ALARMS, rain(pts[k], k))
    intake.poll(block_ms=None)
    ids = {sid(k) for k in range(10)}
    city = svc.get(sid(2), who.commander)
    assert ids == {first.id, second.id, city.id}        # every alarm linked, no town storm
    assert (city.center, city.situation, city.title) == ("CITY", "flood", "态势：全市内涝/汛情")
    assert {s["ref"] for s in city.sources} == {f"rg-{k}" for k in range(10) if k != 1}
    assert set(city.links) == {first.id, second.id}
    gone = svc.get(first.id, who.commander)             # folded: voided as merged, audited
    assert (gone.state, gone.merged_into) == ("voided", city.id)
    assert svc.timeline(first.id, who.commander)[-1]["action"] == "merge"
    kept = svc.get(second.id, who.commander)            # a person's report in it: kept, open
    assert kept.state == "reported" and len(kept.sources) == 2
    assert [i.id for i in svc.list_queue(who.city, "todo")] == [city.id]
    # the kept town goes on with its own: its new rain alarm joins the town's situation
    svc.r.xadd(keys.ALARMS, rain(pts[1], 11))
    intake.poll(block_ms=None)
    assert sid(11) == second.id
    # more rain anywhere, and a person's call, join the city situation; the city is told
    svc.r.xadd(keys.ALARMS, rain(pts[0], 10))
    intake.poll(block_ms=None)
    assert sid(10) == city.id
    clock.advance(60)
    call = svc.report(who.city, "0302", pts[5].lon, pts[5].lat, channel="hotline",
                      description="路面积水严重，有车辆被困")
    assert call.id == city.id
    notice = json.loads(svc.r.xrevrange(keys.NOTICES, count=1)[0][1]["e"])
    assert (notice["kind"], notice["id"], notice["center"]) == ("human_source", city.id, "CITY")
    assert invariants.check(svc.r) == []


def test_city_towns_is_configuration():
    cfg = IncidentConfig.from_dict({"situations": {
        "rain": {"categories": ["0304"], "city_towns": 1},
        "flood": {"categories": ["0306"]}}})
    assert (cfg.family("rain").city_towns, cfg.family("flood").city_towns) == (1, 0)
    with pytest.raises(IncidentConfigError, match="situations.rain.city_towns"):
        IncidentConfig.from_dict({"situations": {"rain": {"categories": ["0304"],
                                                          "city_towns": -1}}})
