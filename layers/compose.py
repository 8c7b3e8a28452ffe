"""一张图: compose the layers of a theme into one plotly map figure.

``compose(data, theme, view)`` returns the figure (dict, ready for dcc.Graph), the legends and the
trace index by ``meta``. Static geometry (boundaries, hexagon outlines) is cached per city, so a
page load costs only the point arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

from layers import alarms as alarms_mod
from layers import basemap, boundaries, cameras, hexbin, incidents, resources, risk, sensors
from layers.legend import Layer, Legend
from layers.themes import LAYER_KEYS, Theme
from layers.trace import scattermap

if TYPE_CHECKING:
    from grid.model import City


@dataclass
class MapData:
    """Everything the map draws: plain frames in the contracts' shapes (docs/architecture.md)."""

    city: City
    sensors: pd.DataFrame                    # id, type, lon, lat (+ optional h3_<res>)
    cameras: pd.DataFrame                    # id, cls, lon, lat, heading_deg, fov_deg, range_m
    states: dict[str, str] | pd.Series      # om:dev:state
    incidents: pd.DataFrame                  # open incidents (layers.incidents columns)
    alarms: pd.DataFrame                     # active episodes (layers.alarms.fold)
    resources: pd.DataFrame                  # layers.resources columns


@dataclass
class View:
    """Where the map looks and what base map it uses."""

    center: dict
    zoom: float
    tile_url: str | None = None
    tile_crs: str = "wgs84"
    size_scale: float = 1.0                  # 2.0 on a 4K wall: dots keep their size at 5 m
    force_raw: bool = False                  # the naive baseline: never aggregate
    bbox: tuple[float, float, float, float] | None = None   # what the view shows (zoomed in)


@dataclass
class MapFigure:
    figure: dict
    legends: list[Legend] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)


@lru_cache(maxsize=8)
def _boundary_layers(city_key: tuple, tile_crs: str) -> dict[str, Layer]:
    city = _CITIES[city_key]
    return {"city": boundaries.city_layer(city, tile_crs),
            "towns": boundaries.towns_layer(city, tile_crs),
            "villages": boundaries.villages_layer(city, tile_crs),
            "cells": boundaries.cells_layer(city, tile_crs)}


_CITIES: dict[tuple, City] = {}


def _city_key(city: City) -> tuple:
    key = (city.name, city.admin_code, id(city))
    _CITIES[key] = city
    return key


def build_layers(data: MapData, theme: Theme, view: View) -> list[Layer]:
    """The theme's layers, bottom to top (the order of themes.LAYER_KEYS)."""
    wanted = set(theme.layers)
    bl = _boundary_layers(_city_key(data.city), view.tile_crs)
    out: list[Layer] = []
    inc = incidents.normalise(data.incidents, theme.categories)
    sens, cams = theme_devices(data, theme)
    # a city view of many devices: hexagons (worst state) + only the devices that are not normal
    aggregate = not view.force_raw and hexbin.use_aggregate(len(sens) + len(cams), view.zoom)
    for key in LAYER_KEYS:
        if key in ("city", "towns", "villages", "cells") and key in wanted:
            out.append(bl[key])
        elif key == "risk" and key in wanted:
            if theme.risk_unit == "cell":
                out.append(risk.risk_layer(data.city.cells, "cell_code", data.alarms, inc,
                                           view.tile_crs, "网格风险五色图"))
            else:
                out.append(risk.risk_layer(data.city.towns, "town_code", data.alarms, inc,
                                           view.tile_crs))
        elif key == "hex_devices" and aggregate:
            out.append(hexbin.devices_hex_layer([sens, cams], data.states,
                                                res=hex_res(view), tile_crs=view.tile_crs))
        elif key == "sensors" and key in wanted:
            out.append(sensors.sensors_layer(sens, data.states, tile_crs=view.tile_crs,
                                             size_scale=view.size_scale,
                                             exceptions_only=aggregate))
        elif key == "cameras" and key in wanted:
            out.append(cameras.cameras_layer(cams, data.states, tile_crs=view.tile_crs,
                                             zoom=view.zoom, size_scale=view.size_scale,
                                             exceptions_only=aggregate, bbox=view.bbox))
        elif key == "resources" and key in wanted:
            out.append(resources.resources_layer(data.resources, theme.resource_kinds,
                                                 view.tile_crs, view.size_scale))
        elif key == "incidents" and key in wanted:
            out.append(incidents.incidents_layer(inc, tile_crs=view.tile_crs,
                                                 size_scale=view.size_scale))
        elif key == "alarms" and key in wanted:
            out.append(alarms_mod.alarms_layer(data.alarms, view.tile_crs, view.size_scale))
    return out


def hex_res(view: View) -> int:
    """The H3 resolution of this view's device hexagons (hexbin.res_for_zoom)."""
    return hexbin.res_for_zoom(view.zoom, float(view.center["lat"]))


def theme_devices(data: MapData, theme: Theme) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sensors and cameras a theme shows (empty when it shows none)."""
    sens = data.sensors.iloc[0:0]
    cams = data.cameras.iloc[0:0]
    if "sensors" in theme.layers:
        sens = data.sensors if theme.sensor_types is None else \
            data.sensors[data.sensors["type"].isin(theme.sensor_types)]
    if "cameras" in theme.layers:
        cams = data.cameras if theme.camera_classes is None else \
            data.cameras[data.cameras["cls"].isin(theme.camera_classes)]
    return sens, cams


def highlight_trace() -> dict:
    """新到高亮: rings around what just arrived; the live tick fills it and clears it again."""
    return scattermap(lon=[], lat=[], mode="markers", customdata=[],
                         marker={"color": "#ffffff", "size": [], "opacity": 0.55},
                         hoverinfo="skip", meta="highlight", name="新到")


def compose(data: MapData, theme: Theme, view: View) -> MapFigure:
    """The theme's figure: traces in layer order, then the highlight trace on top."""
    layers = build_layers(data, theme, view)
    traces, map_layers, legends = [], [], []
    for lay in layers:
        traces += lay.traces
        # with a tile base map the tiles are the background: no territory fill over them
        map_layers += [m for m in lay.map_layers if not (view.tile_url and m["type"] == "fill")]
        if lay.legend is not None and lay.key not in ("villages", "cells", "city", "towns"):
            legends.append(lay.legend)
    traces.append(highlight_trace())
    layout = basemap.map_layout(view.center, view.zoom, basemap.map_style(view.tile_url))
    layout["map"]["layers"] = map_layers
    figure = {"data": traces, "layout": layout}
    index = {t["meta"]: i for i, t in enumerate(traces) if t.get("meta")}
    return MapFigure(figure, legends, index, [lay.key for lay in layers])
