"""电气安全监测 electrical-fire and power monitors (S18, S22): leakage current, cable temperature,
voltage."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext, daily


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    load = 0.5 + 0.4 * daily(ctx.hour, 20)
    return {"leak_ma": round(abs(rng.normal(25 + 20 * load, 8)), 1),
            "cable_temp_c": round(30 + 15 * load + rng.normal(0, 1), 1),
            "voltage_v": round(rng.normal(224 - 6 * load, 1.5), 1)}


KIND = Kind(
    name="electrical", label="电气安全监测", dept="XF", category="0402", interval_s=60,
    count=300, placement="cells", id_prefix="el",
    metrics=(
        Metric("leak_ma", "剩余电流", "mA", 0, 5000),
        Metric("cable_temp_c", "线缆温度", "°C", -40, 250, senml_unit="Cel"),
        Metric("voltage_v", "电压", "V", 0, 500),
    ),
    rules=(
        Rule("leak", "leak_ma", "剩余电流", (150.0, 300.0, 500.0, 1000.0), hysteresis=20.0,
             min_duration_s=30),
        Rule("cable_temp", "cable_temp_c", "线缆温度", (55.0, 65.0, 75.0, 90.0), hysteresis=2.0,
             min_duration_s=60),
        Rule("undervoltage", "voltage_v", "电压", (198.0, 187.0, 176.0, 150.0), direction="below",
             hysteresis=2.0, min_duration_s=60, category="1002"),
    ),
    simulate=simulate,
    short_label="电气火灾", themes=("city_safety",), order=60, urban_share=0.6,
)
