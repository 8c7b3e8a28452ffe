"""/console: the sub-center console (分中心工作台) of city, town and department operators.

One Dash app on the shared Flask server. Everything it shows comes from the incident service
with the caller's Actor, so scope (S1/S2) is enforced on the server in every callback: an
incident outside the caller's scope answers 403 (and an audit entry), never data.

- the scoped map: the center's territory, its open incidents, the selected one and the cameras
  that see it; clicking a grid cell picks a location for a new incident;
- the queue of the center (new 待受理 / mine 本中心 / overdue 超期 / open 全部在办 / all 全部) as a
  sortable, filterable table, refreshed when ``om:inc:feed`` moves (polled every 400 ms: a change
  reaching Redis shows in well under 1 s);
- the incident panel: details, photos, location, cameras that can see it (with stream links),
  sensors nearby with a sparkline, related incidents, the audit timeline (E32);
- actions with what the rules need (a reason to return or void, departments to dispatch to,
  satisfaction for a callback), the resulting state shown at once (keyboard: Alt+letter);
- new incident by hand (12345 hotline / walk-in), located from the map or a landmark list;
- emergency mode for the city commander (area + time), with a banner on every console in it.
"""

from __future__ import annotations

import math
import time

import plotly.graph_objects as go
from dash import ALL, Dash, Input, Output, Patch, State, ctx, dash_table, dcc, html, no_update
from flask import Flask

from app.api import ACTIONS, act, intake, summary
from app.auth import audit_denied, current_actor, deny, guarded, require_actor
from app.config import ASSETS_DIR
from app.nearby import CAMERA_RADIUS_M, readings, sensors_near
from app.timefmt import CST, fmt_cst
from grid.categories import CATEGORIES
from incidents.actor import ROLE_NAMES, Actor
from incidents.incident import CHANNELS, STATE_NAMES, TASK_STATE_NAMES
from sensors.cameras import cameras_seeing, live_positions

TZ = CST                  # Beijing time on every screen (app.timefmt), whatever the server's zone
POLL_MS = 400
"""How often the browser asks whether the incident feed moved (ms). Demo default."""
VIEWS = (("new", "待受理"), ("mine", "本中心"), ("overdue", "超期"), ("open", "全部在办"),
         ("all", "全部"))
PAGE_SIZE = 8
"""Queue rows per page: what the queue box shows without scrolling at 1366×768 (a clerk's
laptop); more than that paged, never hidden under the box's edge."""
CONSOLE_ROLES = ("city_commander", "city_operator", "town_operator", "dept_operator", "supervisor")

# Action buttons: (action, label, access key, needs). The service checks the rules; the panel
# only hides what cannot apply, so the operator sees the few buttons that make sense now.
BUTTONS: tuple[tuple[str, str, str, str], ...] = (
    ("accept", "受理", "a", ""), ("register", "立案", "r", ""), ("dispatch", "派遣", "d", "depts"),
    ("start", "开始处置", "s", ""), ("handle", "处置反馈", "h", "note"),
    ("verify", "核查通过", "v", ""), ("reopen", "核查不通过", "n", "reason"),
    ("close", "结案", "c", ""), ("return", "退回", "b", "reason"), ("escalate", "上报", "e", ""),
    ("take_over", "接管", "t", ""), ("urge", "督办", "u", ""), ("void", "作废", "x", "reason"),
    ("callback", "回访", "k", "satisfaction"), ("note", "备注", "m", "note"),
)
BUTTON_NAMES = {b[0]: b[1] for b in BUTTONS}
NO_SELECTION = "请选择事件"
"""The panel before a case is chosen."""
DROPDOWN_LABELS = {"select_all": "全选", "deselect_all": "全部取消", "search": "搜索",
                   "clear_search": "清除搜索", "clear_selection": "清空",
                   "selected_count": "已选 {num_selected} 项", "no_options_found": "无匹配项"}
"""dcc.Dropdown's own words (English by default) in the clerk's language."""
REDISPATCH_NAME = "待改派"
"""The queue's state of a case a handler returned its part of (退回), waiting in the owner's
queue to be sent to someone else (改派) while it is still out (派遣/处置) or all parts came back."""


def _fmt(ts: float, with_date: bool = False) -> str:
    return fmt_cst(ts, "%m-%d %H:%M" if with_date else "%H:%M:%S")


# --- what the panel offers ------------------------------------------------------------------------
def applicable(actor: Actor, inc) -> list[str]:
    """The actions worth a button for this actor on this incident now (the service decides)."""
    st = inc.state
    owner = actor.center == inc.center or actor.role == "city_commander"
    sup = actor.role == "supervisor" and (actor.is_city or actor.center == inc.center)
    mine = [t for t in inc.tasks if t.center == actor.center]
    out: list[str] = []
    if owner and actor.role != "supervisor":
        if st == "reported":
            out += ["accept"]
        if st == "accepted":
            out += ["register"]
        if st in ("accepted", "registered", "dispatched", "in_progress"):
            out += ["dispatch"]       # on a case already out: 追加派遣/改派 (e.g. after a 退回)
        if st in ("reported", "accepted", "registered"):
            out += ["void"]
            if inc.origin:
                out += ["return"]
        if inc.is_open and inc.center != "CITY":
            out += ["escalate"]
    if (owner or sup) and st == "handled":
        out += ["verify", "reopen"]
    if (owner or sup) and st == "verified":
        out += ["close"]
    if (owner or sup) and st in ("dispatched", "in_progress"):
        out += ["urge"]
    if (owner or sup) and st == "closed" and not inc.satisfaction:
        out += ["callback"]
    if any(t.state == "dispatched" for t in mine):
        out += ["start"]
    if any(t.open for t in mine):
        out += ["handle", "return"]
    if actor.role in ("city_commander", "city_operator") and actor.is_city and inc.is_open \
            and inc.center != "CITY":
        out += ["take_over"]
    out += ["note"]
    return list(dict.fromkeys(out))


def awaiting_redispatch(inc) -> bool:  # noqa: ANN001
    """A handler returned its part (退回) and the case waits in its owner's queue (``q:``) to be
    sent to someone else: still out with other handlers (派遣/处置), or every part came back
    (立案 again). ``list_queue("new")`` lists 上报 only; the console shows these there too."""
    return (inc.place.startswith("q:") and inc.state in ("registered", "dispatched", "in_progress")
            and any(t.state == "returned" for t in inc.tasks))


def state_name(inc, actor: Actor) -> str:  # noqa: ANN001
    """The state as the queue and panel show it to ``actor``: 待改派 for the owning (or a city)
    center when a returned part waits for re-dispatch, else the lifecycle state's name."""
    if (actor.center == inc.center or actor.is_city) and awaiting_redispatch(inc):
        return REDISPATCH_NAME
    return STATE_NAMES.get(inc.state, inc.state)


def do_action(service, actor: Actor, incident_id: str, action: str, reason: str, note: str,
              depts: list[str] | None, satisfaction: int | None):
    """One button of the panel → one service call (shared rules with the HTTP API)."""
    text = (reason or note or "").strip()
    if action == "reopen":
        if not text:
            raise ValueError("核查不通过须说明原因 (a reason is required)")
        return act(service, actor, incident_id, "verify", {"passed": False, "note": text})
    body: dict = {"note": text, "reason": text, "text": text}
    if action == "dispatch":
        body["depts"] = list(depts or [])
        if not body["depts"]:
            raise ValueError("请选择派遣单位 (choose at least one department)")
    if action == "callback":
        body["satisfaction"] = satisfaction or 0
    if action == "note" and not text:
        raise ValueError("备注内容为空 (the note is empty)")
    return act(service, actor, incident_id, action, body)   # handle: a note required (app.api)


def refusal(exc: Exception, target: str, actor: Actor) -> str | None:
    """Why the rules refused an operator's action, in the service's words (shown in the form's
    message area), or None when ``exc`` is not a refusal. A Forbidden is audited (SEC9) as the
    API's 403 is; the service has written it into the incident's trail already."""
    from incidents.errors import Forbidden, IncidentError  # noqa: PLC0415

    if isinstance(exc, Forbidden):
        audit_denied(str(exc), target, actor)
        return f"{exc.reason} (无权操作)"
    if isinstance(exc, IncidentError | ValueError):   # InvalidTransition, Conflict, bad input
        return str(exc)
    return None


def queue_order(incs: list, view: str, now: float) -> list:
    """The queue as an operator works it: served-first cases (emergency mode / major, T3), then
    overdue (E14a 督办), then the oldest. ``list_queue`` orders by priority and age only; the history
    view (全部) stays newest first."""
    if view == "all":
        return list(incs)
    return sorted(incs, key=lambda i: (-i.priority, not i.overdue(now), i.created_ts))


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


QUEUE_STYLES = [{"if": {"filter_query": "{overdue} = true"}, "color": "#ff3df2"},
                {"if": {"state": "active"}, "border": "1px solid #4fc3f7"}]


def selection_styles(sel: str | None) -> list[dict]:
    """The queue's conditional styles with the selected case's row marked, by its id (so the
    mark follows the case through live updates, sorting and paging)."""
    if not sel or not all(ch.isalnum() or ch in "-_" for ch in sel):
        return QUEUE_STYLES
    return QUEUE_STYLES + [{"if": {"filter_query": f'{{id}} = "{sel}"'},
                            "backgroundColor": "#21406a", "fontWeight": 600}]


# --- map -----------------------------------------------------------------------------------------
_GEO_CACHE: dict[tuple[int, str], dict] = {}


def _scope_geo(city_key: int, center: str, city) -> dict:  # noqa: ANN001
    """Boundary layers, pick points, view and landmarks for a center (cached per center)."""
    hit = _GEO_CACHE.get((city_key, center))
    if hit is None:
        hit = _GEO_CACHE[(city_key, center)] = _build_scope_geo(center, city)
    return hit


def _build_scope_geo(center: str, city) -> dict:  # noqa: ANN001
    from layers.basemap import fit_view  # noqa: PLC0415
    from layers.geojson import feature_collection  # noqa: PLC0415

    if center.startswith("T") and center[1:] in set(city.towns["code"]):
        town = center[1:]
        towns = city.towns[city.towns["code"] == town]
        villages = city.villages[city.villages["town_code"] == town]
        cells = city.cells[city.cells["town_code"] == town]
        bounds = tuple(towns.total_bounds)
    else:
        towns, villages, cells = city.towns, city.villages.iloc[0:0], city.cells
        bounds = tuple(city.towns.total_bounds)
    # the fill goes under the markers (MapLibre draws layout layers above traces otherwise)
    layers = [{"sourcetype": "geojson", "type": "fill", "color": "#0f2238", "opacity": 0.8,
               "below": "traces",
               "source": feature_collection(towns, "code", (), tolerance_deg=0.0004)},
              {"sourcetype": "geojson", "type": "line", "color": "#3a86c8", "line": {"width": 1.6},
               "source": feature_collection(towns, "code", (), tolerance_deg=0.0004)}]
    if len(villages):
        layers.append({"sourcetype": "geojson", "type": "line", "color": "#2c5a86",
                       "line": {"width": 0.8},
                       "source": feature_collection(villages, "code", (), tolerance_deg=0.0002)})
    pts = cells.geometry.representative_point()
    center_pt, zoom = fit_view(bounds, 640, 460)
    vil = villages if len(villages) else city.villages
    vpts = vil.geometry.representative_point()
    tnames = city.town_names
    landmarks = [{"label": f"{tnames.get(t, '')} {n}", "value": f"{p.x:.6f},{p.y:.6f}"}
                 for n, t, p in zip(vil["name"], vil["town_code"], vpts, strict=True)]
    return {"layers": layers, "pick_lon": [round(float(x), 6) for x in pts.x],
            "pick_lat": [round(float(y), 6) for y in pts.y], "pick_id": cells["code"].tolist(),
            "center": center_pt, "zoom": zoom, "landmarks": landmarks}


def map_traces(rows: list[dict], selected=None, cameras=(), pick=None) -> list[dict]:
    """The live traces of the console map, in fixed slots 1..5 (slot 0 is the pick grid):
    overdue rings, incidents, cameras that see the selection, the selection, the picked point."""
    from layers.palette import OVERDUE_COLOR, SEVERITY_COLORS, SEVERITY_SIZES  # noqa: PLC0415

    rows = [r for r in rows if r.get("state") not in ("closed", "voided")]
    od = [r for r in rows if r.get("overdue")]
    traces = [
        go.Scattermap(lon=[r["lon"] for r in od], lat=[r["lat"] for r in od],
                      customdata=[r["id"] for r in od], mode="markers",
                      marker={"size": [SEVERITY_SIZES.get(r["severity"], 9) + 12 for r in od],
                              "color": OVERDUE_COLOR, "opacity": 0.85},
                      hoverinfo="skip", meta="overdue", name="超期"),
        go.Scattermap(lon=[r["lon"] for r in rows], lat=[r["lat"] for r in rows],
                      customdata=[r["id"] for r in rows], mode="markers",
                      text=[f"{r['id']} {r['title']}<br>{r['state_name']} · {r['severity']}" for r in rows],
                      marker={"size": [SEVERITY_SIZES.get(r["severity"], 9) + 5 for r in rows],
                              "color": [SEVERITY_COLORS.get(r["severity"], "#4fc3f7") for r in rows],
                              "opacity": 1.0},
                      unselected={"marker": {"opacity": 1.0}},
                      hovertemplate="%{text}<extra></extra>", meta="incidents", name="事件"),
        go.Scattermap(lon=[c["lon"] for c in cameras], lat=[c["lat"] for c in cameras],
                      mode="markers", marker={"size": 9, "color": "#b388ff"},
                      text=[c["name"] for c in cameras], hovertemplate="摄像机 %{text}<extra></extra>",
                      meta="cameras", name="摄像机"),
        go.Scattermap(lon=[selected.lon] if selected else [], lat=[selected.lat] if selected else [],
                      mode="markers", marker={"size": 28, "color": "#ffffff", "opacity": 0.45},
                      hoverinfo="skip", meta="selected", name="选中"),
        go.Scattermap(lon=[pick["lon"]] if pick else [], lat=[pick["lat"]] if pick else [],
                      mode="markers", marker={"size": 16, "color": "#00e676"}, hoverinfo="skip",
                      meta="picked", name="新事件位置"),
    ]
    return [t.to_plotly_json() for t in traces]


def map_figure(city, actor: Actor, rows: list[dict], selected=None, cameras=(), pick=None,
               tile_url: str | None = None) -> dict:
    """The whole console map: territory (GeoJSON layers), pick grid, then ``map_traces``."""
    from layers.basemap import map_style  # noqa: PLC0415

    geo = _scope_geo(id(city), actor.center, city)
    pick_grid = go.Scattermap(lon=geo["pick_lon"], lat=geo["pick_lat"], customdata=geo["pick_id"],
                              mode="markers", marker={"size": 7, "color": "#5f7a99", "opacity": 0.25},
                              hovertemplate="网格 %{customdata}<br>点击选为新事件位置<extra></extra>",
                              meta="pick", name="网格")
    layout = {"map": {"style": map_style(tile_url), "center": geo["center"], "zoom": geo["zoom"],
                      "layers": geo["layers"]},
              "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False,
              "paper_bgcolor": "#07111f", "uirevision": actor.center, "hovermode": "closest",
              "clickmode": "event"}
    return {"data": [pick_grid.to_plotly_json()] + map_traces(rows, selected, cameras, pick),
            "layout": layout}


def short_center(city, code: str) -> str:  # noqa: ANN001
    """A short center name for tables: the town name, the department name, 市中心."""
    if code == "CITY":
        return "市指挥中心"
    if code.startswith("T"):
        return city.town_names.get(code[1:], code)
    if code.startswith("W"):    # a grid worker (W<cell>): the cell's worker by name
        cells = city.cells
        hit = cells.loc[cells["worker_id"] == code, "worker_name"]
        if not len(hit):
            hit = cells.loc[cells["code"] == code[1:], "worker_name"]
        name = str(hit.iloc[0]) if len(hit) and isinstance(hit.iloc[0], str) else ""
        return f"{name}网格员" if name else code
    c = city.centers.get(code)
    return c.name.replace("业务分中心", "") if c else code


ACTION_NAMES = {"report": "上报", "accept": "受理", "register": "立案", "dispatch": "派遣",
                "start": "开始处置", "handle": "处置反馈", "verify": "核查通过", "reopen": "核查不通过",
                "close": "结案", "return": "退回", "escalate": "上报上级", "take_over": "接管",
                "urge": "督办", "warn": "预警", "void": "作废", "callback": "回访", "note": "备注",
                "severity": "定级", "merge": "合并", "split": "拆分", "correlate": "关联上报",
                "assign_task": "下达任务"}
"""Audit actions in the operator's words (the timeline)."""


def _action_name(action: str) -> str:
    if action.startswith("denied:"):
        return f"越权被拒 ({ACTION_NAMES.get(action[7:], action[7:])})"
    return ACTION_NAMES.get(action, action)


def circle_area(lon: float, lat: float, radius_km: float, n: int = 32) -> dict:
    """A GeoJSON polygon approximating a circle (for an emergency area)."""
    dlat = radius_km / 111.32
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    ring = [[round(lon + dlon * math.cos(2 * math.pi * k / n), 6),
             round(lat + dlat * math.sin(2 * math.pi * k / n), 6)] for k in range(n)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def emergency_banner(service, city, actor: Actor | None) -> str:
    """应急模式 banner text for this actor's screen, or '' (shown when its area touches the
    actor's territory; city and department screens always show it)."""
    state = service.emergency_state()
    if not state or actor is None:
        return ""
    if actor.center.startswith("T"):
        from incidents.routing import parse_area  # noqa: PLC0415

        town = city.towns[city.towns["code"] == actor.center[1:]]
        if len(town) and not parse_area(state["area"]).intersects(town.geometry.iloc[0]):
            return ""
    why = f" · {state['reason']}" if state.get("reason") else ""
    return f"⚠ 应急模式 启动中 · 至 {_fmt(state['until'], True)}{why} · 区域内新事件直报市指挥中心"


# --- layout --------------------------------------------------------------------------------------
GROW = {"flex": "1 1 220px", "minWidth": "0"}
"""A dropdown that takes the rest of its form row. dcc.Dropdown (Dash 4) puts ``style`` on its
outer wrapper (the flex item) and ``className`` on the inner button, so the width goes here."""


def _header(ctx_, actor: Actor) -> html.Div:
    center = ctx_.city.centers.get(actor.center)
    return html.Div(className="con-top", children=[
        html.H1("一网统管 · 分中心工作台"),
        html.Span(center.name if center else actor.center, id="center-name"),
        html.Span(className="who", children=[html.B(actor.name or actor.user_id), " · ",
                                             ROLE_NAMES[actor.role], " · ",
                                             html.A("退出 Logout", href="/logout")]),
    ])


def _new_incident_form(landmarks: list[dict]) -> html.Details:
    cats = [{"label": f"{c} {v.name}", "value": c} for c, v in CATEGORIES.items() if len(c) == 4]
    return html.Details(className="form", id="new-form", children=[
        html.Summary("＋ 新建事件（12345 热线 / 来访）"),
        html.Div(className="row", children=[
            html.Label("渠道"), dcc.RadioItems(id="new-channel", inline=True, value="hotline",
                                             options=[{"label": "12345热线", "value": "hotline"},
                                                      {"label": "来访", "value": "walk_in"}]),
            html.Label("等级"), dcc.Dropdown(id="new-severity", value="一般", clearable=False,
                                           options=["一般", "较大", "重大", "特别重大"],
                                           labels=DROPDOWN_LABELS, style={"width": "120px"})]),
        html.Div(className="row", children=[
            html.Label("类别"), dcc.Dropdown(id="new-category", options=cats, value="1202",
                                           clearable=False, labels=DROPDOWN_LABELS, style=GROW)]),
        html.Div(className="row", children=[
            html.Label("地点"), dcc.Dropdown(id="new-landmark", options=landmarks,
                                           placeholder="村/社区（或在地图上点选网格）",
                                           labels=DROPDOWN_LABELS, style=GROW)]),
        html.Div(id="new-where", className="row", children="未选位置"),
        dcc.Textarea(id="new-desc", placeholder="来电/来访内容", maxLength=2000),
        html.Div(className="row", children=[
            dcc.Input(id="new-ref", type="text", placeholder="工单号/来电号码 (可选)", maxLength=64),
            html.Button("提交 Submit", id="new-submit", className="primary", accessKey="w")]),
        html.Div(id="new-msg", className="msg"),
    ])


def task_targets(city, actor: Actor) -> list[dict]:  # noqa: ANN001
    """Who this actor may give a task to (上情下达, ``incidents.scope.can_assign``)."""
    if actor.role in ("city_commander", "city_operator"):
        return [{"label": c.name, "value": code} for code, c in city.centers.items() if code != "CITY"]
    cells = city.cells
    if actor.role == "town_operator":
        cells = cells[cells["town_code"] == actor.center[1:]]
    elif actor.role != "dept_operator":
        return []
    tnames, vnames = city.town_names, city.village_names
    return [{"label": f"网格员 {w} · {tnames.get(t, '')}{vnames.get(v, '')}", "value": wid}
            for wid, w, t, v in zip(cells["worker_id"], cells["worker_name"], cells["town_code"],
                                    cells["village_code"], strict=True)]


def _task_form(targets: list[dict]) -> html.Details:
    return html.Details(className="form", id="task-form", hidden=not targets, children=[
        html.Summary("↓ 下达巡查任务（上情下达）"),
        html.Div(className="row", children=[
            html.Label("对象"), dcc.Dropdown(id="task-target", options=targets, style=GROW,
                                           placeholder="网格员 / 镇街 / 部门",
                                           labels=DROPDOWN_LABELS)]),
        html.Div(className="row", children=[
            html.Label("任务"), dcc.Input(id="task-title", type="text", className="grow", maxLength=120,
                                        placeholder="如：汛前巡查排水口")]),
        html.Div(className="row", children=[
            html.Label("时限"), dcc.Input(id="task-hours", type="number", value=24, min=1, max=720,
                                        style={"width": "90px"}), html.Span("小时"),
            html.Button("下达", id="task-submit", className="primary")]),
        html.Div(id="task-msg", className="msg"),
    ])


def _emergency_form(city) -> html.Details:
    towns = [{"label": n, "value": c} for c, n in city.town_names.items()]
    return html.Details(className="form", id="em-form", children=[
        html.Summary("⚠ 应急模式（市指挥长）"),
        html.Div(className="row", children=[
            html.Label("区域"), dcc.Dropdown(id="em-town", options=towns, placeholder="镇街（或地图点选 + 半径）",
                                           labels=DROPDOWN_LABELS, style=GROW),
            dcc.Input(id="em-radius", type="number", value=3, min=0.2, max=50, step=0.1,
                      style={"width": "80px"}), html.Span("km")]),
        html.Div(className="row", children=[
            html.Label("时长"), dcc.Input(id="em-minutes", type="number", value=120, min=5, max=4320,
                                        style={"width": "90px"}), html.Span("分钟"),
            dcc.Input(id="em-reason", type="text", placeholder="原因", maxLength=200, className="grow")]),
        html.Div(className="row", children=[
            html.Button("启动", id="em-on", className="danger"), html.Button("解除", id="em-off")]),
        html.Div(id="em-msg", className="msg"),
    ])


KEY_HINT = "键盘: ↑↓ 在队列中移动并打开事件 · Alt+字母 执行操作 (悬停按钮可见) · Tab 切换输入"


def _panel_controls() -> html.Div:
    """What the operator does with the case: at the top of the panel, pinned while the details
    below scroll (the buttons never sit below the fold). Inputs show only when an action on
    offer needs them: departments for 派遣, satisfaction for 回访."""
    buttons = [html.Button(label, id={"type": "act", "action": a}, accessKey=k, hidden=True,
                           title=f"Alt+{k.upper()}", className="primary" if a in (
                               "accept", "dispatch", "verify", "close", "start", "handle") else "")
               for a, label, k, _ in BUTTONS]
    return html.Div(id="controls", hidden=True, title=KEY_HINT, children=[
        html.Div(className="actions", children=[
            # no "Select All" in 派遣至: one click must not dispatch to every department (CSS)
            html.Div(id="depts-row", className="depts-pick", hidden=True, children=[
                html.Label("派遣至", htmlFor="act-depts"),
                dcc.Dropdown(id="act-depts", multi=True, placeholder="派遣单位（建议已预选）",
                             maxHeight=260, style=GROW,
                             labels=dict(DROPDOWN_LABELS, search="搜索部门",
                                         selected_count="{num_selected} 个单位",
                                         no_options_found="无匹配部门"))]),
            dcc.Input(id="act-reason", type="text", className="reason", maxLength=500,
                      placeholder="原因/说明（退回、作废、核查不通过必填；处置反馈写处置情况）"),
            html.Div(id="sat-box", hidden=True, children=dcc.Dropdown(
                id="act-satisfaction", options=[{"label": f"满意度 {k}", "value": k}
                                                for k in (5, 4, 3, 2, 1)],
                placeholder="满意度", labels=DROPDOWN_LABELS, style={"width": "120px"})),
            *buttons]),
        html.Div(id="act-msg", className="msg", role="status"),
    ])


def _layout(ctx_):
    def layout():
        actor = current_actor()
        if actor is None or actor.role not in CONSOLE_ROLES:
            return html.Div("请先登录 · Please log in", id="console-denied")
        geo = _scope_geo(id(ctx_.city), actor.center, ctx_.city)
        left = [html.Div(className="box map-box", children=[
            dcc.Graph(id="map", style={"height": "100%"}, config={"displaylogo": False,
                                                                   "scrollZoom": True},
                      figure=map_figure(ctx_.city, actor, [], tile_url=ctx_.settings.tile_url)),
            html.Div("点击网格点选位置 · 点击事件打开详情", className="hint")]),
            _new_incident_form(geo["landmarks"]), _task_form(task_targets(ctx_.city, actor))]
        if actor.role == "city_commander":
            left.append(_emergency_form(ctx_.city))
        return html.Div(className="con-root", children=[
            dcc.Store(id="feed-last"), dcc.Store(id="sel"), dcc.Store(id="pick"),
            dcc.Store(id="rev", data=0), dcc.Store(id="sel-ver"),
            dcc.Interval(id="tick", interval=POLL_MS), dcc.Interval(id="slow", interval=5000),
            _header(ctx_, actor),
            html.Div(id="banner", className="banner"),
            html.Div(className="con-main", children=[
                html.Div(className="con-left", children=left),
                html.Div(className="con-right", children=[
                    html.Div(className="box queue-box", children=[
                        html.Div(className="tabs", children=[
                            dcc.RadioItems(id="view", value="open" if actor.is_city else "mine",
                                           inline=True, options=[{"label": n, "value": v}
                                                                 for v, n in VIEWS]),
                            html.Span(id="counts", className="counts")]),
                        dash_table.DataTable(
                            id="queue", data=[], page_size=PAGE_SIZE, sort_action="native",
                            filter_action="native", cell_selectable=True,
                            filter_options={"placeholder_text": "筛选…"},
                            columns=[{"name": n, "id": k} for k, n in (
                                ("id", "编号"), ("title", "标题"), ("category_name", "类别"),
                                ("severity", "等级"), ("state_name", "状态"), ("owner", "归属"),
                                ("due", "时限"), ("created", "上报时间"))],
                            # the dark theme through the table's own style props, so that the
                            # conditional styles (overdue, the selected case) can colour rows
                            style_table={"overflowX": "auto"},
                            style_cell={"textAlign": "left", "padding": "3px 6px",
                                        "maxWidth": "150px", "overflow": "hidden",
                                        "textOverflow": "ellipsis", "fontFamily": "inherit",
                                        "fontSize": "13px", "backgroundColor": "#111f33",
                                        "color": "#e6eef9", "border": "1px solid #244063"},
                            style_header={"backgroundColor": "#16273f", "fontWeight": 600},
                            style_filter={"backgroundColor": "#0c1829"},
                            style_cell_conditional=[   # whole ids and times, short the rest
                                {"if": {"column_id": c}, "minWidth": w, "width": w, "maxWidth": w}
                                for c, w in (("id", "146px"), ("severity", "44px"),
                                             ("state_name", "54px"), ("due", "112px"),
                                             ("created", "104px"))],
                            style_data_conditional=QUEUE_STYLES,
                            tooltip_duration=None)]),
                    html.Div(className="box panel-box", id="panel", children=[
                        html.Div(className="panel-top", children=[
                            html.Div(id="panel-head"), _panel_controls()]),
                        html.Div(id="panel-body",
                                 children=html.P(NO_SELECTION)),
                        html.Div(KEY_HINT, className="hint-keys")]),
                ]),
            ]),
        ])
    return layout


# --- callbacks -----------------------------------------------------------------------------------
def mount(server: Flask, ctx_) -> Dash:
    """Mount /console/ on the shared server."""
    app = Dash("onemap_console", server=server, url_base_pathname="/console/",
               assets_folder=str(ASSETS_DIR / "console"), title="分中心工作台 · OneMap",
               update_title=None, suppress_callback_exceptions=True)
    app.layout = _layout(ctx_)
    svc = lambda: ctx_.incidents  # noqa: E731

    def console_actor() -> Actor:
        actor = require_actor()
        if actor.role not in CONSOLE_ROLES:  # the gate refuses them first; belt and braces
            deny(f"role {actor.role} may not use the console", "console")
        return actor

    @app.callback(Output("feed-last", "data"), Input("tick", "n_intervals"), State("feed-last", "data"))
    def poll(_n, last):
        """Has anything changed? One XREVRANGE COUNT 1 on om:inc:feed (cheap)."""
        console_actor()
        from incidents.keys import FEED  # noqa: PLC0415

        top = ctx_.redis.xrevrange(FEED, count=1)
        now = top[0][0] if top else "0"
        return no_update if now == last else now

    @app.callback(Output("banner", "children"), Output("banner", "className"),
                  Input("slow", "n_intervals"), Input("rev", "data"))
    def banner(_n, _rev):
        text = emergency_banner(svc(), ctx_.city, console_actor())
        return text, "banner on" if text else "banner"

    @app.callback(Output("queue", "data"), Output("counts", "children"),
                  Input("feed-last", "data"), Input("view", "value"), Input("rev", "data"))
    def refresh(_feed, view, _rev):
        """The queue: re-read only when the feed moved (or the view changed); most urgent
        first (``queue_order``)."""
        actor = console_actor()
        now = time.time()
        view = view or "mine"
        with guarded("console:queue"):
            incs = svc().list_queue(actor, view, limit=500)
            if view == "new":     # new work includes a returned part waiting for 改派
                seen = {i.id for i in incs}
                incs += [i for i in svc().list_queue(actor, "mine", limit=500)
                         if i.id not in seen and i.place == f"q:{actor.center}"
                         and awaiting_redispatch(i)]
            incs = queue_order(incs, view, now)
        rows = []
        for inc in incs:
            s = summary(inc, now)
            s.update(owner=short_center(ctx_.city, inc.center), created=_fmt(inc.created_ts, True),
                     due=("超期 " if s["overdue"] else "") + _fmt(inc.due_ts, True),
                     state_name=state_name(inc, actor))
            rows.append(s)
        n_over = sum(1 for r in rows if r["overdue"])
        return rows, f"{len(rows)} 件" + (f" · 超期 {n_over}" if n_over else "")

    @app.callback(Output("queue", "active_cell"), Output("queue", "selected_cells"),
                  Input("queue", "derived_viewport_row_ids"), State("queue", "active_cell"),
                  prevent_initial_call=True)
    def follow(viewport_ids, active):
        """The rows on screen changed (live update, sort, filter, page): the active cell goes
        with its case (``follow_selection``)."""
        console_actor()
        cell = follow_selection(viewport_ids or [], active)
        return cell, no_update if cell is no_update else ([cell] if cell else [])

    @app.callback(Output("queue", "style_data_conditional"), Input("sel", "data"))
    def mark_selected(sel):
        """The selected case's row is marked by its id, wherever it is in the queue."""
        console_actor()
        return selection_styles(sel)

    @app.callback(Output("map", "figure"), Input("queue", "data"), Input("sel", "data"),
                  Input("pick", "data"))
    def redraw(rows, sel, pick):
        """The map's live traces as a Patch (the territory layers are sent once, with the page)."""
        actor = console_actor()
        selected, cams = None, []
        if sel:
            with guarded(sel):
                selected = svc().get(sel, actor)
            if _has_devices(ctx_):
                cams = _cameras_seeing(ctx_, selected.lon, selected.lat)
        p = Patch()
        for k, trace in enumerate(map_traces(rows or [], selected, cams, pick), start=1):
            p["data"][k] = trace
        return p

    @app.callback(Output("sel", "data"), Output("pick", "data"), Output("new-landmark", "value"),
                  Input("queue", "active_cell"), Input("map", "clickData"),
                  State("sel", "data"), prevent_initial_call=True)
    def choose(active, click, sel):
        console_actor()
        if ctx.triggered_id == "queue" and active and active.get("row_id"):
            return (active["row_id"] if active["row_id"] != sel else no_update), no_update, no_update
        if ctx.triggered_id == "map" and click and click.get("points"):
            p = click["points"][0]
            if p.get("curveNumber") == 0:         # the pick trace: a location, not an incident
                # the map wins over an earlier landmark: clear it so the form shows one place
                return no_update, {"lon": p["lon"], "lat": p["lat"], "cell": p.get("customdata")}, None
            cd = p.get("customdata")
            if isinstance(cd, str) and cd[:1] in ("E", "T"):
                return cd, no_update, no_update
        return no_update, no_update, no_update

    @app.callback(Output("pick", "data", allow_duplicate=True), Input("new-landmark", "value"),
                  prevent_initial_call=True)
    def landmark_pick(landmark):
        """A landmark chosen from the list becomes the picked location (shown on the map)."""
        console_actor()
        if not landmark:
            return no_update
        lon, lat = (float(v) for v in landmark.split(","))
        return {"lon": lon, "lat": lat}

    @app.callback(Output("panel-head", "children"), Output("panel-body", "children"),
                  Output({"type": "act", "action": ALL}, "hidden"),
                  Output("act-depts", "options"), Output("act-depts", "value"),
                  Output("sel-ver", "data"), Output("controls", "hidden"),
                  Output("depts-row", "hidden"), Output("sat-box", "hidden"),
                  Input("sel", "data"), Input("feed-last", "data"), Input("rev", "data"),
                  State({"type": "act", "action": ALL}, "id"), State("sel-ver", "data"))
    def panel(sel, _feed, _rev, ids, seen):
        actor = console_actor()
        hide_all = [True] * len(ids)
        if not sel:
            return (None, html.P(NO_SELECTION), hide_all, [], [], None,
                    True, True, True)
        with guarded(sel):
            inc = svc().get(sel, actor)
        ver = f"{inc.id}:{inc.version}"
        if ctx.triggered_id == "feed-last" and ver == seen:
            # the feed moved for another incident: keep the panel (and what the operator typed)
            return (no_update, no_update, [no_update] * len(ids), *[no_update] * 6)
        with guarded(sel):
            trail = svc().timeline(sel, actor)
        can = set(applicable(actor, inc))
        hidden = [i["action"] not in can for i in ids]
        depts = [{"label": c.name.replace("业务分中心", ""), "value": c.code}
                 for c in ctx_.city.centers.values() if c.tier == "department"]
        with guarded(sel):
            hints = svc().suggest_routing(sel, actor)
        # 追加派遣/改派: not who works on it already, nor who just returned its part (退回)
        busy = {t.center for t in inc.tasks if t.open or t.state == "returned"}
        suggested = [d["center"] for d in hints["departments"]
                     if d["center"].startswith("D") and d["center"] not in busy] \
            if "dispatch" in can else []
        head, *body = incident_panel(ctx_, actor, inc, trail, hints.get("similar", []))
        return (head, body, hidden, depts, suggested, ver, False, "dispatch" not in can,
                "callback" not in can)

    @app.callback(Output("act-msg", "children"), Output("act-msg", "className"),
                  Output("rev", "data"), Output("act-reason", "value"),
                  Input({"type": "act", "action": ALL}, "n_clicks"),
                  State("sel", "data"), State("act-reason", "value"), State("act-depts", "value"),
                  State("act-satisfaction", "value"), State("rev", "data"),
                  prevent_initial_call=True)
    def action(clicks, sel, reason, depts, satisfaction, rev):
        actor = console_actor()
        trig = ctx.triggered_id
        if not trig or not sel or not any(clicks or []):
            return no_update, no_update, no_update, no_update
        name = trig["action"]
        label = BUTTON_NAMES.get(name, name)
        if name not in ACTIONS and name != "reopen":
            return f"✗ 未知操作 {name}", "msg err", no_update, no_update
        with guarded(sel):     # outside the read scope: 403 + audit, never a hint (S2)
            svc().get(sel, actor)
        try:
            inc = do_action(svc(), actor, sel, name, reason or "", reason or "", depts,
                            satisfaction)
        except Exception as exc:   # a refusal by the rules: told why, and the panel refreshed
            why = refusal(exc, sel, actor)
            if why is None:
                raise
            return f"✗ {label}: {why}", "msg err", (rev or 0) + 1, no_update
        return (f"✓ {label} → {inc.id} 状态: {STATE_NAMES[inc.state]}"
                f" · 归属 {short_center(ctx_.city, inc.center)}", "msg ok", (rev or 0) + 1, "")

    @app.callback(Output("new-where", "children"), Input("pick", "data"), Input("new-landmark", "value"))
    def where(pick, landmark):
        console_actor()
        loc = _location(ctx_.city, pick, landmark, ctx.triggered_id)
        if loc is None:
            return "未选位置 · pick a cell on the map or a landmark"
        lon, lat, cell = loc
        return f"位置 {lon:.5f}, {lat:.5f} · 网格 {cell or '辖区外'}"

    @app.callback(Output("new-msg", "children"), Output("new-msg", "className"),
                  Output("sel", "data", allow_duplicate=True), Output("rev", "data", allow_duplicate=True),
                  Input("new-submit", "n_clicks"),
                  State("new-channel", "value"), State("new-category", "value"),
                  State("new-severity", "value"), State("new-desc", "value"), State("new-ref", "value"),
                  State("pick", "data"), State("new-landmark", "value"), State("rev", "data"),
                  prevent_initial_call=True)
    def new_incident(_n, channel, category, severity, desc, ref, pick, landmark, rev):
        actor = console_actor()
        from app import security  # noqa: PLC0415

        loc = _location(ctx_.city, pick, landmark, "pick" if pick else "new-landmark")
        if loc is None:
            return "✗ 请先选择位置 (pick a location)", "msg err", no_update, no_update
        if not (desc or "").strip():
            return "✗ 请填写内容 (describe the call)", "msg err", no_update, no_update
        ok, retry = security.hit(ctx_.redis, security.REPORT_LIMIT, actor.user_id)
        if not ok:
            security.count(ctx_.redis, "rate_limited")
            return f"✗ 提交过于频繁，请 {retry} 秒后再试 (rate limited)", "msg err", no_update, no_update
        lon, lat, _ = loc
        category = category if category in CATEGORIES else ""
        body = {"channel": channel, "category": category, "severity": severity,
                "description": desc, "ref": ref or "", "lon": lon, "lat": lat,
                "title": f"{'12345' if channel == 'hotline' else '来访'}: "
                         f"{CATEGORIES[category].name if category else ''}"}
        try:
            inc = intake(ctx_, actor, body, None)
        except Exception as exc:   # refused by the rules: told why in the form
            why = refusal(exc, "console:intake", actor)
            if why is None:
                raise
            return f"✗ 新建事件: {why}", "msg err", no_update, no_update
        return intake_message(ctx_.city, inc), "msg ok", inc.id, (rev or 0) + 1

    @app.callback(Output("task-msg", "children"), Output("task-msg", "className"),
                  Output("sel", "data", allow_duplicate=True), Output("rev", "data", allow_duplicate=True),
                  Input("task-submit", "n_clicks"), State("task-target", "value"),
                  State("task-title", "value"), State("task-hours", "value"), State("pick", "data"),
                  State("rev", "data"), prevent_initial_call=True)
    def assign(_n, target, title, hours, pick, rev):
        actor = console_actor()
        if not target or not (title or "").strip():
            return "✗ 请选择对象并填写任务 (target and title)", "msg err", no_update, no_update
        try:
            inc = svc().assign_task(actor, target, title.strip(),
                                    deadline_s=float(hours or 24) * 3600,
                                    lon=pick["lon"] if pick else None,
                                    lat=pick["lat"] if pick else None)
        except Exception as exc:   # refused by the rules: told why in the form
            why = refusal(exc, "console:assign_task", actor)
            if why is None:
                raise
            return f"✗ 下达任务: {why}", "msg err", no_update, no_update
        return f"✓ 已下达 {inc.id} → {short_center(ctx_.city, target)}", "msg ok", inc.id, (rev or 0) + 1

    @app.callback(Output("em-msg", "children"), Output("em-msg", "className"),
                  Output("rev", "data", allow_duplicate=True),
                  Input("em-on", "n_clicks"), Input("em-off", "n_clicks"),
                  State("em-town", "value"), State("em-radius", "value"), State("em-minutes", "value"),
                  State("em-reason", "value"), State("pick", "data"), State("rev", "data"),
                  prevent_initial_call=True)
    def emergency(_on, _off, town, radius, minutes, reason, pick, rev):
        actor = console_actor()
        if actor.role != "city_commander":   # the form is the commander's only (X19)
            deny(f"role {actor.role} may not switch emergency mode", "emergency")
        off = ctx.triggered_id == "em-off"
        try:
            if off:
                svc().emergency_off(actor, reason or "")
                return "✓ 应急模式已解除", "msg ok", (rev or 0) + 1
            if town:
                geom = ctx_.city.towns[ctx_.city.towns["code"] == town].geometry.iloc[0]
                area = geom.simplify(0.0005).__geo_interface__
            elif pick:
                area = circle_area(pick["lon"], pick["lat"], float(radius or 3))
            else:
                return "✗ 请选择区域 (a town, or a point on the map + radius)", "msg err", no_update
            svc().emergency_on(area, time.time() + float(minutes or 120) * 60, actor, reason or "")
        except Exception as exc:   # refused by the rules: told why in the form
            why = refusal(exc, "emergency", actor)
            if why is None:
                raise
            return f"✗ {'解除' if off else '启动'}应急模式: {why}", "msg err", (rev or 0) + 1
        return f"✓ 应急模式已启动 · {int(minutes or 120)} 分钟", "msg ok", (rev or 0) + 1

    return app


def intake_message(city, inc) -> str:  # noqa: ANN001
    """What the new-incident form says about what the intake did: a new case, a report linked
    to an open case nearby as one more source (关联), or a repeat of one made before."""
    c = city.centers.get(inc.center)
    where = c.name if c else inc.center
    if inc.intake == "correlated":
        return f"✓ 已关联到 {inc.id}（附近已有同类在办事件，作为新的来源记入）→ {where}"
    if inc.intake == "duplicate":
        return f"✓ 已提交过，未重复创建: {inc.id} → {where}"
    return f"✓ 已新建 {inc.id} → {where}"


def _cameras_seeing(ctx_, lon: float, lat: float) -> list[dict]:  # noqa: ANN001
    """Cameras that can see the point (mobile ones where they are now), nearest first."""
    return cameras_seeing(ctx_.devices, lon, lat, radius_m=CAMERA_RADIUS_M, limit=6,
                          positions=live_positions(ctx_.redis))


def _has_devices(ctx_) -> bool:
    try:
        return ctx_.devices is not None
    except Exception:  # the device registry is optional for the console
        return False


def _location(city, pick, landmark, trigger) -> tuple[float, float, str] | None:  # noqa: ANN001
    if trigger == "new-landmark" and landmark:
        lon, lat = (float(v) for v in landmark.split(","))
    elif pick:
        lon, lat = float(pick["lon"]), float(pick["lat"])
    elif landmark:
        lon, lat = (float(v) for v in landmark.split(","))
    else:
        return None
    loc = city.try_locate(lon, lat)
    return lon, lat, loc.cell_code if loc else ""


# --- the incident panel ------------------------------------------------------------------------------
def incident_panel(ctx_, actor: Actor, inc, trail: list[dict], similar: list[dict] = ()) -> list:
    """Details, photos, location, cameras, sensors (sparkline), related incidents, timeline."""
    city = ctx_.city
    names = {c: short_center(city, c) for c in city.centers}

    def name_of(code: str) -> str:
        """A center or grid worker (W<cell>) by name; a user id stays as it is."""
        return names.get(code) or (short_center(city, code) if code.startswith("W") else code)
    now = time.time()
    over = inc.overdue(now)
    head = html.Div(className="inc-head", children=[
        html.H2([f"{inc.id} · {inc.title}"]),
        html.Span(state_name(inc, actor), className=f"state {inc.state}", id="inc-state"),
        " ", html.Span(inc.severity, className=f"sev-{inc.severity}"),
        " ", html.Span("超期" if over else "", className="overdue"),
        " ", html.Span("应急" if inc.emergency else "", className="overdue")])
    loc = " / ".join(x for x in (city.town_names.get(inc.town_code, ""),
                                 city.village_names.get(inc.village_code, ""), inc.cell_code) if x)
    tasks = [html.Li(f"#{t.n} {name_of(t.center)} · {TASK_STATE_NAMES.get(t.state, t.state)}"
                     + (f" · {t.note}" if t.note else "")) for t in inc.tasks]
    details = html.Dl(className="kv", children=[
        html.Dt("类别"), html.Dd(f"{inc.category} {inc.category_name}"),
        html.Dt("渠道"), html.Dd(f"{CHANNELS.get(inc.channel, inc.channel)} · 上报人 "
                               f"{name_of(inc.reporter)}"),
        html.Dt("位置"), html.Dd(f"{loc} ({inc.lon:.5f}, {inc.lat:.5f})"),
        html.Dt("归属"), html.Dd(f"{names.get(inc.center, inc.center)} · {inc.route_reason}"),
        html.Dt("时限"), html.Dd(_fmt(inc.due_ts, True) or "—"),
        html.Dt("描述"), html.Dd(inc.description or "—"),
        html.Dt("子任务"), html.Dd(html.Ul(tasks) if tasks else "—"),
    ])
    photos = [html.Img(src=u, alt="现场照片") for u in inc.attachments if str(u).startswith("/")]
    parts = [head, details]
    if photos:
        parts.append(html.Div(className="photos", children=photos))
    if _has_devices(ctx_):
        cams = _cameras_seeing(ctx_, inc.lon, inc.lat)
        parts.append(html.H2("可视摄像机 (能看到事发点)"))
        parts.append(html.Ul(className="cams", children=[
            html.Li([f"{c['name']} · {c['cls']}类 · {c['distance_m']:.0f} m · ",
                     html.A("视频流", href=c["stream_url"], target="_blank", rel="noopener")])
            for c in cams] or [html.Li("附近无可视摄像机")]))
        sens = sensors_near(ctx_.devices.sensors, inc.lon, inc.lat)
        if sens:
            parts.append(html.H2("周边传感器"))
            parts.append(_sensor_block(ctx_, sens))
    related = [html.Li(f"{CHANNELS.get(s.get('channel', ''), s.get('channel', ''))} · "
                       f"{name_of(str(s.get('reporter', '')))} · "
                       f"{_fmt(float(s.get('ts') or 0), True)} · {s.get('description', '')}")
               for s in inc.sources[1:]]
    related += [html.Li(f"关联事件 {x}") for x in inc.links]
    related += [html.Li(f"历史相似 {x['id']} · {x.get('title', '')} · {x.get('distance_m', 0):.0f} m · "
                        f"处置 {'、'.join(short_center(city, h) for h in x.get('handlers', []))}")
                for x in similar]
    if related:
        parts += [html.H2("关联上报 / 相关事件"), html.Ul(className="related", children=related)]
    parts.append(html.H2("处置时间线 (审计)"))
    parts.append(html.Ol(className="timeline", id="timeline", children=[
        html.Li([html.Span(_fmt(e["ts"], True), className="t"),
                 f"{e.get('name') or e.get('actor')} ({ROLE_NAMES.get(e.get('role', ''), e.get('role', ''))}"
                 f"@{name_of(e.get('center', ''))}) · {_action_name(e.get('action', ''))}"
                 + (f" → {STATE_NAMES.get(e.get('state', ''), e.get('state', ''))}" if e.get("state") else "")
                 + (f" · {e.get('reason')}" if e.get("reason") else "")]) for e in trail]))
    return parts


def _metric_label(device_type: str, metric: str) -> str:
    try:
        from sensors.kinds import KINDS  # noqa: PLC0415

        m = next(m for m in KINDS[device_type].metrics if m.name == metric)
        return f"{m.label}{f' ({m.unit})' if m.unit else ''}"
    except (ImportError, KeyError, StopIteration, AttributeError):
        return metric


def _sensor_block(ctx_, sens: list[dict]) -> html.Div:
    from sensors.keys import dev_hist  # noqa: PLC0415

    items = []
    for s in sens[:3]:
        ts, series = readings(ctx_.redis, dev_hist(s["id"]), 60)
        label = f"{s['name']} · {s['distance_m']:.0f} m"
        if not ts or not series:
            items.append(html.Div(f"{label} · 暂无读数"))
            continue
        metric, vals = next(iter(series.items()))
        metric = _metric_label(s["type"], metric)
        fig = {"data": [{"type": "scatter", "mode": "lines", "x": [_fmt(t) for t in ts], "y": vals,
                         "line": {"color": "#4fc3f7", "width": 1.5}}],
               "layout": {"margin": {"l": 30, "r": 4, "t": 2, "b": 14}, "height": 60,
                          "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                          "xaxis": {"visible": False},
                          "yaxis": {"tickfont": {"size": 9, "color": "#91a9c6"}, "nticks": 3,
                                    "gridcolor": "#1c3350"}}}
        last = next((v for v in reversed(vals) if v is not None), None)
        items.append(html.Div([html.Div(f"{label} · {metric} {last}"),
                               dcc.Graph(figure=fig, config={"staticPlot": True}, className="spark")]))
    return html.Div(items)
