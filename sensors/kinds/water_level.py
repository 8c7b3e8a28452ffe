"""河道/水库水位 river, reservoir and pond water level (S35, S41b, S41c), relative to a warning level.

Each device's ``meta.warn_m`` is its warning level (警戒水位); the registry writes per-device
threshold overrides from it (meta ``thresholds``), so the kind defaults below are a fallback.
"""

from __future__ import annotations

import numpy as np

from sensors.kinds.base import Kind, Metric, Rule, SimContext


def thresholds_for(warn_m: float) -> list[float]:
    """Per-device levels around the warning level: blue 0.5 m below … red 1 m above (demo)."""
    return [round(warn_m - 0.5, 2), round(warn_m, 2), round(warn_m + 0.5, 2), round(warn_m + 1.0, 2)]


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    """Level wanders below the warning level; rain makes it rise ~1.5 m/h up to 1.2 m above."""
    warn = float(meta.get("warn_m", 10.0))
    normal = warn - float(meta.get("freeboard_m", 1.5))
    lvl = state.get("level", normal + rng.normal(0, 0.1))
    target = normal + ctx.rain * (warn + 1.2 - normal)
    # per reading: rises fast (faster in a storm), falls slowly
    step = (0.025 + 0.08 * ctx.rain) if target > lvl else 0.01
    lvl += float(np.clip(target - lvl, -step, step)) + rng.normal(0, 0.003)
    state["level"] = lvl
    return {"level_m": round(lvl, 3)}


def demo_meta(rng: np.random.Generator) -> dict:
    """A demo gauge: its warning level (警戒水位), freeboard and the per-device thresholds."""
    warn = round(float(rng.uniform(6, 30)), 1)
    return {"warn_m": warn, "freeboard_m": round(float(rng.uniform(1.2, 2.0)), 2),
            "thresholds": {"level": thresholds_for(warn)}}

KIND = Kind(
    name="water_level", label="水位监测", dept="SL", category="0306", interval_s=60,
    count=150, placement="rural_water", id_prefix="wl",
    metrics=(Metric("level_m", "水位", "m", -5, 200),),
    rules=(
        Rule("level", "level_m", "水位", (9.5, 10.0, 10.5, 11.0), hysteresis=0.1,
             min_duration_s=60),
        # water rising fast (涨水过快): rate of change over a 10 min window, m/h
        Rule("rise", "level_m", "水位上涨速率", (0.3, 0.5, 1.0, 2.0), hysteresis=0.1,
             mode="rate", unit="m/h", category="0301", tag="rise", window_s=300),
    ),
    simulate=simulate,
    short_label="水位", themes=("city_safety",), order=20, demo_meta=demo_meta,
)
