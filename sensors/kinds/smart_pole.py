"""智慧灯杆 smart light pole (S15, S16): lamp, noise, PM2.5 and the emergency button (应急报警)."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext, daily


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    pressed = rng.random() < 0.00005
    return {"lamp_on": bool(ctx.hour >= 18.5 or ctx.hour < 6.5),
            "noise_db": round(55 + 8 * daily(ctx.hour, 12) + rng.normal(0, 3), 1),
            "pm25": round(max(1.0, 30 + 10 * daily(ctx.hour, 8) + rng.normal(0, 5)), 1),
            "button": bool(pressed)}


KIND = Kind(
    name="smart_pole", label="智慧灯杆", dept="CG", category="0103", interval_s=60,
    count=800, placement="cells", id_prefix="sp",
    metrics=(
        Metric("lamp_on", "路灯", "", 0, 1, type="bool"),
        Metric("noise_db", "噪声", "dB", 20, 140),
        Metric("pm25", "PM2.5", "µg/m³", 0, 1000, senml_unit="ug/m3"),
        Metric("button", "紧急求助按钮", "", 0, 1, type="bool"),
    ),
    rules=(
        # an emergency button press is at once a red 紧急求助; it clears when released
        Rule("button", "button", "紧急求助按钮", (None, None, None, 1.0), category="1004"),
        Rule("noise", "noise_db", "噪声", (70.0, 80.0, 90.0, 100.0), hysteresis=2.0,
             min_duration_s=300, category="0101"),
    ),
    simulate=simulate,
    short_label="智慧灯杆", themes=("city_mgmt", "transport"), order=50, urban_share=0.75,
)
