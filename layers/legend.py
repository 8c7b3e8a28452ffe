"""Legends (图例) and the layer bundle every layer module returns.

A wall has no hover, so each layer carries its own legend, drawn as HTML beside the map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Shape = Literal["dot", "ring", "square", "line", "hex", "wedge"]


@dataclass(frozen=True)
class LegendItem:
    """One swatch: colour, label and shape."""

    label: str
    color: str
    shape: Shape = "dot"


@dataclass(frozen=True)
class Legend:
    """图例: a titled list of swatches."""

    title: str
    items: tuple[LegendItem, ...]


@dataclass
class Layer:
    """图层: what one layer module produces.

    ``traces`` are plotly map traces (go.Scattermap / go.Choroplethmap); each one's ``meta`` is
    the layer key so that a theme can show or hide the whole layer by key. ``map_layers`` are
    ``layout.map.layers`` entries (GeoJSON lines/fills drawn by MapLibre, cheap for polygons).
    """

    key: str
    name: str
    traces: list = field(default_factory=list)
    map_layers: list[dict] = field(default_factory=list)
    legend: Legend | None = None
