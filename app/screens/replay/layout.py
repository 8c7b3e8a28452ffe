"""/replay page (复盘回放): the window and speed, then the map, the feed and the queue as they
were. Chinese only (operators' screen). Read-only: nothing here changes a case, so the wall may
show it (``/replay/?last=3600&speed=10&play=1`` opened by the wall's kiosk session)."""

from __future__ import annotations

from dash import dcc, html

from app.screens.replay.ids import Id
from app.screens.replay.model import SPEEDS
from layers import palette

LASTS = ((3600, "最近1小时"), (6 * 3600, "最近6小时"), (24 * 3600, "最近24小时"), (0, "自定义时段"))
TICK_MS = 500
"""How often the replayed moment is redrawn (wall time)."""

_PAGE = {"background": palette.BACKGROUND, "color": "#e5e7eb", "minHeight": "100vh",
         "fontFamily": "'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif", "padding": "8px 12px"}
_PANEL = {"background": "#0b1220", "border": "1px solid #1f2a44", "borderRadius": "6px",
          "padding": "6px 10px", "overflowY": "auto"}


def layout(speed: int = 10, nav: object = None) -> html.Div:
    """The page; ``speed`` preselected (from ``?speed=``); ``nav``: the bar to the caller's
    other screens (``app.screens.nav``)."""
    return html.Div(style=_PAGE, children=[
        dcc.Location(id=Id.URL, refresh=False),
        html.Div(style={"display": "flex", "gap": "12px", "alignItems": "center",
                        "flexWrap": "wrap"}, children=[
            html.H2("复盘回放", style={"margin": "0 12px 0 0"}),
            dcc.Dropdown(id=Id.LAST, options=[{"value": s, "label": n} for s, n in LASTS],
                         value=3600, clearable=False, style={"width": "150px", "color": "#111"}),
            dcc.Input(id=Id.START, type="text", placeholder="开始 年-月-日 时:分", debounce=True,
                      style={"width": "170px"}),
            dcc.Input(id=Id.END, type="text", placeholder="结束 年-月-日 时:分", debounce=True,
                      style={"width": "170px"}),
            dcc.RadioItems(id=Id.SPEED, options=[{"value": s, "label": f"{s}倍速"} for s in SPEEDS],
                           value=speed if speed in SPEEDS else 10, inline=True, inputStyle={"marginRight": "4px"},
                           labelStyle={"marginRight": "10px"}),
            html.Button("载入并播放", id=Id.LOAD, n_clicks=0),
            html.Button("暂停", id=Id.PAUSE, n_clicks=0),
            html.Span(id=Id.CLOCK, style={"fontSize": "1.3em", "fontWeight": 600}),
            html.Span(id=Id.MSG, style={"color": "#fbbf24"}),
            *([nav] if nav is not None else []),
        ]),
        html.Div(style={"display": "grid", "gridTemplateColumns": "2fr 1fr 1fr", "gap": "10px",
                        "marginTop": "8px", "height": "calc(100vh - 80px)"}, children=[
            dcc.Graph(id=Id.MAP, config={"displayModeBar": False, "displaylogo": False},
                      style={"height": "100%"}),
            html.Div(style=_PANEL, children=[html.H4("告警与事件动态", style={"margin": "4px 0"}),
                                             html.Ul(id=Id.FEED, children=[],
                                                     style={"paddingLeft": "18px"})]),
            html.Div(style=_PANEL, children=[html.H4("待办队列（当时）", style={"margin": "4px 0"}),
                                             html.Ol(id=Id.QUEUE, children=[],
                                                     style={"paddingLeft": "22px"})]),
        ]),
        dcc.Store(id=Id.EVENTS, data=[]),
        dcc.Store(id=Id.PLAY, data=None),
        dcc.Store(id=Id.SIG, data=None),
        dcc.Interval(id=Id.TICK, interval=TICK_MS, disabled=True),
    ])
