"""Hourly telemetry rollups (小时统计) into the record (issue 20): min / max / mean / count per
device, metric and hour, so a year of readings fits in SQL while Redis keeps only the recent
history of each device (``keys.dev_hist``, MAXLEN ~ ``history_maxlen``).

Every run folds the last ``lookback_h`` completed hours of every device heard from since then
(``keys.DEV_SEEN``), bucketing readings by their own time (``ts``), not by arrival. Idempotent:
a run again writes the same rows; a row is replaced only by one counting at least as many
readings, so an hour whose readings Redis has since trimmed keeps its fuller figures. The
connection is opened by ``app/`` and handed in (``connect``), as for the archiver."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import psycopg
import redis

from sensors import keys

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
LATE_MS = 15 * 60_000
"""Readings arrive after their time (buffered gateways): an hour is read this far past its end."""

UPSERT_HOURLY = """
INSERT INTO telemetry_hourly (device_id, metric, hour, min, max, mean, count)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (device_id, metric, hour) DO UPDATE SET min = EXCLUDED.min, max = EXCLUDED.max,
    mean = EXCLUDED.mean, count = EXCLUDED.count
WHERE telemetry_hourly.count <= EXCLUDED.count
"""


def fold(readings: list[tuple[str, dict]], hour_ms: int) -> dict[str, list[float]]:
    """metric → [min, max, sum, count] of the readings whose ``ts`` falls in the hour."""
    acc: dict[str, list[float]] = {}
    for _, f in readings:
        try:
            ts = int(float(f.get("ts") or 0))
            metrics = orjson.loads(f.get("m") or "{}")
        except (ValueError, orjson.JSONDecodeError):
            continue
        if not hour_ms <= ts < hour_ms + HOUR_MS or not isinstance(metrics, dict):
            continue
        for name, v in metrics.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                continue            # numbers only: states and labels are no statistics
            a = acc.get(name)
            if a is None:
                acc[name] = [v, v, v, 1]
            else:
                a[0], a[1] = min(a[0], v), max(a[1], v)
                a[2] += v
                a[3] += 1
    return acc


class HourlyRollup:
    """小时统计: ``run_once(now_ms)`` folds the completed hours; ``run(stop)`` every ``every_s``."""

    def __init__(self, r: redis.Redis, connect: Callable[[], psycopg.Connection], *,
                 lookback_h: int = 3, every_s: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.connect = connect
        self.lookback_h = lookback_h
        self.every_s = every_s
        self.clock = clock
        self.stats: dict[str, int] = {"rows": 0, "runs": 0, "errors": 0}

    def run_once(self, now_ms: int | None = None) -> int:
        """Fold the last ``lookback_h`` completed hours (read ``LATE_MS`` past their end);
        returns the rows written."""
        now_ms = int(self.clock() * 1000) if now_ms is None else now_ms
        last = (now_ms - LATE_MS) // HOUR_MS * HOUR_MS        # the newest hour to fold
        hours = [last - k * HOUR_MS for k in range(1, self.lookback_h + 1)]
        devices = self.r.zrangebyscore(keys.DEV_SEEN, min(hours), "+inf")
        rows = []
        for hour in hours:
            pipe = self.r.pipeline(transaction=False)
            for d in devices:       # by arrival: a little before the hour, late ones after it
                pipe.xrange(keys.dev_hist(d), min=str(hour - LATE_MS), max=str(hour + HOUR_MS + LATE_MS))
            at = datetime.fromtimestamp(hour / 1000, UTC)
            for d, readings in zip(devices, pipe.execute(), strict=True):
                for metric, (lo, hi, total, n) in fold(readings, hour).items():
                    rows.append((d, metric, at, lo, hi, total / n, int(n)))
        if rows:
            with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
                cur.executemany(UPSERT_HOURLY, rows)
        self.stats["rows"] += len(rows)
        self.stats["runs"] += 1
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        """Every ``every_s`` until stopped; a failure is logged and tried at the next run."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:   # noqa: BLE001  (PostgreSQL away, a bug: never ends the loop)
                self.stats["errors"] += 1
                log.exception("小时统计失败 hourly rollup failed")
            stop.wait(self.every_s)


__all__ = ["HourlyRollup", "fold", "UPSERT_HOURLY", "HOUR_MS"]
