"""Scale-out and durability: two `onemap ingest` processes on one shared subscription store every
message once; a killed ingest process or a restarted broker loses no QoS 1 message (SPEC §6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.heartbeat import read as read_beats
from app.services import restart_mosquitto, start_mosquitto
from sensors import keys, topics
from sensors.ingest import IngestWorker
from tests.sensors.conftest import Publisher, reading, wait_for

REPO = Path(__file__).resolve().parents[2]
T0_MS = int(time.time() * 1000) - 3_600_000
"""Readings an hour old: ingest dead-letters ones older than a day (sensors.defaults.MAX_PAST_S)."""


def stored_pairs(r, device_ids: list[str]) -> list[tuple[str, str]]:
    """Every (device, reading ts) in the histories, duplicates included."""
    p = r.pipeline(transaction=False)
    for d in device_ids:
        p.xrange(keys.dev_hist(d))
    out = []
    for d, entries in zip(device_ids, p.execute(), strict=True):
        out += [(d, f["ts"]) for _, f in entries]
    return out


def n_stored(r, device_ids: list[str]) -> int:
    p = r.pipeline(transaction=False)
    for d in device_ids:
        p.xlen(keys.dev_hist(d))
    return sum(p.execute())


def messages(device_ids: list[str], n: int, t0: int) -> list[tuple[str, dict]]:
    return [(topics.telemetry("manhole", device_ids[i % len(device_ids)]),
             reading(t0 + i, water_cm=100.0 + (i % 7))) for i in range(n)]


class Procs:
    """`onemap ingest` subprocesses, killed at the end whatever happens."""

    def __init__(self, redis_url: str, mqtt_url: str, city_dir: Path, data_dir: Path) -> None:
        self.redis_url, self.mqtt_url = redis_url, mqtt_url
        self.env = {**os.environ, "ONEMAP_CITY_DIR": str(city_dir), "ONEMAP_DATA_DIR": str(data_dir),
                    "PYTHONPATH": str(REPO)}
        self.procs: list[subprocess.Popen] = []
        self.logs = data_dir

    def start(self, group: str, client_id: str) -> subprocess.Popen:
        log = open(self.logs / f"{client_id}.log", "ab")  # noqa: SIM115
        p = subprocess.Popen([sys.executable, "-m", "app.cli", "ingest", "--redis-url",
                              self.redis_url, "--mqtt-url", self.mqtt_url, "--group", group,
                              "--client-id", client_id, "--no-health"],
                             env=self.env, cwd=REPO, stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


@pytest.fixture
def procs(redis_service, mqtt_service, demo_city_dir, registry, tmp_path) -> Iterator[Procs]:
    ps = Procs(redis_service.url, mqtt_service.url, demo_city_dir, tmp_path)
    yield ps
    ps.stop_all()


def subscribed(r, client_id: str) -> bool:
    return any(b.kind == "ingest" and b.info.get("client_id") == client_id
               and b.info.get("subscribed") for b in read_beats(r))


def beat_readings(r, client_id: str) -> int:
    return sum(int(b.info.get("readings", 0)) for b in read_beats(r)
               if b.info.get("client_id") == client_id)


def test_two_ingest_processes_store_every_message_once(procs, redis_client, publisher, group,
                                                       registry):
    ids = registry.sensors[registry.sensors["type"] == "manhole"]["id"].tolist()[:300]
    for cid in ("a", "b"):
        procs.start(group, f"{group}-{cid}")
    for cid in ("a", "b"):
        wait_for(lambda c=cid: subscribed(redis_client, f"{group}-{c}"), 60, f"worker {cid}")
    n = 3000
    publisher.send_many(messages(ids, n, T0_MS))
    wait_for(lambda: n_stored(redis_client, ids) >= n, 60, "all messages stored")
    pairs = stored_pairs(redis_client, ids)
    assert len(pairs) == n and len(set(pairs)) == n          # every message, each once
    # both workers took part (their heartbeats count what they stored)
    wait_for(lambda: beat_readings(redis_client, f"{group}-a") + beat_readings(
        redis_client, f"{group}-b") == n, 30, "heartbeat totals")
    assert beat_readings(redis_client, f"{group}-a") > 0
    assert beat_readings(redis_client, f"{group}-b") > 0


def test_killed_ingest_process_loses_no_qos1_message(procs, redis_client, publisher, group,
                                                     registry):
    ids = registry.sensors[registry.sensors["type"] == "manhole"]["id"].tolist()[300:400]
    cid = f"{group}-solo"
    p = procs.start(group, cid)
    wait_for(lambda: subscribed(redis_client, cid), 60, "worker subscribed")
    first = messages(ids, 2000, T0_MS)
    publisher.send_many(first)
    wait_for(lambda: n_stored(redis_client, ids) > 0, 30, "some stored")
    p.kill()                                  # kill -9, possibly mid-batch
    p.wait(10)
    second = messages(ids, 1000, T0_MS + 100_000)
    publisher.send_many(second)               # published while no worker is connected
    procs.start(group, cid)                   # same client id: same broker session
    wait_for(lambda: len(set(stored_pairs(redis_client, ids))) == 3000, 60, "every message")


def test_broker_restart_loses_no_qos1_message(redis_client, compiled, tmp_path, group):
    """A single worker (plain subscription: mosquitto 2.0 does not persist $share ones) keeps its
    session through a broker restart and gets what was published while it reconnected."""
    broker = start_mosquitto(tmp_path / "mqtt")
    w = IngestWorker(redis_client, compiled, broker.url, group=group, client_id=f"{group}-w",
                     shared=False)
    pub = None
    try:
        w.start()
        assert w.wait_subscribed(10)
        ids = ["mh-0500", "mh-0501", "mh-0502"]
        pub = Publisher(broker.url, f"{group}-pub")
        pub.send_many(messages(ids, 300, T0_MS))
        wait_for(lambda: n_stored(redis_client, ids) == 300, 30, "first batch")
        pub.close()
        broker = restart_mosquitto(broker)    # same port, sessions kept on disk
        pub = Publisher(broker.url, f"{group}-pub2")
        pub.send_many(messages(ids, 300, T0_MS + 100_000))
        reconnecting = not w.subscribed.is_set()
        wait_for(lambda: len(set(stored_pairs(redis_client, ids))) == 600, 60, "every message")
        assert reconnecting, "precondition: the second batch was published while the worker " \
                             "was still reconnecting"
        assert w.subscribed.is_set()
    finally:
        if pub:
            pub.close()
        w.stop()
        broker.stop()


def test_redis_outage_loses_nothing(compiled, mqtt_service, tmp_path, group):
    """Redis away for a moment: the worker keeps the batch, retries, acknowledges only after."""
    import redis as redis_lib  # noqa: PLC0415

    from app.services import start_redis_server  # noqa: PLC0415

    svc = start_redis_server(tmp_path / "redis")
    r = redis_lib.Redis.from_url(svc.url, decode_responses=True)
    w = IngestWorker(r, compiled, mqtt_service.url, group=group, client_id=f"{group}-r",
                     session_expiry_s=60).start()
    pub = Publisher(mqtt_service.url, f"{group}-pub")
    ids = ["mh-0600", "mh-0601"]
    try:
        assert w.wait_subscribed(10)
        pub.send_many(messages(ids, 100, T0_MS))
        wait_for(lambda: n_stored(r, ids) == 100, 30, "first batch")
        svc.stop()                                            # Redis goes away (AOF flushed)
        pub.send_many(messages(ids, 100, T0_MS + 100_000))  # these arrive during the outage
        # Redis comes back only once a write has met the outage (an event, not a guess)
        wait_for(lambda: w.stats["redis_retries"] > 0, 30, "a write meeting the outage")
        svc = start_redis_server(svc.data_dir, svc.port)      # …and it comes back
        wait_for(lambda: len(set(stored_pairs(r, ids))) == 200, 60, "every message")
    finally:
        pub.close()
        w.stop()
        svc.stop()


def test_stop_during_a_stream_returns_and_a_restart_loses_nothing(redis_client, compiled,
                                                                  mqtt_service, group):
    """Stopping a worker while messages keep coming: ``stop`` returns (the network thread never
    waits on a writer that has gone), and what it did not acknowledge the broker delivers again
    to the next start of the same session, so every message is stored (at least once)."""
    import threading  # noqa: PLC0415

    ids = ["mh-0610", "mh-0611", "mh-0612"]
    msgs = messages(ids, 3000, T0_MS + 200_000)
    # small batches: the network thread hands a batch over every few messages, also while
    # stop() is under way
    w = IngestWorker(redis_client, compiled, mqtt_service.url, group=group,
                     client_id=f"{group}-s", session_expiry_s=60, batch_max=5).start()
    pub = Publisher(mqtt_service.url, f"{group}-spub")
    try:
        assert w.wait_subscribed(10)
        sender = threading.Thread(target=pub.send_many, args=(msgs,))
        sender.start()
        wait_for(lambda: n_stored(redis_client, ids) > 200, 30, "the stream under way")
        stopper = threading.Thread(target=w.stop, kwargs={"drain_s": 0.05})
        stopper.start()
        stopper.join(30)
        assert not stopper.is_alive(), "stop() hung while messages kept arriving"
        sender.join(60)
        w = IngestWorker(redis_client, compiled, mqtt_service.url, group=group,
                         client_id=f"{group}-s", session_expiry_s=60).start()
        wait_for(lambda: len(set(stored_pairs(redis_client, ids))) == len(msgs), 60,
                 "every message after the restart")
    finally:
        pub.close()
        w.stop()
