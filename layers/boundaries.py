"""边界图层: city, towns/streets (with names), villages/communities and grid cells.

Polygons go to ``layout.map.layers`` (MapLibre GeoJSON line/fill layers). Names are not map
text (no glyphs offline) but a label trace read by the wall's HTML overlay (assets/wall/labels.js),
which projects each name with the map's own projection so it stays glued to its town.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import geopandas as gpd

from layers import palette
from layers.basemap import to_display
from layers.geojson import feature_collection
from layers.legend import Layer, Legend, LegendItem
from layers.registry import FigureContext, LayerSpec
from layers.trace import scattermap

if TYPE_CHECKING:
    from grid.model import City
    from layers.compose import MapData, View
    from layers.themes import Theme

LABELS_META = "labels"   # the JS overlay finds the label trace by this ``meta``


def _line(source: dict, color: str, width: float, opacity: float = 1.0,
          minzoom: float | None = None) -> dict:
    # below="traces": MapLibre draws the line under every trace, so no dot is ever covered
    layer = {"sourcetype": "geojson", "source": source, "type": "line", "color": color,
             "line": {"width": width}, "opacity": opacity, "below": "traces"}
    if minzoom is not None:
        layer["minzoom"] = minzoom
    return layer


def _fill(source: dict, color: str, opacity: float) -> dict:
    return {"sourcetype": "geojson", "source": source, "type": "fill", "color": color,
            "opacity": opacity, "below": "traces"}


def city_layer(city: City, tile_crs: str = "wgs84") -> Layer:
    """市域: the county boundary, filled faintly so the territory reads against the background."""
    frame = gpd.GeoDataFrame({"name": [city.name]}, geometry=[city.boundary], crs="EPSG:4326")
    fc = feature_collection(frame, props=("name",), tolerance_deg=0.001, tile_crs=tile_crs)
    return Layer("city", "市域", [], [_fill(fc, palette.CITY_FILL, 0.85),
                                      _line(fc, palette.CITY_LINE, 3.5)],
                 Legend("边界", (LegendItem(f"{city.name}市域", palette.CITY_LINE, "line"),)))


def towns_layer(city: City, tile_crs: str = "wgs84") -> Layer:
    """镇/街道: boundaries plus the name labels (streets in a lighter tone than towns)."""
    fc = feature_collection(city.towns, "code", ("name",), tolerance_deg=0.0008, tile_crs=tile_crs)
    pts = city.towns.geometry.representative_point()
    lons, lats = to_display(pts.x.to_numpy(), pts.y.to_numpy(), tile_crs)
    labels = scattermap(
        lon=lons.round(5).tolist(), lat=lats.round(5).tolist(), mode="markers",
        text=city.towns["name"].tolist(), customdata=city.towns["kind"].tolist(),
        marker={"size": 1, "opacity": 0}, hoverinfo="skip", meta=LABELS_META, name="镇街名称")
    return Layer("towns", "镇街", [labels], [_line(fc, palette.TOWN_LINE, 1.6, 0.95)],
                 Legend("边界", (LegendItem("镇/街道界", palette.TOWN_LINE, "line"),)))


def villages_layer(city: City, tile_crs: str = "wgs84") -> Layer:
    """村/社区 boundaries (thin)."""
    fc = feature_collection(city.villages, "code", (), tolerance_deg=0.0006, tile_crs=tile_crs)
    return Layer("villages", "村社区", [], [_line(fc, palette.VILLAGE_LINE, 0.8, 0.9)],
                 Legend("边界", (LegendItem("村/社区界", palette.VILLAGE_LINE, "line"),)))


def cells_layer(city: City, tile_crs: str = "wgs84") -> Layer:
    """网格: the ~1,440 grid cells (one grid worker each), faint so they give texture only."""
    fc = feature_collection(city.cells, "code", (), tolerance_deg=0.0005, tile_crs=tile_crs)
    return Layer("cells", "网格", [], [_line(fc, palette.CELL_LINE, 0.6, 0.9)],
                 Legend("边界", (LegendItem("网格", palette.CELL_LINE, "line"),)))


def town_labels(city: City) -> list[dict]:
    """Name and anchor of every town/street: what the HTML overlay shows."""
    pts = city.towns.geometry.representative_point()
    return [{"name": n, "kind": k, "lon": float(p.x), "lat": float(p.y)}
            for n, k, p in zip(city.towns["name"], city.towns["kind"], pts, strict=True)]


# --- the registry's four boundary layers ---------------------------------------------------------
# Static geometry: built once per city, key and base-map CRS, so a page load costs only the points.
_BUILDERS = {"city": city_layer, "towns": towns_layer, "villages": villages_layer,
             "cells": cells_layer}
_CITIES: dict[tuple, City] = {}


def _city_key(city: City) -> tuple:
    key = (city.name, city.admin_code, id(city))
    _CITIES[key] = city
    return key


@lru_cache(maxsize=32)
def _cached(city_key: tuple, key: str, tile_crs: str) -> Layer:
    return _BUILDERS[key](_CITIES[city_key], tile_crs)


def boundary_layer(key: str, city: City, tile_crs: str = "wgs84") -> Layer:
    """The boundary layer ``key`` (city/towns/villages/cells) of ``city``, cached."""
    return _cached(_city_key(city), key, tile_crs)


def _spec(key: str, order: int) -> LayerSpec:
    def build(data: MapData, theme: Theme, view: View, ctx: FigureContext) -> Layer:
        return boundary_layer(key, data.city, view.tile_crs)
    # the legend panel leaves boundaries out: they are the base map, not a finding
    return LayerSpec(key, order, build, in_legend=False)


LAYERS = (_spec("city", 10), _spec("cells", 40), _spec("villages", 50), _spec("towns", 60))
