"""Redis keys of the sensing package (物联感知). The only place a sensors key name is spelled.

Cross-package contracts (docs/architecture.md): ``ALARMS``, ``DEV_STATE``, ``dev_last(id)``.
The Lua scripts receive these names as arguments (``script_keys()``), never spell them.
"""

from __future__ import annotations

from grid import keyspace as _ks

_CITY_NAMES = {
    "PREFIX": "",
    # Stream of alarm-episode events (raise | level | clear); consumed by incidents group ``intake``.
    "ALARMS": "alarms",
    # Hash device id → normal | warning | alarm | offline (one HGETALL colours every device).
    "DEV_STATE": "dev:state",
    # Hash per device (``dev_last(id)``): ts, metrics (JSON), level, online.
    "DEV_LAST": "dev:last:",
    # Stream per device (``dev_hist(id)``): bounded history of readings (MAXLEN ~ setting).
    "DEV_HIST": "dev:hist:",
    # Sorted set device id → epoch ms when last heard from (telemetry or status).
    "DEV_SEEN": "dev:seen",
    # Hash device id → epoch ms of its last-will / status 'offline' message.
    "DEV_LWT": "dev:lwt",
    # Hash per device: rule id → open level (1..4); the device state is the maximum.
    "DEV_LEVELS": "dev:lv:",
    # Hash per (device, rule): open alarm episode and its pending (minimum-duration) candidate.
    "EPISODE": "alarm:ep:",
    # Hash device id → comma list of rule ids with an open or pending episode (lets quiet readings
    # skip the rules).
    "DEV_ACTIVE": "dev:act",
    # Hash per device: rule id → "ts,value,rate" anchor of a rate-of-change rule.
    "RATE_ANCHOR": "dev:rate:",
    # Set per (village, tag), e.g. rain / rise: devices with an open episode of that tag.
    "CONDITION": "alarm:cond:",
    # Sorted set episode key → last detection ms of open video-AI episodes (cleared when quiet).
    "AI_OPEN": "alarm:ai_open",
    # Set of device ids with an open 设备故障 (device fault) episode.
    "FAULTS_OPEN": "alarm:faults",
    # Hash camera id → "lon,lat,heading,ts" of mobile cameras (tour buses, boats).
    "CAM_POS": "cam:pos",
    # Stream of rejected messages: reason, topic, detail, raw (base64, bounded), device_id, ts.
    "DEADLETTER": "dlq",
    # Hash reason → count of rejected messages.
    "DLQ_BY_REASON": "dlq:by_reason",
    # Hash reason → count of dead letters replayed from /ops after their cause was fixed.
    "DLQ_REPLAYED": "dlq:replayed",
    # Hash ``total`` → count of dead letters an operator marked 已处理 (dropped from the stream).
    "DLQ_ACKED": "dlq:acked",
    # Hash device id (or '?') → count of rejected messages.
    "DLQ_BY_DEVICE": "dlq:by_device",
    # Hash counter → value: messages, readings, rejected, batches (all ingest workers together).
    "INGEST_STATS": "ingest:stats",
    # Short lock so that concurrent health checkers do not do the same sweep twice in a period.
    "HEALTH_LOCK": "health:lock",
}
"""The constant names (``keys.ALARMS`` …), spelled at each access under the current city
(``om:alarms`` untagged, ``om:{<city>}:alarms`` tagged: grid/keyspace.py)."""
__getattr__ = _ks.lazy_names(globals(), _CITY_NAMES)


def _k(name: str) -> str:
    return _ks.city() + _CITY_NAMES[name]


def dev_last(device_id: str) -> str:
    return _k("DEV_LAST") + device_id


def dev_hist(device_id: str) -> str:
    return _k("DEV_HIST") + device_id


def episode(device_id: str, rule_id: str) -> str:
    return f"{_k('EPISODE')}{device_id}:{rule_id}"


def script_keys() -> dict[str, str]:
    """Key names and prefixes handed to the Lua scripts (so the scripts spell none)."""
    names = {"state": "DEV_STATE", "last": "DEV_LAST", "hist": "DEV_HIST", "seen": "DEV_SEEN",
             "lv": "DEV_LEVELS", "act": "DEV_ACTIVE", "ep": "EPISODE", "rate": "RATE_ANCHOR",
             "cond": "CONDITION", "alarms": "ALARMS", "ai_open": "AI_OPEN", "faults": "FAULTS_OPEN",
             "lwt": "DEV_LWT"}
    return {short: _k(name) for short, name in names.items()}


def script_keys_json() -> str:
    import json  # noqa: PLC0415

    return json.dumps(script_keys(), separators=(",", ":"))
