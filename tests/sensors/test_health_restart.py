"""After a restart the online rate is no outage (issue 21): devices heard before the restart get
one silence limit from the start to be heard again before they count as offline."""

from __future__ import annotations

import json

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


def _gas(registry) -> list[str]:  # noqa: ANN001
    return registry.sensors[registry.sensors["type"] == "gas"]["id"].tolist()[:50]


def test_devices_heard_before_a_restart_are_not_offline_at_the_first_sweep(redis_client, registry,
                                                                            compiled):
    clock = Clock()
    w = IngestWorker(redis_client, compiled, "mqtt://127.0.0.1:1", clock=clock)
    ids = _gas(registry)
    w.process([(topics.telemetry("gas", d), json.dumps(reading(int(clock.t * 1000), lel_pct=1.0))
                .encode()) for d in ids])
    clock.t += 3600                                   # the demo was stopped for an hour
    h = HealthChecker(redis_client, registry, devices=compiled, clock=clock, grace_s=300)
    h.run_once()
    states = redis_client.hmget(keys.DEV_STATE, ids)
    assert "offline" not in states                    # not yet: they have a limit to be heard
    assert summary(redis_client, registry, now=clock.t)["by_type"]["gas"]["online"] == len(ids)
    # one heard again, the others silent past the limit (3 × 60 s) since the restart
    clock.t += 100
    w.process([(topics.telemetry("gas", ids[0]),
                json.dumps(reading(int(clock.t * 1000), lel_pct=1.0)).encode())])
    clock.t += 3 * 60 + 1 - 100
    assert h.run_once()["offline"] >= len(ids) - 1
    states = redis_client.hmget(keys.DEV_STATE, ids)
    assert states[0] != "offline" and states[1:] == ["offline"] * (len(ids) - 1)
