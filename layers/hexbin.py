"""H3 聚合: density hexagons at low zoom, each carrying the WORST state inside it.

A city-wide view never draws tens of thousands of raw points; a hexagon holding one red alarm
is red, so aggregation never hides an alarm (issue 5). Plain h3 4.x (a Python loop is ~1.4 M
points/s here, enough for 30k devices).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import h3
import numpy as np
import pandas as pd

from layers import palette
from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import choroplethmap

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.themes import Theme

DEFAULT_RES = 7          # ≈5 km² per hexagon: ~700 over a 3,300 km² county (demo assumption)
RES_CHOICES = (6, 7)     # the resolutions a city view picks from (res_for_zoom)
HEX_EDGE_PX = 14.0       # finest resolution whose hexagon edge is still this many px on screen:
                         # smaller hexagons are noise and cost first paint; bigger ones paint a
                         # whole district with one device's state (1080p and 4K walls: res 7)
RAW_POINT_LIMIT = 3000   # above this many devices in a city view, hexagons + exceptions instead
RAW_ZOOM = 12.0          # at or above this zoom, raw points always (a street-level view)


def res_for_zoom(zoom: float, lat: float = 22.0, choices: tuple[int, ...] = RES_CHOICES) -> int:
    """LOD: the finest H3 resolution among ``choices`` whose edge is ≥ HEX_EDGE_PX at ``zoom``
    (MapLibre 512-px tiles); the coarsest when none is."""
    m_per_px = 40_075_016.7 * np.cos(np.radians(lat)) / (512 * 2 ** zoom)
    ok = [r for r in choices if h3.average_hexagon_edge_length(r, "m") / m_per_px >= HEX_EDGE_PX]
    return max(ok) if ok else min(choices)


def use_aggregate(n_points: int, zoom: float) -> bool:
    """Whether a view should draw hexagons instead of raw points."""
    return zoom < RAW_ZOOM and n_points > RAW_POINT_LIMIT


def cells_of(lons, lats, res: int = DEFAULT_RES) -> np.ndarray:  # noqa: ANN001
    """H3 cell of each point (str ids)."""
    return np.array([h3.latlng_to_cell(float(la), float(lo), res)
                     for lo, la in zip(lons, lats, strict=True)], dtype=object)


def aggregate(frame: pd.DataFrame, res: int = DEFAULT_RES, state_col: str = "state",
              hex_col: str | None = None) -> pd.DataFrame:
    """Points (lon, lat, state) → one row per H3 cell: ``h3, count, worst, n_<state>``.

    ``worst`` is the gravest state inside (palette.STATE_ORDER); ``rank`` its order.
    """
    cols = ["h3", "count", "worst", "rank"] + [f"n_{s}" for s in palette.STATE_ORDER]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    hexes = frame[hex_col].to_numpy() if hex_col else cells_of(frame["lon"], frame["lat"], res)
    states = frame[state_col].fillna("normal").to_numpy() if state_col in frame else \
        np.full(len(frame), "normal", dtype=object)
    ranks = np.array([palette.STATE_RANK.get(s, 0) for s in states])
    df = pd.DataFrame({"h3": hexes, "rank": ranks, "state": states})
    g = df.groupby("h3", sort=True)
    out = pd.DataFrame({"count": g.size(), "rank": g["rank"].max()})
    counts = pd.crosstab(df["h3"], df["state"])
    for s in palette.STATE_ORDER:
        out[f"n_{s}"] = counts.get(s, 0)
    out["worst"] = [palette.STATE_ORDER[r] for r in out["rank"]]
    return out.reset_index()[cols]


def hex_geojson(hex_ids, tile_crs: str = "wgs84") -> dict:  # noqa: ANN001
    """FeatureCollection of H3 cells (feature id = cell id); cached per set of cells."""
    return _hex_geojson(tuple(str(h) for h in hex_ids), tile_crs)


@lru_cache(maxsize=16)
def _hex_geojson(hex_ids: tuple[str, ...], tile_crs: str) -> dict:
    feats = []
    for c in hex_ids:
        ring = h3.cell_to_boundary(c)                       # ((lat, lng), ...)
        lo, la = to_display([p[1] for p in ring], [p[0] for p in ring], tile_crs)
        # 4 decimals (≈10 m) is far below a pixel at the zooms that draw hexagons
        coords = [[round(float(x), 4), round(float(y), 4)] for x, y in zip(lo, la, strict=True)]
        coords.append(coords[0])
        feats.append({"type": "Feature", "id": c,
                      "geometry": {"type": "Polygon", "coordinates": [coords]}})
    return {"type": "FeatureCollection", "features": feats}


# Fill alpha per state: quiet hexagons only hint at coverage (the risk colours show through),
# a hexagon with an alarm inside is loud.
STATE_ALPHA: dict[str, float] = {"normal": 0.16, "offline": 0.38, "warning": 0.55, "alarm": 0.75}


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def state_colorscale() -> list:
    """Discrete colourscale for z = state rank (0..3), alpha by gravity."""
    n = len(palette.STATE_ORDER)
    scale = []
    for i, s in enumerate(palette.STATE_ORDER):
        color = _rgba(palette.STATE_COLORS[s], STATE_ALPHA[s])
        scale += [[i / n, color], [(i + 1) / n, color]]
    return scale


def hex_layer(agg: pd.DataFrame, key: str = "hex", name: str = "设备聚合",
              tile_crs: str = "wgs84", geojson: dict | None = None) -> Layer:
    """Choropleth of H3 cells coloured by worst state; z is a plain list so a tick can patch it."""
    n = len(palette.STATE_ORDER)
    trace = choroplethmap(
        geojson=geojson if geojson is not None else hex_geojson(agg["h3"], tile_crs),
        locations=agg["h3"].tolist(), z=[int(r) for r in agg["rank"]],
        zmin=-0.5, zmax=n - 0.5, colorscale=state_colorscale(), showscale=False,
        marker={"opacity": 1.0, "line": {"width": 0.5, "color": "rgba(7,17,31,0.6)"}},
        hoverinfo="skip", meta=key, name=name)
    legend = Legend(f"{name}(最严重状态)",
                    tuple(LegendItem(palette.STATE_NAMES[s], palette.STATE_COLORS[s], "hex")
                          for s in reversed(palette.STATE_ORDER)))
    return Layer(key, name, [trace], [], legend)


def devices_hex_layer(frames: list[pd.DataFrame], states, res: int = DEFAULT_RES,  # noqa: ANN001
                      tile_crs: str = "wgs84") -> Layer:
    """设备聚合: sensors and cameras together, one hexagon per H3 cell, worst state inside.

    Frames carry ``id, lon, lat`` (and ``h3_<res>`` when precomputed); ``states`` is om:dev:state.
    """
    from layers.points import state_series  # noqa: PLC0415

    parts = []
    for f in frames:
        if len(f):
            part = pd.DataFrame({"lon": f["lon"].to_numpy(), "lat": f["lat"].to_numpy(),
                                 "state": state_series(f["id"], states).to_numpy()})
            col = f"h3_{res}"
            part["h3"] = f[col].to_numpy() if col in f else cells_of(f["lon"], f["lat"], res)
            parts.append(part)
    pts = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["lon", "lat", "state", "h3"])
    agg = aggregate(pts, res, hex_col="h3")
    return hex_layer(agg, key="hex_devices", name="设备聚合", tile_crs=tile_crs)


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The theme's sensors and cameras as hexagons at the view's resolution."""
    return devices_hex_layer([ctx.sensors, ctx.cameras], data.states, res=ctx.hex_res,
                             tile_crs=view.tile_crs)


# Drawn by the view, not the theme: whenever a city view of many devices aggregates them.
LAYER = LayerSpec("hex_devices", 30, build, shown=lambda theme, ctx: ctx.aggregate)
