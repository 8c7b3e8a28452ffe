"""Simulator over real mosquitto into the real ingest worker: steady feed, malformed messages,
scenarios (flood → rain alarms + video-AI water on road; outage → cameras offline)."""

from __future__ import annotations

import time

from sensors import deadletter, keys
from sensors.registry import DeviceRegistry
from sensors.simulator import Simulator
from tests.sensors.conftest import wait_for


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def town_registry(registry: DeviceRegistry, town: str, types: tuple[str, ...]) -> DeviceRegistry:
    s = registry.sensors
    return DeviceRegistry(s[(s["town_code"] == town) & s["type"].isin(types)].reset_index(drop=True),
                          registry.cameras[registry.cameras["town_code"] == town]
                          .reset_index(drop=True))


def rural_town(registry: DeviceRegistry) -> str:
    return sorted(registry.sensors["town_code"].unique())[10]


def test_steady_feed_reaches_redis_and_malformed_go_to_dead_letter(worker, redis_client, registry,
                                                                   mqtt_service):
    town = rural_town(registry)
    reg = town_registry(registry, town, ("weather", "manhole", "air_quality"))
    clock = Clock(time.time() - 120)
    sim = Simulator(reg, mqtt_service.url, rate=200, malformed_p=0.2, dropout_p=0.0,
                    cameras=False, clock=clock).start(thread=False)
    try:
        for _ in range(60):                   # one simulated minute, every device reports once+
            clock.t += 1.0
            sim.tick(clock.t)
        n = sim.stats["published"]
        bad = sim.stats["malformed"]
        assert n > len(reg.sensors) and bad > 0
        wait_for(lambda: int(redis_client.hget(keys.INGEST_STATS, "messages") or 0) >= n, 30,
                 "every message ingested")
        assert deadletter.summary(redis_client)["total"] == bad
        states = redis_client.hgetall(keys.DEV_STATE)
        assert sum(1 for d in reg.sensors["id"] if d in states) >= 0.9 * len(reg.sensors)
    finally:
        sim.stop()


def test_flood_scenario_tells_its_story(worker, redis_client, registry, mqtt_service):
    town = rural_town(registry)
    reg = town_registry(registry, town, ("weather",))
    clock = Clock(time.time() - 600)
    sim = Simulator(reg, mqtt_service.url, rate=50, malformed_p=0.0, dropout_p=0.0,
                    cameras=False, clock=clock).start(thread=False)
    try:
        sc = sim.run_scenario("flood", town_code=town, duration_s=3600)
        assert sc.town_code == town and sc.cameras
        for _ in range(400):                  # a bit under seven simulated minutes
            clock.t += 1.0
            sim.tick(clock.t)

        def town_alarms() -> list[dict]:
            return [f for _, f in redis_client.xrange(keys.ALARMS) if f["town_code"] == town]

        def rain(a: list[dict]) -> list[dict]:
            return [x for x in a if x["metric"] == "rain_mmh" and x["event"] == "raise"]

        # most gauges of the town raise a rain alarm (held 2 min), and cameras see water on roads
        got = wait_for(lambda: (a := town_alarms()) and "video_ai" in {x["source"] for x in a}
                       and len(rain(a)) >= len(reg.sensors) // 2 and a, 30, "flood alarms")
        assert len(rain(got)) <= len(reg.sensors)            # one episode per gauge, no flapping
        assert {a["category"] for a in got if a["source"] == "video_ai"} == {"0302"}  # 道路积水
    finally:
        sim.stop()


def test_outage_scenario_marks_cameras_offline(worker, redis_client, registry, mqtt_service):
    town = rural_town(registry)
    reg = town_registry(registry, town, ("weather",))
    sim = Simulator(reg, mqtt_service.url, rate=50, cameras=True).start(thread=False)
    try:
        sim.run_scenario("outage", town_code=town)
        cams = reg.cameras["id"].tolist()
        wait_for(lambda: all(s == "offline" for s in redis_client.hmget(keys.DEV_STATE, cams)), 30,
                 "cameras offline")
    finally:
        sim.stop()


def test_fire_scenario_smoke_then_a_camera_that_sees_it(worker, redis_client, registry,
                                                        mqtt_service):
    fire = registry.sensors[registry.sensors["type"] == "fire"]
    bld = fire["meta"].map(lambda m: __import__("json").loads(m)["building"]).iloc[0]
    town = fire["town_code"].iloc[0]
    s = registry.sensors
    reg = DeviceRegistry(s[s["meta"].str.contains(f'"{bld}"')].reset_index(drop=True),
                         registry.cameras)
    clock = Clock(time.time() - 600)
    sim = Simulator(reg, mqtt_service.url, rate=20, malformed_p=0.0, dropout_p=0.0,
                    cameras=False, clock=clock).start(thread=False)
    try:
        sc = sim.run_scenario("fire", building=bld, duration_s=3600)
        assert sc.town_code == town and sc.cameras
        for _ in range(240):
            clock.t += 1.0
            sim.tick(clock.t)
        got = wait_for(lambda: (a := [f for _, f in redis_client.xrange(keys.ALARMS)]) and
                       {x["source"] for x in a} >= {"iot", "video_ai"} and a, 30, "fire alarms")
        smoke = [a for a in got if a["metric"] == "smoke_obs" and a["event"] == "raise"]
        assert len(smoke) == 3 and {a["category"] for a in smoke} == {"0401"}   # 3 smoke sensors
        ai = [a for a in got if a["source"] == "video_ai"]
        assert {a["device_id"] for a in ai} <= set(sc.cameras)
        assert {a["category"] for a in ai} == {"0401"} and ai[0]["snapshot_url"]
    finally:
        sim.stop()
