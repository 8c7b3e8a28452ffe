"""Dead letter (死信): every message the edge rejects, with why, where from and its raw bytes.

Nothing that arrives is silently lost: a rejected message goes to the bounded stream
``om:dlq`` (reason, topic, detail, device id, raw bytes base64-encoded and cut to
``DLQ_RAW_BYTES``, original size) and is counted per reason and per device, so the ops page can
show counts and the latest samples (``summary``, ``latest``).
"""

from __future__ import annotations

import base64
import time

import redis

from sensors import defaults, keys


def record(pipe: redis.client.Pipeline | redis.Redis, reason: str, topic: str, raw: bytes,
           detail: str = "", device_id: str = "", now_ms: int | None = None) -> None:
    """Queue one dead-letter entry and its counters on ``pipe`` (no round trip of its own)."""
    cut = raw[: defaults.DLQ_RAW_BYTES]
    pipe.xadd(keys.DEADLETTER, {
        "reason": reason, "topic": topic[:256], "detail": detail[:300], "device_id": device_id,
        "size": str(len(raw)), "raw": base64.b64encode(cut).decode("ascii"),
        "ts": str(now_ms if now_ms is not None else int(time.time() * 1000))},
        maxlen=defaults.DLQ_MAXLEN, approximate=True)
    pipe.hincrby(keys.DLQ_BY_REASON, reason, 1)
    pipe.hincrby(keys.DLQ_BY_DEVICE, device_id or "?", 1)


def summary(r: redis.Redis, top: int = 20) -> dict:
    """Counts for the ops page: total, per reason, the ``top`` devices, entries kept."""
    p = r.pipeline(transaction=False)
    p.hgetall(keys.DLQ_BY_REASON)
    p.hgetall(keys.DLQ_BY_DEVICE)
    p.xlen(keys.DEADLETTER)
    by_reason, by_device, kept = p.execute()
    by_reason = {k: int(v) for k, v in by_reason.items()}
    devices = sorted(((k, int(v)) for k, v in by_device.items()), key=lambda kv: -kv[1])
    return {"total": sum(by_reason.values()), "by_reason": by_reason,
            "by_device": dict(devices[:top]), "devices": len(devices), "kept": int(kept)}


def latest(r: redis.Redis, n: int = 20) -> list[dict]:
    """The ``n`` newest rejected messages, newest first; ``raw`` as bytes and a text preview."""
    out = []
    for entry_id, f in r.xrevrange(keys.DEADLETTER, count=n):
        raw = base64.b64decode(f.get("raw", ""))
        out.append({"id": entry_id, "reason": f.get("reason", ""), "topic": f.get("topic", ""),
                    "detail": f.get("detail", ""), "device_id": f.get("device_id", ""),
                    "size": int(f.get("size", 0)), "ts": int(f.get("ts", 0)), "raw": raw,
                    "preview": raw[:200].decode("utf-8", errors="replace")})
    return out
