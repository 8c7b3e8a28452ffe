"""Console callbacks: hand intake (12345 / walk-in) through the same intake, emergency mode."""

from __future__ import annotations

from app import security
from app.screens.console import ConsoleData, circle_area, emergency_banner, incident_panel
from app.users import UserStore
from incidents import keys as ik
from tests.app.authkit import login
from tests.app.test_api import DA, PZ, point_in
from tests.app.test_scope_console import Console, _outputs, _spec


def _new(con: Console, pick, landmark=None, desc="市民来电：路灯不亮", channel="hotline"):
    out = _spec(con.deps, "new-msg.children")
    states = {"new-channel": ("value", channel), "new-category": ("value", "0103"),
              "new-severity": ("value", "一般"), "new-desc": ("value", desc),
              "new-ref": ("value", "GD-77"), "pick": ("data", pick),
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
    assert inc.reporter == "panzhou" and inc.sources[0]["ref"] == "GD-77"   # a work-order ref (a number typed there is the caller's: app.cti)
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
    w1 = next(a for a in accounts.values() if a["role"] == "grid_worker" and a["center"] == f"T{PZ}")
    w2 = next(a for a in accounts.values() if a["role"] == "grid_worker" and a["center"] == f"T{DA}")
    pz_actor = UserStore(app_ctx.redis).get("panzhou").actor
    options = ConsoleData(app_ctx).assign_targets(pz_actor)   # the 上情下达 form's 对象
    targets = {t["value"] for t in options}
    assert w1["user_id"] in targets and w2["user_id"] not in targets
    assert [t["value"] for t in options] == app_ctx.incidents.policy.assign_targets(pz_actor)
    cell = app_ctx.city.cells.set_index("worker_id").loc[w1["user_id"]]
    assert {"label": f"网格员 {cell['worker_name']} · {app_ctx.city.village_names[cell['village_code']]}",
            "value": w1["user_id"]} in options                # readable: 网格员 姓名 · 村/社区
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


def test_panel_shows_photos_cameras_timeline_and_applicable_actions(web, app_ctx, accounts):
    from dash import html

    from incidents.actor import SYSTEM
    svc = app_ctx.incidents
    store = UserStore(app_ctx.redis)
    pz, cg = store.get("panzhou").actor, store.get("chengguan").actor
    pz_con, cg_con = Console(web, "panzhou"), Console(web, "chengguan")
    inc = svc.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, 6), description="井盖破损",
                     attachments=["/media/photo/abc123"])
    assert shown(_panel(pz_con, inc.id))[:1] == ["accept"]
    assert "void" in shown(_panel(pz_con, inc.id))
    assert "accept" not in [o.action for o in svc.policy.available(cg, inc)]
    svc.accept(inc.id, pz)
    inc = svc.dispatch(inc.id, pz, ["CG"])
    assert {"start", "handle", "return"} <= set(shown(_panel(cg_con, inc.id)))
    assert "dispatch" in shown(_panel(pz_con, inc.id))            # 追加派遣
    assert "dispatch" not in shown(_panel(cg_con, inc.id))
    svc.handle(inc.id, cg, note="已修复")
    assert "verify" not in shown(_panel(cg_con, inc.id))          # 监管分离: never its own work
    on_offer = shown(_panel(pz_con, inc.id))
    assert "verify" in on_offer and "close" not in on_offer
    inc = svc.get(inc.id, pz)
    parts = incident_panel(ConsoleData(app_ctx), pz, inc, svc.timeline(inc.id, pz))

    def walk(node):
        yield node
        for child in getattr(node, "children", None) or []:
            if not isinstance(child, str):
                yield from walk(child)
    nodes = [n for p in parts for n in walk(p)]
    assert any(isinstance(n, html.Img) and n.src == "/media/photo/abc123" for n in nodes)
    timeline = next(n for n in nodes if getattr(n, "id", None) == "timeline")
    assert len(timeline.children) == 4                    # 上报 受理 派遣 处置反馈
    cams = next(n for n in nodes if getattr(n, "className", None) == "cams")
    assert cams.children and all("摄像" in str(li.children) or " m" in str(li.children)
                                 for li in cams.children)
    # the stream's address stays on the server (issue 23): no rtsp:// link reaches the page
    assert not any(isinstance(n, html.A) and "rtsp" in str(n.href) for n in nodes)


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
    from app.screens.console import queue_order
    from incidents.incident import Incident

    def inc(name, prio, over, ts):
        return Incident(id=name, category="0108", priority=prio, created_ts=ts, state="accepted",
                        place="q:T1", channel="iot", due_ts=50.0 if over else 0.0)
    incs = [inc("old", 0, False, 1), inc("late", 0, True, 5), inc("major", 1, False, 9),
            inc("new", 0, False, 7)]
    assert [i.id for i in queue_order(incs, "open", 100)] == ["major", "late", "old", "new"]
    assert [i.id for i in queue_order(incs, "all", 100)] == ["old", "late", "major", "new"]
    # a fresh human report goes first (issue 15), newest first among them
    call = Incident(id="call", category="0302", channel="hotline", state="reported", place="q:T1",
                    created_ts=20)
    walk = Incident(id="walk", category="0302", channel="walk_in", state="reported", place="q:T1",
                    created_ts=30)
    assert [i.id for i in queue_order([*incs, call, walk], "todo", 100, "T1")][:3] == \
        ["walk", "call", "major"]


def _refresh(con: Console, view: str, channel: str = "", severities=(), flags=(), chosen=(),
             shown=()):
    """The queue callback (its inputs and state from its declared dependencies); ``chosen``:
    the selected row numbers of the rows ``shown`` before."""
    dep = next(d for d in con.deps if "queue.data" in d["output"])
    vals = {"feed-last": None, "view": view, "rev": 1, "f-channel": channel,
            "f-severity": list(severities), "f-flags": list(flags),
            "queue.selected_rows": list(chosen), "queue.data": list(shown)}

    def val(x: dict):
        return vals.get(f"{x['id']}.{x['property']}", vals.get(x["id"]))
    return con.post({"output": dep["output"], "outputs": _outputs(dep["output"]),
                     "inputs": [dict(i, value=val(i)) for i in dep["inputs"]],
                     "changedPropIds": ["rev.data"],
                     "state": [dict(s, value=val(s)) for s in dep["state"]]})


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


# --- QA of the demo: 退回 → 改派, correlated intake, names instead of codes ----------------------
def buttons(resp) -> dict[str, dict]:
    """The panel's action buttons in its answer: action → {hidden, children (the label)}."""
    import json
    return {json.loads(k)["action"]: v for k, v in resp.json["response"].items() if k.startswith("{")}


def shown(resp) -> list[str]:
    """The visible buttons of a panel answer, in the console's order."""
    from app.screens.console import BUTTONS
    b = buttons(resp)
    return [a for a, _ in BUTTONS if b[a]["hidden"] is False]


def _panel(con: Console, sel: str):
    """The panel callback with ``sel`` chosen (its outputs: head, body, buttons, 派遣至 …)."""
    from tests.app.test_scope_console import BUTTON_IDS
    out = _spec(con.deps, "panel-head.children")
    outputs = [[{"id": b, "property": o["property"]} for b in BUTTON_IDS]
               if isinstance(o["id"], dict) else o for o in _outputs(out)]
    return con.post({"output": out, "outputs": outputs,
                     "inputs": [{"id": "sel", "property": "data", "value": sel},
                                {"id": "feed-last", "property": "data", "value": None},
                                {"id": "rev", "property": "data", "value": 1}],
                     "changedPropIds": ["sel.data"],
                     "state": [[{"id": b, "property": "id", "value": b} for b in BUTTON_IDS],
                               {"id": "sel-ver", "property": "data", "value": None}]})


def test_returned_part_is_not_suggested_again_and_waits_as_new_work(web, app_ctx):
    from incidents.actor import SYSTEM
    svc = app_ctx.incidents
    pz_actor = UserStore(app_ctx.redis).get("panzhou").actor
    inc = svc.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, 8), description="井盖破损")
    svc.accept(inc.id, pz_actor)
    pz = Console(web, "panzhou")
    hint = _panel(pz, inc.id).json["response"]["act-depts"]["value"]
    assert "DCG" in hint                                  # 城管 suggested for a manhole cover
    svc.dispatch(inc.id, pz_actor, ["DCG", "DSL"])
    assert "✓ 退回" in Console(web, "chengguan").act(inc.id, "return", reason="不属本部门") \
        .json["response"]["act-msg"]["children"]
    case = svc.store.load(inc.id)
    assert case.state == "dispatched" and case.place == f"q:T{PZ}"   # 水利 still has its part
    out = _panel(pz, inc.id).json["response"]
    assert "DCG" not in out["act-depts"]["value"]         # not sent straight back to 城管 …
    assert "DSL" not in out["act-depts"]["value"]         # … nor to who works on it already
    assert out["depts-row"]["hidden"] is False            # 改派 is on offer
    # the clerk's new-work view (待受理) shows it, marked 待改派; 本中心 too
    for view in ("new", "mine"):
        rows = _refresh(pz, view).json["response"]["queue"]["data"]
        row = next(r for r in rows if r["id"] == inc.id)
        assert row["state_name"] == "待改派", view
    # every part returned: back to 立案, still waiting for 改派 in the new-work view
    Console(web, "shuili").act(inc.id, "return", reason="不属本部门")
    assert svc.store.load(inc.id).state == "registered"
    rows = _refresh(pz, "new").json["response"]["queue"]["data"]
    assert [r["state_name"] for r in rows if r["id"] == inc.id] == ["待改派"]
    # 改派 to 应急 (DYJ): out of the new-work view, its plain state again; the demo's 应急
    # account (yingji) works its part
    assert "✓ 派遣" in pz.act(inc.id, "dispatch", depts=["DYJ"]).json["response"]["act-msg"]["children"]
    assert inc.id not in {r["id"] for r in _refresh(pz, "new").json["response"]["queue"]["data"]}
    rows = _refresh(pz, "mine").json["response"]["queue"]["data"]
    assert [r["state_name"] for r in rows if r["id"] == inc.id] == ["派遣"]
    yj = Console(web, "yingji")
    assert "✓ 开始处置" in yj.act(inc.id, "start").json["response"]["act-msg"]["children"]
    assert "✓ 处置反馈" in yj.act(inc.id, "handle", reason="已排查加固").json["response"][
        "act-msg"]["children"]
    assert svc.store.load(inc.id).state == "handled"


def test_hand_intake_linked_to_an_open_case_says_so(web, app_ctx):
    from types import SimpleNamespace

    from app.screens.console import intake_message
    con = Console(web, "panzhou")
    lon, lat = point_in(app_ctx.city, PZ, 9)
    first = _new(con, {"lon": lon, "lat": lat}).json["response"]
    assert first["new-msg"]["children"].startswith("✓ 已新建 ")
    again = _new(con, {"lon": lon, "lat": lat}, desc="又一位市民来电：路灯不亮").json["response"]
    case = first["sel"]["data"]
    assert again["sel"]["data"] == case                   # the open case is opened …
    msg = again["new-msg"]["children"]
    assert msg.startswith(f"✓ 已关联到 {case}") and "作为新的来源记入" in msg   # … and named
    assert len(app_ctx.incidents.store.load(case).sources) == 2
    dup = SimpleNamespace(id=case, intake="duplicate", center=f"T{PZ}")
    assert "已提交过，未重复创建" in intake_message(app_ctx.city, dup)


def test_panel_names_channels_and_grid_workers_in_chinese(app_ctx, accounts):
    from dash import html

    from app.screens.console import NO_SELECTION
    from incidents.actor import SYSTEM
    svc, city = app_ctx.incidents, app_ctx.city
    pz = UserStore(app_ctx.redis).get("panzhou").actor
    lon, lat = point_in(city, PZ, 3)
    inc = svc.report(pz, "0108", lon, lat, description="来电：井盖破损", channel="hotline")
    svc.report(SYSTEM, "0108", lon, lat, description="来访：井盖破损", channel="walk_in")
    cell = city.cells[city.cells["code"] == svc.get(inc.id, pz).cell_code].iloc[0]
    svc.accept(inc.id, pz)
    inc = svc.dispatch(inc.id, pz, [str(cell["worker_id"])])
    assert inc.tasks[0].center.startswith("W") and len(inc.sources) == 2

    def text(node):
        if isinstance(node, str | int | float):
            return str(node)
        kids = getattr(node, "children", None)
        kids = kids if isinstance(kids, list | tuple) else [kids] if kids is not None else []
        return " ".join(text(k) for k in kids)
    parts = incident_panel(ConsoleData(app_ctx), pz, inc, svc.timeline(inc.id, pz))
    details = text(parts[1])                              # 子任务: the worker by name
    assert f"{cell['worker_name']}网格员" in details and str(cell["worker_id"]) not in details
    related = text(next(p for p in parts if getattr(p, "className", "") == "related"))
    assert "来访" in related and "walk_in" not in related   # 关联上报: the channel's name
    assert "12345热线" in details and "hotline" not in details
    assert isinstance(html.P(NO_SELECTION).children, str) and not any(
        ch.isascii() and ch.isalpha() for ch in NO_SELECTION)
