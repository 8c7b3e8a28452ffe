"""The noise kind (噪声监测, GB 3096-2008), added by the one-file recipe: discovered, placed,
labelled and themed from sensors/kinds/noise.py alone, and alarming through the real ingest path
on real Redis with its zone's day/night limits."""

from __future__ import annotations

import json

from grid.contracts import Event, Level
from layers.sensors import type_name
from layers.themes import THEMES
from sensors import keys, topics
from sensors.ingest import IngestWorker
from sensors.kinds import KINDS, noise
from sensors.simulator import Simulator
from tests.sensors.conftest import reading

T0 = 1_800_000_000.0   # epoch s


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def test_the_kind_is_discovered_placed_labelled_and_themed(registry):
    assert KINDS["noise"] is noise.KIND
    ns = registry.sensors[registry.sensors["type"] == "noise"]
    assert len(ns) == noise.KIND.count and ns["id"].is_unique
    metas = [json.loads(m) for m in ns["meta"]]
    assert {m["zone"] for m in metas} <= set(noise.ZONE_LIMITS)
    for m in metas:
        day, night = noise.ZONE_LIMITS[m["zone"]]
        assert m["thresholds"] == {"day": [None, day, None, day + 10],
                                   "night": [None, night, None, night + 10]}
    assert type_name("noise") == "噪声"
    assert "noise" in THEMES["ecology"].sensor_types and "noise" in THEMES["city_mgmt"].sensor_types


def test_simulated_readings_use_the_period_metric_and_pass_the_edge(registry):
    sim = Simulator(registry, "mqtt://127.0.0.1:1", seed=3)
    dev = next(d for d in sim.devices if d.kind is noise.KIND)
    from sensors.kinds.base import SimContext  # noqa: PLC0415
    from sensors.schemas import check_reading  # noqa: PLC0415

    day = noise.simulate(sim.rng, dev.meta, SimContext(t=T0, hour=10.0), {})
    night = noise.simulate(sim.rng, dev.meta, SimContext(t=T0, hour=23.5), {})
    assert set(day) == {"laeq_db", "laeq_day_db"} and set(night) == {"laeq_db", "laeq_night_db"}
    for m in (day, night):
        check_reading(noise.KIND, m, {}, 0, 0, 0)   # inside the metric ranges


def test_night_exceedance_raises_yellow_then_red_after_five_minutes(redis_client, registry, compiled):
    ns = registry.sensors[registry.sensors["type"] == "noise"]
    dev = next(i for i, m in zip(ns["id"], ns["meta"], strict=True)
               if json.loads(m)["zone"] == "2类")            # night limit 50 dB(A)
    clock = Clock()
    w = IngestWorker(redis_client, compiled, "mqtt://127.0.0.1:1", clock=clock)

    def night(*values: float) -> None:
        for v in values:
            clock.t += 60
            w.process([(topics.telemetry("noise", dev), json.dumps(
                reading(int(clock.t * 1000), laeq_db=v, laeq_night_db=v)).encode())])

    def events() -> list[tuple[str, str]]:
        return [(f["event"], f["level"]) for _, f in redis_client.xrange(keys.ALARMS)
                if f["device_id"] == dev]

    night(45.0, 53.0, 54.0, 53.5, 52.0)           # over 50 for 4 minutes: held back
    assert events() == []
    night(53.0, 52.5)                              # 5 minutes over the limit: yellow
    assert events() == [(Event.RAISE, Level.YELLOW)]
    night(*[62.0] * 7)                             # ≥ 60 = limit + 10 for 5 minutes: red
    assert events() == [(Event.RAISE, Level.YELLOW), (Event.LEVEL, Level.RED)]
    got = [f for _, f in redis_client.xrange(keys.ALARMS) if f["device_id"] == dev]
    assert got[0]["threshold"] == "50" and got[0]["category"] == noise.KIND.category
    assert got[0]["unit"] == "dB(A)" and got[0]["severity"] == "较大"
