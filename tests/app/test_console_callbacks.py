"""Console callbacks: hand intake (12345 / walk-in) through the same intake, emergency mode."""

from __future__ import annotations

from app import security
from app.screens.console import circle_area, emergency_banner
from app.users import UserStore
from incidents import keys as ik
from tests.app.authkit import login
from tests.app.test_api import DA, PZ, point_in
from tests.app.test_scope_console import Console, _outputs, _spec


def _new(con: Console, pick, landmark=None, desc="市民来电：路灯不亮", channel="hotline"):
    out = _spec(con.deps, "new-msg.children")
    states = {"new-channel": ("value", channel), "new-category": ("value", "0103"),
              "new-severity": ("value", "一般"), "new-desc": ("value", desc),
              "new-ref": ("value", "12345-77"), "pick": ("data", pick),
              "new-landmark": ("value", landmark), "rev": ("data", 0)}
    return con.post({"output": out, "outputs": _outputs(out),
                     "inputs": [{"id": "new-submit", "property": "n_clicks", "value": 1}],
                     "changedPropIds": ["new-submit.n_clicks"],
                     "state": [{"id": k, "property": p, "value": v} for k, (p, v) in states.items()]})


def test_hand_intake_from_a_picked_point_and_a_landmark(web, app_ctx):
    con = Console(web, "panzhou")
    lon, lat = point_in(app_ctx.city, PZ, 2)
    resp = _new(con, {"lon": lon, "lat": lat, "cell": "x"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    new_id = resp.json["response"]["sel"]["data"]
    inc = app_ctx.incidents.store.load(new_id)
    assert (inc.channel, inc.category, inc.center) == ("hotline", "0103", f"T{PZ}")
    assert inc.reporter == "panzhou" and inc.sources[0]["ref"] == "12345-77"
    vil = app_ctx.city.villages[app_ctx.city.villages["town_code"] == PZ].iloc[0]
    p = vil.geometry.representative_point()
    resp = _new(con, None, landmark=f"{p.x:.6f},{p.y:.6f}", desc="来访：占道", channel="walk_in")
    inc2 = app_ctx.incidents.store.load(resp.json["response"]["sel"]["data"])
    assert inc2.channel == "walk_in" and inc2.village_code == vil["code"]
    msg = _new(con, None).json["response"]["new-msg"]["children"]
    assert "位置" in msg                                  # no location: told, nothing created


def _emergency(con: Console, on: bool, town=None, pick=None):
    out = _spec(con.deps, "em-msg.children")
    trig = "em-on" if on else "em-off"
    return con.post({"output": out, "outputs": _outputs(out),
                     "inputs": [{"id": "em-on", "property": "n_clicks", "value": 1 if on else None},
                                {"id": "em-off", "property": "n_clicks", "value": None if on else 1}],
                     "changedPropIds": [f"{trig}.n_clicks"],
                     "state": [{"id": "em-town", "property": "value", "value": town},
                               {"id": "em-radius", "property": "value", "value": 2},
                               {"id": "em-minutes", "property": "value", "value": 60},
                               {"id": "em-reason", "property": "value", "value": "台风"},
                               {"id": "pick", "property": "data", "value": pick},
                               {"id": "rev", "property": "data", "value": 0}]})


def test_emergency_mode_commander_only_and_banner_by_area(web, app_ctx):
    svc, city = app_ctx.incidents, app_ctx.city
    pz = Console(web, "panzhou")
    assert _emergency(pz, True, town=PZ).status_code == 403
    assert svc.emergency_state() is None
    cmd = Console(web, "commander")
    assert _emergency(cmd, True, town=PZ).status_code == 200
    assert svc.emergency_state()["reason"] == "台风"
    store = UserStore(app_ctx.redis)
    assert "应急模式" in emergency_banner(svc, city, store.get("panzhou").actor)
    assert emergency_banner(svc, city, store.get("town").actor) == ""   # 东岸镇: outside the area
    assert "应急模式" in emergency_banner(svc, city, store.get("chengguan").actor)
    # a new incident inside the area goes straight to the city center (T3, 应急模式)
    con = Console(web, "panzhou")
    lon, lat = point_in(city, PZ, 4)
    new_id = _new(con, {"lon": lon, "lat": lat}).json["response"]["sel"]["data"]
    assert svc.store.load(new_id).center == "CITY"
    assert _emergency(cmd, False).status_code == 200 and svc.emergency_state() is None
    lon, lat = point_in(city, DA, 1)
    assert _emergency(cmd, True, pick={"lon": lon, "lat": lat}).status_code == 200
    assert "应急模式" in emergency_banner(svc, city, store.get("town").actor)


def test_circle_area_is_closed_and_sized():
    a = circle_area(110.9, 21.9, 1.0)
    ring = a["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 33
    assert abs(max(p[1] for p in ring) - 21.9 - 1 / 111.32) < 1e-4


def _assign(con: Console, target: str, title: str = "汛前巡查排水口"):
    out = _spec(con.deps, "task-msg.children")
    return con.post({"output": out, "outputs": _outputs(out),
                     "inputs": [{"id": "task-submit", "property": "n_clicks", "value": 1}],
                     "changedPropIds": ["task-submit.n_clicks"],
                     "state": [{"id": "task-target", "property": "value", "value": target},
                               {"id": "task-title", "property": "value", "value": title},
                               {"id": "task-hours", "property": "value", "value": 8},
                               {"id": "pick", "property": "data", "value": None},
                               {"id": "rev", "property": "data", "value": 0}]})


def test_assign_patrol_task_to_own_grid_worker_only(web, app_ctx, accounts):
    from app.screens.console import task_targets
    w1 = next(a for a in accounts.values() if a["role"] == "grid_worker" and a["center"] == f"T{PZ}")
    w2 = next(a for a in accounts.values() if a["role"] == "grid_worker" and a["center"] == f"T{DA}")
    pz_actor = UserStore(app_ctx.redis).get("panzhou").actor
    targets = {t["value"] for t in task_targets(app_ctx.city, pz_actor)}
    assert w1["user_id"] in targets and w2["user_id"] not in targets
    con = Console(web, "panzhou")
    resp = _assign(con, w1["user_id"])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    task = app_ctx.incidents.store.load(resp.json["response"]["sel"]["data"])
    assert task.kind == "task" and [t.center for t in task.tasks] == [w1["user_id"]]
    # a worker of another town: refused by the service, the reason shown in the form (not a
    # silent HTTP 403), audited, nothing created
    n_before = app_ctx.redis.zcard(ik.ALL)
    resp = _assign(con, w2["user_id"])
    assert resp.status_code == 200
    out = resp.json["response"]
    assert out["task-msg"]["children"].startswith("✗ 下达任务: ") and "无权操作" in \
        out["task-msg"]["children"]
    assert out["task-msg"]["className"] == "msg err" and "sel" not in out
    assert app_ctx.redis.zcard(ik.ALL) == n_before
    denied = [e for e in security.audit_entries(app_ctx.redis, 100) if e["event"] == "denied"]
    assert denied and denied[0]["user"] == "panzhou" and denied[0]["target"] == "console:assign_task"


def test_panel_shows_photos_cameras_timeline_and_applicable_actions(app_ctx, accounts):
    from dash import html

    from app.screens.console import applicable, incident_panel
    from incidents.actor import SYSTEM
    svc = app_ctx.incidents
    store = UserStore(app_ctx.redis)
    pz, cg = store.get("panzhou").actor, store.get("chengguan").actor
    inc = svc.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, 6), description="井盖破损",
                     attachments=["/media/photo/abc123"])
    assert applicable(pz, inc)[:2] == ["accept", "void"]
    assert "accept" not in applicable(cg, inc)
    svc.accept(inc.id, pz)
    inc = svc.dispatch(inc.id, pz, ["CG"])
    assert {"start", "handle", "return"} <= set(applicable(cg, inc))
    assert "dispatch" in applicable(pz, inc) and "dispatch" not in applicable(cg, inc)  # 追加派遣
    assert "verify" not in applicable(cg, svc.handle(inc.id, cg, note="已修复"))
    inc = svc.get(inc.id, pz)
    assert "verify" in applicable(pz, inc) and "close" not in applicable(pz, inc)
    parts = incident_panel(app_ctx, pz, inc, svc.timeline(inc.id, pz))

    def walk(node):
        yield node
        for child in getattr(node, "children", None) or []:
            if not isinstance(child, str):
                yield from walk(child)
    nodes = [n for p in parts for n in walk(p)]
    assert any(isinstance(n, html.Img) and n.src == "/media/photo/abc123" for n in nodes)
    timeline = next(n for n in nodes if getattr(n, "id", None) == "timeline")
    assert len(timeline.children) == 4                    # 上报 受理 派遣 处置反馈
    assert any(isinstance(n, html.A) and str(n.href).startswith("rtsp://") for n in nodes) or \
        any("附近无可视摄像机" in str(getattr(n, "children", "")) for n in nodes)


# --- a refused action is shown, never a silent HTTP error (QA: 受理 after 接管) -----------------
def test_refused_action_shows_the_services_reason_and_refreshes(web, app_ctx):
    from incidents.actor import SYSTEM
    svc = app_ctx.incidents
    inc = svc.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, 5), description="井盖缺失")
    cmd = web.test_client()
    tok = login(cmd, "commander")
    r = cmd.post(f"/api/incidents/{inc.id}/take_over", json={"reason": "汛情"},
                 headers={"X-CSRFToken": tok})
    assert r.status_code == 200 and r.json["center"] == "CITY"
    con = Console(web, "panzhou")
    resp = con.act(inc.id, "accept")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]   # not a silent 403
    out = resp.json["response"]
    msg = out["act-msg"]["children"]
    assert msg.startswith("✗ 受理: ") and "无权操作" in msg and out["act-msg"]["className"] == "msg err"
    assert out["rev"]["data"] == 1                       # the panel refreshes (rev moved)
    assert svc.store.load(inc.id).state == "reported"    # nothing changed …
    denied = [e for e in security.audit_entries(app_ctx.redis, 100) if e["event"] == "denied"]
    assert denied[0]["user"] == "panzhou" and denied[0]["target"] == inc.id   # … and audited
    # a wrong state is told the same way (InvalidTransition)
    msg = con.act(inc.id, "close").json["response"]["act-msg"]["children"]
    assert msg.startswith("✗ 结案: ")
    # the new-incident form too: a category the intake refuses
    bad = _new(con, {"lon": inc.lon, "lat": inc.lat}, desc="来电", channel="nope")
    assert bad.status_code == 200
    assert bad.json["response"]["new-msg"]["children"].startswith("✗ 新建事件: ")


def test_handle_needs_a_note_in_console_and_api(web, app_ctx):
    from incidents.actor import SYSTEM
    svc = app_ctx.incidents
    pz_actor = UserStore(app_ctx.redis).get("panzhou").actor
    inc = svc.report(SYSTEM, "0107", *point_in(app_ctx.city, PZ, 7), description="垃圾满溢")
    svc.accept(inc.id, pz_actor)
    svc.dispatch(inc.id, pz_actor, ["CG"])
    cg = Console(web, "chengguan")
    assert cg.act(inc.id, "start").status_code == 200
    msg = cg.act(inc.id, "handle", reason=" ").json["response"]["act-msg"]["children"]
    assert msg.startswith("✗ 处置反馈: ") and "处置情况" in msg
    assert svc.store.load(inc.id).state == "in_progress"
    c = web.test_client()
    tok = login(c, "chengguan")
    r = c.post(f"/api/incidents/{inc.id}/handle", json={}, headers={"X-CSRFToken": tok})
    assert r.status_code == 400 and "处置情况" in r.json["reason"]
    msg = cg.act(inc.id, "handle", reason="已清运").json["response"]["act-msg"]["children"]
    assert msg.startswith("✓ 处置反馈")
    assert svc.store.load(inc.id).tasks[0].note == "已清运"


# --- the queue: urgent first, the selection follows its case ------------------------------------
def test_queue_order_urgent_first():
    from types import SimpleNamespace

    from app.screens.console import queue_order

    def inc(name, prio, over, ts):
        return SimpleNamespace(name=name, priority=prio, created_ts=ts, overdue=lambda now: over)
    incs = [inc("old", 0, False, 1), inc("late", 0, True, 5), inc("major", 1, False, 9),
            inc("new", 0, False, 7)]
    assert [i.name for i in queue_order(incs, "open", 100)] == ["major", "late", "old", "new"]
    assert [i.name for i in queue_order(incs, "all", 100)] == ["old", "late", "major", "new"]


def _refresh(con: Console, view: str):
    out = _spec(con.deps, "queue.data")
    return con.post({"output": out, "outputs": _outputs(out),
                     "inputs": [{"id": "feed-last", "property": "data", "value": None},
                                {"id": "view", "property": "value", "value": view},
                                {"id": "rev", "property": "data", "value": 1}],
                     "changedPropIds": ["rev.data"], "state": []})


def _follow(con: Console, viewport_ids: list, active):
    out = _spec(con.deps, "queue.active_cell")
    return con.post({"output": out, "outputs": _outputs(out),
                     "inputs": [{"id": "queue", "property": "derived_viewport_row_ids",
                                 "value": viewport_ids}],
                     "changedPropIds": ["queue.derived_viewport_row_ids"],
                     "state": [{"id": "queue", "property": "active_cell", "value": active}]})


def test_queue_selection_follows_the_case_not_the_row(web, app_ctx):
    from incidents.actor import SYSTEM
    svc = app_ctx.incidents
    pz_actor = UserStore(app_ctx.redis).get("panzhou").actor
    a, b, c = (svc.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, k), description=f"井盖 {k}")
               for k in (2, 3, 4))
    con = Console(web, "panzhou")
    rows = _refresh(con, "new").json["response"]["queue"]["data"]
    assert [r["id"] for r in rows] == [a.id, b.id, c.id]          # oldest first
    active = {"row": 1, "column": 0, "column_id": "id", "row_id": b.id}
    svc.accept(a.id, pz_actor)                                    # a leaves 待受理
    rows = _refresh(con, "new").json["response"]["queue"]["data"]
    assert [r["id"] for r in rows] == [b.id, c.id]
    out = _follow(con, [r["id"] for r in rows], active).json["response"]["queue"]
    assert out["active_cell"] == dict(active, row=0)              # still b, now on row 0
    assert out["selected_cells"] == [dict(active, row=0)]
    # b leaves too (or is sorted/paged off the page): no cell marks another case
    out = _follow(con, [c.id], dict(active, row=0)).json["response"]["queue"]
    assert out["active_cell"] is None and out["selected_cells"] == []
    same = _follow(con, [b.id, c.id], dict(active, row=0))        # already on its row: no change
    assert same.status_code == 204 or "queue" not in same.json.get("response", {}), same.json
    # the selected case is marked by its id, wherever it is in the table
    spec = _spec(con.deps, "queue.style_data_conditional")
    styles = con.post({"output": spec, "outputs": _outputs(spec),
                       "inputs": [{"id": "sel", "property": "data", "value": c.id}],
                       "changedPropIds": ["sel.data"], "state": []}).json["response"]
    marks = [s for s in styles["queue"]["style_data_conditional"]
             if c.id in s["if"].get("filter_query", "")]
    assert len(marks) == 1
