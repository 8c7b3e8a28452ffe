"""水质/污染源在线监测 water quality and pollution-source monitors (S26, S32)."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext, daily


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    return {"ph": round(7.3 + rng.normal(0, 0.08), 2),
            "do_mgl": round(max(0.0, 7.0 - 0.8 * daily(ctx.hour) - 2 * ctx.rain + rng.normal(0, 0.2)), 2),
            "nh3n_mgl": round(abs(0.4 + 0.6 * ctx.rain + rng.normal(0, 0.05)), 3)}


KIND = Kind(
    name="water_quality", label="水质监测", dept="STHJ", category="0602", interval_s=60,
    count=120, placement="rural_water", id_prefix="wq",
    metrics=(
        Metric("ph", "pH", "pH", 0, 14),
        Metric("do_mgl", "溶解氧", "mg/L", 0, 20, senml_unit="mg/L"),
        Metric("nh3n_mgl", "氨氮", "mg/L", 0, 100, senml_unit="mg/L"),
    ),
    rules=(
        # GB 3838 class III limits as the yellow line (demo default)
        Rule("ph_high", "ph", "pH", (8.5, 9.0, 9.5, 10.5), hysteresis=0.1, min_duration_s=600),
        Rule("ph_low", "ph", "pH", (6.5, 6.0, 5.5, 4.5), direction="below", hysteresis=0.1,
             min_duration_s=600),
        Rule("do", "do_mgl", "溶解氧", (6.0, 5.0, 3.0, 2.0), direction="below", hysteresis=0.2,
             min_duration_s=600),
        Rule("nh3n", "nh3n_mgl", "氨氮", (0.5, 1.0, 1.5, 2.0), hysteresis=0.05, min_duration_s=600),
    ),
    simulate=simulate,
    short_label="水质", themes=("ecology",), order=30,
)
