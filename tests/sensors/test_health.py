"""Device health: silence → offline → one 设备故障 alarm; back → cleared; online rate/鲜活率 (S5)."""

from __future__ import annotations

import json

import pytest

from sensors import keys, topics
from sensors.health import HealthChecker, summary
from sensors.ingest import IngestWorker
from tests.sensors.conftest import reading

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def _worker(redis_client, compiled, clock) -> IngestWorker:
    return IngestWorker(redis_client, compiled, "mqtt://127.0.0.1:1", clock=clock)


def _tele(dev: str, kind: str, ts_s: float, **m) -> tuple[str, bytes]:
    return topics.telemetry(kind, dev), json.dumps(reading(int(ts_s * 1000), **m)).encode()


def faults(r) -> list[dict]:
    return [f for _, f in r.xrange(keys.ALARMS) if f["source"] == "device_fault"]


@pytest.mark.also_on_cluster   # issue 20: health.lua routed on the city's slot
def test_silent_device_goes_offline_then_raises_one_fault(redis_client, registry, compiled):
    clock = Clock()
    w = _worker(redis_client, compiled, clock)
    w.process([_tele("gas-0010", "gas", clock.t, lel_pct=1.0)])
    a = HealthChecker(redis_client, registry, devices=compiled, clock=clock, grace_s=300)
    b = HealthChecker(redis_client, registry, devices=compiled, clock=clock, grace_s=300)
    a.run_once()
    assert redis_client.hget(keys.DEV_STATE, "gas-0010") == "normal"
    clock.t += 3 * 60 + 1          # silent > 3 × 60 s interval → offline
    a.run_once()
    assert redis_client.hget(keys.DEV_STATE, "gas-0010") == "offline"
    assert faults(redis_client) == []               # still inside the grace period
    clock.t += 300
    assert a.run_once()["faults"] >= 1
    assert b.run_once()["faults"] == 0              # a second checker raises nothing again
    mine = [f for f in faults(redis_client) if f["device_id"] == "gas-0010"]
    assert [(f["event"], f["category"], f["level"]) for f in mine] == [("raise", "1101", "blue")]
    assert "设备故障" in mine[0]["message"]
    # it reports again → state back to normal and the fault episode cleared
    clock.t += 10
    w.process([_tele("gas-0010", "gas", clock.t, lel_pct=1.0)])
    assert redis_client.hget(keys.DEV_STATE, "gas-0010") == "normal"
    mine = [f for f in faults(redis_client) if f["device_id"] == "gas-0010"]
    assert [f["event"] for f in mine] == ["raise", "clear"]
    assert mine[0]["episode"] == mine[1]["episode"]


def test_last_will_makes_camera_fault_after_grace(redis_client, registry, compiled):
    clock = Clock()
    w = _worker(redis_client, compiled, clock)
    cam = "cam-00020"
    w.process([(topics.status(cam), b"online")])
    w.process([(topics.status(cam), b"offline")])
    h = HealthChecker(redis_client, registry, devices=compiled, clock=clock, grace_s=120)
    clock.t += 60
    h.run_once()
    assert not [f for f in faults(redis_client) if f["device_id"] == cam]
    clock.t += 61
    h.run_once()
    mine = [f for f in faults(redis_client) if f["device_id"] == cam]
    assert [(f["event"], f["category"]) for f in mine] == [("raise", "1102")]


def test_never_heard_devices_go_offline_without_faults(redis_client, registry, compiled):
    clock = Clock()
    h = HealthChecker(redis_client, registry, devices=compiled, clock=clock, grace_s=0)
    clock.t += 3 * 60 + 1
    res = h.run_once()
    assert res["offline"] == len(registry.sensors)   # sensors (60 s); cameras not yet (300 s)
    assert res["faults"] == 0 and faults(redis_client) == []


def test_summary_online_rate_and_freshness(redis_client, registry, compiled):
    clock = Clock()
    w = _worker(redis_client, compiled, clock)
    gas = registry.sensors[registry.sensors["type"] == "gas"]
    town = gas["town_code"].iloc[0]
    ids = gas["id"].tolist()
    w.process([_tele(d, "gas", clock.t, lel_pct=1.0) for d in ids[:100]])
    s = summary(redis_client, registry, now=clock.t + 1)
    assert s["by_type"]["gas"] == {"total": 200, "online": 100, "online_rate": 0.5,
                                   "fresh": 100, "fresh_rate": 0.5}
    assert s["sensors"]["total"] == len(registry.sensors)
    assert s["cameras"]["total"] == len(registry.cameras) and s["cameras"]["online"] == 0
    assert s["by_town"][town]["online"] >= 1
    # 2 intervals later: still online (not yet offline) but no longer fresh
    s = summary(redis_client, registry, now=clock.t + 121)
    assert s["by_type"]["gas"]["online"] == 100 and s["by_type"]["gas"]["fresh"] == 0


def test_quiet_video_ai_episode_is_cleared(redis_client, registry, compiled):
    clock = Clock()
    w = _worker(redis_client, compiled, clock)
    cam = "cam-00030"
    det = {"ts": int(clock.t * 1000), "label": "garbage_overflow", "confidence": 0.8,
           "snapshot_url": "/s/1.jpg"}
    w.process([(topics.ai(cam), json.dumps(det).encode())])
    assert redis_client.hget(keys.DEV_STATE, cam) == "warning"
    assert redis_client.hget(keys.DEV_ACTIVE, cam) == "ai_garbage_overflow"
    h = HealthChecker(redis_client, registry, devices=compiled, clock=clock, ai_clear_after_s=300)
    clock.t += 200
    assert h.run_once()["ai_cleared"] == 0
    clock.t += 101
    assert h.run_once()["ai_cleared"] == 1
    got = [(f["event"], f["category"]) for _, f in redis_client.xrange(keys.ALARMS)
           if f["device_id"] == cam]
    assert got == [("raise", "0107"), ("clear", "0107")]
    assert redis_client.hget(keys.DEV_STATE, cam) == "normal"
    assert redis_client.hget(keys.DEV_ACTIVE, cam) is None
