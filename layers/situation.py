"""态势图层: the situation in focus (事件群) with its sources drawn, on every theme.

Input: ``MapData.situation``, ``{id, title, lon, lat, sources: [{lon, lat, channel}]}``: the
largest open incident with many sources (alarm storms and correlated reports joined into one
case), chosen by the wall (app.screens.wall.focus_situation). Each source is a dot, human reports
(热线/网格员/来访) white and machine sources (IoT, video AI, device faults, external warnings)
cyan, joined to the incident by a thin spoke; the incident itself gets a wide ring, so the wall
shows at a glance what one case gathers and where it came from.

Traces: ``situation:spokes`` (lines, rings separated by gaps), ``situation:sources`` (customdata
= channel), ``situation:ring``. Empty while there is no situation, so every figure has the same
traces. Order 105: above the incidents (100), under the alarms (110).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from layers import palette
from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import scattermap

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "situation"
MACHINE_CHANNELS = frozenset({"iot", "video_ai", "device_fault", "external"})
SOURCE_SIZE = 9
RING_SIZE = 44


def situation_layer(situation: dict | None, tile_crs: str = "wgs84",
                    size_scale: float = 1.0) -> Layer:
    """Spokes, sources and the ring of ``situation`` (all empty when None)."""
    sit = situation or {}
    src = [s for s in sit.get("sources", []) if s.get("lon") is not None and s.get("lat") is not None]
    sx, sy = to_display([float(s["lon"]) for s in src], [float(s["lat"]) for s in src], tile_crs)
    sx, sy = np.round(sx, 5).tolist(), np.round(sy, 5).tolist()
    has = bool(sit) and sit.get("lon") is not None
    cx, cy = (to_display([float(sit["lon"])], [float(sit["lat"])], tile_crs) if has
              else (np.array([]), np.array([])))
    cx, cy = np.round(cx, 5).tolist(), np.round(cy, 5).tolist()
    lon: list = []
    lat: list = []
    for x, y in zip(sx, sy, strict=True):
        lon += [cx[0], x, None]
        lat += [cy[0], y, None]
    channels = [str(s.get("channel", "")) for s in src]
    colors = [palette.SITUATION_MACHINE if c in MACHINE_CHANNELS else palette.SITUATION_HUMAN
              for c in channels]
    spokes = scattermap(lon=lon, lat=lat, mode="lines", hoverinfo="skip", meta=f"{KEY}:spokes",
                        line={"color": palette.SITUATION_MACHINE, "width": round(size_scale, 1)},
                        opacity=0.6, name="态势关联")
    sources = scattermap(lon=sx, lat=sy, mode="markers", customdata=channels, hoverinfo="skip",
                         marker={"color": colors, "size": round(SOURCE_SIZE * size_scale, 1),
                                 "opacity": 0.95},
                         meta=f"{KEY}:sources", name="态势来源")
    ring = scattermap(lon=cx, lat=cy, mode="markers", customdata=[sit.get("id", "")] if has else [],
                      marker={"color": palette.SITUATION_MACHINE, "opacity": 0.35,
                              "size": round(RING_SIZE * size_scale, 1)},
                      hoverinfo="skip", meta=f"{KEY}:ring", name="态势")
    legend = None
    if has:
        legend = Legend(f"态势 {sit.get('title', '')} · {len(src)} 个来源",
                        (LegendItem("物联/视频/设备来源", palette.SITUATION_MACHINE),
                         LegendItem("群众/网格员上报", palette.SITUATION_HUMAN)))
    return Layer(KEY, "态势", [spokes, ring, sources], [], legend)


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The situation in focus (``MapData.situation``), on every theme."""
    return situation_layer(getattr(data, "situation", None), view.tile_crs, view.size_scale)


def _every_theme(theme: Theme, ctx: FigureContext) -> bool:
    return True      # a bad day's situation concerns every theme


LAYER = LayerSpec(KEY, 105, build, shown=_every_theme)
