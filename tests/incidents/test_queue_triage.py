"""The default work view (待办, ``list_queue(view="todo")``) and its triage order (issue 15):
a fresh human report is first behind a storm of machine cases, a department's new dispatch is at
the top, every role's view holds what waits for its action. Real redis-server, the service's
own clock moved by hand."""

from __future__ import annotations

from incidents import queries
from incidents.actor import SYSTEM
from incidents.queries import CHANNEL_GROUPS, channel_group, triage_order
from tests.incidents.conftest import point_in


def _storm(svc, city, town: str, n: int = 50, channel: str = "iot") -> list:
    """``n`` machine cases (one alarm episode each) in ``town``, not correlated."""
    cells = [i for i, t in enumerate(city.cells["town_code"]) if t == town]
    out = []
    for k in range(n):
        p = point_in(city, cells[k % len(cells)])
        out.append(svc.report(SYSTEM, "0302", p.lon, p.lat, severity="较大", channel=channel,
                              description=f"水位超警戒 #{k}", correlate=False,
                              idempotency_key=f"alarm:wl-{k}:level:{k}"))
    return out


def test_a_fresh_human_report_is_first_behind_a_storm(svc, who, here, clock, demo_city):
    storm = _storm(svc, demo_city, here.town)
    clock.advance(3600)                    # every storm case is now past its accept deadline
    assert all(i.overdue(clock()) for i in svc.list_queue(who.town, "todo", limit=100)[:50])
    call = svc.report(who.town, "0302", here.lon, here.lat, description="路面积水严重，有车辆被困",
                      channel="hotline", correlate=False)
    todo = svc.list_queue(who.town, "todo", limit=100)
    assert todo[0].id == call.id and len(todo) == 51
    assert {i.id for i in todo[1:]} == {i.id for i in storm}
    # the rest: most overdue first (all the storm: the first reported is the most overdue)
    assert todo[1].id == storm[0].id
    # a grid worker's report a minute later is first, the call second (newest human first)
    clock.advance(60)
    found = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖移位",
                       correlate=False)
    assert [i.id for i in svc.list_queue(who.town, "todo", limit=3)][:2] == [found.id, call.id]
    # accepted: no longer fresh, it sinks among the rest
    svc.accept(found.id, who.town)
    assert svc.list_queue(who.town, "todo", limit=1)[0].id == call.id


def test_the_emergency_area_rises_above_overdue(svc, who, here, clock, demo_city):
    _storm(svc, demo_city, here.town, n=5)
    clock.advance(3600)
    later = _storm(svc, demo_city, here.town, n=1, channel="video_ai")[0]
    town = demo_city.towns[demo_city.towns["code"] == here.town].geometry.iloc[0]
    cell = demo_city.cells[demo_city.cells["code"] == later.cell_code].geometry.iloc[0]
    svc.emergency_on(cell.buffer(0.0005).__geo_interface__, clock() + 3600, who.commander, "内涝")
    assert town.contains(cell.representative_point())
    todo = svc.list_queue(who.town, "todo", limit=10)
    assert todo[0].id == later.id          # not overdue, but in the emergency area
    assert sum(i.cell_code == later.cell_code for i in todo[:1]) == 1


def test_a_department_sees_a_new_dispatch_at_the_top(svc, who, here, clock, demo_city):
    old = _storm(svc, demo_city, here.town, n=42)
    for inc in old:
        svc.accept(inc.id, who.town)
        svc.dispatch(inc.id, who.town, ["CG"])
        svc.start(inc.id, who.cg)
    clock.advance(7200)                    # some of the department's work is overdue by now
    new = svc.report(SYSTEM, "0107", here.lon, here.lat, channel="iot", correlate=False)
    svc.accept(new.id, who.town)
    svc.dispatch(new.id, who.town, ["CG"])
    todo = svc.list_queue(who.cg, "todo", limit=100)
    assert len(todo) == 43 and todo[0].id == new.id        # not #43 of 43
    # the same rule and order in every work view: 待受理 holds it (it was empty: 上报 only),
    # 本中心 has it on top (it sorted oldest first: #43 of 43)
    assert [i.id for i in svc.list_queue(who.cg, "new", limit=100)] == [new.id]
    mine = svc.list_queue(who.cg, "mine", limit=100)
    assert len(mine) == 43 and mine[0].id == new.id
    svc.start(new.id, who.cg)                              # signed for: no longer on top
    assert svc.list_queue(who.cg, "todo", limit=100)[0].id != new.id
    assert svc.list_queue(who.cg, "mine", limit=100)[0].id != new.id
    assert svc.list_queue(who.cg, "new", limit=100) == []   # in hand now, not an arrival


def test_the_default_view_per_role(svc, who, here, clock):
    """Town: its new reports, 待改派, work returned for 核查; department: its sub-tasks; grid
    worker: its tasks; city: its own queue (escalations), not every case in the city."""
    a = svc.report(who.worker, "0108", here.lon, here.lat, correlate=False)     # new
    b = svc.report(who.worker, "0104", here.lon, here.lat, correlate=False)
    c = svc.report(who.worker, "0105", here.lon, here.lat, correlate=False)
    d = svc.report(who.worker, "0103", here.lon, here.lat, correlate=False)
    for x in (b, c, d):
        svc.accept(x.id, who.town)
    svc.dispatch(b.id, who.town, ["CG"])
    svc.handle(b.id, who.cg, note="已修复")                  # back for 核查
    svc.dispatch(c.id, who.town, ["CG", "ZJ"])
    svc.return_(c.id, who.cg, reason="不属本部门")             # 待改派 (住建 still out)
    svc.dispatch(d.id, who.town, [f"W{here.cell}"])             # out with the town's worker
    e = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    svc.escalate(e.id, who.town, reason="跨部门")              # the city's now
    town = {i.id for i in svc.list_queue(who.town, "todo", limit=100)}
    assert town == {a.id, b.id, c.id}                           # d is out: not waiting for it
    # 待受理: the arrivals (a to accept, b back for 核查, c to re-dispatch), the same for the
    # department (its dispatched part) and the worker's task; 本中心 also what it sent out (d)
    assert {i.id for i in svc.list_queue(who.town, "new", limit=100)} == town
    assert {i.id for i in svc.list_queue(who.town, "mine", limit=100)} == town | {d.id}
    assert {i.id for i in svc.list_queue(who.zj, "new")} == {c.id}
    assert {i.id for i in svc.list_queue(who.cg, "todo")} == set()   # handled and returned
    assert {i.id for i in svc.list_queue(who.zj, "todo")} == {c.id}
    assert {i.id for i in svc.list_queue(who.worker, "todo")} == {d.id}
    assert {i.id for i in svc.list_queue(who.city, "todo")} == {e.id}
    assert {i.id for i in svc.list_queue(who.city, "todo", center=f"T{here.town}")} == town
    assert {i.id for i in svc.list_queue(who.other_town, "todo")} == set()


def test_channel_groups_and_order_of_plain_incidents(svc, who, here, clock):
    call = svc.report(who.town, "0302", here.lon, here.lat, channel="hotline", correlate=False)
    iot = svc.report(SYSTEM, "0302", here.lon, here.lat, channel="iot", correlate=False)
    assert channel_group(call, "human") and channel_group(call, "hotline")
    assert channel_group(iot, "iot") and not channel_group(iot, "human")
    assert set(CHANNEL_GROUPS) == {"human", "hotline", "iot", "video"}
    assert [i.id for i in triage_order([iot, call], f"T{here.town}", clock())] == [call.id, iot.id]
    assert queries.TIER_NAMES[0] == "人工新报"
