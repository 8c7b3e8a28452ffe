"""桥梁结构健康监测 bridge structural health (S13, S34): strain and vibration; 4 per bridge."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext, daily


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    traffic = 0.5 + 0.5 * daily(ctx.hour, 17)
    return {"strain_ue": round(120 + 80 * traffic + 40 * daily(ctx.hour) + rng.normal(0, 10), 1),
            "vibration_mms": round(abs(rng.normal(1.0 + 2.0 * traffic, 0.5)), 2)}


KIND = Kind(
    name="bridge", label="桥梁健康监测", dept="JT", category="0503", interval_s=60,
    count=240, placement="bridges", id_prefix="br",
    metrics=(
        Metric("strain_ue", "应变", "µε", -3000, 3000, senml_unit="ue"),
        Metric("vibration_mms", "振动速度", "mm/s", 0, 500, senml_unit="mm/s"),
    ),
    rules=(
        Rule("strain", "strain_ue", "应变", (400.0, 600.0, 900.0, 1300.0), hysteresis=20.0,
             min_duration_s=60),
        Rule("vibration", "vibration_mms", "振动速度", (8.0, 15.0, 25.0, 40.0), hysteresis=1.0,
             min_duration_s=60),
    ),
    simulate=simulate,
    short_label="桥梁监测", themes=("city_safety", "transport"), order=80, urban_share=0.4,
)
