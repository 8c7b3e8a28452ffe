"""应急力量图层 (issue 16, X28 "forces moved … on one map", X19): the resources committed to the
active response, drawn where they are now, with a line to the scene; on every theme.

Input: ``MapData.moves`` (absent: empty), a list of ``{name, state, state_name, lon, lat,
scene_lon, scene_lat, live}`` as the wall's 应急专题 reads it (``app.screens.wall.response_theme``):
a team's point is where its responders' phones last reported it (``pos_lon/pos_lat`` of its open
assignment, posted through the phone API), else its base. Each team is a disc coloured by its
state (the resources layer's status colours: 已调派 amber, 在途 blue, 到场 red) labelled
``<name> · <state>``, joined to the scene by a dashed-looking thin line.

Traces: ``response_moves:lines`` (team → scene segments separated by gaps) and
``response_moves:teams`` (customdata = state). Both are on every figure, empty while nothing is
committed, so the wall patches their coordinates as positions arrive (``trace_data``) without
rebuilding the map. Order 96: above the resources (90), under the incidents (100).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import scattermap

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "response_moves"
LINES, TEAMS = f"{KEY}:lines", f"{KEY}:teams"
TEAM_SIZE = 18
LINE_COLOR = "#29b6f6"
STATE_COLORS: dict[str, str] = {       # the resources layer's status cores (layers.resources)
    "requested": "#ffb300", "acknowledged": "#ffb300", "en_route": "#29b6f6", "on_scene": "#ff1744",
}


def trace_data(moves: list[dict] | None, tile_crs: str = "wgs84") -> dict[str, dict]:
    """The two traces' changing parts (``lon``, ``lat``, ``text``, ``customdata``, marker
    colours) for ``moves``: what the wall patches into the figure on show."""
    ms = [m for m in moves or [] if m.get("lon") is not None and m.get("lat") is not None]
    x, y = to_display([float(m["lon"]) for m in ms], [float(m["lat"]) for m in ms], tile_crs)
    x, y = np.round(x, 6).tolist(), np.round(y, 6).tolist()
    lon: list = []
    lat: list = []
    for m, tx, ty in zip(ms, x, y, strict=True):
        if m.get("scene_lon") is None or m.get("scene_lat") is None:
            continue
        sx, sy = to_display([float(m["scene_lon"])], [float(m["scene_lat"])], tile_crs)
        lon += [tx, round(float(sx[0]), 6), None]
        lat += [ty, round(float(sy[0]), 6), None]
    states = [str(m.get("state", "")) for m in ms]
    return {LINES: {"lon": lon, "lat": lat},
            TEAMS: {"lon": x, "lat": y, "customdata": states,
                    "text": [f"{m.get('name', '')} · {m.get('state_name', '')}" for m in ms],
                    "marker.color": [STATE_COLORS.get(s, STATE_COLORS["requested"]) for s in states]}}


def moves_layer(moves: list[dict] | None, tile_crs: str = "wgs84", size_scale: float = 1.0) -> Layer:
    """The lines and the teams (both empty without ``moves``), with a legend while any moves."""
    d = trace_data(moves, tile_crs)
    lines = scattermap(lon=d[LINES]["lon"], lat=d[LINES]["lat"], mode="lines", hoverinfo="skip",
                       line={"color": LINE_COLOR, "width": round(2.0 * size_scale, 1)},
                       opacity=0.8, meta=LINES, name="调派路线")
    t = d[TEAMS]
    teams = scattermap(lon=t["lon"], lat=t["lat"], mode="markers+text", text=t["text"],
                       customdata=t["customdata"], textposition="top center",
                       textfont={"color": "#ffffff", "size": round(14 * size_scale, 1)},
                       marker={"color": t["marker.color"], "size": round(TEAM_SIZE * size_scale, 1),
                               "opacity": 0.95},
                       hoverinfo="skip", meta=TEAMS, name="调派力量")
    legend = None
    if t["lon"]:
        legend = Legend("调派力量", (LegendItem("已调派", STATE_COLORS["requested"]),
                                     LegendItem("在途", STATE_COLORS["en_route"]),
                                     LegendItem("到场", STATE_COLORS["on_scene"])))
    return Layer(KEY, "调派力量", [lines, teams], [], legend)


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The committed resources (``MapData.moves`` when the caller gives them), on every theme."""
    return moves_layer(getattr(data, "moves", None), view.tile_crs, view.size_scale)


def _every_theme(theme: Theme, ctx: FigureContext) -> bool:
    return True      # forces moving in an emergency concern every theme: none may hide them


LAYER = LayerSpec(KEY, 96, build, shown=_every_theme)

__all__ = ["KEY", "LINES", "LAYER", "STATE_COLORS", "TEAMS", "moves_layer", "trace_data"]
