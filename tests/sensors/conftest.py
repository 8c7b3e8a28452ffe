"""Fixtures of the sensing tests: the demo devices, a running ingest worker, a publisher."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest

from sensors.ingest import IngestWorker
from sensors.mqtt_client import mqtt_client
from sensors.registry import DeviceRegistry, load_or_create

_ids = itertools.count(1)


def wait_for(pred: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    """Poll ``pred`` until it returns something truthy (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {v!r})")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def registry(demo_city, demo_city_dir) -> DeviceRegistry:
    return load_or_create(demo_city, demo_city_dir)


@pytest.fixture(scope="session")
def compiled(registry):
    from sensors.rules import compile_registry  # noqa: PLC0415

    return compile_registry(registry)


@pytest.fixture
def group() -> str:
    """A fresh shared-subscription group per test (no cross-talk between tests)."""
    return f"t{next(_ids)}x{int(time.time() * 1000) % 100000}"


@pytest.fixture
def worker(redis_client, compiled, mqtt_service, group) -> Iterator[IngestWorker]:
    w = IngestWorker(redis_client, compiled, mqtt_service.url, group=group,
                     client_id=f"ingest-{group}", session_expiry_s=60).start()
    assert w.wait_subscribed(10), "ingest worker did not subscribe"
    yield w
    w.stop()


class Publisher:
    """A QoS 1 test publisher; ``send`` waits until the broker has acknowledged each message."""

    def __init__(self, url: str, client_id: str) -> None:
        self.client, host, port = mqtt_client(url, client_id)
        self.client.connect(host, port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | str | dict | list, qos: int = 1) -> None:
        if isinstance(payload, dict | list):
            payload = json.dumps(payload)
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(10)

    def send_many(self, items: list[tuple[str, bytes | str | dict]], qos: int = 1) -> None:
        infos = [self.client.publish(t, json.dumps(p) if isinstance(p, dict | list) else p, qos=qos)
                 for t, p in items]
        for i in infos:
            i.wait_for_publish(30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mqtt_service, group) -> Iterator[Publisher]:
    p = Publisher(mqtt_service.url, f"pub-{group}")
    yield p
    p.close()


def reading(ts_ms: int, **metrics) -> dict:
    return {"ts": ts_ms, "metrics": metrics}


__all__ = ["Publisher", "mqtt", "reading", "wait_for"]
