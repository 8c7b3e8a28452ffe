"""空气质量微站 air-quality micro-station (S26, S27): PM2.5, PM10, O3."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext, daily


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    wash = 1.0 - 0.7 * ctx.rain
    return {"pm25": round(max(1.0, (32 + 12 * daily(ctx.hour, 8) + rng.normal(0, 4)) * wash), 1),
            "pm10": round(max(1.0, (55 + 18 * daily(ctx.hour, 8) + rng.normal(0, 6)) * wash), 1),
            "o3": round(max(1.0, 80 + 50 * daily(ctx.hour, 15) + rng.normal(0, 8)), 1)}


KIND = Kind(
    name="air_quality", label="空气质量监测", dept="STHJ", category="0601", interval_s=60,
    count=120, placement="cells", id_prefix="aq",
    metrics=(
        Metric("pm25", "PM2.5", "µg/m³", 0, 1000, senml_unit="ug/m3"),
        Metric("pm10", "PM10", "µg/m³", 0, 2000, senml_unit="ug/m3"),
        Metric("o3", "臭氧", "µg/m³", 0, 1200, senml_unit="ug/m3"),
    ),
    rules=(
        # HJ 633 AQI breakpoints (light → severe pollution), 1-hour values
        Rule("pm25", "pm25", "PM2.5", (75.0, 115.0, 150.0, 250.0), hysteresis=5.0,
             min_duration_s=600),
        Rule("pm10", "pm10", "PM10", (150.0, 250.0, 350.0, 420.0), hysteresis=10.0,
             min_duration_s=600),
        Rule("o3", "o3", "臭氧", (200.0, 300.0, 400.0, 800.0), hysteresis=10.0, min_duration_s=600),
    ),
    simulate=simulate,
    short_label="空气质量", themes=("ecology",), order=70, urban_share=0.35,
)
