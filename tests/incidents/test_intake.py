"""Intake: idempotency (client keys), correlation (linked, not duplicated), merge/split,
routing defaults (1+N), emergency mode, and the alarm consumer (om:alarms, group intake)."""

from __future__ import annotations

import pytest

from incidents import invariants, keys
from incidents.actor import SYSTEM
from incidents.config import IncidentConfig
from incidents.errors import Forbidden, KeyReused
from incidents.intake import AlarmIntake
from incidents.service import IncidentService

pytestmark = pytest.mark.also_on_cluster   # issue 20: also on a real 3-master Redis Cluster


def test_idempotent_retry_creates_nothing(svc, who, here):
    a = svc.report(who.worker, "0107", here.lon, here.lat, idempotency_key="draft-42")
    n_keys = svc.r.dbsize()
    trail = len(svc.timeline(a.id, who.town))
    b = svc.report(who.worker, "0107", here.lon, here.lat, idempotency_key="draft-42")
    assert (b.id, b.intake) == (a.id, "duplicate")
    assert svc.r.zcard(keys.ALL) == 1 and svc.r.dbsize() == n_keys
    assert len(svc.timeline(a.id, who.town)) == trail
    assert svc.kpis()["received"] == 1


def test_correlation_links_a_duplicate_report(svc, who, here, clock):
    a = svc.report(who.worker, "0302", here.lon, here.lat, description="路面积水")
    clock.advance(600)
    b = svc.report(who.city, "0306", here.lon + 0.001, here.lat, channel="hotline",
                   description="河水上涨")          # related category (flood group), ~100 m
    assert (b.id, b.intake) == (a.id, "correlated")
    assert [s["channel"] for s in b.sources] == ["grid_worker", "hotline"]
    c = svc.report(who.worker, "0106", here.lon, here.lat)       # unrelated category: new
    assert c.id != a.id
    far = svc.report(who.worker, "0302", here.lon + 0.05, here.lat)   # ~5 km: new
    assert far.id != a.id
    clock.advance(10 * 86400)
    late = svc.report(who.worker, "0302", here.lon, here.lat)   # outside the time window
    assert late.id != a.id
    frame = svc.open_incidents_frame().set_index("id")
    assert frame.loc[a.id, "n_sources"] == 2
    assert len(frame) == 4
    assert svc.kpis()["correlated"] == 1
    assert invariants.check(svc.r) == []


def test_merge_and_split(svc, who, here):
    a = svc.report(who.worker, "0101", here.lon, here.lat, correlate=False)
    b = svc.report(who.worker, "0101", here.lon, here.lat, correlate=False)
    merged = svc.merge(a.id, [b.id], who.town, "同一事件")
    assert len(merged.sources) == 2 and b.id in merged.links
    gone = svc.get(b.id, who.town)
    assert (gone.state, gone.merged_into) == ("voided", a.id)
    new = svc.split(a.id, who.town, 1, "不是同一事件")
    assert new.id not in (a.id, b.id) and a.id in new.links and new.state == "reported"
    assert len(svc.get(a.id, who.town).sources) == 1
    with pytest.raises(Forbidden):
        svc.merge(a.id, [new.id], who.other_town)
    assert invariants.check(svc.r) == []


def test_split_merged_back_then_split_again_opens_a_new_case(svc, who, here):
    """拆分 → 合并 back → 拆分 again (found by the policy property test): the second split is a
    new one, not the retry of the first, so it must not hand back the merged (voided) case and
    write on it."""
    a = svc.report(who.worker, "0101", here.lon, here.lat, correlate=False)
    svc.report(who.town, "0101", here.lon + 1e-5, here.lat)             # correlated: a source
    first = svc.split(a.id, who.town, 1, "不是同一事件")
    svc.merge(a.id, [first.id], who.town, "还是同一事件")
    again = svc.split(a.id, who.town, 1, "确实不是")
    assert again.id != first.id and again.state == "reported"
    assert svc.get(first.id, who.town).state == "voided"
    assert invariants.check(svc.r) == []


def test_routing_defaults(svc, who, here, elsewhere):
    assert svc.report(who.worker, "0104", here.lon, here.lat).center == f"T{here.town}"
    major = svc.report(who.worker, "0202", here.lon, here.lat, severity="重大", correlate=False)
    assert (major.center, major.priority) == ("CITY", 1)
    assert svc.report(who.worker, "0501", here.lon, here.lat).center == "CITY"     # sudden
    hot = svc.report(who.city, "1201", here.lon, here.lat, channel="hotline")
    assert hot.center == "DRX"                                                    # line rule
    fault = svc.report(SYSTEM, "1101", here.lon, here.lat, channel="device_fault")
    assert fault.state == "dispatched" and [t.center for t in fault.tasks] == ["DZSJ"]
    assert fault.center == f"T{here.town}"                                        # auto rule
    line = {"type": "LineString", "coordinates": [[here.lon, here.lat], [elsewhere.lon, elsewhere.lat]]}
    across = svc.report(who.city, "0701", here.lon, here.lat, area=line, correlate=False)
    assert across.center == "CITY" and "跨镇街" in across.route_reason
    sugg = svc.suggest_routing(svc.report(who.worker, "0108", here.lon, here.lat).id, who.town)
    assert sugg["departments"][0]["center"] == "DCG"
    inc = svc.report(SYSTEM, "0108", 0.0, 0.0)
    assert inc.center == "CITY" and inc.cell_code == ""                            # outside
    for lon, lat in [(float("nan"), 21.0), (200.0, 21.0), (110.0, 89.0)]:
        with pytest.raises(ValueError, match="WGS-84"):
            svc.report(SYSTEM, "0108", lon, lat)


def test_suggestions_cameras_and_similar(redis_client, demo_city, clock, who, here):
    from incidents.service import IncidentService

    cams = [{"id": "cam-1", "distance_m": 40.0}]
    svc = IncidentService(redis_client, demo_city, clock=clock,
                          cameras_near=lambda lon, lat, r: cams if r >= 100 else [])
    old = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(old.id, who.town)
    svc.dispatch(old.id, who.town, ["CG"])
    svc.handle(old.id, who.cg)
    svc.verify(old.id, who.town, passed=True)
    svc.close(old.id, who.town)
    new = svc.report(who.worker, "0108", here.lon, here.lat + 0.0005)
    s = svc.suggest_routing(new.id, who.town)
    assert s["cameras"] == cams
    assert [x["id"] for x in s["similar"]] == [old.id] and s["similar"][0]["handlers"] == ["DCG"]
    assert new.state == "reported"          # suggestions never dispatch (E30)


def test_emergency_mode_reroutes(svc, who, here, elsewhere, clock, demo_city):
    town_geom = demo_city.towns.set_index("code").geometry[here.town]
    area = {"type": "Feature", "geometry": town_geom.__geo_interface__, "properties": {}}
    with pytest.raises(Forbidden):
        svc.emergency_on(area, clock() + 3600, who.city)
    svc.emergency_on(area, clock() + 3600, who.commander, "台风")
    assert svc.emergency_state()["by"] == "boss"
    inside = svc.report(who.worker, "0104", here.lon, here.lat)
    assert (inside.center, inside.priority, inside.emergency) == ("CITY", 1, 1)
    outside = svc.report(who.other_worker, "0104", elsewhere.lon, elsewhere.lat)
    assert outside.center == f"T{elsewhere.town}"
    normal = svc.report(who.city, "0104", here.lon + 0.0001, here.lat, correlate=False)
    assert svc.list_queue(who.city, "mine")[0].id in (inside.id, normal.id)
    assert svc.list_queue(who.city, "mine")[0].priority == 1
    inside2 = svc.dispatch(normal.id, who.city, ["CG", "GA", "YJ"])      # several at once
    assert len(inside2.tasks) == 3
    clock.advance(3601)
    assert svc.emergency_state() is None                                   # expired
    assert svc.report(who.worker, "0106", here.lon, here.lat).center == f"T{here.town}"
    svc.emergency_on(area, clock() + 3600, who.commander)
    svc.emergency_off(who.commander, "台风过境")
    assert svc.report(who.worker, "0105", here.lon, here.lat).center == f"T{here.town}"
    log = svc.emergency_log(who.city)                  # newest first, every switch audited (E32)
    assert [e["action"] for e in log] == ["emergency_off", "emergency_on", "emergency_on"]
    assert (log[0]["actor"], log[0]["role"], log[0]["center"], log[0]["reason"]) == (
        "boss", "city_commander", "CITY", "台风过境")
    assert log[0]["after"] == {} and log[0]["before"]["area"]["geometry"]["type"] == "Polygon"
    assert log[2]["before"] == {} and log[2]["after"]["reason"] == "台风"
    with pytest.raises(Forbidden):
        svc.emergency_log(who.town)


def test_alarm_intake(svc, who, here):
    r = svc.r
    intake = AlarmIntake(svc, consumer="c1")
    base = {"episode": "wl-0042:level:1", "source": "iot", "device_id": "wl-0042",
            "device_type": "water_level", "category": "0306", "level": "yellow",
            "severity": "一般", "lon": repr(here.lon), "lat": repr(here.lat),
            "cell_code": here.cell, "town_code": here.town, "ts": "1795000000000",
            "message": "水位 12.3 m 超过警戒水位 12.0 m"}
    r.xadd(keys.ALARMS, {**base, "event": "raise"})
    r.xadd(keys.ALARMS, {**base, "event": "raise"})           # re-delivered raise
    assert intake.poll(block_ms=None) == 2
    ids = r.zrange(keys.ALL, 0, -1)
    assert len(ids) == 1
    inc = svc.get(ids[0], who.town)
    assert (inc.channel, inc.center, inc.severity) == ("iot", f"T{here.town}", "一般")
    r.xadd(keys.ALARMS, {**base, "event": "level", "level": "red", "severity": "重大"})
    r.xadd(keys.ALARMS, {**base, "event": "clear", "message": "水位回落"})
    r.xadd(keys.ALARMS, {**base, "episode": "unknown", "event": "clear"})
    assert intake.poll(block_ms=None) == 3
    inc = svc.get(ids[0], who.city)
    assert (inc.severity, inc.center) == ("重大", "CITY")
    acts = [e["action"] for e in svc.timeline(inc.id, who.city)]
    assert acts == ["report", "severity", "alarm_clear"]        # 告警解除: audited on the case
    assert inc.sources[0]["cleared"] and inc.recovered_ts       # its only source: 已恢复
    assert r.xpending(keys.ALARMS, keys.ALARMS_GROUP)["pending"] == 0
    # an entry held by a dead consumer is reclaimed and applied once
    r.xadd(keys.ALARMS, {**base, "episode": "wl-0043:level:1", "event": "raise",
                         "lon": repr(here.lon + 0.05)})
    r.xreadgroup(keys.ALARMS_GROUP, "dead", {keys.ALARMS: ">"}, count=10)
    other = AlarmIntake(svc, consumer="c2")
    assert other.poll(block_ms=None, reclaim_idle_ms=0) == 1
    assert r.zcard(keys.ALL) == 2
    # a worker restarted under its own name takes up what it held, at once
    r.xadd(keys.ALARMS, {**base, "episode": "wl-0044:level:1", "event": "raise",
                         "lon": repr(here.lon - 0.05)})
    r.xreadgroup(keys.ALARMS_GROUP, "c3", {keys.ALARMS: ">"}, count=10)
    assert AlarmIntake(svc, consumer="c3").own_pending() == 1
    assert r.zcard(keys.ALL) == 3
    assert r.xpending(keys.ALARMS, keys.ALARMS_GROUP)["pending"] == 0
    assert invariants.check(r) == []


def test_emergency_switched_by_another_process_reroutes_at_once(svc, redis_connect, who, here,
                                                                clock, demo_city):
    """A report is one round trip: the service routes with its cached emergency mode and the
    creating script checks the cache is current (om:inc:emergency:v). Switched on elsewhere,
    the very next report must still go to the city center."""
    assert svc.report(who.worker, "0104", here.lon, here.lat).center == f"T{here.town}"  # cached
    other_client = redis_connect()          # the same backend (single or cluster)
    commander_console = IncidentService(other_client, demo_city, clock=clock)
    town_geom = demo_city.towns.set_index("code").geometry[here.town]
    area = {"type": "Feature", "geometry": town_geom.__geo_interface__, "properties": {}}
    commander_console.emergency_on(area, clock() + 3600, who.commander, "暴雨")
    inside = svc.report(who.worker, "0106", here.lon, here.lat, correlate=False)
    assert (inside.center, inside.priority, inside.emergency) == ("CITY", 1, 1)
    commander_console.emergency_off(who.commander)
    assert svc.report(who.worker, "0105", here.lon, here.lat).center == f"T{here.town}"


def test_case_numbers_are_unique_across_service_objects(svc, redis_client, demo_city, clock, who,
                                                        here):
    """Each service object reserves a block of case numbers (one INCRBY per block)."""
    other = IncidentService(redis_client, demo_city, clock=clock)
    ids = [s.report(who.worker, "0108", here.lon, here.lat, correlate=False).id
           for _ in range(40) for s in (svc, other)]
    assert len(set(ids)) == 80
    strict = IncidentService(redis_client, demo_city, clock=clock,
                             config=IncidentConfig(id_block=1))
    a, b = (strict.report(who.worker, "0108", here.lon, here.lat, correlate=False).id
            for _ in range(2))
    assert int(b[-6:]) == int(a[-6:]) + 1           # id_block=1: consecutive numbers


def test_idempotency_keys_are_per_user_and_per_action(svc, who, here, elsewhere):
    """A key finds only its own user's first request of the same kind: another user's equal key
    makes their own incident (and never reads the first one); the same user's key sent with
    another request is refused (幂等键冲突), not answered with an unrelated incident."""
    a = svc.report(who.worker, "0107", here.lon, here.lat, idempotency_key="k1", correlate=False)
    b = svc.report(who.other_worker, "0104", elsewhere.lon, elsewhere.lat, idempotency_key="k1")
    assert b.id != a.id and b.intake == "created" and b.reporter == who.other_worker.user_id
    with pytest.raises(KeyReused, match="幂等键冲突"):
        svc.report(who.worker, "0104", here.lon, here.lat, idempotency_key="k1")
    assert svc.report(who.worker, "0107", here.lon, here.lat, idempotency_key="k1").id == a.id
    note = svc.note(a.id, who.town, "现场已拍照", idempotency_key="n1")
    assert svc.note(a.id, who.town, "现场已拍照", idempotency_key="n1").version == note.version
    other = svc.report(who.town, "0104", here.lon, here.lat, correlate=False)
    with pytest.raises(KeyReused):
        svc.note(other.id, who.town, "另一件", idempotency_key="n1")
    task = svc.assign_task(who.town, f"W{here.cell}", "巡查", idempotency_key="k1")
    assert task.id not in (a.id, b.id)                  # a task's key is not a report's
    assert svc.assign_task(who.town, f"W{here.cell}", "巡查", idempotency_key="k1").id == task.id
    assert svc.reported_with(who.worker, "k1") == a.id
    assert svc.reported_with(who.other_worker, "k1") == b.id


def test_a_correlated_reporter_keeps_sight_of_the_incident(svc, who, here, demo_city):
    """The second grid worker whose report was linked to an open incident still reads it, in
    their lists too: it is their report as much as the first one's."""
    neighbour = demo_city.cells[(demo_city.cells["town_code"] == here.town)
                                & (demo_city.cells["code"] != here.cell)].iloc[0]
    from incidents.actor import Actor

    second = Actor(str(neighbour["worker_id"]), "grid_worker", f"T{here.town}", "网格员丙",
                   cell=str(neighbour["code"]))
    a = svc.report(who.worker, "0302", here.lon, here.lat)
    b = svc.report(second, "0302", here.lon + 0.0005, here.lat, idempotency_key="d-7")
    assert (b.id, b.intake) == (a.id, "correlated")
    assert svc.get(a.id, second).id == a.id
    assert [i.id for i in svc.list_queue(second, "mine")] == [a.id]
    again = svc.report(second, "0302", here.lon + 0.0005, here.lat, idempotency_key="d-7")
    assert (again.id, again.intake) == (a.id, "duplicate")


def test_split_is_done_by_the_operator_for_the_finder(svc, who, here):
    """拆分: the new incident is the finder's report, entered by the operator: the audit names
    who did it (E32), the finder still sees their report."""
    a = svc.report(who.worker, "0302", here.lon, here.lat)
    b = svc.report(who.city, "0306", here.lon + 0.001, here.lat, channel="hotline")
    assert b.id == a.id
    new = svc.split(a.id, who.town, 1, "不是同一事件")
    assert new.reporter == "city-op" and new.channel == "hotline"
    first = svc.timeline(new.id, who.commander)[0]
    assert (first["action"], first["actor"], first["role"], first["center"]) == (
        "report", "town-op", "town_operator", f"T{here.town}")
    with pytest.raises(Forbidden):
        svc.report(who.worker, "0302", here.lon, here.lat, on_behalf_of="someone-else")


def test_a_merge_or_split_cut_short_is_finished_by_doing_it_again(svc, who, here, monkeypatch):
    """合并/拆分 take several atomic steps. Cut short between them (a crash, a lost connection),
    no report is lost, and the operator doing it again finishes it: no source twice, no second
    incident."""
    from incidents.service import IncidentService

    a = svc.report(who.worker, "0101", here.lon, here.lat, correlate=False)
    b = svc.report(who.worker, "0101", here.lon, here.lat, correlate=False)
    real = IncidentService._mutate

    def cut_before_void(self, incident_id, actor, action, fn, **kw):
        if action == "merge" and incident_id == b.id:
            raise ConnectionError("cut short")
        return real(self, incident_id, actor, action, fn, **kw)

    monkeypatch.setattr(IncidentService, "_mutate", cut_before_void)
    with pytest.raises(ConnectionError):
        svc.merge(a.id, [b.id], who.town, "同一事件")
    assert len(svc.get(a.id, who.town).sources) == 2 and svc.get(b.id, who.town).state == "reported"
    monkeypatch.setattr(IncidentService, "_mutate", real)
    merged = svc.merge(a.id, [b.id], who.town, "同一事件")
    assert len(merged.sources) == 2 and svc.get(b.id, who.town).state == "voided"

    def cut_after_report(self, incident_id, actor, action, fn, **kw):
        if action == "split":
            raise ConnectionError("cut short")
        return real(self, incident_id, actor, action, fn, **kw)

    monkeypatch.setattr(IncidentService, "_mutate", cut_after_report)
    with pytest.raises(ConnectionError):
        svc.split(a.id, who.town, 1, "不是同一事件")
    monkeypatch.setattr(IncidentService, "_mutate", real)
    n = svc.r.zcard(keys.ALL)
    new = svc.split(a.id, who.town, 1, "不是同一事件")
    assert svc.r.zcard(keys.ALL) == n                   # the incident made the first time
    assert len(svc.get(a.id, who.town).sources) == 1
    assert svc.get(a.id, who.town).links.count(new.id) == 1 and new.links.count(a.id) == 1
    assert invariants.check(svc.r) == []
