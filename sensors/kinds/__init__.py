"""Device kinds (设备类型), one module each, found by discovery: ``KINDS`` maps a kind name to its
``Kind``.

Home Assistant's one-module-per-platform idea without the list: every module of this package
that declares ``KIND = Kind(...)`` is a kind (``pkgutil`` over the package), in ``Kind.order``.
Adding a kind is adding ``sensors/kinds/<kind>.py``; registry placement (``Kind.placement``,
``sensors.placement``), legends (``Kind.short_label``) and the themes' maps (``Kind.themes``)
read what the kind declares, and nothing outside this package switches on a kind's name.
"""

from __future__ import annotations

import importlib
import pkgutil

from sensors.kinds.base import LEVELS, SEVERITY, Kind, Metric, Rule, SimContext


def discover() -> list[Kind]:
    """Every ``KIND`` declared by a module of this package, in (order, name)."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(mod, "KIND", None)
        if isinstance(kind, Kind):
            found.append(kind)
    return sorted(found, key=lambda k: (k.order, k.name))


_ALL = discover()

CAMERA: Kind = next(k for k in _ALL if k.placement == "cameras")
"""Cameras: status only, plus video-AI detections (``camera.AI_LABELS``); placed by the
registry's camera generator, not a sensor placement."""

KINDS: dict[str, Kind] = {k.name: k for k in _ALL if k is not CAMERA}
"""Sensor kinds (≈5,500 demo devices, seed-requirements §11), in ``Kind.order``."""


def in_theme(code: str) -> tuple[str, ...]:
    """Names of the sensor kinds a 专题 (layers.themes code) shows."""
    return tuple(k.name for k in KINDS.values() if code in k.themes)


__all__ = ["CAMERA", "KINDS", "LEVELS", "SEVERITY", "Kind", "Metric", "Rule", "SimContext",
           "discover", "in_theme"]
