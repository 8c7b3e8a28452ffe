"""What a device kind is (设备类型): metrics with units and physical ranges, rules with demo-default
thresholds, the incident category of its alarms, and how the simulator makes it behave.

In the style of a Home Assistant MQTT integration: one module per kind (``sensors/kinds/<kind>.py``)
declares ``KIND``; nothing else in the package knows a kind's details.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from grid import contracts
from sensors import defaults

# Alarm levels 蓝/黄/橙/红 (index + 1 = level number 1..4) and the incident severity of each
# (IV..I 级): the om:alarms stream contract, defined once in grid.contracts.
LEVELS = contracts.LEVELS
LEVEL_CN = contracts.LEVEL_CN
SEVERITY = contracts.SEVERITY_OF_LEVEL

Thresholds = tuple[float | None, float | None, float | None, float | None]


@dataclass(frozen=True)
class Metric:
    """One measured quantity: name in payloads, Chinese label, unit, physical range."""

    name: str
    label: str
    unit: str
    lo: float
    hi: float
    # "string"/"data": a SenML ``vs``/``vd`` value, recorded in the reading, never a rule input
    type: Literal["float", "bool", "string", "data"] = "float"
    senml_unit: str | None = None   # SenML unit (RFC 8428/8798 or OneMap extension, sensors.senml_units)

    def accepts_unit(self, unit: str) -> bool:
        return unit in (self.unit, self.senml_unit)


@dataclass(frozen=True)
class Rule:
    """A threshold rule (超标预警, S9) on one metric.

    ``thresholds`` are the limits of the blue/yellow/orange/red levels (None: no such level),
    increasing for ``above``, decreasing for ``below``. A level is entered when the value crosses
    its limit and left only when it is back by ``hysteresis``; either change must hold for
    ``min_duration_s`` (reading time) first, so a value oscillating at a limit does not flap.
    ``mode="rate"`` applies the limits to the rate of change per hour over ``window_s``
    (water rising fast); ``mode="event"`` (video AI) raises on a detection and clears when quiet.
    ``tag`` marks rules that feed combined rules (``rain`` + ``rise`` in one village).
    """

    id: str
    metric: str
    label: str
    thresholds: Thresholds
    direction: Literal["above", "below"] = "above"
    hysteresis: float = 0.0
    min_duration_s: float = defaults.DEFAULT_MIN_DURATION_S
    category: str | None = None
    mode: Literal["value", "rate", "event"] = "value"
    unit: str | None = None          # display unit when not the metric's (rate: "m/h")
    tag: str | None = None
    window_s: float = defaults.RATE_WINDOW_S


@dataclass
class SimContext:
    """What the simulator knows when it asks a kind for a reading."""

    t: float                  # epoch seconds
    hour: float               # local hour of day, 0..24
    rain: float = 0.0         # scenario: heavy rain intensity in the device's town, 0..1
    fire: float = 0.0         # scenario: fire intensity at the device's building, 0..1


SimFn = Callable[[np.random.Generator, dict, SimContext, dict], dict]
"""simulate(rng, meta, ctx, state) -> metrics; ``state`` is the device's mutable memory."""


@dataclass(frozen=True)
class Kind:
    """A device kind: the contract between the registry, ingest, rules and simulator."""

    name: str
    label: str
    dept: str                 # owner department code (grid.categories.DEMO_DEPARTMENTS)
    category: str             # default incident category of its alarms (grid.categories)
    interval_s: int           # reporting interval
    count: int                # demo count (seed-requirements §11; ASSUMPTION unless noted)
    placement: str            # demo placement strategy, see sensors.placement
    metrics: tuple[Metric, ...]
    rules: tuple[Rule, ...]
    simulate: SimFn
    id_prefix: str
    meta: dict = field(default_factory=dict)
    # what the rest of OneMap asks a kind instead of switching on its name:
    short_label: str = ""     # legend / map label (物联感知 水位123·井盖…); default: label
    themes: tuple[str, ...] = ()   # 专题 codes (layers.themes) whose maps show this kind
    order: int = 100          # display order, and the order the demo's devices are generated in
    urban_share: float = 0.5  # placement: share of demo devices in urban streets (sensors.placement)
    demo_meta: Callable[[np.random.Generator], dict] | None = None   # per demo device metadata
    demo_name: str = ""       # demo device name suffix (default: label)

    @property
    def metric_map(self) -> dict[str, Metric]:
        return {m.name: m for m in self.metrics}

    @property
    def short(self) -> str:
        """The short label (legends), or the label."""
        return self.short_label or self.label


def daily(hour: float, peak_hour: float = 14.0) -> float:
    """A daily cycle in -1..1 peaking at ``peak_hour``."""
    return math.cos(2 * math.pi * (hour - peak_hour) / 24.0)
