"""应急资源图层 (X3, X15): rescue teams, material warehouses and shelters.

The demo has no real resource register, so ``demo_resources`` derives one deterministically from
the city (same city → same resources): a rescue team per town/street, a warehouse per ~4 towns,
two shelters per town. A deployment loads its own frame with the same columns.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

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
COLUMNS = ["id", "kind", "name", "lon", "lat", "capacity", "town_code"]


def _points_in(geom, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:  # noqa: ANN001
    minx, miny, maxx, maxy = geom.bounds
    out: list[tuple[float, float]] = []
    shapely.prepare(geom)
    for _ in range(200):
        xs = rng.uniform(minx, maxx, 32)
        ys = rng.uniform(miny, maxy, 32)
        inside = shapely.contains_xy(geom, xs, ys)
        out += list(zip(xs[inside].tolist(), ys[inside].tolist(), strict=True))
        if len(out) >= n:
            return out[:n]
    c = geom.representative_point()
    return (out + [(c.x, c.y)] * n)[:n]


def demo_resources(city: City, seed: int = 0) -> pd.DataFrame:
    """Deterministic demo resources inside the city's towns."""
    rng = np.random.default_rng(zlib.crc32(f"{city.admin_code}:{seed}".encode()))
    rows = []
    towns = city.towns.sort_values("code")
    for i, t in enumerate(towns.itertuples(index=False)):
        pts = _points_in(t.geometry, 4, rng)
        rows.append((f"res-team-{t.code}", "rescue_team", f"{t.name}应急救援队", *pts[0],
                     int(rng.integers(20, 60)), t.code))
        rows.append((f"res-shelter-{t.code}-1", "shelter", f"{t.name}避难场所一", *pts[1],
                     int(rng.integers(300, 3000)), t.code))
        rows.append((f"res-shelter-{t.code}-2", "shelter", f"{t.name}避难场所二", *pts[2],
                     int(rng.integers(300, 3000)), t.code))
        if i % 4 == 0:
            rows.append((f"res-wh-{t.code}", "warehouse", f"{t.name}应急物资仓库", *pts[3],
                         int(rng.integers(500, 5000)), t.code))
    return pd.DataFrame(rows, columns=COLUMNS)


def resources_layer(resources: pd.DataFrame, kinds: tuple[str, ...] | None = None,
                    tile_crs: str = "wgs84", size_scale: float = 1.0) -> Layer:
    """Two traces (meta ``resources:all`` and its dark ``resources:core``): a coloured disc with
    a dark centre reads as a facility next to the solid event dots."""
    sel = resources if kinds is None else resources[resources["kind"].isin(kinds)]
    lon, lat = to_display(sel["lon"].to_numpy(), sel["lat"].to_numpy(), tile_crs)
    colors = [KINDS[k][1] for k in sel["kind"]]
    sizes = [round(KINDS[k][2] * size_scale, 1) for k in sel["kind"]]
    cores = [max(round(s - 7 * size_scale, 1), 3) for s in sizes]
    traces = [scattermap(lon=lon.round(5), lat=lat.round(5), mode="markers",
                         customdata=sel["id"].tolist(),
                         marker={"color": colors, "size": sizes, "opacity": 0.95},
                         hoverinfo="skip", meta=f"{KEY}:all", name="应急资源"),
              scattermap(lon=lon.round(5), lat=lat.round(5), mode="markers",
                         marker={"color": "#07111f", "size": cores},
                         hoverinfo="skip", meta=f"{KEY}:core", name="应急资源")]
    n = sel["kind"].value_counts()
    items = tuple(LegendItem(f"{name} {int(n.get(kind, 0))}", color, "ring")
                  for kind, (name, color, _size) in KINDS.items() if kinds is None or kind in kinds)
    return Layer(KEY, "应急资源", traces, [], Legend("应急资源", items))


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The resources of the theme's kinds (``Theme.resource_kinds``; None: all)."""
    return resources_layer(data.resources, theme.resource_kinds, view.tile_crs, view.size_scale)


LAYER = LayerSpec(KEY, 90, build)
