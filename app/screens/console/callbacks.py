"""The console's callbacks (webviz's ``_callbacks.py``): ``register_callbacks(app, data)`` wires
the layout to the data model (``model.ConsoleData``). Every callback first passes the gate
(``console_actor``) and reads through the incident service with the caller's Actor, so scope
(S1/S2) is enforced on the server: a case outside it answers 403 (and an audit entry), never data.
"""

from __future__ import annotations

import base64
import time

import flask
from dash import ALL, Dash, Input, Output, Patch, State, ctx, html, no_update

from app.api import ACTIONS, intake
from app.auth import audit_denied, deny, guarded, require_actor
from app.http.incidents import task_deadline
from app.screens.console.bulk import register_bulk, selected_ids
from app.screens.console.emergency import register_emergency
from app.screens.console.figures import PICK_SLOT, SELECT_ZOOM, map_traces
from app.screens.console.ids import ACT, Id
from app.screens.console.inbox import register_inbox
from app.screens.console.layout import HIDDEN
from app.screens.console.model import (
    CONSOLE_ROLES,
    DEFAULT_VIEW,
    NO_SELECTION,
    ConsoleData,
    Controls,
    Inputs,
    QuickFilter,
    chinese,
    circle_area,
    do_action,
    emergency_banner,
    intake_message,
    locate,
    pushed_ids,
    selection_styles,
    short_center,
)
from app.screens.console.notices import register_notices
from app.screens.console.video import register_video
from grid.categories import CATEGORIES
from incidents.actor import Actor
from incidents.errors import Forbidden, IncidentError
from incidents.incident import STATE_NAMES
from incidents.vocab import Action

ACT_ALL = {"type": ACT, "action": ALL}


def console_actor() -> Actor:
    """The caller, if the console is theirs (the login gate refuses others first; belt and braces)."""
    actor = require_actor()
    if actor.role not in CONSOLE_ROLES:
        deny(f"role {actor.role} may not use the console", "console")
    return actor


def refusal(exc: Exception, target: str, actor: Actor) -> str | None:
    """Why the rules refused an operator's action, in the service's words (shown in the form's
    message area), or None when ``exc`` is not a refusal. A Forbidden is audited (SEC9) as the
    API's 403 is; the service has written it into the incident's trail already."""
    if isinstance(exc, Forbidden):
        audit_denied(str(exc), target, actor)
        return f"{chinese(exc.reason)}（无权操作）"
    if isinstance(exc, IncidentError | ValueError):   # InvalidTransition, Conflict, bad input
        return chinese(exc)
    return None


def follow_selection(viewport_ids: list, active: dict | None):  # noqa: ANN201 (dict|None|no_update)
    """Where the queue's active cell goes when the rows on screen change: to the row of the
    same case (the cell carries its ``row_id``), or nowhere when the case is not on this page
    any more (it left the list, or sorting, filtering or paging moved it away).

    ``viewport_ids``: the table's ``derived_viewport_row_ids`` (the page as shown, after the
    browser's native sort and filter). A DataTable keeps the active cell at its row index;
    without this, after a case leaves the list the highlight stays on that index and marks
    another case than the panel shows. The selected case stays marked by its id wherever it is
    (``selection_styles``)."""
    if not active or active.get("row_id") is None:
        return no_update
    if active["row_id"] not in viewport_ids:
        return None
    row = viewport_ids.index(active["row_id"])
    return no_update if row == active.get("row") else dict(active, row=row)


# the panel's outputs after its head and body: (component, property) in this order
PANEL_OUTPUTS: tuple[tuple[object, str], ...] = (
    (ACT_ALL, "hidden"), (ACT_ALL, "children"),
    (Id.ACT_DEPTS, "options"), (Id.ACT_DEPTS, "value"), (Id.SEL_VER, "data"),
    (Id.CONTROLS, "hidden"), (Id.DEPTS_ROW, "hidden"), (Id.SAT_BOX, "hidden"),
    (Id.SEV_BOX, "hidden"), (Id.ACT_SEVERITY, "options"), (Id.ACT_SEVERITY, "value"),
    (Id.OTHERS_BOX, "hidden"), (Id.ACT_OTHERS, "options"), (Id.ACT_OTHERS, "value"),
    (Id.SOURCE_BOX, "hidden"), (Id.ACT_SOURCE, "options"), (Id.ACT_SOURCE, "value"),
    (Id.ACT_REASON, "style"), (Id.ACT_HINT, "children"),
    (Id.PHOTO_BOX, "hidden"), (Id.ACT_PHOTOS_TEXT, "children"),
)


def panel_values(c: Controls | None, buttons: list[str], ver: str | None, n_photos: int = 0
                 ) -> tuple:
    """``PANEL_OUTPUTS`` for the policy's offers (``Controls``); None: no case, nothing shown."""
    if c is None:
        n = len(buttons)
        return ([True] * n, [Action(a).cn for a in buttons], [], [], None, True, True, True,
                True, [], None, True, [], [], True, [], None, HIDDEN, None, True, "")
    shows = c.inputs.__contains__
    return ([a not in c.labels for a in buttons],
            [c.labels.get(a) or Action(a).cn for a in buttons],
            list(c.targets), list(c.preselect), ver, False,
            not shows("depts"), not shows("satisfaction"),
            not shows("severity"), list(c.severities), None,
            not shows("others"), list(c.others), [],
            not shows("source"), list(c.sources), c.source,
            {} if shows("reason") else HIDDEN, " ".join(c.hints) or None,
            Action.HANDLE not in c.labels, photos_text(n_photos))


def photos_text(n: int) -> str:
    """How many 处置后照片 wait for the next 处置反馈."""
    return f"已附 {n} 张，随处置反馈提交" if n else ""


def register_callbacks(app: Dash, data: ConsoleData) -> None:
    """Every callback of the console, over ``data``."""

    svc = lambda: data.service  # noqa: E731
    register_bulk(app, data, console_actor)
    register_notices(app, data, console_actor)
    register_emergency(app, data, console_actor)
    register_inbox(app, data)          # 我的通知: priority toast + beep + 知道了 (issue 17)
    register_video(app, data, console_actor)   # the case's live video, 截图取证 (issue 23)

    @app.callback(Output(Id.FEED_LAST, "data"), Input(Id.TICK, "n_intervals"),
                  State(Id.FEED_LAST, "data"))
    def poll(_n, last):
        """Has anything changed? One XREVRANGE COUNT 1 on om:inc:feed (cheap). Every 400 ms
        without push; with push (assets/console/live.js) the 30 s safety net, and the store
        holds what the last push named (``pushed_ids``) until a poll finds the feed moved."""
        console_actor()
        from incidents.keys import FEED  # noqa: PLC0415

        top = data.redis.xrevrange(FEED, count=1)
        now = top[0][0] if top else "0"
        seen = last.get("f") if isinstance(last, dict) else last
        return no_update if now == seen else now

    @app.callback(Output(Id.WATCH, "children"), Input(Id.SLOW, "n_intervals"),
                  prevent_initial_call=True)
    def watch(_n):
        """值班 in the header follows the roster across a shift change (the page drew it first)."""
        return data.watch(console_actor().center)

    @app.callback(Output(Id.BANNER, "children"), Output(Id.BANNER, "className"),
                  Input(Id.SLOW, "n_intervals"), Input(Id.REV, "data"))
    def banner(_n, _rev):
        text = emergency_banner(svc(), data.city, console_actor())
        return text, "banner on" if text else "banner"

    @app.callback(Output(Id.QUEUE, "data"), Output(Id.COUNTS, "children"),
                  Output(Id.QUEUE, "selected_rows"),
                  Input(Id.FEED_LAST, "data"), Input(Id.VIEW, "value"), Input(Id.REV, "data"),
                  Input(Id.F_CHANNEL, "value"), Input(Id.F_SEVERITY, "value"),
                  Input(Id.F_FLAGS, "value"), State(Id.QUEUE, "selected_rows"),
                  State(Id.QUEUE, "data"))
    def refresh(feed, view, _rev, channel, severities, flags, chosen, shown):
        """The queue: re-read only when the feed moved (or the view or a filter changed), in
        triage order (``queue_order``), through the quick filters. A push that names the
        cases that changed (``pushed_ids``) re-reads only those and merges them into the rows
        shown (``ConsoleData.patch_queue``); the first load, a view, filter or 标为已阅 change,
        the safety-net poll, "something else changed" and every ``FULL_EVERY``-th push re-read
        the whole view. The bulk selection stays with its cases (by id), not with the row
        numbers a live update shifts."""
        actor = console_actor()
        view = view or DEFAULT_VIEW
        filt = QuickFilter.of(channel, severities, flags)
        rows = None
        with guarded("console:queue"):
            seen = data.seen(actor, view)
            ids = pushed_ids(feed) if ctx.triggered_id == Id.FEED_LAST else None
            if ids is not None and shown and len(ctx.triggered_prop_ids) == 1:
                rows = data.patch_queue(actor, view, ids, shown, filt=filt, seen=seen)
            if rows is None:
                rows = data.queue(actor, view, filt=filt, seen=seen)
        n_over = sum(1 for r in rows if r["overdue"])
        keep = set(selected_ids(chosen, shown))
        selected = [k for k, r in enumerate(rows) if r["id"] in keep]
        return rows, f"{len(rows)} 件" + (f" · 超期 {n_over}" if n_over else ""), selected

    @app.callback(Output(Id.QUEUE, "active_cell"), Output(Id.QUEUE, "selected_cells"),
                  Input(Id.QUEUE, "derived_viewport_row_ids"), State(Id.QUEUE, "active_cell"),
                  prevent_initial_call=True)
    def follow(viewport_ids, active):
        """The rows on screen changed (live update, sort, filter, page): the active cell goes
        with its case (``follow_selection``)."""
        console_actor()
        cell = follow_selection(viewport_ids or [], active)
        return cell, no_update if cell is no_update else ([cell] if cell else [])

    @app.callback(Output(Id.QUEUE, "style_data_conditional"), Input(Id.SEL, "data"))
    def mark_selected(sel):
        """The selected case's row is marked by its id, wherever it is in the queue."""
        console_actor()
        return selection_styles(sel)

    @app.callback(Output(Id.MAP, "figure"), Input(Id.QUEUE, "data"), Input(Id.SEL, "data"),
                  Input(Id.PICK, "data"))
    def redraw(rows, sel, pick):
        """The map's live traces as a Patch (the territory layers are sent once, with the page)."""
        actor = console_actor()
        selected, cams = None, []
        if sel:
            with guarded(sel):
                selected = svc().get(sel, actor)
            cams = data.cameras(selected.lon, selected.lat)
        p = Patch()
        for k, trace in enumerate(map_traces(rows or [], selected, cams, pick), start=PICK_SLOT + 1):
            p["data"][k] = trace
        if selected is not None and ctx.triggered_id == Id.SEL:   # a case chosen: go to it
            p["layout"]["map"]["center"] = {"lon": selected.lon, "lat": selected.lat}
            p["layout"]["map"]["zoom"] = SELECT_ZOOM
        return p

    @app.callback(Output(Id.SEL, "data"), Output(Id.PICK, "data"), Output(Id.NEW_LANDMARK, "value"),
                  Input(Id.QUEUE, "active_cell"), Input(Id.MAP, "clickData"),
                  State(Id.SEL, "data"), prevent_initial_call=True)
    def choose(active, click, sel):
        console_actor()
        if ctx.triggered_id == Id.QUEUE and active and active.get("row_id"):
            return (active["row_id"] if active["row_id"] != sel else no_update), no_update, no_update
        if ctx.triggered_id == Id.MAP and click and click.get("points"):
            p = click["points"][0]
            if p.get("curveNumber") == PICK_SLOT:    # the pick trace: a location, not an incident
                # the map wins over an earlier landmark: clear it so the form shows one place
                return no_update, {"lon": p["lon"], "lat": p["lat"], "cell": p.get("customdata")}, None
            cd = p.get("customdata")
            if isinstance(cd, str) and cd[:1] in ("E", "T"):
                return cd, no_update, no_update
        return no_update, no_update, no_update

    @app.callback(Output(Id.PICK, "data", allow_duplicate=True), Input(Id.NEW_LANDMARK, "value"),
                  prevent_initial_call=True)
    def landmark_pick(landmark):
        """A landmark chosen from the list becomes the picked location (shown on the map)."""
        console_actor()
        loc = locate(data.city, None, landmark, Id.NEW_LANDMARK) if landmark else None
        if loc is None:          # none chosen, or a value no page sends: never a 500
            return no_update
        return {"lon": loc[0], "lat": loc[1]}

    @app.callback(Output(Id.PANEL_HEAD, "children"), Output(Id.PANEL_BODY, "children"),
                  *[Output(c, p) for c, p in PANEL_OUTPUTS],
                  Input(Id.SEL, "data"), Input(Id.FEED_LAST, "data"), Input(Id.REV, "data"),
                  State(ACT_ALL, "id"), State(Id.SEL_VER, "data"))
    def panel(sel, _feed, _rev, ids, seen):
        """The case and what the actor may do with it now: the buttons, their labels, the inputs
        and their options are the policy's offers (``IncidentService.available_actions``)."""
        actor = console_actor()
        buttons = [i["action"] for i in ids]
        if not sel:
            return (None, html.P(NO_SELECTION), *panel_values(None, buttons, None))
        with guarded(sel):
            inc = svc().get(sel, actor)
        ver = f"{inc.id}:{inc.version}"
        if ctx.triggered_id == Id.FEED_LAST and ver == seen:
            # the feed moved for another incident: keep the panel (and what the operator typed)
            return (no_update, no_update, [no_update] * len(ids), [no_update] * len(ids),
                    *[no_update] * (len(PANEL_OUTPUTS) - 2))
        from app.screens.console.present import incident_panel  # noqa: PLC0415

        with guarded(sel):
            trail = svc().timeline(sel, actor)
            hints = data.hints(actor, inc)
            controls = data.controls(actor, inc, hints)
        head, *body = incident_panel(data, actor, inc, trail, hints.get("similar", []))
        n_photos = len(data.pending_photos(actor, inc.id))
        return (head, body, *panel_values(controls, buttons, ver, n_photos))

    @app.callback(Output(Id.ACT_MSG, "children"), Output(Id.ACT_MSG, "className"),
                  Output(Id.REV, "data"), Output(Id.ACT_REASON, "value"),
                  Input(ACT_ALL, "n_clicks"),
                  State(Id.SEL, "data"), State(Id.ACT_REASON, "value"), State(Id.ACT_DEPTS, "value"),
                  State(Id.ACT_SATISFACTION, "value"), State(Id.ACT_SEVERITY, "value"),
                  State(Id.ACT_OTHERS, "value"), State(Id.ACT_SOURCE, "value"),
                  State(Id.REV, "data"), prevent_initial_call=True)
    def action(clicks, sel, reason, depts, satisfaction, severity, others, source, rev):
        actor = console_actor()
        trig = ctx.triggered_id
        if not trig or not sel or not any(clicks or []):
            return no_update, no_update, no_update, no_update
        name = trig["action"]
        if name not in ACTIONS:
            return f"✗ 未知操作 {name}", "msg err", no_update, no_update
        label = Action(name).cn
        with guarded(sel):     # outside the read scope: 403 + audit, never a hint (S2)
            svc().get(sel, actor)
        photos = tuple(data.pending_photos(actor, sel)) if name == Action.HANDLE else ()
        given = Inputs(text=reason or "", depts=tuple(depts or ()), satisfaction=satisfaction,
                       severity=severity, others=tuple(others or ()), source=source, photos=photos)
        try:
            inc = do_action(svc(), actor, sel, name, given)
        except (IncidentError, ValueError) as exc:   # a refusal by the rules: told why, refreshed
            return f"✗ {label}: {refusal(exc, sel, actor)}", "msg err", (rev or 0) + 1, no_update
        if photos:                                   # taken by this 处置反馈
            data.clear_photos(actor, sel)
            label += f"（处置后照片 {len(photos)} 张）"
        return (f"✓ {label} → {inc.id} 状态: {STATE_NAMES[inc.state]}"
                f" · 归属 {short_center(data.city, inc.center)}", "msg ok", (rev or 0) + 1, "")

    @app.callback(Output(Id.ACT_PHOTOS_TEXT, "children", allow_duplicate=True),
                  Output(Id.ACT_MSG, "children", allow_duplicate=True),
                  Output(Id.ACT_MSG, "className", allow_duplicate=True),
                  Input(Id.ACT_UPLOAD, "contents"), State(Id.SEL, "data"),
                  prevent_initial_call=True)
    def upload(contents, sel):
        """处置后照片 for the next 处置反馈 (处置前后对比): stored as the phone stores photos, kept
        for this user and case until the 处置反馈 takes them (``ConsoleData.add_photos``)."""
        actor = console_actor()
        if not sel or not contents:
            return no_update, no_update, no_update
        with guarded(sel):     # a case outside the scope: 403 + audit, nothing stored
            inc = svc().get(sel, actor)
        if Action.HANDLE not in {o.action for o in svc().available_actions(inc, actor)}:
            return no_update, "✗ 当前不能提交处置反馈，照片未保存", "msg err"
        files = []
        for c in contents if isinstance(contents, list) else [contents]:
            try:
                files.append(base64.b64decode(str(c).split(",", 1)[1], validate=True))
            except (IndexError, ValueError):
                files.append(b"")
        n, bad = data.add_photos(actor, sel, files, str(flask.current_app.config["SECRET_KEY"]).encode())
        if bad:
            return photos_text(n), "✗ 照片未保存: " + "；".join(dict.fromkeys(bad)), "msg err"
        return photos_text(n), f"✓ 已附处置后照片 {n} 张，点「处置反馈」一并提交", "msg ok"

    @app.callback(Output(Id.NEW_WHERE, "children"), Input(Id.PICK, "data"),
                  Input(Id.NEW_LANDMARK, "value"))
    def where(pick, landmark):
        console_actor()
        loc = locate(data.city, pick, landmark, ctx.triggered_id)
        if loc is None:
            return "未选位置 · 请在地图上点选网格或选择村/社区"
        lon, lat, cell = loc
        return f"位置 {lon:.5f}, {lat:.5f} · 网格 {cell or '辖区外'}"

    @app.callback(Output(Id.NEW_MSG, "children"), Output(Id.NEW_MSG, "className"),
                  Output(Id.SEL, "data", allow_duplicate=True),
                  Output(Id.REV, "data", allow_duplicate=True),
                  Input(Id.NEW_SUBMIT, "n_clicks"),
                  State(Id.NEW_CHANNEL, "value"), State(Id.NEW_CATEGORY, "value"),
                  State(Id.NEW_SEVERITY, "value"), State(Id.NEW_DESC, "value"), State(Id.NEW_REF, "value"),
                  State(Id.PICK, "data"), State(Id.NEW_LANDMARK, "value"), State(Id.REV, "data"),
                  prevent_initial_call=True)
    def new_incident(_n, channel, category, severity, desc, ref, pick, landmark, rev):
        actor = console_actor()
        from app import security  # noqa: PLC0415

        loc = locate(data.city, pick, landmark, Id.PICK if pick else Id.NEW_LANDMARK)
        if loc is None:
            return "✗ 请先选择位置", "msg err", no_update, no_update
        if not (desc or "").strip():
            return "✗ 请填写内容", "msg err", no_update, no_update
        ok, retry = security.hit(data.redis, security.REPORT_LIMIT, actor.user_id)
        if not ok:
            security.count(data.redis, "rate_limited")
            return f"✗ 提交过于频繁，请 {retry} 秒后再试", "msg err", no_update, no_update
        lon, lat, _ = loc
        category = category if category in CATEGORIES else ""
        body = {"channel": channel, "category": category, "severity": severity,
                "description": desc, "ref": ref or "", "lon": lon, "lat": lat,
                "title": f"{'12345' if channel == 'hotline' else '来访'}: "
                         f"{CATEGORIES[category].name if category else ''}"}
        try:
            inc = intake(data.ctx, actor, body, None)
        except (IncidentError, ValueError) as exc:   # refused by the rules: told why in the form
            return f"✗ 新建事件: {refusal(exc, 'console:intake', actor)}", "msg err", no_update, no_update
        sel = no_update if inc.intake == "merged" else inc.id   # a receipt names no case
        return intake_message(data.city, inc), "msg ok", sel, (rev or 0) + 1

    @app.callback(Output(Id.TASK_MSG, "children"), Output(Id.TASK_MSG, "className"),
                  Output(Id.SEL, "data", allow_duplicate=True),
                  Output(Id.REV, "data", allow_duplicate=True),
                  Input(Id.TASK_SUBMIT, "n_clicks"), State(Id.TASK_TARGET, "value"),
                  State(Id.TASK_TITLE, "value"), State(Id.TASK_HOURS, "value"), State(Id.PICK, "data"),
                  State(Id.REV, "data"), prevent_initial_call=True)
    def assign(_n, target, title, hours, pick, rev):
        actor = console_actor()
        if not target or not (title or "").strip():
            return "✗ 请选择对象并填写任务", "msg err", no_update, no_update
        try:
            inc = svc().assign_task(actor, target, title.strip(),   # 0 < deadline <= 30 days
                                    deadline_s=task_deadline(float(hours or 24) * 3600),
                                    lon=pick["lon"] if pick else None,
                                    lat=pick["lat"] if pick else None)
        except (IncidentError, ValueError) as exc:   # refused by the rules: told why in the form
            return (f"✗ 下达任务: {refusal(exc, 'console:assign_task', actor)}", "msg err",
                    no_update, no_update)
        return f"✓ 已下达 {inc.id} → {short_center(data.city, target)}", "msg ok", inc.id, (rev or 0) + 1

    @app.callback(Output(Id.EM_MSG, "children"), Output(Id.EM_MSG, "className"),
                  Output(Id.REV, "data", allow_duplicate=True),
                  Input(Id.EM_ON, "n_clicks"), Input(Id.EM_OFF, "n_clicks"),
                  State(Id.EM_TOWN, "value"), State(Id.EM_RADIUS, "value"), State(Id.EM_MINUTES, "value"),
                  State(Id.EM_REASON, "value"), State(Id.PICK, "data"), State(Id.REV, "data"),
                  prevent_initial_call=True)
    def emergency(_on, _off, town, radius, minutes, reason, pick, rev):
        actor = console_actor()
        if actor.role != "city_commander":   # the form is the commander's only (X19)
            deny(f"role {actor.role} may not switch emergency mode", "emergency")
        off = ctx.triggered_id == Id.EM_OFF
        try:
            if off:
                svc().emergency_off(actor, reason or "")
                return "✓ 应急模式已解除", "msg ok", (rev or 0) + 1
            towns = data.city.towns[data.city.towns["code"] == str(town)] if town else None
            if towns is not None and len(towns):
                area = towns.geometry.iloc[0].simplify(0.0005).__geo_interface__
            elif town:
                raise ValueError(f"未知镇街 {town!r}")
            elif isinstance(pick, dict):
                area = circle_area(float(pick["lon"]), float(pick["lat"]), float(radius or 3))
            else:
                return "✗ 请选择区域", "msg err", no_update
            svc().emergency_on(area, time.time() + float(minutes or 120) * 60, actor, reason or "")
        except (IncidentError, ValueError, KeyError, TypeError) as exc:   # refused, or a bad input
            return (f"✗ {'解除' if off else '启动'}应急模式: {refusal(exc, 'emergency', actor) or exc}",
                    "msg err", (rev or 0) + 1)
        return f"✓ 应急模式已启动 · {int(minutes or 120)} 分钟", "msg ok", (rev or 0) + 1
