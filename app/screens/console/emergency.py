"""应急响应 in the console (issue 16; T5, X19, X23, E30): the panel of the roles that may command
or activate a response (``Policy.check_response`` decides, never a list of roles here).

- **建议启动** (E30: a machine suggests, a person confirms): when the selected case or situation
  triggers a plan (``Responses.suggestions``), the panel says "建议启动 <预案> <级别>响应" with
  the trigger's reasons and a 启动响应 button; nothing starts until it is clicked.
- **响应看板**: the active response (the one opened for the selected case, else the newest):
  every member unit's tasks (已签收 / 已完成 / 已超时), the level's resources needed and the
  resources committed (``Responses.board``), 调整级别 up or down, 终止响应 with a summary.
- **一键调度**: the nearest available rescue team the caller may dispatch (straight-line from the
  response's case, ``dispatch.distance_m`` and ``ResourceDispatch.may``) and one click to
  dispatch it to the response (``ResourceDispatch.dispatch``: never committed twice).

The member units' tasks are 上情下达 cases: they arrive in each unit's normal 待办. Every
callback asks ``console_actor`` (``require_actor``) and goes through the response service and
the policy on the server; a refusal is told in the panel's message area (and audited).
"""

from __future__ import annotations

from collections.abc import Callable

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from app.screens.console.ids import Id
from app.timefmt import fmt_cst
from grid import centers as cc
from incidents.actor import Actor
from incidents.emergency.plans import LEVEL_NAMES, RESPONSE_LEVELS
from incidents.errors import Forbidden, IncidentError
from incidents.incident import TASK_STATE_NAMES

COMMAND_ACTIONS = ("activate", "level", "end")
"""The response actions the panel offers (``Policy.RESPONSE_ACTIONS``)."""
TEAM_KINDS = ("team",)
"""The resource category one click dispatches from the panel (救援队伍; materials go by the API)."""


def may_command(policy, actor: Actor) -> bool:  # noqa: ANN001 (incidents.policy.Policy)
    """Whether ``actor`` may activate a response anywhere it could (its own territory, or the
    city): the policy's answer for the lowest level, no role named here."""
    try:
        policy.check_response(actor, "activate", town=cc.town_of(actor.center) or None,
                              level=RESPONSE_LEVELS[0])
    except Forbidden:
        return False
    return True


def allowed(policy, actor: Actor, action: str, **kw: object) -> bool:  # noqa: ANN001
    """The policy's yes/no for one response action (no audit: only the click is audited)."""
    try:
        policy.check_response(actor, action, **kw)
    except (Forbidden, IncidentError):
        return False
    return True


def panel_box(hidden: bool = False) -> html.Details:
    """The 应急响应 panel (open): suggestion, board, level, end, one-click dispatch; hidden for a
    role the policy lets command no response (``may_command``)."""
    return html.Details(className="form resp", id=Id.RESP, open=True, hidden=hidden, children=[
        html.Summary("⚠ 应急响应（预案启动与响应看板）", id=Id.RESP_HEAD),
        dcc.Store(id=Id.RESP_PENDING), dcc.Store(id=Id.RESP_ID), dcc.Store(id=Id.RESP_TEAM),
        dcc.Store(id=Id.RESP_FEED),
        html.Div(id=Id.RESP_SUGGEST, className="resp-suggest"),
        html.Div(className="row", children=[
            html.Button("启动响应", id=Id.RESP_ACTIVATE, className="danger", hidden=True,
                        title="建议由系统给出，由指挥人员确认启动")]),
        html.Div(id=Id.RESP_BOARD, className="resp-board"),
        html.Div(id=Id.RESP_CONTROLS, hidden=True, children=[
            html.Div(className="row", children=[
                html.Button("一键调派", id=Id.RESP_DISPATCH, className="primary", hidden=True),
                html.Span(id=Id.RESP_TEAM_TEXT, className="resp-team")]),
            html.Div(className="row", children=[
                html.Label("级别"), dcc.Dropdown(id=Id.RESP_LEVEL, placeholder="调整为…",
                                               clearable=False, style={"width": "150px"}),
                html.Button("调整级别", id=Id.RESP_LEVEL_BTN)]),
            html.Div(className="row", children=[
                dcc.Input(id=Id.RESP_TEXT, type="text", className="grow", maxLength=2000,
                          placeholder="调级原因 / 终止响应总结（终止必填）"),
                html.Button("终止响应", id=Id.RESP_END, className="danger")])]),
        html.Div(id=Id.RESP_MSG, className="msg", role="status"),
    ])


# --- what the panel shows (Dash-free) ----------------------------------------------------------
def suggestion_children(sug: dict, may: bool, running: dict | None,
                        name_of: Callable[[str], str] = str) -> list:
    """建议启动 <预案> <级别>响应, its reasons, and who confirms (``name_of``: town code → name)."""
    head = f"建议启动 {sug['plan_name']} {sug['level']}级（{sug['level_name']}）响应"
    out: list = [html.Div(head, className="resp-sug-head"),
                 html.Ul([html.Li(r) for r in sug.get("reasons", [])], className="resp-why")]
    where = name_of(sug["town"]) if sug.get("town") else "全市"
    out.append(html.Div(f"范围：{where} · 依据事件 {sug.get('incident', '')}"
                        + (" · 演示预案" if sug.get("demo") else ""), className="hint-line"))
    if running:
        out.append(html.Div(f"已启动 {running['id']}（{running['level']}级）", className="resp-on"))
    elif not may:
        out.append(html.Div("须由有权限的指挥人员启动", className="hint-line"))
    return out


def board_children(board: dict, city_name: Callable[[str], str],
                   town_name: Callable[[str], str] = str) -> list:
    """响应看板: the response, the totals, every member unit's tasks, resources needed and
    committed (empty until a resource is dispatched)."""
    r, t = board["response"], board["totals"]
    where = town_name(r["town"]) if r.get("town") else "全市"
    head = html.Div(className="resp-title", children=[
        html.B(f"{r['id']} · {r.get('plan_name', r['plan'])}"),
        html.Span(f" {r['level']}级（{r.get('level_name', '')}）响应", className="resp-level",
                  id=Id.RESP_LEVEL_TEXT),
        html.Span(f" · {where} · 启动于 {fmt_cst(r.get('ts'), '%m-%d %H:%M')}"
                  + (" · 推演" if r.get("exercise") else ""), className="hint-line")])
    totals = html.Div(f"任务 {t['tasks']} · 已签收 {t['acknowledged']} · 已完成 {t['done']}"
                      f" · 已超时 {t['overdue']}", className="resp-totals" + (" bad" if t["overdue"] else ""))
    rows = [html.Tr([html.Th("成员单位"), html.Th("任务"), html.Th("状态"), html.Th("时限")])]
    for u in board["units"]:
        for k, task in enumerate(u["tasks"]):
            state = ("已超时" if task["overdue"] else "已完成" if task["done"]
                     else "已签收" if task["acknowledged"]
                     else TASK_STATE_NAMES.get(task["state"], task["state"]))
            rows.append(html.Tr(className="overdue" if task["overdue"] else "", children=[
                html.Td(f"{u['name']}（{u['done']}/{len(u['tasks'])}）" if k == 0 else "",
                        title=u["unit"]),
                html.Td(task["title"], title=task.get("case", "")), html.Td(state),
                html.Td(fmt_cst(task["deadline_ts"], "%H:%M"))]))
    need = "、".join(f"{x['type']} {x['quantity']}{x.get('unit', '')}" for x in board["resources"])
    committed = board.get("committed") or []
    com = "、".join(f"{c.get('name', c.get('resource', ''))}（{c.get('state_name', c.get('state', ''))}）"
                    for c in committed) or "暂无"
    return [head, totals, html.Table(rows, className="resp-table"),
            html.Div(f"本级所需资源：{need or '—'}", className="hint-line"),
            html.Div(f"已调派资源：{com}", id=Id.RESP_COMMITTED, className="resp-committed")]


def nearest_team(rd, actor: Actor, lon: float, lat: float) -> dict | None:  # noqa: ANN001
    """The nearest available team (救援队伍) ``actor`` may dispatch (``ResourceDispatch.may``),
    straight-line from (lon, lat) (``dispatch.distance_m``): {id, name, kind, distance_m}."""
    import numpy as np  # noqa: PLC0415

    from incidents.emergency.dispatch import distance_m  # noqa: PLC0415

    teams = [h for h in rd.register.all() if h.category in TEAM_KINDS and h.usable]
    if not teams:
        return None
    dist = distance_m(lon, lat, np.array([h.record.lon for h in teams]),
                      np.array([h.record.lat for h in teams]))
    for i in np.argsort(dist, kind="stable"):
        h = teams[int(i)]
        if rd.may(actor, h):
            return {"id": h.record.id, "name": h.record.name, "kind": getattr(h.record, "kind", ""),
                    "distance_m": float(dist[int(i)])}
    return None


def response_point(service, city, actor: Actor, resp: dict) -> tuple[float, float]:  # noqa: ANN001
    """Where the response is: its case's point, else its town's (or the city's) inner point."""
    if resp.get("incident"):
        try:
            inc = service.get(resp["incident"], actor)
            if inc.lon is not None and inc.lat is not None:
                return float(inc.lon), float(inc.lat)
        except IncidentError:
            pass
    geom = city.boundary
    if resp.get("town"):
        t = city.towns[city.towns["code"].astype(str) == resp["town"]]
        if len(t):
            geom = t.geometry.iloc[0]
    p = geom.representative_point()
    return float(p.x), float(p.y)


def pick_response(active: list[dict], sel: str | None) -> dict | None:
    """The response the board shows: the one opened for the selected case, else the newest."""
    for r in active:
        if sel and r.get("incident") == sel:
            return r
    return active[0] if active else None


# --- callbacks ---------------------------------------------------------------------------------
def register_emergency(app: Dash, data, console_actor: Callable[[], Actor]) -> None:  # noqa: ANN001
    """The 应急响应 panel's callbacks over ``data`` (``ConsoleData``)."""
    from app.http.emergency_plans import responses  # noqa: PLC0415 (the app's one Responses)

    def dispatcher():  # noqa: ANN202 (ResourceDispatch: the resources half, issue 16)
        from incidents.emergency.dispatch import ResourceDispatch  # noqa: PLC0415

        return ResourceDispatch(data.service, data.ctx.resource_register)

    def name_of(code: str) -> str:
        c = data.city.centers.get(code)
        return c.name if c else code

    def town_of(code: str) -> str:
        return data.city.town_names.get(code, code)

    # a moved feed re-reads the panel only where it is shown (in the browser: no request for
    # the roles without it, so a storm costs them nothing more)
    app.clientside_callback(
        "function(feed, hidden) { return hidden ? window.dash_clientside.no_update : feed; }",
        Output(Id.RESP_FEED, "data"), Input(Id.FEED_LAST, "data"), State(Id.RESP, "hidden"))

    @app.callback(Output(Id.RESP, "hidden"), Output(Id.RESP_SUGGEST, "children"),
                  Output(Id.RESP_PENDING, "data"), Output(Id.RESP_ACTIVATE, "hidden"),
                  Output(Id.RESP_BOARD, "children"), Output(Id.RESP_ID, "data"),
                  Output(Id.RESP_CONTROLS, "hidden"), Output(Id.RESP_LEVEL, "options"),
                  Output(Id.RESP_TEAM, "data"), Output(Id.RESP_TEAM_TEXT, "children"),
                  Output(Id.RESP_DISPATCH, "hidden"),
                  Input(Id.SEL, "data"), Input(Id.REV, "data"), Input(Id.RESP_FEED, "data"),
                  Input(Id.SLOW, "n_intervals"))
    def resp_view(sel, _rev, _feed, _slow):
        """The suggestion for the selected case and the board of the active response."""
        actor = console_actor()
        policy = data.service.policy
        hide = (True, [], None, True, [], None, True, [], None, "", True)
        if not may_command(policy, actor):
            return hide
        rs = responses()
        active = rs.list(actor)
        sug_out, pending, act_hidden = [html.Div("暂无建议启动的预案（选择事件/态势后研判）",
                                                 className="hint-line")], None, True
        if sel:
            try:
                sugs = rs.suggestions(actor, sel)
            except IncidentError:
                sugs = []
            if sugs:
                s = sugs[0]
                running = next((r for r in active if r.get("incident") == sel
                                and r.get("plan") == s["plan"]), None)
                may = allowed(policy, actor, "activate", town=s.get("town") or None, level=s["level"])
                sug_out = suggestion_children(s, may, running, town_of)
                if may and not running:
                    pending = {k: s.get(k) for k in ("plan", "level", "town", "incident")}
                    pending["reason"] = "建议启动：" + "；".join(s.get("reasons", []))
                    act_hidden = False
        resp = pick_response(active, sel)
        if resp is None:
            return (False, sug_out, pending, act_hidden,
                    [html.Div("暂无进行中的应急响应", className="hint-line")], None, True, [], None,
                    "", True)
        try:
            board = rs.board(actor, resp["id"])
        except IncidentError:
            return (False, sug_out, pending, act_hidden, [], None, True, [], None, "", True)
        stored = rs.plans.get(resp["plan"], int(resp["plan_version"]))
        kw = {"town": resp.get("town") or None, "owner": resp.get("owner")}
        levels = [{"label": f"{lv.level}级（{LEVEL_NAMES[lv.level]}）", "value": lv.level}
                  for lv in (stored.plan.levels if stored else [])
                  if lv.level != resp["level"] and allowed(policy, actor, "level", level=lv.level, **kw)]
        team, team_text = None, ""
        rd = dispatcher()
        if rd is not None:
            team = nearest_team(rd, actor, *response_point(data.service, data.city, actor, resp))
            team_text = (f"最近可用救援队伍：{team['name']}（{team['distance_m'] / 1000:.1f} 公里，直线）"
                         if team else "暂无可调派的救援队伍")
        others = [r["id"] for r in active if r["id"] != resp["id"]]
        body = board_children(board, name_of, town_of)
        if others:
            body.append(html.Div("其他进行中的响应：" + "、".join(others), className="hint-line"))
        team_data = {"id": team["id"], "name": team["name"]} if team else None
        return (False, sug_out, pending, act_hidden, body, resp["id"], False, levels, team_data,
                team_text, team is None)

    @app.callback(Output(Id.RESP_MSG, "children"), Output(Id.RESP_MSG, "className"),
                  Output(Id.REV, "data", allow_duplicate=True),
                  Output(Id.RESP_TEXT, "value"),
                  Input(Id.RESP_ACTIVATE, "n_clicks"), Input(Id.RESP_LEVEL_BTN, "n_clicks"),
                  Input(Id.RESP_END, "n_clicks"), Input(Id.RESP_DISPATCH, "n_clicks"),
                  State(Id.RESP_PENDING, "data"), State(Id.RESP_ID, "data"),
                  State(Id.RESP_LEVEL, "value"), State(Id.RESP_TEXT, "value"),
                  State(Id.RESP_TEAM, "data"), State(Id.REV, "data"), prevent_initial_call=True)
    def resp_act(_a, _l, _e, _d, pending, aid, level, text, team, rev):
        """启动响应 / 调整级别 / 终止响应 / 一键调派: through the response service (the policy
        checks on the server and audits a refusal)."""
        from app.screens.console.callbacks import refusal  # noqa: PLC0415 (callbacks imports us)

        actor = console_actor()
        trig = ctx.triggered_id
        if not ctx.triggered or not ctx.triggered[0].get("value"):
            return no_update, no_update, no_update, no_update
        rs, text = responses(), (text or "").strip()
        bump = (rev or 0) + 1
        try:
            if trig == Id.RESP_ACTIVATE:
                if not pending:
                    return "✗ 没有待启动的建议", "msg err", no_update, no_update
                got = rs.activate(actor, str(pending["plan"]), str(pending["level"]),
                                  town=pending.get("town") or None, incident=pending.get("incident") or "",
                                  reason=str(pending.get("reason") or "")[:500],
                                  idempotency_key=f"console:{pending.get('incident')}:{pending['plan']}")
                return (f"✓ 已启动 {got['plan_name']} {got['level']}级响应 {got['id']}，"
                        "任务已下达成员单位", "msg ok", bump, "")
            if not aid:
                return "✗ 没有进行中的应急响应", "msg err", no_update, no_update
            if trig == Id.RESP_LEVEL_BTN:
                if not level:
                    return "✗ 请选择级别", "msg err", no_update, no_update
                got = rs.change_level(actor, aid, str(level), text)
                return f"✓ {aid} 已调整为 {got['level']}级响应", "msg ok", bump, ""
            if trig == Id.RESP_END:
                got = rs.end(actor, aid, text)
                return f"✓ {aid} 已终止响应", "msg ok", bump, ""
            if trig == Id.RESP_DISPATCH:
                rd = dispatcher()
                if rd is None or not team:
                    return "✗ 暂无可调派的救援队伍", "msg err", no_update, no_update
                a = rd.dispatch(actor, str(team["id"]), response=aid,
                                idempotency_key=f"console:{aid}:{team['id']}")
                return (f"✓ 已调派 {a.get('name', team['name'])} → {aid}（调派单 {a['id']}）",
                        "msg ok", bump, no_update)
        except (IncidentError, ValueError) as exc:    # refused by the rules: told why, refreshed
            return f"✗ {refusal(exc, aid or 'response', actor)}", "msg err", bump, no_update
        return no_update, no_update, no_update, no_update


__all__ = ["COMMAND_ACTIONS", "allowed", "board_children", "may_command", "panel_box",
           "nearest_team", "pick_response", "register_emergency", "response_point",
           "suggestion_children"]
