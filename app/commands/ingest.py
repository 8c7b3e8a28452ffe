"""``onemap ingest``: one ingest worker process (MQTT → Redis) plus the device-health checker.

Run several on one broker: they share the feed through the MQTT shared subscription
``$share/<group>/om/v1/...`` (``--group``, default ONEMAP_INGEST_GROUP). Give each a stable
``--client-id`` (default: host + ``--index``) so that after a restart the broker hands it the QoS 1
messages it kept for the session.
"""

from __future__ import annotations

import click

from app.config import ConfigError, config_origin, load_settings
from app.context import AppContext
from app.secret_files import masked  # a password never in a log line (issue 19)
from app.timefmt import setup_logging


@click.command("ingest")
@click.option("--redis-url", default=None, help="Redis URL (default ONEMAP_REDIS_URL).")
@click.option("--mqtt-url", default=None, help="MQTT broker URL (default ONEMAP_MQTT_URL).")
@click.option("--group", default=None, help="Shared-subscription group (default ONEMAP_INGEST_GROUP).")
@click.option("--client-id", default=None, help="MQTT client id (stable: keeps the session).")
@click.option("--index", type=int, default=0, help="Worker index on this host (default client id).")
@click.option("--share/--no-share", default=True,
              help="Shared subscription (several workers; default) or a plain one (one worker: "
                   "survives a mosquitto restart without a gap).")
@click.option("--stress", is_flag=True,
              help="Use the stress registry: 26,907 cameras (Q9) instead of 4,780.")
@click.option("--health/--no-health", default=True, help="Also run the device-health checker.")
def command(redis_url: str | None, mqtt_url: str | None, group: str | None, client_id: str | None,
            index: int, share: bool, stress: bool, health: bool) -> None:
    """Ingest IoT telemetry, device status and video-AI detections from MQTT into Redis."""
    from app.broker_auth import client_login  # noqa: PLC0415
    from app.heartbeat import beat_until, stop_on_signals  # noqa: PLC0415
    from sensors.credentials import INGEST  # noqa: PLC0415
    from sensors.health import HealthChecker  # noqa: PLC0415
    from sensors.ingest import IngestWorker, default_client_id, settle_heap  # noqa: PLC0415
    from sensors.rules import ThresholdConfigError, compile_registry  # noqa: PLC0415

    setup_logging()   # Beijing time, the zone shown (app.timefmt)
    settings = load_settings()    # a bad configuration stops here, before Redis or MQTT
    redis_url = redis_url or settings.redis_url
    mqtt_url = mqtt_url or settings.mqtt_url
    if not redis_url or not mqtt_url:
        raise click.UsageError("give --redis-url and --mqtt-url (or ONEMAP_REDIS_URL / ONEMAP_MQTT_URL)")
    group = group or settings.ingest_group
    ctx = AppContext(settings, redis_url, mqtt_url)
    if stress:
        from sensors.registry import load_or_create  # noqa: PLC0415

        registry = load_or_create(ctx.city, settings.resolved_city_dir, stress=True)
    else:
        registry = ctx.devices
    try:   # the [sensors] thresholds; device overrides are checked against the registry here
        devices = compile_registry(registry, settings.sensor_thresholds)
    except ThresholdConfigError as e:
        raise ConfigError(e.problems, config_origin()) from None
    worker = IngestWorker(ctx.redis, devices, mqtt_url, group=group,
                          client_id=client_id or default_client_id(group, index),
                          history_maxlen=settings.history_maxlen, shared=share,
                          login=client_login(settings, INGEST))
    checker = HealthChecker(ctx.redis, registry, devices=worker.devices) if health else None
    settle_heap()
    stopped = stop_on_signals()
    worker.start()
    if checker:
        checker.start()
    click.echo(f"ingest {worker.client_id}: {len(worker.devices)} devices, group {group!r}, "
               f"{masked(mqtt_url)} → {masked(redis_url)}", err=True)
    worker.wait_subscribed(10.0)
    try:
        beat_until(ctx.redis, "ingest", stopped, lambda: {
            **worker.stats, "client_id": worker.client_id, "subscribed": worker.subscribed.is_set()})
    finally:
        if checker:
            checker.stop()
        worker.stop()
        click.echo(f"ingest {worker.client_id}: stopped after {worker.stats['messages']} messages",
                   err=True)
