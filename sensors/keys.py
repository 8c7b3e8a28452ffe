"""Redis keys of the sensing package (物联感知). The only place a sensors key name is spelled.

Cross-package contracts (docs/architecture.md): ``ALARMS``, ``DEV_STATE``, ``dev_last(id)``.
The Lua scripts receive these names as arguments (``script_keys()``), never spell them.
"""

from __future__ import annotations

PREFIX = "om:"

ALARMS = "om:alarms"
"""Stream of alarm-episode events (raise | level | clear); consumed by incidents group ``intake``."""

DEV_STATE = "om:dev:state"
"""Hash device id → normal | warning | alarm | offline (one HGETALL colours every device)."""

DEV_LAST = "om:dev:last:"
"""Hash per device (``dev_last(id)``): ts, metrics (JSON), level, online."""

DEV_HIST = "om:dev:hist:"
"""Stream per device (``dev_hist(id)``): bounded history of readings (MAXLEN ~ setting)."""

DEV_SEEN = "om:dev:seen"
"""Sorted set device id → epoch ms when last heard from (telemetry or status)."""

DEV_LWT = "om:dev:lwt"
"""Hash device id → epoch ms of its last-will / status 'offline' message."""

DEV_LEVELS = "om:dev:lv:"
"""Hash per device: rule id → open level (1..4); the device state is the maximum."""

EPISODE = "om:alarm:ep:"
"""Hash per (device, rule): open alarm episode and its pending (minimum-duration) candidate."""

DEV_ACTIVE = "om:dev:act"
"""Hash device id → comma list of rule ids with an open or pending episode (lets quiet readings
skip the rules)."""

RATE_ANCHOR = "om:dev:rate:"
"""Hash per device: rule id → "ts,value,rate" anchor of a rate-of-change rule."""

CONDITION = "om:alarm:cond:"
"""Set per (village, tag), e.g. rain / rise: devices with an open episode of that tag."""

AI_OPEN = "om:alarm:ai_open"
"""Sorted set episode key → last detection ms of open video-AI episodes (cleared when quiet)."""

FAULTS_OPEN = "om:alarm:faults"
"""Set of device ids with an open 设备故障 (device fault) episode."""

CAM_POS = "om:cam:pos"
"""Hash camera id → "lon,lat,heading,ts" of mobile cameras (tour buses, boats)."""

DEADLETTER = "om:dlq"
"""Stream of rejected messages: reason, topic, detail, raw (base64, bounded), device_id, ts."""

DLQ_BY_REASON = "om:dlq:by_reason"
"""Hash reason → count of rejected messages."""

DLQ_REPLAYED = "om:dlq:replayed"
"""Hash reason → count of dead letters replayed from /ops after their cause was fixed."""

DLQ_ACKED = "om:dlq:acked"
"""Hash ``total`` → count of dead letters an operator marked 已处理 (dropped from the stream)."""

DLQ_BY_DEVICE = "om:dlq:by_device"
"""Hash device id (or '?') → count of rejected messages."""

INGEST_STATS = "om:ingest:stats"
"""Hash counter → value: messages, readings, rejected, batches (all ingest workers together)."""

HEALTH_LOCK = "om:health:lock"
"""Short lock so that concurrent health checkers do not do the same sweep twice in a period."""


def dev_last(device_id: str) -> str:
    return DEV_LAST + device_id


def dev_hist(device_id: str) -> str:
    return DEV_HIST + device_id


def episode(device_id: str, rule_id: str) -> str:
    return f"{EPISODE}{device_id}:{rule_id}"


def script_keys() -> dict[str, str]:
    """Key names and prefixes handed to the Lua scripts (so the scripts spell none)."""
    return {"state": DEV_STATE, "last": DEV_LAST, "hist": DEV_HIST, "seen": DEV_SEEN,
            "lv": DEV_LEVELS, "act": DEV_ACTIVE, "ep": EPISODE, "rate": RATE_ANCHOR, "cond": CONDITION,
            "alarms": ALARMS, "ai_open": AI_OPEN, "faults": FAULTS_OPEN, "lwt": DEV_LWT}


def script_keys_json() -> str:
    import json  # noqa: PLC0415

    return json.dumps(script_keys(), separators=(",", ":"))
