"""Hourly telemetry rollups in the record (issue 20): readings of a device's history stream
(as sensors' ingest writes them: ``ts``, ``m`` metrics JSON) folded per device, metric and
hour into ``telemetry_hourly``, by the readings' own time; run twice, the same rows; an hour
whose readings Redis has since trimmed keeps its fuller figures."""

from __future__ import annotations

import orjson
import psycopg
import pytest

from app.pg import connector
from sensors import keys
from sensors.rollup import HOUR_MS, HourlyRollup

H = 1_795_000_000_000 // HOUR_MS * HOUR_MS     # an hour's start (ms)


def reading(r, device: str, ts_ms: int, arrived_ms: int, **metrics) -> None:  # noqa: ANN001
    r.xadd(keys.dev_hist(device), {"ts": str(ts_ms), "m": orjson.dumps(metrics)},
           id=f"{arrived_ms}-0")
    r.zadd(keys.DEV_SEEN, {device: arrived_ms})


def table(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT device_id, metric, extract(epoch FROM hour)::bigint * 1000, "
                         "min, max, mean, count FROM telemetry_hourly ORDER BY 1, 2, 3").fetchall()


def test_hourly_rollup_by_reading_time_idempotent_and_never_shrinking(redis_client, record_url):
    r = redis_client
    reading(r, "WL-1", H + 60_000, H + 61_000, level_m=1.0, state="ok")
    reading(r, "WL-1", H + 1_800_000, H + 1_801_000, level_m=3.0)
    # read at the next hour's start, but taken in this one (a buffered gateway)
    reading(r, "WL-1", H + HOUR_MS - 1000, H + HOUR_MS + 5000, level_m=2.0)
    reading(r, "WL-1", H + HOUR_MS + 60_000, H + HOUR_MS + 61_000, level_m=7.0)
    roll = HourlyRollup(r, connector(record_url), lookback_h=3)
    now = H + 2 * HOUR_MS + 20 * 60_000                 # both hours complete and late-safe
    assert roll.run_once(now) == 2
    first = table(record_url)
    assert first == [("WL-1", "level_m", H, 1.0, 3.0, pytest.approx(2.0), 3),
                     ("WL-1", "level_m", H + HOUR_MS, 7.0, 7.0, 7.0, 1)]
    assert roll.run_once(now) == 2 and table(record_url) == first
    r.xtrim(keys.dev_hist("WL-1"), maxlen=1)            # Redis keeps only the newest reading
    roll.run_once(now)
    assert table(record_url) == first
