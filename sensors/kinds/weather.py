"""自动气象站 automatic weather station: one per village (S19, Q4 "村村有自动气象站")."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext, daily


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    """Warm humid south-China day; showers now and then; a rain scenario brings a rainstorm whose
    intensity builds and wanders smoothly around the station's own peak (rain is autocorrelated)."""
    shower = max(0.0, rng.gamma(0.3, 2.0) - 0.8) if rng.random() < 0.05 else 0.0
    peak = state.setdefault("peak", float(rng.uniform(55, 95)))
    cur = state.get("rain", 0.0)
    cur += 0.35 * (ctx.rain * peak - cur) + rng.normal(0, 1.5) * ctx.rain
    state["rain"] = cur = max(0.0, cur)
    rain = cur + shower
    return {"rain_mmh": round(rain, 1),
            "wind_ms": round(abs(rng.normal(2.5 + 6 * ctx.rain, 1.2)), 1),
            "temp_c": round(26 + 5 * daily(ctx.hour) - 4 * ctx.rain + rng.normal(0, 0.3), 1),
            "humidity": round(min(100.0, 75 - 12 * daily(ctx.hour) + 25 * ctx.rain
                                  + rng.normal(0, 2)), 1)}


KIND = Kind(
    name="weather", label="自动气象站", dept="QX", category="0304", interval_s=60,
    count=480, placement="village_each", id_prefix="aws",
    metrics=(
        Metric("rain_mmh", "雨强", "mm/h", 0, 300),
        Metric("wind_ms", "风速", "m/s", 0, 75),
        Metric("temp_c", "气温", "°C", -40, 60, senml_unit="Cel"),
        Metric("humidity", "相对湿度", "%", 0, 100, senml_unit="%RH"),
    ),
    rules=(
        # demo default: rainstorm signal levels as hourly intensity (暴雨预警, mm/h)
        Rule("rain", "rain_mmh", "雨强", (16.0, 30.0, 50.0, 80.0), hysteresis=3.0,
             min_duration_s=120, tag="rain"),
        # Beaufort 6/8/10/12 (大风预警)
        Rule("wind", "wind_ms", "风速", (10.8, 17.2, 24.5, 32.7), hysteresis=1.0,
             min_duration_s=60),
        # 高温预警 has no blue level
        Rule("heat", "temp_c", "气温", (None, 35.0, 37.0, 40.0), hysteresis=0.5,
             min_duration_s=600),
    ),
    simulate=simulate,
    short_label="气象站", themes=("city_safety", "ecology"), order=10,
)
