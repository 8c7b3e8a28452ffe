"""摄像机 camera (雪亮工程, V1–V33): no telemetry, a status heartbeat from the video platform and
video-AI detections (智能发现, V22). No face or vehicle data is taken or stored (V15, SEC2)."""

from __future__ import annotations

import numpy as np

from sensors import defaults
from sensors.kinds.base import Kind, Metric, Rule, SimContext

AI_LABELS: dict[str, tuple[str, str, int]] = {
    # label: (Chinese, incident category, level 1..4) — demo defaults
    "smoke_fire": ("烟火", "0401", 3),
    "illegal_parking": ("违章停车", "0106", 1),
    "street_vending": ("占道经营", "0105", 1),
    "garbage_overflow": ("垃圾满溢", "0107", 1),
    "crowding": ("人员聚集", "0203", 2),
    "water_on_road": ("道路积水", "0302", 2),
}


def ai_rule(label: str) -> Rule:
    """Event rule of a video-AI label: a confident detection raises at the label's level."""
    cn, category, level = AI_LABELS[label]
    t: list[float | None] = [None, None, None, None]
    t[level - 1] = defaults.AI_MIN_CONFIDENCE
    return Rule(f"ai_{label}", "confidence", f"视频AI识别{cn}，置信度", tuple(t),  # type: ignore[arg-type]
                mode="event", category=category)


def simulate(rng: np.random.Generator, meta: dict, ctx: SimContext, state: dict) -> dict:
    return {}


KIND = Kind(
    name="camera", label="视频监控", dept="GA", category="1102",
    interval_s=defaults.CAMERA_HEARTBEAT_S, count=4780, placement="cameras", id_prefix="cam",
    metrics=(Metric("confidence", "置信度", "", 0, 1, senml_unit="/"),),
    rules=tuple(ai_rule(lb) for lb in AI_LABELS),
    simulate=simulate,
)
