"""The wall's page (webviz's ``_layout.py``), for 3840×2160 (sizes in vh so 1920×1080 keeps the
same proportions): KPI tiles on the left, the one map in the middle, the event ticker and charts
on the right, the theme (专题) and the emergency banner (应急模式) on top. No inputs, no
hover-only information (M1/M3)."""

from __future__ import annotations

from dash import dcc, html

from app.live import FALLBACK_POLL_MS
from app.screens.wall.figures import blank_chart, placeholder_figure
from app.screens.wall.ids import Id, kpi_tile, kpi_value
from app.screens.wall.kpi_targets import panel as targets_panel
from app.screens.wall.video import POLL_MS as VIDEO_POLL_MS
from app.screens.wall.view import ROTATE_S
from layers import palette
from layers.themes import KPI_KEYS

TICK_MS = 500             # live poll period: an alarm shows within ~0.5–1 s (promise: < 2 s, even on a
                          # busy server); an idle poll answers only wall-done (~100 bytes); a
                          # slow server slows it down (assets/wall/live.js: one tick in flight)
CHART_S = 30              # trend/category charts refresh period, seconds

KPI_TILES: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    # kpi key → (title, [(element id suffix, label, colour)])
    # each title says its period: 当前 = now (open work), 今日 = since 00:00 China Standard Time
    "open_by_tier": ("在办事件 · 当前", [("tier_city", "市级", palette.ACCENT),
                                   ("tier_town", "镇街", palette.ACCENT),
                                   ("tier_department", "部门", palette.ACCENT)]),
    "overdue": ("超期 · 当前在办", [("overdue", "件", palette.OVERDUE_COLOR)]),
    "on_time": ("按时率 · 今日(超期在办计为超时)", [("on_time", "", "#00e676")]),
    "alarms_by_level": ("告警 · 当前未解除", [(f"alarm_{lv}", palette.LEVEL_NAMES[lv],
                                      palette.LEVEL_COLORS[lv])
                                     for lv in reversed(palette.LEVEL_ORDER)]),
    "device_online": ("物联设备在线率 · 当前", [("device_online", "", palette.STATE_COLORS["normal"])]),
    "camera_online": ("视频在线率 · 当前", [("camera_online", "", palette.STATE_COLORS["normal"])]),
}


def kpi_cells() -> list[str]:
    """Every KPI number's id suffix, in tile order (the outputs of wall.js ``kpis``)."""
    return [cid for _k, (_t, cells) in KPI_TILES.items() for cid, _l, _c in cells]


def _tile(key: str) -> html.Div:
    title, cells = KPI_TILES[key]
    return html.Div([html.Div(title, className="kpi-title"),
                     html.Div([html.Div([html.Div("–", id=kpi_value(cid), className="kpi-value",
                                                  style={"color": color}),
                                         html.Div(label, className="kpi-label")],
                                        className="kpi-cell") for cid, label, color in cells],
                              className="kpi-row")],
                    id=kpi_tile(key), className="kpi-tile")


LOADING = "正在统计…"
"""What a chart's panel says until its numbers arrive (they follow the map's first paint)."""


def _chart(graph: Id, note: Id) -> html.Div:
    """A chart panel: dark from the first paint (``blank_chart``, never plotly's white box with
    0–6 axes) with a note over it in rem (正在统计…, then its empty state or nothing)."""
    return html.Div([dcc.Graph(id=graph, className="wall-chart-graph", figure=blank_chart(),
                               config={"displayModeBar": False, "staticPlot": True}),
                     html.Div(LOADING, id=note, className="chart-note")], className="wall-chart")


def layout() -> html.Div:
    """The page shell; the map and every number arrive through callbacks (no reloads)."""
    return html.Div([
        dcc.Location(id=Id.URL, refresh=False),
        dcc.Store(id=Id.SCREEN), dcc.Store(id=Id.CURSOR), dcc.Store(id=Id.DELTA),
        dcc.Store(id=Id.KPI), dcc.Store(id=Id.DEPT), dcc.Store(id=Id.THEME), dcc.Store(id=Id.READY),
        dcc.Store(id=Id.RESPONSE_SIG),
        # the video area (issue 23): what it shows, re-read every VIDEO_POLL_MS
        dcc.Store(id=Id.VIDEO_DATA), dcc.Store(id=Id.VIDEO_SIG),
        dcc.Interval(id=Id.VIDEO_POLL, interval=VIDEO_POLL_MS),
        dcc.Interval(id=Id.TICK, interval=TICK_MS),     # the clock and highlights (browser)
        # changes by push (assets/wall/live.js sets wall-push, the next once wall-done echoes
        # the last: one tick in flight); the poll is the safety net until live.js takes over
        dcc.Store(id=Id.PUSH), dcc.Store(id=Id.DONE),
        dcc.Interval(id=Id.POLL, interval=FALLBACK_POLL_MS),
        dcc.Interval(id=Id.ROTATE, interval=ROTATE_S * 1000),
        dcc.Interval(id=Id.SLOW, interval=CHART_S * 1000),
        html.Div([
            html.Div([html.Span("一网统管", className="hd-brand"),
                      html.Span(id=Id.CITY, className="hd-city")], className="hd-left"),
            html.Div([html.Span("专题 ", className="hd-dim"),
                      html.Span(id=Id.THEME_NAME, className="hd-theme"),
                      html.Span(id=Id.THEME_BLURB, className="hd-blurb")], className="hd-mid"),
            html.Div(id=Id.CLOCK, className="hd-clock"),
        ], className="wall-header"),
        html.Div(id=Id.EMERGENCY, className="wall-emergency off"),
        html.Div([
            html.Div([_tile(k) for k in KPI_KEYS], className="wall-left", id=Id.KPIS),
            html.Div([
                html.Div([
                    dcc.Graph(id=Id.MAP, className="wall-map",
                              config={"displayModeBar": False, "scrollZoom": False,
                                      "staticPlot": False, "responsive": True},
                              figure=placeholder_figure()),
                    html.Div(id=Id.LABELS, className="wall-labels"),
                    html.Div(id=Id.ATTRIBUTION, className="wall-attr"),
                    # 应急专题 (issue 16): the active response, over the map's corner
                    html.Div(id=Id.RESPONSE, className="wall-response off"),
                    # 现场视频 (issue 23): tiles drawn and played by assets/wall/video.js
                    html.Div(id=Id.VIDEO, className="wall-video off"),
                ], className="wall-mapbox", id=Id.MAPBOX),
                html.Div(id=Id.LEGEND, className="wall-legend"),
            ], className="wall-center"),
            html.Div([
                html.Div("实时动态", className="panel-title"),
                html.Div(id=Id.TICKER, className="wall-ticker"),
                html.Div("24小时告警与事件", className="panel-title"),
                _chart(Id.TREND, Id.TREND_NOTE),
                html.Div("在办事件分类", className="panel-title"),
                _chart(Id.CATS, Id.CATS_NOTE),
                targets_panel(),                # 指标与目标 (issue 24, kpi_targets.py)
            ], className="wall-right"),
        ], className="wall-body"),
    ], className="wall")
