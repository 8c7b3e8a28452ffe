"""/ops page: tabs 运行状态 · 积压 · 死信 · 账号 · 安全审计 (an administrator works here)."""

from __future__ import annotations

from dash import dash_table, dcc, html

from app.screens.nav import nav_bar
from app.screens.ops.ids import Id
from app.screens.ops.model import AUDIT_EVENT_NAMES, REFRESH_MS, counter_name, process_name
from sensors.deadletter import REASON_NAMES, reason_name

_TABLE_STYLE = dict(
    style_header={"backgroundColor": "#111a2e", "color": "#9ca3af", "fontWeight": 600,
                  "border": "none", "borderBottom": "1px solid #1f2a44"},
    style_cell={"backgroundColor": "#0b1220", "color": "#e5e7eb", "border": "none",
                "borderBottom": "1px solid #1f2a44", "textAlign": "left", "padding": "5px 8px",
                "fontFamily": "inherit", "whiteSpace": "normal", "maxWidth": 420},
    style_data_conditional=[{"if": {"state": "selected"}, "backgroundColor": "#1e3a5f",
                             "border": "none"}],
)


def _table(id_: Id, cols: list[tuple[str, str]], selectable: str | None) -> dash_table.DataTable:
    return dash_table.DataTable(id=id_, columns=[{"id": k, "name": n} for k, n in cols], data=[],
                                row_selectable=selectable or False, selected_rows=[],
                                page_size=25, **_TABLE_STYLE)


# --- 运行状态 (health) -------------------------------------------------------------------------------------
def _badge(ok: bool | None, yes: str = "正常", no: str = "故障") -> html.Span:
    cls = "badge ok" if ok else ("badge off" if ok is None else "badge bad")
    return html.Span(yes if ok else ("未配置" if ok is None else no), className=cls)


def _grid(cols: list[tuple[str, str]], rows: list[dict], empty: str, id_: str) -> html.Table:
    head = html.Thead(html.Tr([html.Th(label) for _, label in cols]))
    body = [html.Tr([html.Td(_fmt(r.get(k))) for k, _ in cols]) for r in rows] or \
        [html.Tr(html.Td(empty, colSpan=len(cols), className="empty"))]
    return html.Table([head, html.Tbody(body)], className="grid", id=id_)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, dict):
        return "，".join(f"{counter_name(str(k))} {_fmt(x)}" for k, x in v.items())
    return "" if v is None else str(v)


def render(snap: dict) -> list:
    """The page body for a snapshot."""
    rd, br = snap["redis"], snap["broker"]
    procs = [dict(p, kind_cn=process_name(p["kind"]), status="在线" if p["alive"] else "失联",
                  age=f"{p['age_s']:.0f} 秒前",
                  rates_txt=_fmt(p.get("rates") or {}), info_txt=_fmt(p.get("info") or {}))
             for p in snap["processes"]]
    kinds = sorted({p["kind"] for p in procs})
    down = [p for p in procs if not p["alive"]]
    dl = snap["deadletters"]
    dl_rows = [{"reason": reason_name(k), "count": v} for k, v in sorted(dl["by_reason"].items(),
                                                            key=lambda kv: -kv[1])]
    rates = [{"name": counter_name(k), "rate": f"{v:,.1f} 次/秒"}
             for k, v in sorted(snap.get("rates", {}).items())]
    return [
        html.Div(className="cards", children=[
            html.Div(className="card", id="card-redis", children=[
                html.H3(["Redis ", _badge(rd["ok"])]),
                html.P(f"v{rd.get('version')} · 往返 {rd.get('rtt_ms')} ms · {rd.get('used_memory')}"
                       f" · {rd.get('clients')} 连接 · {rd.get('ops_per_s')} ops/s · "
                       f"AOF {'开' if rd.get('aof') else '关'}" if rd["ok"] else rd.get("error"))]),
            html.Div(className="card", id="card-broker", children=[
                html.H3(["MQTT 消息服务 ", _badge(br["ok"])]),
                html.P(f"{br.get('url', '')} · CONNACK {br.get('rtt_ms', '–')} ms"
                       if br["ok"] else br.get("error"))]),
            html.Div(className="card", id="card-procs", children=[
                html.H3(["进程 ", _badge(not down and bool(procs), yes="全部在线",
                                       no=f"{len(down)} 个失联" if down else "无心跳")]),
                html.P(" · ".join(f"{process_name(k)} ×{sum(1 for p in procs if p['kind'] == k and p['alive'])}"
                                  for k in kinds) or "尚无进程心跳")]),
            html.Div(className="card", id="card-dlq", children=[
                html.H3("死信"),
                html.P(f"{sum(dl['by_reason'].values()):,} 条 · {len(dl['by_reason'])} 种原因")]),
        ]),
        html.H2("进程心跳"),
        _grid([("kind_cn", "类型"), ("name", "实例"), ("status", "状态"), ("age", "上次心跳"),
                ("rates_txt", "速率（次/秒）"), ("info_txt", "信息")], procs, "尚无心跳", "procs"),
        html.H2("消息速率"),
        _grid([("name", "计数"), ("rate", "速率")], rates, "无速率（需要两次心跳）", "rates"),
        html.H2("消息流"),
        _grid([("name", "队列"), ("length", "保留条数"), ("pending", "待确认"), ("lag", "未读"),
                ("groups", "消费组")], snap["queues"], "无队列", "queues"),
        html.H2("死信按原因"),
        _grid([("reason", "原因"), ("count", "数量")], dl_rows, "无死信", "dlq-reasons"),
        *_exchange(snap.get("exchange")),
    ]


def _exchange(x: dict | None) -> list:
    """上报省平台 交换量、失败与积压 (SEC45; incidents.exchange)."""
    if not x:
        return []
    return [
        html.H2("上报省平台（数据交换）"),
        _grid([("enqueued", "入队"), ("delivered", "已送达"), ("failures", "失败次数"),
               ("gave_up", "放弃"), ("backlog", "积压"), ("incidents_waiting", "待发事件"),
               ("next_attempt", "下次尝试"), ("inbound", "下达指令"),
               ("inbound_refused", "拒绝请求")], [x], "无数据", "exchange"),
        _grid([("incident", "事件"), ("kind", "类型"), ("attempts", "尝试次数"), ("reason", "原因"),
               ("key", "幂等键")], x.get("failed_items") or [], "无放弃的条目",
              "exchange-failed"),
    ]


def _backlog_tab() -> html.Div:
    return html.Div([
        html.P("每个中心等待其处理的事件（其队列与派给它的子任务），按积压从多到少；"
               "超期按该中心自己的时限计。", className="hint"),
        _table(Id.BACKLOG, [("name", "中心"), ("tier", "层级"), ("waiting", "待办"),
                            ("overdue", "其中超期"), ("oldest", "最久")], None)])


def _deadletter_tab(admin: bool) -> html.Div:
    reasons = [{"label": "全部原因", "value": ""}] + [
        {"label": f"{cn}（{code}）", "value": code} for code, cn in REASON_NAMES.items()]
    hours = [{"label": "全部时间", "value": 0}, {"label": "最近 1 小时", "value": 1},
             {"label": "最近 24 小时", "value": 24}, {"label": "最近 7 天", "value": 168}]
    tools = [dcc.Dropdown(id=Id.DLQ_REASON, options=reasons, value="", clearable=False,
                          className="filter"),
             dcc.Dropdown(id=Id.DLQ_HOURS, options=hours, value=0, clearable=False, className="filter"),
             html.Button("重放所选", id=Id.DLQ_REPLAY, className="btn primary", disabled=not admin),
             html.Button("标记已处理", id=Id.DLQ_ACK, className="btn", disabled=not admin),
             html.A("导出 CSV", id=Id.DLQ_EXPORT, href="/ops/deadletters.csv", className="btn")]
    return html.Div([
        html.P(("" if admin else "仅管理员可重放或标记死信。") + "被拒收的消息及原因。修正原因（登记设备、改正单位或阈值）后可重放：消息按接入的"
               "同一校验再处理一次，每条只重放一次。", className="hint"),
        html.Div(tools, className="tools"),
        html.Div(id=Id.DLQ_MSG, className="msg", role="status"),
        dcc.Store(id=Id.DLQ_REV, data=0),
        _table(Id.DLQ_TABLE, [("ts_txt", "时间"), ("reason_cn", "原因"), ("device_id", "设备"),
                              ("topic", "主题"), ("detail", "详情"), ("replayable", "可否重放"),
                              ("raw_txt", "原文")], "multi" if admin else None)])


def _accounts_tab(admin: bool) -> html.Div:
    tools = [html.Button("停用", id=Id.ACC_DISABLE, className="btn", disabled=not admin),
             html.Button("启用", id=Id.ACC_ENABLE, className="btn", disabled=not admin),
             html.Button("注销全部会话", id=Id.ACC_REVOKE, className="btn", disabled=not admin)]
    return html.Div([
        html.P("账号、角色、所在中心与在线会话。新建账号与重置密码用命令 onemap users。"
               if admin else "仅管理员可停用账号或注销会话。", className="hint"),
        html.Div(tools, className="tools"),
        html.Div(id=Id.ACC_MSG, className="msg", role="status"),
        dcc.Store(id=Id.ACC_REV, data=0),
        _table(Id.ACC_TABLE, [("user_id", "账号"), ("name", "姓名"), ("role", "角色"),
                              ("center", "中心"), ("state", "状态"), ("sessions", "在线会话")],
               "single" if admin else None)])


def _audit_tab() -> html.Div:
    events = [{"label": "全部事件", "value": ""}] + [
        {"label": cn, "value": code} for code, cn in AUDIT_EVENT_NAMES.items()]
    return html.Div([
        html.Div([dcc.Dropdown(id=Id.AUD_EVENT, options=events, value="", clearable=False,
                               className="filter"),
                  dcc.Input(id=Id.AUD_USER, placeholder="账号（操作人或对象）", debounce=True,
                            className="filter"),
                  html.Button("校验审计链", id=Id.AUD_VERIFY, className="btn")], className="tools"),
        html.Div(id=Id.AUD_MSG, className="msg", role="status"),
        _table(Id.AUD_TABLE, [("ts_txt", "时间"), ("event_cn", "事件"), ("user", "操作人"),
                              ("role", "角色"), ("center", "中心"), ("target", "对象"),
                              ("path", "路径"), ("reason", "说明")], None)])


def _video_tab() -> html.Div:
    """视频调阅: who watched which camera, for which case, from when to when (issue 23)."""
    return html.Div([
        html.Div([dcc.Input(id=Id.VID_CAMERA, placeholder="摄像机编号", debounce=True,
                            className="filter")], className="tools"),
        _table(Id.VID_TABLE, [("ts_txt", "时间"), ("event_cn", "事件"), ("user", "账号"),
                              ("role_cn", "角色"), ("center", "中心"), ("camera", "摄像机"),
                              ("case", "事件编号"), ("seconds", "时长（秒）"),
                              ("reason_cn", "说明")], None)])


def layout(admin: bool, role: str | None = None) -> html.Div:
    """The page; ``admin``: whether the caller administers (buttons that change things);
    ``role``: the caller's, for the links to its other screens (app.screens.nav)."""
    tab = "ops-tab"
    return html.Div(className="ops", children=[
        html.Header([html.H1("OneMap 运维监控"), html.Span(id=Id.TS), nav_bar(role, "ops"),
                     html.A("退出", href="/logout")]),
        html.Main(dcc.Tabs(id=Id.TABS, value="health", className="tabs", children=[
            dcc.Tab(label="运行状态", value="health", className=tab, children=html.Div(id=Id.BODY)),
            dcc.Tab(label="积压", value="backlog", className=tab, children=_backlog_tab()),
            dcc.Tab(label="死信", value="dlq", className=tab, children=_deadletter_tab(admin)),
            dcc.Tab(label="账号", value="accounts", className=tab, children=_accounts_tab(admin)),
            dcc.Tab(label="安全审计", value="audit", className=tab, children=_audit_tab()),
            dcc.Tab(label="视频调阅", value="video", className=tab, children=_video_tab()),
        ])),
        dcc.Interval(id=Id.TICK, interval=REFRESH_MS),
    ])
