"""告警图层: active alarm episodes from ``om:alarms`` (raise/level/clear), emphasised.

Each active episode is a large dot coloured by level (蓝/黄/橙/红) over a white halo, drawn above
every other point layer so that no aggregate or density can hide it. Lists only: the wall's live
tick appends, recolours and retires episodes by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from layers import palette
from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import scattermap

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "alarms"
CORE_SIZE = 17
HALO_SIZE = 34
COLUMNS = ["episode", "device_id", "device_type", "source", "category", "level", "severity",
           "lon", "lat", "town_code", "ts", "message"]


def fold(entries: Iterable[tuple[str, dict]]) -> pd.DataFrame:
    """Active episodes after replaying stream entries in order (raise/level set, clear removes)."""
    active: dict[str, dict] = {}
    for _id, f in entries:
        ep = f.get("episode") or _id
        if f.get("event") == "clear":
            active.pop(ep, None)
        else:
            prev = active.get(ep, {})
            active[ep] = {**prev, **f, "episode": ep}
    rows = [{c: a.get(c, "") for c in COLUMNS} for a in active.values()]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["lon"] = pd.to_numeric(df["lon"], errors="coerce")
    df["lat"] = pd.to_numeric(df["lat"], errors="coerce")
    return df.dropna(subset=["lon", "lat"]).reset_index(drop=True)


def alarms_layer(active: pd.DataFrame, tile_crs: str = "wgs84", size_scale: float = 1.0) -> Layer:
    """Traces ``alarms:halo`` and ``alarms:core`` (customdata = episode ids)."""
    a = active.copy()
    a["_r"] = a["level"].map(palette.LEVEL_RANK).fillna(0)
    a = a.sort_values("_r", kind="stable")
    lon, lat = to_display(a["lon"].to_numpy(), a["lat"].to_numpy(), tile_crs)
    lon, lat = lon.round(5).tolist(), lat.round(5).tolist()
    eps = a["episode"].astype(str).tolist()
    colors = [palette.LEVEL_COLORS.get(lv, palette.LEVEL_COLORS["red"]) for lv in a["level"]]
    halo = scattermap(lon=lon, lat=lat, mode="markers", customdata=eps,
                         marker={"color": palette.HIGHLIGHT, "size": [round(HALO_SIZE * size_scale, 1)] * len(eps),
                                 "opacity": 0.28}, hoverinfo="skip", meta=f"{KEY}:halo",
                         name="告警光晕")
    core = scattermap(lon=list(lon), lat=list(lat), mode="markers", customdata=list(eps),
                         marker={"color": colors, "size": [round(CORE_SIZE * size_scale, 1)] * len(eps), "opacity": 1.0},
                         hoverinfo="skip", meta=f"{KEY}:core", name="告警")
    items = tuple(LegendItem(f"{palette.LEVEL_NAMES[lv]}告警", palette.LEVEL_COLORS[lv])
                  for lv in reversed(palette.LEVEL_ORDER))
    return Layer(KEY, "告警", [halo, core], [], Legend("实时告警", items))


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """Every active episode (alarms are never filtered by theme: none may be hidden)."""
    return alarms_layer(data.alarms, view.tile_crs, view.size_scale)


LAYER = LayerSpec(KEY, 110, build)
