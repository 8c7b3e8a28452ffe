"""五色图 (M34): towns or grid cells coloured by a risk score from open alarms and incidents.

Score = Σ alarm weights by level + Σ incident weights by severity (+ a surcharge when overdue).
Five bands green < blue < yellow < orange < red. Weights and band limits are demo defaults
(the seeds give no numbers): a deployment sets its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from layers import palette
from layers.geojson import feature_collection
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import choroplethmap

if TYPE_CHECKING:
    import geopandas as gpd

    from layers.compose import MapData, View
    from layers.themes import Theme

KEY = "risk"
ALARM_WEIGHTS: dict[str, float] = {"blue": 1, "yellow": 2, "orange": 4, "red": 8}   # demo default
INCIDENT_WEIGHTS: dict[str, float] = {"一般": 1, "较大": 3, "重大": 6, "特别重大": 10}  # demo default
OVERDUE_WEIGHT = 2.0                                                             # demo default
# Upper limits of green, blue, yellow, orange per unit (above the last: red). Demo default.
BANDS: tuple[float, ...] = (4, 12, 24, 40)


def scores(units: gpd.GeoDataFrame, unit_col: str, alarms: pd.DataFrame | None,
           incidents: pd.DataFrame | None) -> pd.Series:
    """Risk score per unit code (``unit_col`` of alarms/incidents, e.g. ``town_code``)."""
    s = pd.Series(0.0, index=units["code"].astype(str).to_numpy())
    if alarms is not None and len(alarms) and unit_col in alarms:
        w = alarms["level"].map(ALARM_WEIGHTS).fillna(1.0)
        s = s.add(w.groupby(alarms[unit_col].astype(str)).sum(), fill_value=0)
    if incidents is not None and len(incidents) and unit_col in incidents:
        w = incidents["severity"].map(INCIDENT_WEIGHTS).fillna(1.0)
        if "overdue" in incidents:
            w = w + incidents["overdue"].fillna(False).astype(float) * OVERDUE_WEIGHT
        s = s.add(w.groupby(incidents[unit_col].astype(str)).sum(), fill_value=0)
    return s.reindex(units["code"].astype(str).to_numpy()).fillna(0.0)


_GEOJSON: dict[tuple, dict] = {}


def _units_geojson(units: gpd.GeoDataFrame, tile_crs: str) -> dict:
    """Unit polygons for the choropleth, cached: towns and cells do not change while serving."""
    key = (id(units), len(units), tile_crs)
    if key not in _GEOJSON:
        _GEOJSON[key] = feature_collection(units, "code", (), tolerance_deg=0.0008, tile_crs=tile_crs)
    return _GEOJSON[key]


def band(score: float | np.ndarray) -> np.ndarray:
    """Band index 0..4 (green..red)."""
    return np.searchsorted(np.asarray(BANDS), np.asarray(score, dtype=float), side="left")


def risk_layer(units: gpd.GeoDataFrame, unit_col: str, alarms: pd.DataFrame | None,
               incidents: pd.DataFrame | None, tile_crs: str = "wgs84",
               name: str = "综合风险五色图") -> Layer:
    """Choropleth of the units by band (``z`` a plain list: a tick can recolour one unit)."""
    sc = scores(units, unit_col, alarms, incidents)
    b = band(sc.to_numpy())
    n = len(palette.RISK_LEVELS)
    scale = []
    for i, lv in enumerate(palette.RISK_LEVELS):
        scale += [[i / n, palette.RISK_COLORS[lv]], [(i + 1) / n, palette.RISK_COLORS[lv]]]
    trace = choroplethmap(
        geojson=_units_geojson(units, tile_crs),
        locations=units["code"].astype(str).tolist(), z=[int(v) for v in b],
        zmin=-0.5, zmax=n - 0.5, colorscale=scale, showscale=False,
        marker={"opacity": 0.42, "line": {"width": 0}}, hoverinfo="skip", meta=KEY, name=name)
    counts = np.bincount(b, minlength=n)
    items = tuple(LegendItem(f"{palette.RISK_NAMES[lv]} {int(counts[i])}", palette.RISK_COLORS[lv],
                             "square") for i, lv in reversed(list(enumerate(palette.RISK_LEVELS))))
    return Layer(KEY, name, [trace], [], Legend(name, items))


def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
    """五色图 per town, or per grid cell when the theme says so (``Theme.risk_unit``)."""
    if theme.risk_unit == "cell":
        return risk_layer(data.city.cells, "cell_code", data.alarms, ctx.incidents,
                          view.tile_crs, "网格风险五色图")
    return risk_layer(data.city.towns, "town_code", data.alarms, ctx.incidents, view.tile_crs)


LAYER = LayerSpec(KEY, 20, build)
