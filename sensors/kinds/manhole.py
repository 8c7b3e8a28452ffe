"""智能井盖 manhole cover (S13): tilt, water below the cover, open/closed. Dense in the streets."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    depth = float(meta.get("depth_cm", 150))
    water = state.get("water", depth * rng.uniform(0.6, 0.9))
    target = depth * 0.8 - ctx.rain * depth * 0.95      # rain fills the pipe
    water += float(np.clip(target - water, -8, 4)) + rng.normal(0, 0.5)
    water = float(np.clip(water, 0, 500))
    state["water"] = water
    opened = bool(state.get("open", False) or rng.random() < 0.00002)
    if opened and rng.random() < 0.05:
        opened = False
    state["open"] = opened
    return {"tilt_deg": round(abs(rng.normal(0.8, 0.3)) + (25.0 if opened else 0.0), 1),
            "water_cm": round(water, 1), "open": opened}


def demo_meta(rng: np.random.Generator) -> dict:
    """A demo manhole's depth."""
    return {"depth_cm": int(rng.integers(80, 300))}

KIND = Kind(
    name="manhole", label="智能井盖", dept="CG", category="0108", interval_s=60,
    count=1500, placement="cells", id_prefix="mh",
    metrics=(
        Metric("tilt_deg", "倾角", "°", 0, 180, senml_unit="deg"),
        Metric("water_cm", "井下水位距井盖", "cm", 0, 500),
        Metric("open", "井盖开启", "", 0, 1, type="bool"),
    ),
    rules=(
        Rule("tilt", "tilt_deg", "井盖倾角", (5.0, 10.0, 20.0, 45.0), hysteresis=1.0,
             min_duration_s=30),
        Rule("open", "open", "井盖开启", (None, None, 1.0, None)),
        Rule("water", "water_cm", "井下水位距井盖", (60.0, 40.0, 20.0, 5.0), direction="below",
             hysteresis=3.0, category="0302", min_duration_s=60),
    ),
    simulate=simulate,
    short_label="井盖", themes=("city_mgmt",), order=40, urban_share=0.8, demo_meta=demo_meta,
)
