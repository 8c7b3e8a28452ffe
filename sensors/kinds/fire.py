"""消防物联 fire IoT in key fire-safety units and ancient buildings (S24, S25, Q13 "数百幢"):
smoke detectors and hydrant/sprinkler water pressure, 5 devices per building (meta ``building``)."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    if meta.get("sensor") == "hydrant":
        return {"water_pressure_mpa": round(max(0.0, rng.normal(0.35, 0.02) - 0.25 * ctx.fire), 3)}
    smoke = abs(rng.normal(0.05, 0.03)) + ctx.fire * rng.uniform(6, 12)
    return {"smoke_obs": round(smoke, 2), "temp_c": round(24 + 40 * ctx.fire + rng.normal(0, 0.3), 1)}


KIND = Kind(
    name="fire", label="消防物联", dept="XF", category="0401", interval_s=60,
    count=1500, placement="buildings", id_prefix="fs",
    metrics=(
        Metric("smoke_obs", "烟雾浓度", "%/m", 0, 100, senml_unit="%/m"),
        Metric("temp_c", "温度", "°C", -40, 200, senml_unit="Cel"),
        Metric("water_pressure_mpa", "消防水压", "MPa", 0, 3, senml_unit="MPa"),
    ),
    rules=(
        Rule("smoke", "smoke_obs", "烟雾浓度", (1.0, 2.0, 3.5, 6.0), hysteresis=0.3),
        Rule("temp", "temp_c", "温度", (None, 45.0, 57.0, 70.0), hysteresis=2.0),
        Rule("pressure", "water_pressure_mpa", "消防水压", (0.15, 0.10, 0.07, 0.05),
             direction="below", hysteresis=0.02, min_duration_s=120, category="0402"),
    ),
    simulate=simulate,
    short_label="消防烟感", themes=("city_safety",), order=90, urban_share=0.6,
)
