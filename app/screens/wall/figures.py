"""The wall's charts and the map's placeholder (webviz's ``_figures.py``). The map itself is
``layers.compose`` (one map, every screen); the numbers come from ``data``."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.screens.wall.data import alarms_raised_per_hour, new_incidents_per_hour
from app.timefmt import fmt_cst
from layers import basemap, palette


def placeholder_figure() -> dict:
    """An empty map in the final style: MapLibre and its workers start while the server builds
    the real figure (the map is created only once a map trace exists)."""
    return {"data": [{"type": "scattermap", "lon": [], "lat": [], "mode": "markers",
                      "hoverinfo": "skip", "meta": "placeholder"}],
            "layout": basemap.map_layout({"lon": 110.95, "lat": 22.0}, 8, basemap.map_style())}


REM = 1 / 54
"""The wall's rem as a share of the screen height (``assets/wall/wall.css``: ``100vh / 54``)."""
TICK_REM = 0.9
"""The charts' smallest text, in rem: 1.67 % of the screen height (issue 21: ≥ 1.6 %)."""


def chart_font(screen_h: int) -> float:
    """The charts' body text (px) on a screen ``screen_h`` px high: 1 rem, as the page's."""
    return round(screen_h * REM, 1)


def _dark_layout(**kw) -> dict:
    base = {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": palette.TEXT, "size": 14}, "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
            "showlegend": False}
    base.update(kw)
    return base


def blank_chart() -> go.Figure:
    """A chart with nothing to draw (loading, or no data): the panel's dark background, no axes
    (never plotly's white box with 0–6 axes); the words are the HTML note over it
    (``layout``'s ``chart-note``, sized in rem like the page)."""
    return go.Figure(layout=_dark_layout(xaxis={"visible": False}, yaxis={"visible": False}))


TREND_EMPTY = "近24小时无告警、无新增事件"
CATS_EMPTY = "无在办事件"


def trend_figure(r, now: float | None = None, font: float = 20) -> tuple[go.Figure, str]:  # noqa: ANN001
    """Alarms and new incidents per hour over the last 24 h: alarms from the alarm stream's
    time-ordered ids (raised live), incidents by their own creation time. With the note to
    show over it: ``TREND_EMPTY`` when both are nil, else ""."""
    now = time.time() if now is None else now
    start = int((now - 24 * 3600) * 1000)
    hours = np.arange(24)
    a = np.array(alarms_raised_per_hour(r, start), int)
    i = np.array(new_incidents_per_hour(r, start / 1000), int)
    if not a.any() and not i.any():
        return blank_chart(), TREND_EMPTY
    tick = round(font * TICK_REM, 1)
    labels = [fmt_cst(start / 1000 + (h + 1) * 3600, "%H时") for h in hours]
    fig = go.Figure([
        go.Bar(x=labels, y=a.tolist(), name="告警", marker_color=palette.LEVEL_COLORS["orange"]),
        go.Scatter(x=labels, y=i.tolist(), name="新增事件", mode="lines+markers",
                   line={"color": palette.ACCENT, "width": 3}),
    ], layout=_dark_layout(
        font={"color": palette.TEXT, "size": font}, showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "font": {"size": font}},
        xaxis={"tickfont": {"size": tick}, "gridcolor": "#173454", "nticks": 6, "automargin": True},
        yaxis={"tickfont": {"size": tick}, "gridcolor": "#173454", "automargin": True,
               "rangemode": "tozero"},
        margin={"l": font, "r": font, "t": 2.2 * font, "b": font}, bargap=0.25))
    return fig, ""


def category_figure(frame: pd.DataFrame, categories: tuple[str, ...] | None,
                    font: float = 20) -> tuple[go.Figure, str]:
    """Open incidents by top-level category (事件分类), largest first; ``CATS_EMPTY`` to show
    over a blank chart when there is none (a theme or a town without open incidents)."""
    from grid.categories import CATEGORIES  # noqa: PLC0415
    from layers.incidents import normalise  # noqa: PLC0415

    f = normalise(frame, categories)
    if f.empty:
        return blank_chart(), CATS_EMPTY
    top = f["category"].astype(str).str[:2].map(lambda c: CATEGORIES[c].name if c in CATEGORIES else c)
    counts = top.value_counts().head(6).sort_values()
    fig = go.Figure(go.Bar(x=counts.to_numpy().tolist(), y=counts.index.tolist(), orientation="h",
                           marker_color=palette.ACCENT, text=counts.to_numpy().tolist(),
                           textposition="outside", textfont={"size": font, "color": palette.TEXT},
                           cliponaxis=False),
                    layout=_dark_layout(font={"color": palette.TEXT, "size": font},
                                        xaxis={"visible": False},
                                        # every bar named: plotly thins a short category
                                        # axis's labels, leaving bars nobody can read
                                        yaxis={"tickfont": {"size": font}, "automargin": True,
                                               "tickmode": "array",
                                               "tickvals": counts.index.tolist(),
                                               "ticktext": counts.index.tolist()},
                                        margin={"l": font / 2, "r": 3 * font, "t": font / 2,
                                                "b": font / 2}, bargap=0.3))
    return fig, ""
