"""事件图层: open incidents by owning tier (one trace per tier), coloured and sized by severity;
overdue ones (超期) get a magenta ring drawn beneath them so they stand out from every severity.

Input: ``IncidentService.open_incidents_frame()`` or any frame with the contract's columns
``id, state, center, category, severity, lon, lat`` and ``overdue`` (bool) or ``due_ts``
(epoch s). All arrays are lists: the wall's live tick appends and recolours points by id.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pandas as pd

from incidents.incident import FINAL_STATES
from layers import palette
from layers.basemap import to_display
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import scattermap

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "incidents"
TIERS: tuple[str, ...] = ("department", "town", "city")   # drawn city last (on top)
CLOSED_STATES = FINAL_STATES   # 结案/作废: off the map
RING_EXTRA = 9   # px added around an overdue incident
# State by opacity (处置阶段): waiting for someone to act is the loudest; handled and awaiting
# verification is quietest. Colour stays severity, size stays severity, ring stays overdue.
STAGE_OPACITY: dict[str, float] = {
    "reported": 1.0, "accepted": 1.0, "registered": 1.0,        # 待受理/待派遣
    "dispatched": 0.85, "in_progress": 0.85,                     # 处置中
    "handled": 0.5, "verified": 0.5,                             # 待核查/待结案
}
STAGE_NAMES: tuple[tuple[str, float], ...] = (("待派遣", 1.0), ("处置中", 0.85), ("待核查", 0.5))


def stage_opacity(state: str) -> float:
    return STAGE_OPACITY.get(state, 0.85)


def tier_of(center: str | None) -> str:
    """归属层级: CITY → city, T<town> → town, D<dept> → department."""
    c = str(center or "")
    if c == "CITY" or not c:
        return "city"
    return "town" if c.startswith("T") else "department"


def overdue_mask(frame: pd.DataFrame, now: float | None = None) -> pd.Series:
    """超期: the ``overdue`` column when present, else ``due_ts`` before ``now``."""
    if "overdue" in frame:
        return frame["overdue"].fillna(False).astype(bool)
    if "due_ts" in frame:
        now = time.time() if now is None else now
        due = pd.to_numeric(frame["due_ts"], errors="coerce")
        return (due.notna() & (due < now)).astype(bool)
    return pd.Series(False, index=frame.index)


def normalise(frame: pd.DataFrame, categories: tuple[str, ...] | None = None,
              now: float | None = None) -> pd.DataFrame:
    """Open incidents only, with ``tier`` and ``overdue`` columns, optionally by category prefix."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["id", "state", "center", "category", "severity", "lon", "lat",
                                     "tier", "overdue"])
    f = frame[~frame["state"].astype(str).isin(CLOSED_STATES)].copy()
    f = f[pd.to_numeric(f["lon"], errors="coerce").notna()]
    if categories:
        f = f[f["category"].astype(str).str.startswith(tuple(categories))]
    f["tier"] = f["center"].map(tier_of)
    f["overdue"] = overdue_mask(f, now)
    f["lon"] = f["lon"].astype(float)
    f["lat"] = f["lat"].astype(float)
    return f


def _marker_lists(f: pd.DataFrame, k: float = 1.0) -> tuple[list[str], list[float]]:
    colors = [palette.SEVERITY_COLORS.get(s, palette.SEVERITY_COLORS["一般"]) for s in f["severity"]]
    sizes = [round(palette.SEVERITY_SIZES.get(s, 9) * k, 1) for s in f["severity"]]
    return colors, sizes


def incidents_layer(frame: pd.DataFrame, categories: tuple[str, ...] | None = None,
                    tile_crs: str = "wgs84", now: float | None = None,
                    size_scale: float = 1.0) -> Layer:
    """Traces ``incidents:overdue`` (rings) then ``incidents:<tier>`` for each tier."""
    f = normalise(frame, categories, now)
    traces = []
    od = f.loc[f["overdue"].astype(bool).to_numpy()]
    lon, lat = to_display(od["lon"].to_numpy(), od["lat"].to_numpy(), tile_crs)
    _, od_sizes = _marker_lists(od, size_scale)
    traces.append(scattermap(
        lon=lon.round(5).tolist(), lat=lat.round(5).tolist(), mode="markers",
        customdata=od["id"].astype(str).tolist(),
        marker={"color": palette.OVERDUE_COLOR, "size": [round(s + RING_EXTRA * size_scale, 1) for s in od_sizes],
                "opacity": 0.9}, hoverinfo="skip", meta=f"{KEY}:overdue", name="超期"))
    for tier in TIERS:
        sub = f.loc[(f["tier"] == tier).to_numpy()].sort_values("severity", key=lambda s: s.map(
            {v: i for i, v in enumerate(palette.SEVERITY_ORDER)}), kind="stable")
        lon, lat = to_display(sub["lon"].to_numpy(), sub["lat"].to_numpy(), tile_crs)
        colors, sizes = _marker_lists(sub, size_scale)
        traces.append(scattermap(
            lon=lon.round(5).tolist(), lat=lat.round(5).tolist(), mode="markers",
            customdata=sub["id"].astype(str).tolist(),
            marker={"color": colors, "size": sizes,
                    "opacity": [stage_opacity(st) for st in sub["state"].astype(str)]},
            hoverinfo="skip", meta=f"{KEY}:{tier}", name=f"{palette.TIER_NAMES[tier]}事件"))
    items = [LegendItem(f"{s}", palette.SEVERITY_COLORS[s]) for s in reversed(palette.SEVERITY_ORDER)]
    items.append(LegendItem("超期", palette.OVERDUE_COLOR, "ring"))
    items += [LegendItem(name, f"rgba(232,241,255,{op})") for name, op in STAGE_NAMES]
    title = "在办事件"        # counts by tier live in the KPI tiles (they change every tick)
    return Layer(KEY, "事件", traces, [], Legend(title, tuple(items)))


def point_style(severity: str, overdue: bool) -> dict:
    """Colour/size of one incident point: what the live tick sends for a changed incident."""
    size = palette.SEVERITY_SIZES.get(severity, 9)
    return {"color": palette.SEVERITY_COLORS.get(severity, palette.SEVERITY_COLORS["一般"]),
            "size": size, "ring": size + RING_EXTRA if overdue else 0}


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """The theme's open incidents (normalised once per figure: ``FigureContext.incidents``)."""
    return incidents_layer(ctx.incidents, tile_crs=view.tile_crs, size_scale=view.size_scale)


LAYER = LayerSpec(KEY, 100, build)
