"""Device health (设备状态, S5; "a sensor that stops reporting is itself an event", §10.12).

- online/offline: offline after a last-will/status ``offline`` message, or after silence longer
  than ``OFFLINE_AFTER_INTERVALS`` × the device's reporting interval;
- an offline device becomes a 设备故障 alarm (1101 物联设备离线 / 1102 视频设备离线) after
  ``FAULT_GRACE_S``, raised exactly once (``scripts/health.lua``) and cleared when it is back;
- online rate and data freshness (鲜活率, Q32) per type and per town: ``summary``.

``HealthChecker`` runs ``run_once`` periodically (a thread in the demo; part of ``onemap ingest``);
every transition is atomic in Redis, so several checkers may run side by side.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import redis

from sensors import defaults, keys
from sensors.registry import DeviceRegistry
from sensors.rules import DeviceEntry, compile_registry

log = logging.getLogger("onemap.health")
SCRIPTS = Path(__file__).resolve().parent / "scripts"
FAULT_CATEGORY = {"sensor": "1101", "camera": "1102"}   # 物联设备离线 / 视频设备离线


def _fleet(registry: DeviceRegistry) -> pd.DataFrame:
    return registry.fleet


class HealthChecker:
    """巡检: marks silent devices offline, raises device faults, closes quiet video-AI alarms."""

    def __init__(self, r: redis.Redis, registry: DeviceRegistry,
                 devices: dict[str, DeviceEntry] | None = None,
                 every_s: float = defaults.HEALTH_EVERY_S,
                 offline_after: float = defaults.OFFLINE_AFTER_INTERVALS,
                 grace_s: float = defaults.FAULT_GRACE_S,
                 ai_clear_after_s: float = defaults.AI_CLEAR_AFTER_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis, self.every_s, self.clock = r, every_s, clock
        self.offline_after, self.grace_s, self.ai_clear_after_s = offline_after, grace_s, \
            ai_clear_after_s
        self.fleet = _fleet(registry)
        self.devices = devices or compile_registry(registry)
        self.script = r.register_script((SCRIPTS / "health.lua").read_text(encoding="utf-8"))
        self._head = [keys.script_keys_json(), str(defaults.ALARMS_MAXLEN)]
        self._route = [keys.DEV_STATE]   # KEYS[1]: the city's hash slot (Redis Cluster routes on it)
        self.started_ms = int(clock() * 1000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        """One sweep; returns how many devices went offline, faults raised, AI alarms cleared."""
        now = int(self.clock() * 1000)
        r = self.redis
        p = r.pipeline(transaction=False)
        p.zrange(keys.DEV_SEEN, 0, -1, withscores=True)
        p.hgetall(keys.DEV_LWT)
        p.hgetall(keys.DEV_STATE)
        seen_l, lwt, state = p.execute()
        seen = dict(seen_l)
        ids = self.fleet["id"].to_numpy()
        limit = (self.fleet["interval_s"].to_numpy() * self.offline_after * 1000).astype(np.int64)
        last = np.array([seen.get(i, -1.0) for i in ids], dtype=float)
        down = np.array([float(lwt.get(i, -1)) for i in ids], dtype=float)
        # silence counts from this checker's start at the earliest: after a restart every
        # device's last report is old, and all of them would be declared offline at the first
        # sweep (the online rate read as an outage for a minute, issue 21) before they had one
        # interval to be heard again; never heard: from the start too
        silent_since = np.maximum(last, self.started_ms) + limit
        lwt_down = (down >= 0) & (down >= last)
        since = np.where(lwt_down, down, silent_since)
        is_off = lwt_down | (since <= now)
        out = {"offline": 0, "faults": 0, "ai_cleared": 0}

        # silence → offline (the script re-checks the last-heard time, atomically)
        cand = [(i, int(now - lim)) for i, lim, off, st in
                zip(ids, limit, is_off, (state.get(i) for i in ids), strict=True)
                if off and st != "offline"]
        for chunk in _chunks(cand, 500):
            args = [a for i, c in chunk for a in (i, str(c))]
            out["offline"] += int(self.script(keys=self._route, args=[*self._head, "offline", str(now), *args]))

        # offline (and ever heard from) for longer than the grace → one fault episode each
        faults = r.smembers(keys.FAULTS_OPEN)
        due = [(i, int(s)) for i, s, off, heard in zip(ids, since, is_off, (last >= 0) | lwt_down,
                                                       strict=True)
               if off and heard and now - s >= self.grace_s * 1000 and i not in faults]
        for chunk in _chunks(due, 200):
            args: list[str] = []
            for i, s in chunk:
                dev = self.devices[i]
                cat = FAULT_CATEGORY["camera" if dev.type == "camera" else "sensor"]
                args += (i, dev.static, cat, str(s), str(max(1, (now - s) // 60000)))
            out["faults"] += int(self.script(keys=self._route, args=[*self._head, "fault", str(now), *args]))

        cutoff = now - int(self.ai_clear_after_s * 1000)
        out["ai_cleared"] = int(self.script(keys=self._route, args=[*self._head, "ai_clear", str(now), str(cutoff),
                                                  str(int(self.ai_clear_after_s // 60))]))
        return out

    # --- thread ---------------------------------------------------------------------------------
    def start(self) -> HealthChecker:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.run_once()
            except redis.RedisError as e:   # Redis away for a moment: try again next period
                log.warning("health sweep failed: %s", e)


def _chunks(items: list, n: int):  # noqa: ANN202
    for i in range(0, len(items), n):
        yield items[i:i + n]


WARM_KNOWN_SHARE = 0.95
"""统计中 (warming up): an online rate is told only once this share of the devices is known
(heard from, or declared offline after its silence limit). After a restart on an empty store the
devices are heard one by one over their reporting interval (cameras: minutes): before the sweep
has had time to call the silent ones offline, "online / total" would read as an outage (14.9 %
for a minute) that is only "not heard yet". A real outage is known (the sweep marks it offline)."""


def warming_up(known: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the devices under ``mask`` are too little known yet to state an online rate."""
    n = int(mask.sum())
    return bool(n) and int((known & mask).sum()) < WARM_KNOWN_SHARE * n


def summary(r: redis.Redis, registry: DeviceRegistry, now: float | None = None) -> dict:
    """Online rate and data freshness (鲜活率) of sensors and cameras, per type and per town.

    ``warming_up``: ``{"sensors": bool, "cameras": bool}``, True while too few devices are known
    (``WARM_KNOWN_SHARE``) for the online rate to mean anything: show 统计中, not a false outage.

    ``{"ts", "sensors": {...}, "cameras": {...}, "by_type": {type: {...}}, "by_town": {code:
    {...}}}`` where each ``{...}`` is ``total, online, online_rate, fresh, fresh_rate``. A device is
    online when heard from and not offline; fresh when heard from within ``FRESH_INTERVALS`` ×
    its interval.
    """
    now_ms = (time.time() if now is None else now) * 1000
    p = r.pipeline(transaction=False)
    p.zrange(keys.DEV_SEEN, 0, -1, withscores=True)
    p.hgetall(keys.DEV_STATE)
    seen_l, state = p.execute()
    df = _fleet(registry)
    ids = df["id"]
    last = ids.map(dict(seen_l)).to_numpy(dtype=float)
    heard = ~np.isnan(last)
    online = heard & (ids.map(state).to_numpy(dtype=object) != "offline")
    fresh = heard & (now_ms - np.nan_to_num(last) <= df["interval_s"].to_numpy()
                     * defaults.FRESH_INTERVALS * 1000)
    camera = (df["type"] == "camera").to_numpy()

    def agg(mask: np.ndarray) -> dict:
        n = int(mask.sum())
        on, fr = int((online & mask).sum()), int((fresh & mask).sum())
        return {"total": n, "online": on, "online_rate": round(on / n, 4) if n else 0.0,
                "fresh": fr, "fresh_rate": round(fr / n, 4) if n else 0.0}

    types = df["type"].to_numpy()
    towns = df["town_code"].to_numpy()
    # known: heard from, or marked offline by a sweep after its silence limit (health.lua);
    # a device neither heard nor yet declared offline is unknown, not down
    known = heard | (ids.map(state).to_numpy(dtype=object) == "offline")
    return {"ts": int(now_ms), "sensors": agg(~camera), "cameras": agg(camera),
            "warming_up": {"sensors": warming_up(known, ~camera),
                           "cameras": warming_up(known, camera)},
            "by_type": {t: agg(types == t) for t in sorted(set(types))},
            "by_town": {t: agg((towns == t) & ~camera) | {"cameras": agg((towns == t) & camera)}
                        for t in sorted(set(towns))}}
