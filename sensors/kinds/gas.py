"""危化气体监测 hazardous gas at chemical enterprises (S30, S31): ~40 enterprises × 5 in industrial
parks (金山, 城东, 蒲康, 长坡, 石鼓, 分界)."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    leak = state.get("leak", 0.0)
    if leak <= 0 and rng.random() < 0.00002:
        leak = 1.0
    leak = max(0.0, leak - 0.05)
    state["leak"] = leak
    return {"lel_pct": round(abs(rng.normal(1.0, 0.5)) + 40 * leak, 1),
            "h2s_ppm": round(abs(rng.normal(0.3, 0.2)) + 30 * leak, 2)}


KIND = Kind(
    name="gas", label="危化气体监测", dept="YJ", category="0501", interval_s=60,
    count=200, placement="industrial", id_prefix="gas",
    metrics=(
        Metric("lel_pct", "可燃气体浓度", "%LEL", 0, 100, senml_unit="%LEL"),
        Metric("h2s_ppm", "硫化氢", "ppm", 0, 500),
    ),
    rules=(
        # GB/T 50493: first alarm ≤25 %LEL, second ≤50 %LEL; blue/yellow are early warnings
        Rule("lel", "lel_pct", "可燃气体浓度", (10.0, 20.0, 25.0, 50.0), hysteresis=2.0),
        Rule("h2s", "h2s_ppm", "硫化氢", (5.0, 10.0, 20.0, 50.0), hysteresis=1.0),
    ),
    simulate=simulate,
    short_label="燃气", themes=("city_safety",), order=100, demo_name="气体探测器",
)
