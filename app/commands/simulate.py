"""``onemap simulate``: drive the demo city's devices over MQTT (telemetry, status, video AI)."""

from __future__ import annotations

import logging
import signal
import threading
import time

import click

from app.config import Settings
from app.context import AppContext
from app.timefmt import setup_logging


@click.command("simulate")
@click.option("--mqtt-url", default=None, help="MQTT broker URL (default ONEMAP_MQTT_URL).")
@click.option("--rate", type=float, default=None,
              help="Steady messages per second (default ONEMAP_SIM_RATE, 90); 0 = flat out.")
@click.option("--burst", type=float, default=0.0, help="Start with a ×10 burst of this many s.")
@click.option("--scenario", type=click.Choice(["flood", "fire", "outage"]), multiple=True,
              help="Start a scenario now (repeatable).")
@click.option("--town", default=None, help="Town code of the scenario (default: one picked).")
@click.option("--building", default=None, help="Building id (bld-NNN) of a fire scenario.")
@click.option("--duration", type=float, default=1800.0, help="Scenario length, s.")
@click.option("--seconds", type=float, default=0.0, help="Stop after this many s (0: Ctrl-C).")
@click.option("--stress", is_flag=True,
              help="Use the stress registry: 26,907 cameras (Q9) instead of 4,780.")
@click.option("--seed", type=int, default=0, help="Random seed.")
def command(mqtt_url: str | None, rate: float | None, burst: float, scenario: tuple[str, ...],
            town: str | None, building: str | None, duration: float, seconds: float,
            stress: bool, seed: int) -> None:
    """Publish realistic telemetry for every device of the city (仿真), with scenarios."""
    from app.broker_auth import client_login  # noqa: PLC0415
    from app.heartbeat import BEAT_EVERY_S, beat  # noqa: PLC0415
    from sensors.credentials import SIMULATOR  # noqa: PLC0415
    from sensors.simulator import Simulator  # noqa: PLC0415

    setup_logging()   # Beijing time, the zone shown (app.timefmt)
    settings = Settings()
    mqtt_url = mqtt_url or settings.mqtt_url
    if not mqtt_url:
        raise click.UsageError("give --mqtt-url (or ONEMAP_MQTT_URL)")
    ctx = AppContext(settings, settings.redis_url or "", mqtt_url)
    if stress:
        from sensors.registry import load_or_create  # noqa: PLC0415

        registry = load_or_create(ctx.city, settings.resolved_city_dir, stress=True)
    else:
        registry = ctx.devices
    sim = Simulator(registry, mqtt_url, rate=settings.sim_rate if rate is None else rate, seed=seed,
                    login=client_login(settings, SIMULATOR)).start()
    if burst:
        sim.burst(burst)
    for name in scenario:
        sc = sim.run_scenario(name, town_code=town, building=building, duration_s=duration)
        click.echo(f"scenario {name}: town {sc.town_code} {sc.building or ''}", err=True)
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    t_end = time.monotonic() + seconds if seconds else None
    try:
        while not stopped.wait(BEAT_EVERY_S if t_end is None else
                               max(0.0, min(BEAT_EVERY_S, t_end - time.monotonic()))):
            if t_end is not None and time.monotonic() >= t_end:
                break
            click.echo(f"simulator: {sim.stats}", err=True)
            if settings.redis_url:
                try:
                    beat(ctx.redis, "simulator", info=dict(sim.stats))
                except Exception as e:  # noqa: BLE001  (no Redis: the simulator still runs)
                    logging.getLogger("onemap.simulator").warning("heartbeat failed: %s", e)
    finally:
        sim.stop()
        click.echo(f"simulator stopped: {sim.stats}", err=True)
