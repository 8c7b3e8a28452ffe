"""网格员图层 (一格一员): every grid cell's grid worker at the cell's representative point, brighter
and larger where an open incident of the theme lies inside the worker's cell.

Input: the city's cells (``code, worker_id, worker_name, geometry``; grid.model.City) and the
figure's normalised incidents (``FigureContext.incidents``): no data beyond what the map already
has. The demo city has no live worker positions, so a worker is drawn where their cell is; a
deployment with 网格通 GPS would draw them where they are. Shown on 城市管理 and 社区服务 (declared
below, ``LayerSpec.themes``). The highlight is worked out when the figure is composed (theme
switch, rotation), not by the live tick: it tells a leader whose cell has a case, not where the
worker walks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import scattermap

if TYPE_CHECKING:
    from grid.model import City
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "grid_workers"
QUIET_COLOR = "#8fb3d9"     # a worker with nothing open in the cell: present, not loud
BUSY_COLOR = "#ffb74d"      # amber: not a severity (those are the incidents' colours)
QUIET_SIZE = 4
BUSY_SIZE = 8

# Cell anchors per (city, base-map CRS): 1,440 representative points are static while serving.
_ANCHORS: dict[tuple[int, str], tuple[City, np.ndarray, np.ndarray]] = {}


def anchors(city: City, tile_crs: str = "wgs84") -> tuple[np.ndarray, np.ndarray]:
    """Display lon, lat of each cell's representative point, in ``city.cells`` row order."""
    key = (id(city), tile_crs)
    hit = _ANCHORS.get(key)
    if hit is None or hit[0] is not city:
        pts = city.cells.geometry.representative_point()
        lon, lat = to_display(pts.x.to_numpy(), pts.y.to_numpy(), tile_crs)
        hit = _ANCHORS[key] = (city, lon.round(5), lat.round(5))
    return hit[1], hit[2]


def open_per_cell(city: City, incidents: pd.DataFrame | None) -> np.ndarray:
    """Open incidents located inside each cell (``city.cells`` row order)."""
    n = np.zeros(len(city.cells), dtype=int)
    if incidents is None or incidents.empty:
        return n
    rows = city.locate_many(incidents["lon"].to_numpy(float), incidents["lat"].to_numpy(float))
    rows = rows[rows >= 0]
    return np.bincount(rows, minlength=len(city.cells))[:len(city.cells)] if len(rows) else n


def grid_workers_layer(city: City, incidents: pd.DataFrame | None = None,
                       tile_crs: str = "wgs84", size_scale: float = 1.0) -> Layer:
    """One trace (meta ``grid_workers:all``, customdata = worker ids) with the busy workers drawn
    last, so a quiet neighbour never covers one whose cell has a case."""
    lon, lat = anchors(city, tile_crs)
    busy = open_per_cell(city, incidents) > 0
    order = np.argsort(busy, kind="stable")           # quiet first, busy on top
    b = busy[order]
    trace = scattermap(
        lon=lon[order], lat=lat[order], mode="markers",
        customdata=city.cells["worker_id"].astype(str).to_numpy()[order].tolist(),
        marker={"color": [BUSY_COLOR if x else QUIET_COLOR for x in b],
                "size": [round((BUSY_SIZE if x else QUIET_SIZE) * size_scale, 1) for x in b],
                "opacity": 0.9},
        hoverinfo="skip", meta=f"{KEY}:all", name="网格员")
    items = (LegendItem("格内有在办事件", BUSY_COLOR), LegendItem("网格员", QUIET_COLOR))
    return Layer(KEY, "网格员", [trace], [], Legend(f"网格员 {len(city.cells)} 名", items))


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The city's grid workers; busy where the theme's open incidents lie in their cell."""
    return grid_workers_layer(data.city, ctx.incidents, view.tile_crs, view.size_scale)


# Above the devices (a worker is who acts on them), below resources and incidents.
LAYER = LayerSpec(KEY, 85, build, themes=("city_mgmt", "community"))
