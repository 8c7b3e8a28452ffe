"""图层登记 (layer registry): a map layer is one module of ``layers`` that declares ``LAYER``.

Like ``sensors.kinds`` (Home Assistant's one-module-per-platform without the list): every module
of this package that declares ``LAYER = LayerSpec(...)`` (or ``LAYERS``, a tuple, when one module
draws several, e.g. the four boundary layers) is found by ``pkgutil``; ``layers.compose`` draws
the specs a theme shows in ``LayerSpec.order`` (bottom to top) and ``layers.themes.LAYER_KEYS``
is their keys. Adding a layer to the 一张图 (M10, S7) is adding ``layers/<x>.py``; it joins a
theme either by the theme listing its key (``layers.themes``) or by declaring the theme in
``LayerSpec.themes``, so nothing else switches on a layer's key.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import pandas as pd

import layers as _package

if TYPE_CHECKING:
    from layers.compose import MapData, View
    from layers.legend import Layer
    from layers.themes import Theme

# Modules of the package that are the machinery around layers, not layers: compose and themes
# import this module, so discovering them from here would be an import cycle.
MACHINERY = frozenset({"registry", "compose", "themes"})


@dataclass(frozen=True)
class FigureContext:
    """What compose works out once per figure and every layer may read (so no layer recomputes
    it and all layers of a figure agree): the theme's open incidents and devices, and whether
    the view aggregates devices into hexagons."""

    incidents: pd.DataFrame      # open incidents of the theme's categories (layers.incidents.normalise)
    sensors: pd.DataFrame        # the sensors the theme shows (empty when it shows none)
    cameras: pd.DataFrame        # the cameras the theme shows
    aggregate: bool              # a city view of many devices: hexagons + exceptions only
    hex_res: int                 # the H3 resolution of the device hexagons at this view


Build = Callable[["MapData", "Theme", "View", FigureContext], "Layer"]
Shown = Callable[["Theme", FigureContext], bool]


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the 一张图: its key (trace metas and ``Theme.layers`` use it), its place
    bottom-to-top, how to build it, and which themes show it.

    ``themes``: theme codes that show this layer besides those that list its key (the way a
    sensor kind declares ``Kind.themes``). ``shown``: when the layer is drawn; by default when the
    theme shows its key (the hexagons instead follow the view: ``FigureContext.aggregate``).
    ``in_legend``: whether its legend goes to the wall's legend panel (boundaries do not).
    """

    key: str
    order: int
    build: Build
    themes: tuple[str, ...] = ()
    shown: Shown | None = None
    in_legend: bool = True

    def drawn(self, theme: Theme, ctx: FigureContext) -> bool:
        """Whether a figure of ``theme`` draws this layer."""
        return self.shown(theme, ctx) if self.shown is not None else self.key in theme.layers


def discover() -> tuple[LayerSpec, ...]:
    """Every ``LAYER``/``LAYERS`` declared by a module of ``layers``, bottom to top (order, key)."""
    found: list[LayerSpec] = []
    for info in pkgutil.iter_modules(_package.__path__):
        if info.name in MACHINERY:
            continue
        mod = importlib.import_module(f"{_package.__name__}.{info.name}")
        declared = getattr(mod, "LAYERS", ())
        single = getattr(mod, "LAYER", None)
        for spec in (*declared, *((single,) if single is not None else ())):
            if not isinstance(spec, LayerSpec):
                raise TypeError(f"{mod.__name__}: LAYER/LAYERS 须为 LayerSpec (must be LayerSpec), "
                                f"not {type(spec).__name__}")
            found.append(spec)
    keys = [s.key for s in found]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"图层键重复 {dup} (duplicate layer keys)")
    return tuple(sorted(found, key=lambda s: (s.order, s.key)))


@cache
def specs() -> tuple[LayerSpec, ...]:
    """The discovered layers, bottom to top (discovered once per process)."""
    return discover()


def keys() -> tuple[str, ...]:
    """Layer keys bottom to top: what ``Theme.layers`` may list."""
    return tuple(s.key for s in specs())


def declared_for(theme_code: str) -> tuple[str, ...]:
    """Keys of the layers that declare ``theme_code`` among their default themes."""
    return tuple(s.key for s in specs() if theme_code in s.themes)
