"""景区客流 scenic-spot visitor flow (S40): visitors in the spot; per-device limits from capacity."""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext, daily


def thresholds_for(capacity: int) -> list[float]:
    """Blue/yellow/orange/red at 70/80/90/100 % of the spot's capacity (demo default)."""
    return [round(capacity * f) for f in (0.7, 0.8, 0.9, 1.0)]


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    cap = int(meta.get("capacity", 5000))
    open_ = 8 <= ctx.hour <= 18
    share = max(0.0, 0.35 + 0.25 * daily(ctx.hour, 14)) * (1 - 0.8 * ctx.rain) if open_ else 0.01
    return {"visitors": int(max(0, cap * share + rng.normal(0, cap * 0.02)))}


def demo_meta(rng: np.random.Generator) -> dict:
    """A demo spot's capacity and the per-device thresholds from it."""
    cap = int(rng.integers(3, 21)) * 1000
    return {"capacity": cap, "thresholds": {"visitors": thresholds_for(cap)}}

KIND = Kind(
    name="visitor_flow", label="景区客流监测", dept="WL", category="0801", interval_s=60,
    count=30, placement="scenic", id_prefix="vf",
    metrics=(Metric("visitors", "在园人数", "人", 0, 200_000, senml_unit="count"),),
    rules=(Rule("visitors", "visitors", "在园人数", (7000.0, 8000.0, 9000.0, 10000.0),
                hysteresis=100.0, min_duration_s=120),),
    simulate=simulate,
    short_label="客流", themes=("tourism",), order=110, urban_share=0.1, demo_meta=demo_meta, demo_name="客流计数",
)
