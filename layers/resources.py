"""应急资源图层 (X3, X15, X18): rescue teams, material warehouses and shelters, each with its
status (可用 / 已调派 / 在途 / 到场, issue 16).

The frame comes from the resource register (``grid.resources``: imported from CSV/GeoJSON, or the
demo's generated resources, labelled demo); its ``status`` is the register's live state as
一键调度 (``incidents.emergency.dispatch``) moves it. ``demo_resources`` is the demo register's
frame, every resource available (same city → same resources).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from grid.resources import COLUMNS, STATUS_NAMES, demo_records, frame_of
from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import scattermap

if TYPE_CHECKING:
    from grid.model import City
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "resources"
KINDS: dict[str, tuple[str, str, int]] = {     # kind → (name, colour, marker size)
    "rescue_team": ("救援队伍", "#00e676", 14),
    "warehouse": ("物资仓库", "#b388ff", 14),
    "shelter": ("避难场所", "#ffffff", 11),
}
STATUS_CORES: dict[str, str] = {               # status → the disc's centre (dark: available)
    "available": "#07111f",
    "committed": "#ffb300",
    "en_route": "#29b6f6",
    "on_scene": "#ff1744",
    "unavailable": "#616161",
}
__all__ = ["COLUMNS", "KINDS", "STATUS_CORES", "build", "demo_resources", "resources_layer"]


def demo_resources(city: City, seed: int = 0) -> pd.DataFrame:
    """The demo register's frame (deterministic, inside the city's towns, every one available)."""
    from grid.resources import Held  # noqa: PLC0415

    held = []
    for r in demo_records(city, seed):
        town = r.owner[1:] if r.owner.startswith("T") else ""
        held.append(Held(r, town, total=getattr(r, "quantity", 0), avail=getattr(r, "quantity", 0)))
    return frame_of(held)


def resources_layer(resources: pd.DataFrame, kinds: tuple[str, ...] | None = None,
                    tile_crs: str = "wgs84", size_scale: float = 1.0) -> Layer:
    """Two traces (meta ``resources:all`` and its dark ``resources:core``): a coloured disc with
    a dark centre reads as a facility next to the solid event dots."""
    sel = resources if kinds is None else resources[resources["kind"].isin(kinds)]
    lon, lat = to_display(sel["lon"].to_numpy(), sel["lat"].to_numpy(), tile_crs)
    status = sel["status"].tolist() if "status" in sel else ["available"] * len(sel)
    colors = [KINDS[k][1] for k in sel["kind"]]
    sizes = [round(KINDS[k][2] * size_scale, 1) for k in sel["kind"]]
    cores = [max(round(s - 7 * size_scale, 1), 3) for s in sizes]
    traces = [scattermap(lon=lon.round(5), lat=lat.round(5), mode="markers",
                         customdata=sel["id"].tolist(),
                         marker={"color": colors, "size": sizes, "opacity": 0.95},
                         hoverinfo="skip", meta=f"{KEY}:all", name="应急资源"),
              scattermap(lon=lon.round(5), lat=lat.round(5), mode="markers",
                         customdata=status,
                         marker={"color": [STATUS_CORES.get(s, STATUS_CORES["available"]) for s in status],
                                 "size": cores},
                         hoverinfo="skip", meta=f"{KEY}:core", name="应急资源")]
    n = sel["kind"].value_counts()
    items = tuple(LegendItem(f"{name} {int(n.get(kind, 0))}", color, "ring")
                  for kind, (name, color, _size) in KINDS.items() if kinds is None or kind in kinds)
    busy = pd.Series(status).value_counts()
    items += tuple(LegendItem(f"{STATUS_NAMES[s]} {int(busy.get(s, 0))}", STATUS_CORES[s], "dot")
                   for s in ("committed", "en_route", "on_scene") if busy.get(s, 0))
    return Layer(KEY, "应急资源", traces, [], Legend("应急资源", items))


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The resources of the theme's kinds (``Theme.resource_kinds``; None: all)."""
    return resources_layer(data.resources, theme.resource_kinds, view.tile_crs, view.size_scale)


LAYER = LayerSpec(KEY, 90, build)
