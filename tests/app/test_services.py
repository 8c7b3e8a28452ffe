"""Private services as `onemap demo` starts them: relative data dirs (the default `var/`) work."""

from __future__ import annotations

from pathlib import Path

import redis

from app.services import start_mosquitto, start_redis_server


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
