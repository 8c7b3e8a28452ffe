"""一张图: compose the layers of a theme into one plotly map figure.

``compose(data, theme, view)`` returns the figure (dict, ready for dcc.Graph), the legends and the
trace index by ``meta``. The layers are the ones ``layers.registry`` discovers (one module each),
drawn bottom to top in their declared order; this module knows no layer by name. Static geometry
(boundaries, hexagon outlines) is cached per city, so a page load costs only the point arrays.

A new layer is one module ``layers/<x>.py`` (layers/grid_workers.py is the worked example)::

    def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer: ...
    LAYER = LayerSpec("<key>", order=85, build=build, themes=("city_mgmt",))

``order`` places it in the stack (boundaries 10–60, devices 70–80, resources 90, incidents 100,
alarms 110); ``themes`` adds it to those themes; ``ctx`` carries what every layer of the figure
shares (the theme's open incidents and devices, whether devices aggregate, the hexagon res).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from layers import basemap, hexbin, incidents
from layers.legend import Layer, Legend
from layers.registry import FigureContext, specs
from layers.themes import Theme
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
    # 应急模式 (IncidentService.emergency_state(): area GeoJSON, reason, until) or None: off
    emergency: dict | None = None
    # the situation in focus: {id, title, lon, lat, sources: [{lon, lat, channel}]} or None
    situation: dict | None = None


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


def figure_context(data: MapData, theme: Theme, view: View) -> FigureContext:
    """What every layer of this figure shares, worked out once (registry.FigureContext)."""
    inc = incidents.normalise(data.incidents, theme.categories)
    sens, cams = theme_devices(data, theme)
    # a city view of many devices: hexagons (worst state) + only the devices that are not normal
    aggregate = not view.force_raw and hexbin.use_aggregate(len(sens) + len(cams), view.zoom)
    return FigureContext(inc, sens, cams, aggregate, hex_res(view))


def build_layers(data: MapData, theme: Theme, view: View) -> list[Layer]:
    """The layers this figure of ``theme`` draws, bottom to top (``LayerSpec.order``)."""
    ctx = figure_context(data, theme, view)
    return [spec.build(data, theme, view, ctx) for spec in specs() if spec.drawn(theme, ctx)]


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
    in_legend = {s.key for s in specs() if s.in_legend}
    traces, map_layers, legends = [], [], []
    for lay in layers:
        traces += lay.traces
        # with a tile base map the tiles are the background: no territory fill over them
        map_layers += [m for m in lay.map_layers if not (view.tile_url and m["type"] == "fill")]
        if lay.legend is not None and lay.key in in_legend:
            legends.append(lay.legend)
    traces.append(highlight_trace())
    layout = basemap.map_layout(view.center, view.zoom, basemap.map_style(view.tile_url))
    layout["map"]["layers"] = map_layers
    figure = {"data": traces, "layout": layout}
    index = {t["meta"]: i for i, t in enumerate(traces) if t.get("meta")}
    return MapFigure(figure, legends, index, [lay.key for lay in layers])
