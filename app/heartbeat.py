"""Process heartbeats (心跳): every long-running process says "alive" into Redis; /ops reads them.

Each process (``ingest``, ``dispatch``, ``web``, ``simulator``, …) calls ``beat`` every few seconds
with a stable ``name`` (host:pid is fine) and a small ``info`` dict. Numeric fields of ``info`` that
only grow (counters, e.g. ``messages``) are turned into per-second rates between two beats, so the
ops page shows message rates without any process keeping history. A beat older than
``STALE_AFTER_S`` marks the process as down; entries stay until ``forget`` so a dead process is
visible, not silently gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from app import keys as _keys

BEAT_EVERY_S = 5.0      # demo default: how often a process should call beat()
STALE_AFTER_S = 20.0    # demo default/assumption: 4 missed beats → shown as down


@dataclass(frozen=True)
class Beat:
    """The last heartbeat of one process."""

    kind: str           # ingest | dispatch | web | simulator | deadlines | …
    name: str           # stable per process, e.g. "host:1234"
    ts: float           # epoch seconds of the beat
    info: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)   # counter name → per second since previous beat
    age_s: float = 0.0

    @property
    def alive(self) -> bool:
        return self.age_s <= STALE_AFTER_S


def default_name() -> str:
    """host:pid, unique per process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(r: redis.Redis, kind: str, name: str | None = None, info: dict | None = None,
         clock: Callable[[], float] = time.time) -> None:
    """心跳: record that process ``kind``/``name`` is alive now, with ``info`` (JSON-able)."""
    name = name or default_name()
    field_name = f"{kind}:{name}"
    now = clock()
    info = dict(info or {})
    rates: dict[str, float] = {}
    prev_raw = r.hget(_keys.HEARTBEATS, field_name)
    if prev_raw:
        prev = json.loads(prev_raw)
        dt = now - float(prev.get("ts", now))
        for k, v in info.items():
            old = prev.get("info", {}).get(k)
            if dt > 0 and _is_num(v) and _is_num(old) and v >= old:
                rates[k] = round((v - old) / dt, 3)
    r.hset(_keys.HEARTBEATS, field_name, json.dumps(
        {"kind": kind, "name": name, "ts": now, "info": info, "rates": rates},
        ensure_ascii=False, default=str))


def read(r: redis.Redis, clock: Callable[[], float] = time.time) -> list[Beat]:
    """Every process's last beat, sorted by kind then name, with its age."""
    now = clock()
    out = []
    for raw in r.hgetall(_keys.HEARTBEATS).values():
        d = json.loads(raw)
        ts = float(d.get("ts", 0))
        out.append(Beat(d["kind"], d["name"], ts, d.get("info", {}), d.get("rates", {}),
                        max(0.0, now - ts)))
    return sorted(out, key=lambda b: (b.kind, b.name))


def beat_until(r: redis.Redis, kind: str, stop: threading.Event,
               info: Callable[[], dict] | None = None, name: str | None = None,
               every_s: float = BEAT_EVERY_S) -> None:
    """Beat every ``every_s`` until ``stop`` is set: the body of a worker process's main thread
    (or of ``start_beating``'s). ``info()`` is called at each beat: return counters that only
    grow (``{"messages": n}``) to get rates on the ops page. A failed beat (Redis away for a
    moment) is logged, never fatal: the next beat says so by its absence."""
    name = name or default_name()
    log = logging.getLogger(f"onemap.{kind}")
    while not stop.is_set():
        try:
            beat(r, kind, name, info() if info else {})
        except Exception as e:  # noqa: BLE001
            log.warning("heartbeat failed: %s", e)
        stop.wait(every_s)


def start_beating(r: redis.Redis, kind: str, stop: threading.Event,
                  info: Callable[[], dict] | None = None, name: str | None = None,
                  every_s: float = BEAT_EVERY_S) -> threading.Thread:
    """``beat_until`` from a daemon thread (workers that run their work on the main thread)."""
    t = threading.Thread(target=beat_until, args=(r, kind, stop, info, name, every_s),
                         name=f"heartbeat-{kind}", daemon=True)
    t.start()
    return t


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM: a worker process's loop runs until it is set."""
    import signal  # noqa: PLC0415

    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    return stopped


def forget(r: redis.Redis, kind: str, name: str) -> None:
    """Remove a process that was retired on purpose."""
    r.hdel(_keys.HEARTBEATS, f"{kind}:{name}")


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)

