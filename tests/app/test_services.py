"""Private services as `onemap demo` starts them: relative data dirs (the default `var/`) work."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from app.services import PIDFILE, free_port, start_mosquitto, start_redis_server


def test_redis_and_mosquitto_start_in_a_relative_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r_svc = start_redis_server(Path("var/redis"))
    m_svc = start_mosquitto(Path("var/mqtt"))
    try:
        client = redis.Redis.from_url(r_svc.url)
        assert client.set("k", "v") and client.get("k") == b"v"
        assert (tmp_path / "var" / "redis" / "appendonlydir").exists() or \
            (tmp_path / "var" / "redis" / "appendonly.aof").exists()
        assert (tmp_path / "var" / "mqtt" / "mosquitto.conf").exists()
    finally:
        m_svc.stop()
        r_svc.stop()


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_first_and_the_services_last(tmp_path, demo_city_dir):
    """Ctrl-C in a terminal sends SIGINT to the whole foreground process group. The private
    redis-server and mosquitto are in their own groups, so only `onemap demo` hears it: it stops
    its workers while Redis and the broker still run (no connection errors, no retries), then
    the services, then exits 0."""
    env = {**os.environ, "ONEMAP_DATA_DIR": str(tmp_path / "var"),
           "ONEMAP_CITY_DIR": str(demo_city_dir), "ONEMAP_PORT": str(free_port())}
    for k in ("ONEMAP_REDIS_URL", "ONEMAP_MQTT_URL"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "demo", "--no-simulate"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)       # its own group, as a terminal gives it
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not any("Ctrl-C stops everything" in x for x in seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        urls = next(x for x in seen if x.startswith("Redis: ")).split()
        redis_port, mqtt_port = (int(u.rsplit(":", 1)[1].split("/")[0]) for u in (urls[1], urls[3]))
        admin = (tmp_path / "var" / "redis" / "acl" / "admin.password").read_text().strip()
        assert redis.Redis(port=redis_port, username="admin", password=admin).ping()
        with pytest.raises(redis.AuthenticationError):     # the default user is off (issue 19)
            redis.Redis(port=redis_port, retry=None).ping()
        os.killpg(proc.pid, signal.SIGINT)                 # what Ctrl-C does
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    rest = []
    while True:
        try:
            rest.append(lines.get(timeout=5))
        except queue.Empty:
            break
        if rest[-1].strip() == "stopped.":
            break
    after = "".join(rest)
    assert "stopped." in after
    for bad in ("unavailable", "disconnected", "Traceback", "Error"):
        assert bad not in after, after
    for port in (redis_port, mqtt_port):            # both services are gone
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass


def test_a_server_left_running_on_its_data_dir_is_stopped_first(tmp_path):
    """`onemap demo` killed with SIGKILL stops nothing: its redis-server and mosquitto keep
    running on the data dir. The next start stops them first (SIGTERM: Redis writes its AOF
    out) instead of starting a second server appending to the same AOF."""
    first = start_redis_server(tmp_path / "redis")
    redis.Redis.from_url(first.url).set("k", "written before the kill")
    broker = start_mosquitto(tmp_path / "mqtt")
    # the OneMap that started them is gone: nothing stops them (their Service objects dropped)
    second = start_redis_server(tmp_path / "redis")
    broker2 = start_mosquitto(tmp_path / "mqtt")
    try:
        assert first.process.wait(20) is not None           # the left-over server was stopped
        assert broker.process.wait(20) is not None
        assert redis.Redis.from_url(second.url).get("k") == b"written before the kill"
        assert (tmp_path / "redis" / PIDFILE).read_text().split()[0] == str(second.process.pid)
    finally:
        for svc in (broker2, second, broker, first):
            svc.stop()
    assert not (tmp_path / "redis" / PIDFILE).exists()      # a stopped server leaves none


def test_a_pid_file_of_another_process_is_left_alone(tmp_path):
    """A pid file whose pid now belongs to some other process (pids are reused) stops nothing."""
    (tmp_path / "redis").mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "redis" / PIDFILE).write_text(f"{other.pid}\n")
        svc = start_redis_server(tmp_path / "redis")
        svc.stop()
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(5)


@pytest.mark.slow
def test_onemap_web_serves_many_requests_on_a_fixed_pool(redis_service, demo_city_dir):
    """`onemap web`, the production entry, runs uvicorn with the Flask app in a fixed pool of
    request threads (app.live.serve; `/events` push beside it): 400 requests from 20 clients at
    once are answered, Redis sees a bounded number of clients (not one per request ever made),
    and SIGTERM ends it with exit 0."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.error import HTTPError
    from urllib.request import urlopen

    port = free_port()
    env = {**os.environ, "ONEMAP_REDIS_URL": redis_service.url, "ONEMAP_CITY_DIR": str(demo_city_dir),
           "ONEMAP_PORT": str(port), "ONEMAP_WEB_THREADS": "8"}
    env.pop("ONEMAP_MQTT_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "web"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    r = redis.Redis.from_url(redis_service.url)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except (OSError, HTTPError):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        before = r.info("clients")["connected_clients"]

        def get(k: int) -> int:
            path = ("/healthz", "/login", "/api/incidents")[k % 3]
            try:
                with urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
                    return resp.status
            except HTTPError as exc:
                return exc.code

        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(get, range(400)))
        assert {c for c in codes} <= {200, 401} and codes.count(200) >= 266
        assert r.info("clients")["connected_clients"] - before <= 2 * 8 + 4
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        r.close()


def test_the_demo_restarts_a_crashed_redis_or_broker_on_its_port_with_its_data(tmp_path):
    """Issue 19: the demo never restarted a crashed Redis. Started as `onemap demo` starts it
    (app.runtime.ensure_redis, then Runtime.supervise), a redis-server killed with SIGKILL is
    back on the same port with the same data dir and users: a key acknowledged before the kill
    is there, and a client made before the crash (what the workers hold) simply goes on. The
    broker likewise comes back on its port."""
    from app.config import Settings
    from app.runtime import Runtime, ensure_redis

    runtime = Runtime()
    try:
        web_url = ensure_redis(Settings(data_dir=tmp_path / "var", redis_url=None), runtime)
        (svc,) = runtime.services
        admin = redis.Redis.from_url(svc.url, decode_responses=True)
        web = redis.Redis.from_url(web_url, decode_responses=True)   # a worker's client
        assert web.set("om:before", "acknowledged before the kill")
        supervisor = runtime.supervise(every_s=0.05)
        old_pid = svc.process.pid
        svc.kill()                                                     # kill -9
        deadline = time.monotonic() + 20
        while not supervisor.restarts:
            assert time.monotonic() < deadline, "not restarted"
            time.sleep(0.05)
        assert supervisor.restarts == [("redis", svc.port)]
        (new,) = runtime.services
        assert (new.port, new.data_dir, new.urls) == (svc.port, svc.data_dir, svc.urls)
        assert new.process.pid != old_pid and new.process.poll() is None
        assert web.get("om:before") == "acknowledged before the kill"    # reconnected
        assert admin.get("om:before") == "acknowledged before the kill"
        assert (svc.data_dir / PIDFILE).read_text().split()[0] == str(new.process.pid)
        broker = start_mosquitto(tmp_path / "var" / "mqtt")            # the broker too
        runtime.services.append(broker)
        broker.kill()
        while len(supervisor.restarts) < 2:
            assert time.monotonic() < deadline, "broker not restarted"
            time.sleep(0.05)
        assert supervisor.restarts[1] == ("mqtt", broker.port)
        with socket.create_connection(("127.0.0.1", broker.port), timeout=5):
            pass                                                       # listening again
    finally:
        runtime.stop()
    assert all(s.process.poll() is not None for s in runtime.services)   # stopped with it
