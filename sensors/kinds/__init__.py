"""Device kinds (设备类型), one module each; ``KINDS`` maps a kind name to its ``Kind``."""

from __future__ import annotations

from sensors.kinds import (
    air_quality,
    bridge,
    camera,
    electrical,
    fire,
    gas,
    manhole,
    smart_pole,
    visitor_flow,
    water_level,
    water_quality,
    weather,
)
from sensors.kinds.base import LEVELS, SEVERITY, Kind, Metric, Rule, SimContext

KINDS: dict[str, Kind] = {k.name: k for k in (
    weather.KIND, water_level.KIND, manhole.KIND, smart_pole.KIND, bridge.KIND, fire.KIND,
    air_quality.KIND, water_quality.KIND, gas.KIND, electrical.KIND, visitor_flow.KIND)}
"""Sensor kinds of the demo (≈5,400 devices, seed-requirements §11)."""

CAMERA = camera.KIND
"""Cameras: status only, plus video-AI detections (``camera.AI_LABELS``)."""

__all__ = ["CAMERA", "KINDS", "LEVELS", "SEVERITY", "Kind", "Metric", "Rule", "SimContext"]
