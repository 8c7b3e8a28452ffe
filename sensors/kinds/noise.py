"""噪声监测 environmental noise (声环境质量自动监测站), dB(A), against 《声环境质量标准》 GB 3096-2008.

GB 3096-2008 sets limits of the equivalent continuous A-weighted sound level LAeq per acoustic
function zone (声环境功能区, Table 1) for day (昼间 06:00–22:00) and night (夜间 22:00–06:00):
1类 55/45, 2类 60/50, 3类 65/55, 4a类 70/55 dB(A). A station reports its LAeq every minute as
``laeq_db`` and, under the metric of the current period, as ``laeq_day_db`` or
``laeq_night_db``, so the day and night rules each see only their own period's readings (the
rules in Redis know no clock). Each device's zone is in its meta (``zone``) with its per-device
thresholds (meta ``thresholds``, like the water-level gauges); the kind defaults are 2类.

Levels (demo defaults, ASSUMPTION: the standard sets a limit, not warning levels): yellow when
the period's limit is exceeded (超标), red when it is exceeded by 10 dB(A) or more (严重超标);
either must hold for 5 minutes, so a passing truck does not raise an alarm.
"""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext, daily

ZONE_LIMITS: dict[str, tuple[float, float]] = {
    "1类": (55.0, 45.0), "2类": (60.0, 50.0), "3类": (65.0, 55.0), "4a类": (70.0, 55.0)}
"""GB 3096-2008 Table 1: zone → (day, night) LAeq limit, dB(A)."""
SEVERE_DB = 10.0
"""Exceedance at which the red level starts (demo default)."""
DAY_HOURS = (6.0, 22.0)
"""昼间 06:00–22:00, 夜间 22:00–06:00 (GB 3096-2008 §3.6, §3.7)."""


def is_day(hour: float) -> bool:
    return DAY_HOURS[0] <= hour < DAY_HOURS[1]


def thresholds_for(limit: float) -> list[float | None]:
    """Blue none, yellow at the limit, orange none, red at limit + SEVERE_DB."""
    return [None, limit, None, limit + SEVERE_DB]


def demo_meta(rng: np.random.Generator) -> dict:
    """A demo station: its zone (mostly 2类 mixed residential/commercial, 4a类 by main roads)
    and the per-device day/night thresholds of that zone."""
    zone = str(rng.choice(list(ZONE_LIMITS), p=[0.2, 0.45, 0.15, 0.2]))
    day, night = ZONE_LIMITS[zone]
    return {"zone": zone, "thresholds": {"day": thresholds_for(day),
                                         "night": thresholds_for(night)}}


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    """Some 6 dB(A) under the zone's limit by day (peaking mid-afternoon), 5 under at night; now
    and then a loud episode (construction, an event) of +12..18 dB(A) that fades over ~1 h."""
    day_lim, night_lim = ZONE_LIMITS.get(str(meta.get("zone")), ZONE_LIMITS["2类"])
    day = is_day(ctx.hour)
    base = day_lim - 6.0 + 2.5 * daily(ctx.hour, 15.0) if day else night_lim - 5.0
    loud = float(state.get("loud", 0.0))
    if loud <= 0 and rng.random() < 0.0002:
        loud = float(rng.uniform(12.0, 18.0))
    loud = max(0.0, loud - 0.25)
    state["loud"] = loud
    leq = round(float(np.clip(base + loud + rng.normal(0, 1.5), 25.0, 130.0)), 1)
    return {"laeq_db": leq, "laeq_day_db" if day else "laeq_night_db": leq}


KIND = Kind(
    name="noise", label="噪声监测", dept="STHJ", category="06", interval_s=60,
    count=100, placement="cells", id_prefix="ns",
    metrics=(
        Metric("laeq_db", "等效声级", "dB(A)", 20, 140, senml_unit="dBA"),
        Metric("laeq_day_db", "昼间等效声级", "dB(A)", 20, 140, senml_unit="dBA"),
        Metric("laeq_night_db", "夜间等效声级", "dB(A)", 20, 140, senml_unit="dBA"),
    ),
    rules=(
        Rule("day", "laeq_day_db", "昼间噪声", tuple(thresholds_for(ZONE_LIMITS["2类"][0])),
             hysteresis=1.0, min_duration_s=300),
        Rule("night", "laeq_night_db", "夜间噪声", tuple(thresholds_for(ZONE_LIMITS["2类"][1])),
             hysteresis=1.0, min_duration_s=300),
    ),
    simulate=simulate,
    short_label="噪声", themes=("city_mgmt", "ecology"), order=120, urban_share=0.7,
    demo_meta=demo_meta,
)
