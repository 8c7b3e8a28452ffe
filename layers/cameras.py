"""视频点位图层: cameras by class (一/二/三类, V19) and state; field-of-view wedges when zoomed in.

Input: the registry's ``cameras`` frame (id, cls, owner, heading_deg, fov_deg, range_m, lon, lat,
…) and the ``om:dev:state`` mapping. At city zoom with the 26,907-camera stress registry the
hexagon aggregate replaces raw points (worst state per hexagon).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from layers import palette
from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.points import order_worst_last, state_series, state_trace
from layers.registry import FigureContext, LayerSpec

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "cameras"
CLASS_NAMES = {1: "一类", 2: "二类", 3: "三类"}
CLASS_SCALE = {1: 1.25, 2: 1.0, 3: 0.8}   # key points (一类, police-built) a little larger
FOV_ZOOM = 12.5          # wedges only from street level (≈12 m/px): at city zoom they are noise
FOV_COLOR = "#4fc3f7"


def cameras_layer(cameras: pd.DataFrame, states: dict[str, str] | pd.Series | None,
                  classes: tuple[int, ...] | None = None, tile_crs: str = "wgs84",
                  zoom: float = 10.0, size_scale: float = 1.0,
                  exceptions_only: bool = False,
                  bbox: tuple[float, float, float, float] | None = None) -> Layer:
    """Raw camera points in one trace (meta ``cameras:all``, 一类 a little larger), wedges at
    FOV_ZOOM+. ``exceptions_only``: only cameras not 'normal' (over the hexagons), as lists."""
    frame = cameras if classes is None else cameras[cameras["cls"].isin(classes)]
    st = state_series(frame["id"], states)
    sub, s = order_worst_last(frame, st)
    if exceptions_only:
        keep = (s != "normal").to_numpy()
        sub, s = sub[keep], s[keep]
    scale = sub["cls"].map(CLASS_SCALE).fillna(1.0).to_numpy() * size_scale
    traces = [state_trace(sub, s, f"{KEY}:all", "视频点位", tile_crs, scale,
                          as_lists=exceptions_only)]
    map_layers = []
    if zoom >= FOV_ZOOM and len(frame):
        # directional cameras in view only: a dome's 360° disc says nothing about where it looks
        w = frame[frame["fov_deg"].astype(float) < 359] if "fov_deg" in frame else frame
        if bbox is not None:
            x0, y0, x1, y1 = bbox
            w = w[(w["lon"] >= x0) & (w["lon"] <= x1) & (w["lat"] >= y0) & (w["lat"] <= y1)]
        map_layers.append({"sourcetype": "geojson", "source": fov_wedges(w, tile_crs=tile_crs),
                           "type": "fill", "color": FOV_COLOR, "opacity": 0.12,
                           "below": "traces"})
    items = [LegendItem(palette.STATE_NAMES[s], palette.STATE_COLORS[s])
             for s in ("alarm", "offline", "normal")]
    items.append(LegendItem("视场(放大可见)", FOV_COLOR, "wedge"))
    by_cls = frame["cls"].value_counts()
    title = (f"视频点位 {len(frame)} 路 · "
             + "·".join(f"{CLASS_NAMES.get(int(c), c)}{int(by_cls[c])}" for c in sorted(by_cls.index)))
    return Layer(KEY, "视频点位", traces, map_layers, Legend(title, tuple(items)))


def fov_wedges(cameras: pd.DataFrame, steps: int = 8, tile_crs: str = "wgs84") -> dict:
    """视场扇形: one polygon per camera from heading (clockwise from north), fov and range."""
    feats = []
    lat0 = float(np.nanmean(cameras["lat"])) if len(cameras) else 0.0
    m_per_deg_lat = 111_320.0
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(lat0))
    for row in cameras.itertuples(index=False):
        heading = float(getattr(row, "heading_deg", 0.0) or 0.0)
        fov = float(getattr(row, "fov_deg", 60.0) or 60.0)
        rng = float(getattr(row, "range_m", 50.0) or 50.0)
        if fov >= 359:   # dome cameras: a full circle
            angles = np.linspace(0, 360, steps * 4 + 1)
        else:
            angles = np.linspace(heading - fov / 2, heading + fov / 2, steps + 1)
        rad = np.radians(angles)
        xs = row.lon + rng * np.sin(rad) / m_per_deg_lon
        ys = row.lat + rng * np.cos(rad) / m_per_deg_lat
        xs = np.concatenate([[row.lon], xs, [row.lon]])
        ys = np.concatenate([[row.lat], ys, [row.lat]])
        xs, ys = to_display(xs, ys, tile_crs)
        feats.append({"type": "Feature", "id": str(row.id), "properties": {},
                      "geometry": {"type": "Polygon", "coordinates": [
                          [[round(float(x), 6), round(float(y), 6)] for x, y in zip(xs, ys, strict=True)]]}})
    return {"type": "FeatureCollection", "features": feats}


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The theme's cameras (exceptions only when aggregating; wedges when zoomed in)."""
    return cameras_layer(ctx.cameras, data.states, tile_crs=view.tile_crs, zoom=view.zoom,
                         size_scale=view.size_scale, exceptions_only=ctx.aggregate,
                         bbox=view.bbox)


LAYER = LayerSpec(KEY, 80, build)
