"""Background workers of the embedded demo, each in a thread: ingest + device health, dispatch
(deadlines + alarm intake), the simulator, and a heartbeat for the ops page. Production runs them
as separate processes (``onemap ingest``, ``onemap dispatch``, ``onemap simulate``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from app.context import AppContext
from app.heartbeat import BEAT_EVERY_S, beat
from app.runtime import Runtime

log = logging.getLogger("onemap")


def start_background_workers(ctx: AppContext, runtime: Runtime, simulate: bool = True) -> list[str]:
    """Start ingest, device health, dispatch and (optionally) the simulator; returns their names."""
    from app.broker_auth import client_login  # noqa: PLC0415
    from incidents.worker import DispatchWorker  # noqa: PLC0415
    from sensors.credentials import INGEST, SIMULATOR  # noqa: PLC0415
    from sensors.health import HealthChecker  # noqa: PLC0415
    from sensors.ingest import IngestWorker, default_client_id, settle_heap  # noqa: PLC0415
    from sensors.rules import compile_registry  # noqa: PLC0415

    settings = ctx.settings
    registry = ctx.devices
    devices = compile_registry(registry, settings.sensor_thresholds)   # the [sensors] thresholds
    settle_heap()  # the registry and rules are loaded: keep them out of the GC's way (2–3× ingest)
    # One worker in the demo: a plain subscription survives a broker restart without a gap.
    # Each component connects as its own Redis user (app.redis_acl; issue 19).
    ingest = IngestWorker(ctx.redis_as("ingest"), devices, ctx.mqtt_url or "", group=settings.ingest_group,
                          client_id=default_client_id(settings.ingest_group),
                          history_maxlen=settings.history_maxlen, shared=False,
                          login=client_login(settings, INGEST)).start()
    runtime.add("ingest", ingest.stop)
    checker = HealthChecker(ctx.redis_as("ingest"), registry, devices=ingest.devices).start()
    runtime.add("health", checker.stop)
    if not ingest.wait_subscribed(15.0):
        log.warning("ingest is not subscribed yet; it keeps retrying in the background")

    dispatch = DispatchWorker(ctx.redis_as("dispatch"), ctx.city, config=settings.incident_config,
                              name="demo-dispatch")
    from app.hotline import desk_over  # noqa: PLC0415 (回访 and 好差评 SMS, issue 24)

    dispatch.deadlines.callbacks = desk_over(ctx, dispatch.service, send_sms=True)
    _joined(runtime, _thread("dispatch", lambda: dispatch.run(runtime.stop_event)))
    started = ["ingest", "health", "dispatch"]

    sources: dict[str, Callable[[], dict]] = {"ingest": lambda: dict(ingest.stats),
                                              "dispatch": lambda: dispatch.stats}
    # 通知 (issue 17): the outbox, escalation chains and new work → the watch (incidents.notify)
    from app.channels import build_senders  # noqa: PLC0415
    from incidents.notify import NotifyWorker  # noqa: PLC0415

    notify = NotifyWorker(ctx.redis, build_senders(settings, ctx.redis),
                          config=settings.notify_config, name="demo-notify")
    notify.ensure_groups()
    _joined(runtime, _thread("notify", lambda: notify.run(runtime.stop_event)))
    started.append("notify")
    sources["notify"] = lambda: dict(notify.stats)
    # 信息报送 (issue 17): 首报/终报 drafted as 较大+ cases are accepted/closed, overdue ones urged
    from incidents.duty import Roster  # noqa: PLC0415
    from incidents.notify import Outbox  # noqa: PLC0415
    from incidents.reports_upward import ReportWatcher, UpwardReports  # noqa: PLC0415

    upreports = ReportWatcher(ctx.redis, UpwardReports(ctx.redis, Roster(ctx.redis),
                                                       Outbox(ctx.redis)),
                              ctx.incidents.store.load, consumer="demo-upreport")
    _joined(runtime, _thread("upreport", lambda: upreports.run(runtime.stop_event)))
    started.append("upreport")
    sources["upreport"] = lambda: dict(upreports.stats)
    # 上报省平台 (issue 18): the exchange's rules and delivery (app.exchange_client)
    from app import exchange_client  # noqa: PLC0415

    xstats, xthreads = exchange_client.start(ctx, runtime.stop_event, "demo")
    for t in xthreads:
        _joined(runtime, t)
    sources["notify"] = lambda: dict(notify.stats) | xstats()
    started.append("exchange")
    # 应急响应 (issue 16): the member units' tasks of every active response, given once
    from app.emergency import sweep_loop  # noqa: PLC0415

    _joined(runtime, _thread("emergency", lambda: sweep_loop(ctx, runtime.stop_event)))
    started.append("emergency")
    if simulate:
        from sensors.simulator import Simulator  # noqa: PLC0415

        sim = Simulator(registry, ctx.mqtt_url or "", rate=settings.sim_rate,
                        login=client_login(settings, SIMULATOR))
        sim.start()
        runtime.add("simulator", sim.stop)
        sources["simulator"] = lambda: dict(getattr(sim, "stats", {}) or {})
        started.append("simulator")
        _joined(runtime, _thread("stories", lambda: _tell_stories(
            sim, runtime.stop_event, settings.demo_first_story_s)))
        started.append("scenarios")
    sources["web"] = dict
    _joined(runtime, _thread("heartbeat", lambda: _heartbeats(ctx, runtime.stop_event, sources)))
    return started


def _thread(name: str, target: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    return t


def _joined(runtime: Runtime, t: threading.Thread, timeout: float = 10.0) -> None:
    """Stopping waits for the thread: the stop event is set first, and a thread still inside a
    blocking read (the alarm intake's XREADGROUP, up to ``ALARM_BLOCK_MS``) must finish it
    before Redis stops, or it logs "redis unavailable" on the way out."""
    runtime.add(t.name, lambda: t.join(timeout))


# The demo's story: something happens soon after start (ONEMAP_DEMO_FIRST_STORY_S), then every
# few minutes (demo default).
STORY_EVERY_S = 240.0
STORIES = ("flood", "fire", "outage", "fire", "flood")


def _tell_stories(sim, stop: threading.Event, first_s: float) -> None:  # noqa: ANN001 (Simulator)
    """Play the simulator's scenarios in turn (heavy rain and flooding, a fire, a device outage),
    so that a first look at the demo shows alarms becoming incidents on the wall and consoles."""
    k = 0
    if stop.wait(first_s):
        return
    while not stop.is_set():
        name = STORIES[k % len(STORIES)]
        try:
            sc = sim.run_scenario(name, duration_s=STORY_EVERY_S * 0.8)
            log.info("demo scenario %s in town %s", name, sc.town_code)
        except Exception as e:  # noqa: BLE001 (a story that cannot be told must not stop the demo)
            log.warning("demo scenario %s failed: %s", name, e)
        k += 1
        stop.wait(STORY_EVERY_S)


def _heartbeats(ctx: AppContext, stop: threading.Event, sources: dict[str, Callable[[], dict]]) -> None:
    """One beat per worker kind every few seconds, so /ops shows each one alive with its rates."""
    while not stop.is_set():
        for kind, info in sources.items():
            try:
                beat(ctx.redis, kind, info=info())
            except Exception as e:  # noqa: BLE001  (a missed heartbeat must not stop the demo)
                log.warning("heartbeat %s failed: %s", kind, e)
        stop.wait(BEAT_EVERY_S)
