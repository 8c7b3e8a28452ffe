"""应急区域图层: the area of the active 应急模式 (emergency mode), drawn on every theme.

Input: ``MapData.emergency``, the incident service's ``emergency_state()`` as the wall reads it
(``area``: a GeoJSON geometry, Feature or FeatureCollection; a ``Point`` with ``radius_m`` is a
circle; ``reason``). Inside the area new reports route to the city center with priority
(incidents.routing), so the leaders in the hall must see where it is, whatever the theme.

One trace, meta ``emergency_areas``: the area's outline filled faintly (``fill="toself"``, rings
separated by gaps). It is present on every figure, empty while emergency mode is off, so the wall
can fill or empty it when the commander switches (``trace_coords``) without rebuilding the map.
Drawn above the boundaries and under every point (order 65), so it never hides an alarm.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from layers import palette
from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import scattermap

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "emergency_areas"
LINE_WIDTH = 3.0
CIRCLE_STEPS = 72                 # a radius area drawn as a 72-gon: smooth at wall distance
M_PER_DEG_LAT = 111_320.0


def _circle(lon: float, lat: float, radius_m: float) -> list[tuple[float, float]]:
    """A ``Point`` + ``radius_m`` area as a ring (local equirectangular: < 0.1 % at 10 km)."""
    dlat = radius_m / M_PER_DEG_LAT
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    t = np.linspace(0, 2 * math.pi, CIRCLE_STEPS + 1)
    return list(zip((lon + dlon * np.cos(t)).tolist(), (lat + dlat * np.sin(t)).tolist(),
                    strict=True))


def area_geometry(area: dict | None) -> BaseGeometry | None:
    """The area (GeoJSON geometry, Feature or FeatureCollection) as one shapely geometry."""
    if not area:
        return None
    if area.get("type") == "FeatureCollection":
        return unary_union([shape(f["geometry"]) for f in area.get("features", [])])
    if area.get("type") == "Feature":
        return shape(area["geometry"])
    return shape(area)


def rings(area: dict | None) -> list[list[tuple[float, float]]]:
    """The outer rings (lon, lat) of an emergency area: polygons, multipolygons, circles."""
    if not area:
        return []
    geom_type = area.get("type")
    if geom_type == "Point" and area.get("radius_m"):
        lon, lat = area["coordinates"][:2]
        return [_circle(float(lon), float(lat), float(area["radius_m"]))]
    if geom_type == "Feature" and (area.get("properties") or {}).get("radius_m"):
        return rings({**area["geometry"], "radius_m": area["properties"]["radius_m"]})
    geom = area_geometry(area)
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type in ("Point", "MultiPoint", "LineString", "MultiLineString"):
        geom = geom.buffer(0.002)          # an area given as a point or a road: a visible band
    polys = getattr(geom, "geoms", [geom])
    return [list(p.exterior.coords) for p in polys if p.geom_type == "Polygon"]


def trace_coords(area: dict | None, tile_crs: str = "wgs84") -> tuple[list, list]:
    """lon, lat lists of the outline trace: rings separated by ``None`` (plotly's gap)."""
    lons: list = []
    lats: list = []
    for ring in rings(area):
        xs, ys = to_display([p[0] for p in ring], [p[1] for p in ring], tile_crs)
        if lons:
            lons.append(None)
            lats.append(None)
        lons += np.round(xs, 5).tolist()
        lats += np.round(ys, 5).tolist()
    return lons, lats


def emergency_layer(emergency: dict | None, tile_crs: str = "wgs84",
                    size_scale: float = 1.0) -> Layer:
    """The trace ``emergency_areas`` (empty when emergency mode is off) and, when on, its legend."""
    lon, lat = trace_coords((emergency or {}).get("area"), tile_crs)
    trace = scattermap(lon=lon, lat=lat, mode="lines", fill="toself",
                       fillcolor=palette.EMERGENCY_FILL,
                       line={"color": palette.EMERGENCY_LINE,
                             "width": round(LINE_WIDTH * size_scale, 1)},
                       hoverinfo="skip", meta=KEY, name="应急区域")
    legend = None
    if lon:
        reason = (emergency or {}).get("reason") or "应急模式"
        legend = Legend("应急区域", (LegendItem(reason, palette.EMERGENCY_LINE, "square"),))
    return Layer(KEY, "应急区域", [trace], [], legend)


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The active emergency area (``MapData.emergency``), on every theme."""
    return emergency_layer(getattr(data, "emergency", None), view.tile_crs, view.size_scale)


def _every_theme(theme: Theme, ctx: FigureContext) -> bool:
    return True      # an emergency concerns every theme: none may hide it


# Above the boundaries (60), under the devices (70) and everything that may sit inside it.
LAYER = LayerSpec(KEY, 65, build, shown=_every_theme)
