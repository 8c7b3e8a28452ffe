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


def _dark_layout(**kw) -> dict:
    base = {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": palette.TEXT, "size": 14}, "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
            "showlegend": False}
    base.update(kw)
    return base


def trend_figure(r, now: float | None = None, font: float = 14) -> go.Figure:  # noqa: ANN001
    """Alarms and new incidents per hour over the last 24 h: alarms from the alarm stream's
    time-ordered ids (raised live), incidents by their own creation time."""
    now = time.time() if now is None else now
    start = int((now - 24 * 3600) * 1000)
    hours = np.arange(24)
    a = np.array(alarms_raised_per_hour(r, start), int)
    i = np.array(new_incidents_per_hour(r, start / 1000), int)
    labels = [fmt_cst(start / 1000 + (h + 1) * 3600, "%H时") for h in hours]
    fig = go.Figure([
        go.Bar(x=labels, y=a.tolist(), name="告警", marker_color=palette.LEVEL_COLORS["orange"]),
        go.Scatter(x=labels, y=i.tolist(), name="新事件", mode="lines+markers",
                   line={"color": palette.ACCENT, "width": 3}),
    ], layout=_dark_layout(
        font={"color": palette.TEXT, "size": font}, showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.18, "font": {"size": font}},
        xaxis={"tickfont": {"size": font * 0.8}, "gridcolor": "#173454", "nticks": 8},
        yaxis={"tickfont": {"size": font * 0.8}, "gridcolor": "#173454"},
        margin={"l": 3 * font, "r": font, "t": 2.6 * font, "b": 2.2 * font}, bargap=0.25))
    return fig


def category_figure(frame: pd.DataFrame, categories: tuple[str, ...] | None,
                    font: float = 14) -> go.Figure:
    """Open incidents by top-level category (事件分类), largest first."""
    from grid.categories import CATEGORIES  # noqa: PLC0415
    from layers.incidents import normalise  # noqa: PLC0415

    f = normalise(frame, categories)
    top = f["category"].astype(str).str[:2].map(lambda c: CATEGORIES[c].name if c in CATEGORIES else c)
    counts = top.value_counts().head(8).sort_values()
    fig = go.Figure(go.Bar(x=counts.to_numpy().tolist(), y=counts.index.tolist(), orientation="h",
                           marker_color=palette.ACCENT, text=counts.to_numpy().tolist(),
                           textposition="outside", textfont={"size": font, "color": palette.TEXT},
                           cliponaxis=False),
                    layout=_dark_layout(font={"color": palette.TEXT, "size": font},
                                        xaxis={"visible": False},
                                        yaxis={"tickfont": {"size": font}},
                                        margin={"l": 110 * font / 14, "r": 50, "t": 6, "b": 6}))
    return fig
