"""The console's layout (webviz's ``_layout.py``): header, map and forms on the left, the queue
and the incident panel on the right. Ids from ``ids.Id``; the action buttons from
``model.BUTTONS`` (one per action the policy can offer, hidden until it offers it)."""

from __future__ import annotations

from dash import dash_table, dcc, html

from app.auth import current_actor
from app.live import FALLBACK_POLL_MS
from app.mobile_api import MAX_PHOTO_BYTES
from app.screens.console.bulk import bulk_bar
from app.screens.console.emergency import may_command, panel_box
from app.screens.console.figures import map_figure, scope_geo
from app.screens.console.ids import Id, act_button
from app.screens.console.model import (
    BUTTONS,
    CHANNEL_FILTERS,
    CONSOLE_ROLES,
    DEFAULT_VIEW,
    FLAG_FILTERS,
    NO_SELECTION,
    PAGE_SIZE,
    PRIMARY,
    QUEUE_STYLES,
    VIEWS,
    ConsoleData,
)
from app.screens.console.notices import notices_box
from app.screens.console.video import stores as video_stores
from app.screens.console.video import video_box
from app.screens.nav import nav_bar
from grid.categories import CATEGORIES
from incidents.actor import Actor
from incidents.defaults import SEVERITIES
from incidents.roles import ROLE_NAMES
from incidents.vocab import Action

DROPDOWN_LABELS = {"select_all": "全选", "deselect_all": "全部取消", "search": "搜索",
                   "clear_search": "清除搜索", "clear_selection": "清空",
                   "selected_count": "已选 {num_selected} 项", "no_options_found": "无匹配项"}
"""dcc.Dropdown's own words (English by default) in the clerk's language."""
GROW = {"flex": "1 1 220px", "minWidth": "0"}
"""A dropdown that takes the rest of its form row. dcc.Dropdown (Dash 4) puts ``style`` on its
outer wrapper (the flex item) and ``className`` on the inner button, so the width goes here."""
KEY_HINT = "键盘: ↑↓ 在队列中移动并打开事件 · Alt+字母 执行操作（悬停按钮可见）· Tab 切换输入"
HIDDEN = {"display": "none"}


def collect_link(actor: Actor) -> list:
    """The link to 信息采集审核 for the roles that review it (a town's), else nothing."""
    from app.http.ledger_collect import REVIEWER_ROLES  # noqa: PLC0415
    from app.screens.console.collect import PATH  # noqa: PLC0415

    if actor.role not in REVIEWER_ROLES or not actor.center.startswith("T"):
        return []
    return [html.A("信息采集审核", href=PATH, id=Id.COLLECT_LINK, className="collect-link")]


def header(data: ConsoleData, actor: Actor) -> html.Div:
    center = data.city.centers.get(actor.center)
    return html.Div(className="con-top", children=[
        html.H1("一网统管 · 分中心工作台"),
        html.Span(center.name if center else actor.center, id=Id.CENTER_NAME),
        html.Span(data.watch(actor.center), id=Id.WATCH, className="watch"),
        notices_box(),
        nav_bar(actor.role, "console"),     # the user's other screens (app.screens.nav)
        *collect_link(actor),               # the town's 信息采集审核 (issue 24)
        html.Span(className="who", children=[*who_am_i(actor), " · ",
                                             html.A("退出", href="/logout")]),
    ])


def who_am_i(actor: Actor) -> list:
    """The header's name and role: the role once when the account's name is the role's own
    ("市值班员", not "市值班员 · 市值班员"); a name, never the login id, when the account has one."""
    role = ROLE_NAMES[actor.role]
    name = actor.name or actor.user_id
    return [html.B(name)] if name == role else [html.B(name), " · ", role]


def new_incident_form(landmarks: list[dict]) -> html.Details:
    cats = [{"label": f"{c} {v.name}", "value": c} for c, v in CATEGORIES.items() if len(c) == 4]
    return html.Details(className="form", id=Id.NEW_FORM, children=[
        html.Summary("＋ 新建事件（12345 热线 / 来访）"),
        html.Div(className="row", children=[
            html.Label("渠道"), dcc.RadioItems(id=Id.NEW_CHANNEL, inline=True, value="hotline",
                                             options=[{"label": "12345热线", "value": "hotline"},
                                                      {"label": "来访", "value": "walk_in"}]),
            html.Label("等级"), dcc.Dropdown(id=Id.NEW_SEVERITY, value="一般", clearable=False,
                                           options=list(SEVERITIES),
                                           labels=DROPDOWN_LABELS, style={"width": "120px"})]),
        html.Div(className="row", children=[
            html.Label("类别"), dcc.Dropdown(id=Id.NEW_CATEGORY, options=cats, value="1202",
                                           clearable=False, labels=DROPDOWN_LABELS, style=GROW)]),
        html.Div(className="row", children=[
            html.Label("地点"), dcc.Dropdown(id=Id.NEW_LANDMARK, options=landmarks,
                                           placeholder="村/社区（或在地图上点选网格）",
                                           labels=DROPDOWN_LABELS, style=GROW)]),
        html.Div(id=Id.NEW_WHERE, className="row", children="未选位置"),
        dcc.Textarea(id=Id.NEW_DESC, placeholder="来电/来访内容", maxLength=2000),
        html.Div(className="row", children=[
            dcc.Input(id=Id.NEW_REF, type="text", placeholder="工单号/来电号码（可选）", maxLength=64),
            html.Button("提交", id=Id.NEW_SUBMIT, className="primary", accessKey="w")]),
        html.Div(id=Id.NEW_MSG, className="msg"),
    ])


def task_form(targets: list[dict]) -> html.Details:
    """上情下达: hidden for a role the policy gives no targets (``policy.assign_targets``)."""
    return html.Details(className="form", id=Id.TASK_FORM, hidden=not targets, children=[
        html.Summary("↓ 下达巡查任务（上情下达）"),
        html.Div(className="row", children=[
            html.Label("对象"), dcc.Dropdown(id=Id.TASK_TARGET, options=targets, style=GROW,
                                           placeholder="网格员 / 镇街 / 部门",
                                           labels=DROPDOWN_LABELS)]),
        html.Div(className="row", children=[
            html.Label("任务"), dcc.Input(id=Id.TASK_TITLE, type="text", className="grow", maxLength=120,
                                        placeholder="如：汛前巡查排水口")]),
        html.Div(className="row", children=[
            html.Label("时限"), dcc.Input(id=Id.TASK_HOURS, type="number", value=24, min=1, max=720,
                                        style={"width": "90px"}), html.Span("小时"),
            html.Button("下达", id=Id.TASK_SUBMIT, className="primary")]),
        html.Div(id=Id.TASK_MSG, className="msg"),
    ])


def emergency_form(city) -> html.Details:  # noqa: ANN001
    towns = [{"label": n, "value": c} for c, n in city.town_names.items()]
    return html.Details(className="form", id=Id.EM_FORM, children=[
        html.Summary("⚠ 应急模式（市指挥长）"),
        html.Div(className="row", children=[
            html.Label("区域"), dcc.Dropdown(id=Id.EM_TOWN, options=towns, placeholder="镇街（或地图点选 + 半径）",
                                           labels=DROPDOWN_LABELS, style=GROW),
            dcc.Input(id=Id.EM_RADIUS, type="number", value=3, min=0.2, max=50, step=0.1,
                      style={"width": "80px"}), html.Span("km")]),
        html.Div(className="row", children=[
            html.Label("时长"), dcc.Input(id=Id.EM_MINUTES, type="number", value=120, min=5, max=4320,
                                        style={"width": "90px"}), html.Span("分钟"),
            dcc.Input(id=Id.EM_REASON, type="text", placeholder="原因", maxLength=200, className="grow")]),
        html.Div(className="row", children=[
            html.Button("启动", id=Id.EM_ON, className="danger"), html.Button("解除", id=Id.EM_OFF)]),
        html.Div(id=Id.EM_MSG, className="msg"),
    ])


def _pick(box: Id, label: str, dropdown: dcc.Dropdown) -> html.Div:
    """One input an offer needs (``Offer.needs``), hidden until an offered action needs it."""
    return html.Div(id=box, className="pick-box", hidden=True,
                    children=[html.Label(label, htmlFor=str(dropdown.id)), dropdown])


def panel_controls() -> html.Div:
    """What the operator does with the case: at the top of the panel, pinned while the details
    below scroll (the buttons never sit below the fold). One button per action the policy can
    offer, hidden until it does; an input shows only when an action on offer needs it
    (``Offer.needs``), with the offer's choices; the offer's hint (the way forward after a
    监管分离 refusal) next to the buttons."""
    buttons = [html.Button(Action(a).cn, id=act_button(a), accessKey=k or None, hidden=True,
                           title=f"Alt+{k.upper()}" if k else None,
                           className="primary" if a in PRIMARY else "")
               for a, k in BUTTONS]
    return html.Div(id=Id.CONTROLS, hidden=True, title=KEY_HINT, children=[
        html.Div(className="actions", children=[
            # no "Select All" in 派遣至: one click must not dispatch to every department (CSS)
            html.Div(id=Id.DEPTS_ROW, className="depts-pick", hidden=True, children=[
                html.Label("派遣至", htmlFor=Id.ACT_DEPTS),
                dcc.Dropdown(id=Id.ACT_DEPTS, multi=True, placeholder="派遣单位（建议已预选）",
                             maxHeight=260, style=GROW,
                             labels=dict(DROPDOWN_LABELS, search="搜索部门/网格员",
                                         selected_count="{num_selected} 个单位",
                                         no_options_found="无匹配单位"))]),
            _pick(Id.SEV_BOX, "定级", dcc.Dropdown(id=Id.ACT_SEVERITY, placeholder="新等级",
                                                 labels=DROPDOWN_LABELS, style={"width": "120px"})),
            _pick(Id.OTHERS_BOX, "合并", dcc.Dropdown(id=Id.ACT_OTHERS, multi=True, style=GROW,
                                                    placeholder="并入本事件的重复上报",
                                                    labels=DROPDOWN_LABELS)),
            _pick(Id.SOURCE_BOX, "拆分", dcc.Dropdown(id=Id.ACT_SOURCE, style=GROW,
                                                    placeholder="拆分出的来源",
                                                    labels=DROPDOWN_LABELS)),
            dcc.Input(id=Id.ACT_REASON, type="text", className="reason", maxLength=500,
                      placeholder="原因/说明（退回、作废、核查不通过必填；处置反馈写处置情况）"),
            html.Div(id=Id.PHOTO_BOX, className="photo-pick", hidden=True, children=[
                dcc.Upload(id=Id.ACT_UPLOAD, multiple=True, accept="image/jpeg,image/png,image/webp",
                           max_size=MAX_PHOTO_BYTES, className="upload",
                           children=html.Button("＋ 处置后照片", type="button",
                                                title="处置反馈附处置后照片（处置前后对比）")),
                html.Span(id=Id.ACT_PHOTOS_TEXT, className="photo-count")]),
            html.Div(id=Id.SAT_BOX, hidden=True, children=dcc.Dropdown(
                id=Id.ACT_SATISFACTION, options=[{"label": f"满意度 {k}", "value": k}
                                                 for k in (5, 4, 3, 2, 1)],
                placeholder="满意度", labels=DROPDOWN_LABELS, style={"width": "120px"})),
            *buttons]),
        html.Div(id=Id.ACT_HINT, className="act-hint", role="note"),
        html.Div(id=Id.ACT_MSG, className="msg", role="status"),
    ])


QUEUE_COLUMNS = (("flag", "标记"), ("id", "编号"), ("title", "标题"), ("category_name", "类别"),
                 ("severity", "等级"), ("state_name", "状态"), ("owner", "归属"), ("due", "时限"),
                 ("created", "上报时间"))
FIXED_WIDTHS = (("flag", "66px"), ("id", "142px"), ("severity", "66px"), ("state_name", "56px"),
                ("due", "132px"), ("created", "92px"))
"""Columns shown whole (never "特…"): ids, times, 等级 (特别重大 is four characters)."""
SHORT_WIDTHS = (("title", "100px"), ("category_name", "90px"), ("owner", "64px"))
"""Columns cut short (…, the whole text in the panel): the page fits a 1366-px laptop."""


def quick_filters() -> html.Div:
    """One click each (issue 15): channel group, severity, 超期 / 应急区域 / 态势; 标为已阅; the
    optional sound + browser notification for new priority items (off unless switched on,
    kept in the browser: it is this machine's speaker)."""
    return html.Div(className="filters", children=[
        dcc.RadioItems(id=Id.F_CHANNEL, value="", inline=True,
                       options=[{"label": n, "value": v} for v, n in CHANNEL_FILTERS]),
        dcc.Checklist(id=Id.F_FLAGS, value=[], inline=True,
                      options=[{"label": n, "value": v} for v, n in FLAG_FILTERS]),
        dcc.Dropdown(id=Id.F_SEVERITY, options=list(SEVERITIES), multi=True, placeholder="等级",
                     labels=DROPDOWN_LABELS, style={"width": "150px"}, searchable=False),
        html.Button("标为已阅", id=Id.SEEN_ALL, title="「新」标记从现在起重新计算"),
        dcc.Checklist(id=Id.NOTIFY, value=[], inline=True, persistence=True, persistence_type="local",
                      options=[{"label": "声音/桌面提醒", "value": "on"}]),
    ])


def queue_table() -> dash_table.DataTable:
    return dash_table.DataTable(
        id=Id.QUEUE, data=[], page_size=PAGE_SIZE, sort_action="native",
        filter_action="native", cell_selectable=True, row_selectable="multi", selected_rows=[],
        filter_options={"placeholder_text": "筛选…", "case": "insensitive"},
        columns=[{"name": n, "id": k} for k, n in QUEUE_COLUMNS],
        # the dark theme through the table's own style props, so that the
        # conditional styles (overdue, the selected case) can colour rows
        style_table={"overflowX": "auto"},
        style_cell={"textAlign": "left", "padding": "3px 6px", "maxWidth": "150px",
                    "overflow": "hidden", "textOverflow": "ellipsis", "fontFamily": "inherit",
                    "fontSize": "13px", "backgroundColor": "#111f33", "color": "#e6eef9",
                    "border": "1px solid #244063"},
        style_header={"backgroundColor": "#16273f", "fontWeight": 600},
        style_filter={"backgroundColor": "#0c1829"},
        style_cell_conditional=[   # whole ids, times and severities, short the rest
            *[{"if": {"column_id": c}, "minWidth": w, "width": w, "maxWidth": w, "textOverflow": "clip"}
              for c, w in FIXED_WIDTHS],
            *[{"if": {"column_id": c}, "maxWidth": w} for c, w in SHORT_WIDTHS]],
        style_data_conditional=QUEUE_STYLES,
        tooltip_duration=None)


def page(data: ConsoleData, actor: Actor) -> html.Div:
    """The console of ``actor``."""
    geo = scope_geo(data.city, actor.center)
    left = [html.Div(className="box map-box", children=[
        dcc.Graph(id=Id.MAP, style={"height": "100%"}, config={"displaylogo": False,
                                                               "scrollZoom": True},
                  figure=map_figure(data.city, actor, [], tile_url=data.tile_url)),
        html.Div(id=Id.MAP_LABELS, className="map-labels"),
        html.Div("点击网格点选位置 · 点击事件打开详情", className="hint")])]
    left.append(panel_box(hidden=not may_command(data.service.policy, actor)))   # 应急响应 (issue 16)
    left += [new_incident_form(geo["landmarks"]), task_form(data.assign_targets(actor))]
    if actor.role == "city_commander":
        left.append(emergency_form(data.city))
    return html.Div(className="con-root", children=[
        dcc.Store(id=Id.FEED_LAST), dcc.Store(id=Id.SEL), dcc.Store(id=Id.PICK),
        dcc.Store(id=Id.REV, data=0), dcc.Store(id=Id.SEL_VER),
        *video_stores(),
        # pushed (assets/console/live.js): the intervals are the safety net, 30 s
        dcc.Interval(id=Id.TICK, interval=FALLBACK_POLL_MS),
        dcc.Interval(id=Id.SLOW, interval=FALLBACK_POLL_MS),
        header(data, actor),
        html.Div(id=Id.BANNER, className="banner"),
        html.Div(className="con-main", children=[
            html.Div(className="con-left", children=left),
            html.Div(className="con-right", children=[
                html.Div(className="box queue-box", children=[
                    html.Div(className="tabs", children=[
                        dcc.RadioItems(id=Id.VIEW, value=DEFAULT_VIEW,
                                       inline=True, options=[{"label": n, "value": v}
                                                             for v, n in VIEWS]),
                        html.Span(id=Id.COUNTS, className="counts")]),
                    quick_filters(), bulk_bar(data, actor),
                    queue_table()]),
                html.Div(className="box panel-box", id=Id.PANEL, children=[
                    html.Div(className="panel-top", children=[
                        html.Div(id=Id.PANEL_HEAD), panel_controls()]),
                    video_box(),        # the case's live video (issue 23: video.py)
                    html.Div(id=Id.PANEL_BODY, children=html.P(NO_SELECTION)),
                    html.Div(KEY_HINT, className="hint-keys")]),
                # the enlarged photo (assets/console/photos.js; offline: the photo itself)
                html.Div(id=Id.LIGHTBOX, className="lightbox", hidden=True, role="dialog",
                         children=[html.Img(alt="照片"), html.Div(className="lb-caption"),
                                   html.Button("关闭", type="button", className="lb-close")]),
            ]),
        ]),
    ])


def layout(data: ConsoleData):  # noqa: ANN201 (a Dash layout function)
    """The layout function (per request: the caller's own console, or the login hint)."""
    def serve():
        actor = current_actor()
        if actor is None or actor.role not in CONSOLE_ROLES:
            return html.Div("请先登录", id=Id.DENIED)
        return page(data, actor)
    return serve
