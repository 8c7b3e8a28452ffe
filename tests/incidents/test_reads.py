"""Reads for the screens and the API: the map frame, queue views, Open311 view, KPIs by day."""

from __future__ import annotations

import pytest

from incidents.errors import Forbidden
from incidents.open311 import to_open311


def test_open_incidents_frame_for_the_map(svc, who, here, clock):
    a = svc.report(who.worker, "0108", here.lon, here.lat, title="井盖缺失")
    b = svc.report(who.worker, "0401", here.lon, here.lat)
    c = svc.report(who.worker, "0106", here.lon, here.lat)
    svc.void(c.id, who.town, "误报")
    clock.advance(3600)
    df = svc.open_incidents_frame()
    assert list(df.columns[:12]) == ["id", "category", "category_name", "severity", "state",
                                     "center", "tier", "lon", "lat", "town_code", "overdue",
                                     "created_ts"]
    assert set(df["id"]) == {a.id, b.id}
    row = df.set_index("id").loc[a.id]
    assert (row["title"], row["town_code"], bool(row["overdue"])) == ("井盖缺失", here.town, True)
    assert row["lon"] == pytest.approx(here.lon)
    assert df.set_index("id").loc[b.id, "tier"] == "city"


def test_queue_views(svc, who, here, clock):
    a = svc.report(who.worker, "0108", here.lon, here.lat)
    b = svc.report(who.worker, "0104", here.lon, here.lat)
    svc.accept(b.id, who.town)
    assert [i.id for i in svc.list_queue(who.town, "new")] == [a.id]
    assert {i.id for i in svc.list_queue(who.town, "mine")} == {a.id, b.id}
    svc.dispatch(b.id, who.town, ["CG"])
    assert [i.id for i in svc.list_queue(who.cg, "mine")] == [b.id]
    assert [i.id for i in svc.list_queue(who.cg, "open")] == [b.id]
    assert svc.list_queue(who.zj, "open") == []
    assert {i.id for i in svc.list_queue(who.worker, "mine")} == {a.id, b.id}
    assert svc.list_queue(who.other_worker, "mine") == []
    assert {i.id for i in svc.list_queue(who.city, "open")} == {a.id, b.id}
    assert [i.id for i in svc.list_queue(who.city, "mine", center=f"T{here.town}")][0] == a.id
    with pytest.raises(Forbidden):
        svc.list_queue(who.cg, "mine", center=f"T{here.town}")
    with pytest.raises(Forbidden):
        svc.list_queue(who.admin, "open")
    svc.handle(b.id, who.cg)
    svc.verify(b.id, who.town, passed=True)
    svc.close(b.id, who.town)
    assert [i.id for i in svc.list_queue(who.town, "open")] == [a.id]
    assert {i.id for i in svc.list_queue(who.town, "all")} == {a.id, b.id}
    depths = svc.queue_depths()
    assert depths.get(f"q:T{here.town}") == 1


def test_a_towns_all_view_keeps_what_the_city_handled_in_its_territory(svc, who, here):
    """S1 块: a case in the town's territory that the city center owned from the start (a fire,
    突发, goes straight to the city) is still in the town's "all" view after it closed, and
    never in another town's."""
    inc = svc.report(who.worker, "0401", here.lon, here.lat)
    assert inc.center == "CITY"
    svc.accept(inc.id, who.commander)
    svc.dispatch(inc.id, who.commander, ["CG"])
    svc.handle(inc.id, who.cg)
    svc.verify(inc.id, who.city_sup, passed=True)
    svc.close(inc.id, who.commander)
    assert inc.id in {i.id for i in svc.list_queue(who.town, "all")}
    assert inc.id not in {i.id for i in svc.list_queue(who.other_town, "all")}


def test_open311_view(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖缺失",
                     attachments=["/media/a.jpg"])
    svc.accept(inc.id, who.town)
    inc = svc.dispatch(inc.id, who.town, ["CG"])
    req = to_open311(inc, {"DCG": "城管业务分中心"})
    assert req["service_request_id"] == inc.id and req["status"] == "open"
    assert (req["service_code"], req["service_name"]) == ("0108", "城市管理/井盖异常")
    assert req["agency_responsible"] == "城管业务分中心"
    assert (req["lat"], req["long"]) == (inc.lat, inc.lon)
    assert req["requested_datetime"].endswith("+08:00") and req["media_url"] == "/media/a.jpg"
    assert req["expected_datetime"] is not None
    inc.state = "closed"
    assert to_open311(inc)["status"] == "closed"
    assert inc.to_dict()["state_name"] == "结案"


def test_kpis_by_center_and_day(svc, who, here, clock):
    a = svc.report(who.worker, "0108", here.lon, here.lat)
    clock.advance(86400 * 2)
    svc.report(who.worker, "0104", here.lon, here.lat)
    svc.accept(a.id, who.town)
    assert svc.kpis()["received"] == 2
    assert svc.kpis(since=clock() - 3600)["received"] == 1
    assert svc.kpis(until=clock() - 86400)["received"] == 1
    k = svc.kpis(f"T{here.town}")
    assert (k["accepted"], k["accepted_on_time"], k["accepted_on_time_rate"]) == (1, 0, 0.0)
    assert k["open_now"] == 2 and k["overdue_now"] == 0
    clock.advance(3600)         # past both the accept (600 s) and the register (1800 s) deadline
    assert svc.kpis(f"T{here.town}")["overdue_now"] == 2
    assert svc.kpis("DCG")["received"] == 0


def test_kpis_count_where_the_work_was_and_against_its_own_deadline(svc, who, here, clock):
    """考核: a department that handles late is late even when the case moved up meanwhile (its
    clock restarted at the city); a case received by a town and closed by the city counts as
    closed for the town's closure rate; the top tier's "overdue past the limit" is no
    escalation."""
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    handle_limit = svc.config.stage_limit("handle", "0107", "一般")
    clock.advance(handle_limit * 0.9)
    svc.escalate(inc.id, who.town, "协调不动")           # the case's clock restarts at CITY
    clock.advance(handle_limit * 0.5)                   # late for CG's own deadline
    svc.handle(inc.id, who.cg)
    cg = svc.kpis("DCG")
    assert (cg["handled"], cg["handled_on_time"]) == (1, 0)
    svc.verify(inc.id, who.city_sup, passed=True)
    svc.close(inc.id, who.city_sup)
    town, city = svc.kpis(f"T{here.town}"), svc.kpis("CITY")
    assert (town["received"], town["closed"], town["closure_rate"], town["escalated"]) == (1, 1, 1.0, 1)
    assert (city["received"], city["closed"]) == (0, 0)
    assert svc.kpis()["closure_rate"] == 1.0

    top = svc.report(who.worker, "0107", here.lon, here.lat, severity="重大", correlate=False)
    assert top.center == "CITY"
    clock.advance(10 * 86400)
    from incidents.deadlines import DeadlineWorker

    for _ in range(3):
        DeadlineWorker(svc).tick()
    assert "escalate" in [e["action"] for e in svc.timeline(top.id, who.commander)]
    assert svc.kpis("CITY")["escalated"] == 0


def test_a_department_sees_what_it_is_late_with(svc, who, here, clock):
    """A department owns few cases but handles many sub-tasks: its overdue count and its
    overdue view show the sub-tasks past their own deadline (they were always 0 and empty)."""
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG", "ZJ"])
    assert svc.kpis("DCG")["overdue_now"] == 0 and svc.list_queue(who.cg, "overdue") == []
    clock.advance(svc.config.stage_limit("handle", "0107", "一般") + 60)
    svc.handle(inc.id, who.zj)                          # 住建 done (late); 城管 still at it
    cg, zj = svc.kpis("DCG"), svc.kpis("DZJ")
    assert (cg["overdue_now"], cg["tasks_overdue_now"]) == (1, 1)
    assert zj["tasks_overdue_now"] == 0
    assert [i.id for i in svc.list_queue(who.cg, "overdue")] == [inc.id]
    assert svc.get(inc.id, who.zj).overdue(clock())        # the case itself is late too:
    assert [i.id for i in svc.list_queue(who.zj, "overdue")] == [inc.id]   # in 住建's line
