"""Dead letter (死信): every message the edge rejects, with why, where from and its raw bytes.

Nothing that arrives is silently lost: a rejected message goes to the bounded stream
``om:dlq`` (reason, topic, detail, device id, raw bytes base64-encoded and cut to
``DLQ_RAW_BYTES``, original size) and is counted per reason and per device, so the ops page can
show counts and the latest samples (``summary``, ``latest``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

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
    return _entries(r.xrevrange(keys.DEADLETTER, count=n))


REASON_NAMES: dict[str, str] = {
    "oversized": "消息过大", "bad_topic": "主题不合规", "not_json": "不是 JSON", "schema": "格式不符",
    "unknown_device": "未登记设备", "unknown_metric": "未知指标", "wrong_type": "类型错误",
    "wrong_unit": "单位错误", "out_of_range": "超出量程", "future_ts": "时间超前",
    "internal": "内部错误", "stale_ts": "时间过旧", "retained": "保留消息",
}
"""The operator's words for ``sensors.schemas.REASONS`` (an unlisted reason shows as its code)."""


def reason_name(reason: str) -> str:
    return REASON_NAMES.get(reason, reason)


def query(r: redis.Redis, *, reason: str | None = None, device_id: str | None = None,
          since_ms: int | None = None, until_ms: int | None = None, limit: int = 200) -> list[dict]:
    """Kept dead letters, newest first, filtered by reason, device and time (the stream id's
    milliseconds are the time it was kept). Scans at most ``DLQ_MAXLEN`` entries."""
    hi = f"{until_ms}" if until_ms else "+"
    lo = f"{since_ms}" if since_ms else "-"
    out: list[dict] = []
    for e in _entries(r.xrevrange(keys.DEADLETTER, max=hi, min=lo, count=defaults.DLQ_MAXLEN)):
        if (reason and e["reason"] != reason) or (device_id and e["device_id"] != device_id):
            continue
        out.append(e)
        if len(out) >= limit:
            break
    return out


def _entries(rows: list) -> list[dict]:
    out = []
    for entry_id, f in rows:
        raw = base64.b64decode(f.get("raw", ""))
        size = int(f.get("size", 0))
        out.append({"id": entry_id, "reason": f.get("reason", ""), "topic": f.get("topic", ""),
                    "detail": f.get("detail", ""), "device_id": f.get("device_id", ""),
                    "size": size, "ts": int(f.get("ts", 0)), "raw": raw,
                    "complete": len(raw) >= size,
                    "preview": raw[:200].decode("utf-8", errors="replace")})
    return out


def get(r: redis.Redis, entry_id: str) -> dict | None:
    """One kept dead letter by its stream id, or None."""
    rows = _entries(r.xrange(keys.DEADLETTER, min=entry_id, max=entry_id, count=1))
    return rows[0] if rows else None


def acknowledge(r: redis.Redis, entry_ids: list[str]) -> int:
    """已处理: drop kept entries an operator has dealt with (the per-reason counts stay: they
    are totals). Returns how many were still there."""
    if not entry_ids:
        return 0
    n = int(r.xdel(keys.DEADLETTER, *entry_ids))
    if n:
        r.hincrby(keys.DLQ_ACKED, "total", n)
    return n


class ReplayRefused(ValueError):
    """A dead letter that cannot be replayed (gone already, or kept cut short)."""


def replay(r: redis.Redis, entry_id: str, process: Callable[[str, bytes], None]) -> dict:
    """重放: hand a kept message back to ingest after its cause was fixed (a device registered, a
    threshold or unit corrected), exactly once: the entry is taken out of the stream first
    (``XDEL`` answers 1 to one caller only, so two operators replaying the same entry cannot
    both succeed), then ``process(topic, raw)`` runs the ingest's own path, which stores the
    reading or keeps it again as a new dead letter with its new reason. If ``process`` fails
    (Redis gone mid-way), the message is kept again: never lost."""
    e = get(r, entry_id)
    if e is None:
        raise ReplayRefused("该死信已不存在（可能已被重放或清除）")
    if not e["complete"]:
        raise ReplayRefused(f"原文已截断（保留 {len(e['raw'])} / {e['size']} 字节），无法重放")
    if not r.xdel(keys.DEADLETTER, entry_id):
        raise ReplayRefused("该死信已被他人重放")
    try:
        process(e["topic"], e["raw"])
    except Exception as exc:
        record(r, "internal", e["topic"], e["raw"], f"重放失败 replay failed: {exc!r}"[:300],
               e["device_id"])
        raise
    r.hincrby(keys.DLQ_REPLAYED, e["reason"], 1)
    return e
