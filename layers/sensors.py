"""物联感知图层: sensors by type (one trace each, so a theme can pick types) and state.

Input: the registry's ``sensors`` frame (id, type, name, lon, lat, …; docs/architecture.md) and
the ``om:dev:state`` mapping id → normal|warning|alarm|offline. Alarms are emphasised: bigger,
red, drawn last; at low zoom with many points the hexagon layer (layers.hexbin) replaces the raw
points and carries the worst state inside each hexagon.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from layers import palette
from layers.legend import Layer, Legend, LegendItem
from layers.points import order_worst_last, state_series, state_trace
from layers.registry import FigureContext, LayerSpec
from sensors.kinds import KINDS

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "sensors"

# Display names of device kinds, as each kind declares them (sensors/kinds/*: short_label);
# unknown types show their code.
TYPE_NAMES: dict[str, str] = {name: k.short for name, k in KINDS.items()}


def type_name(t: str) -> str:
    return TYPE_NAMES.get(t, t)


def sensors_layer(sensors: pd.DataFrame, states: dict[str, str] | pd.Series | None,
                  types: tuple[str, ...] | None = None, tile_crs: str = "wgs84",
                  size_scale: float = 1.0, exceptions_only: bool = False) -> Layer:
    """Raw sensor points in ONE trace (meta ``sensors:all``): per-point colour by state, graver
    states drawn last. One trace, not one per type: every trace is a MapLibre source and layer,
    and a dozen of them doubled the first paint; a theme filters types before drawing.
    ``exceptions_only``: only devices not 'normal' (above a hexagon layer at city zoom); lists,
    so the live tick can append a device that turns red."""
    frame = sensors if types is None else sensors[sensors["type"].isin(types)]
    st = state_series(frame["id"], states)
    counts = frame["type"].value_counts().sort_index()
    sub, s = order_worst_last(frame, st)
    if exceptions_only:
        keep = (s != "normal").to_numpy()
        sub, s = sub[keep], s[keep]
    traces = [state_trace(sub, s, f"{KEY}:all", "物联感知", tile_crs, size_scale,
                          as_lists=exceptions_only)]
    # no state counts here: they change on every tick (the KPI tiles carry the live numbers)
    items = [LegendItem(palette.STATE_NAMES[s], palette.STATE_COLORS[s])
             for s in ("alarm", "warning", "offline", "normal")]
    title = "物联感知 " + "·".join(f"{type_name(str(t))}{int(n)}" for t, n in counts.items())
    return Layer(KEY, "物联感知", traces, [], Legend(title, tuple(items)))


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The theme's sensors (only the exceptions above the hexagons when aggregating)."""
    return sensors_layer(ctx.sensors, data.states, tile_crs=view.tile_crs,
                         size_scale=view.size_scale, exceptions_only=ctx.aggregate)


LAYER = LayerSpec(KEY, 70, build)
