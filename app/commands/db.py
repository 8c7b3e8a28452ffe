"""``onemap db``: the record (档案库, PostgreSQL + PostGIS, issue 20; docs/record.md).

``onemap db upgrade`` brings the schema to the newest Alembic revision (``migrations/``);
``onemap db archive`` runs the archiver (``incidents.record.archiver``): the incident feed →
the record, at least once, idempotent, until SIGINT/SIGTERM. Run one or several (a consumer
group shares the feed); keep ``--name`` stable across restarts so a restarted archiver takes
up what it held. ``onemap demo`` runs it in a thread when ``ONEMAP_PG_URL`` is set.
"""

from __future__ import annotations

import logging
import signal
import threading

import click

from app.config import load_settings
from app.timefmt import setup_logging


def _pg_url(pg_url: str | None) -> str:
    url = pg_url or load_settings().pg_url
    if not url:
        raise click.UsageError("请给出 --pg-url (或 ONEMAP_PG_URL) / give --pg-url (or ONEMAP_PG_URL)")
    return url


@click.group("db")
def command() -> None:
    """The record (档案库): PostgreSQL + PostGIS schema and archiver."""


@command.command("upgrade")
@click.option("--pg-url", default=None, help="PostgreSQL URL (default ONEMAP_PG_URL).")
@click.option("--revision", default="head", show_default=True, help="Alembic revision.")
def upgrade(pg_url: str | None, revision: str) -> None:
    """Apply the schema migrations (Alembic) up to REVISION."""
    from app.pg import migrate  # noqa: PLC0415

    at = migrate(_pg_url(pg_url), revision)
    click.echo(f"档案库结构已是 {at} / record schema at revision {at}")


@command.command("archive")
@click.option("--pg-url", default=None, help="PostgreSQL URL (default ONEMAP_PG_URL).")
@click.option("--redis-url", default=None, help="Redis URL (default ONEMAP_REDIS_URL).")
@click.option("--name", default="archiver", show_default=True,
              help="Consumer name in group 'archive' (stable across restarts).")
@click.option("--batch", type=int, default=500, show_default=True,
              help="Feed entries per PostgreSQL transaction.")
@click.option("--retention-days", type=float, default=None,
              help="保留期: closed cases the record confirmed leave Redis after this many days "
                   "(default: the retention_days setting, 7).")
def archive(pg_url: str | None, redis_url: str | None, name: str, batch: int,
            retention_days: float | None) -> None:
    """Archive incidents, their audit trails, the security audit, alarm episodes and
    hourly telemetry rollups into the record until stopped; evict closed cases the record
    confirmed from Redis after the retention (incidents.record.retention)."""
    from app import keys as app_keys  # noqa: PLC0415
    from app.context import AppContext  # noqa: PLC0415
    from app.heartbeat import BEAT_EVERY_S, beat  # noqa: PLC0415
    from app.pg import connector  # noqa: PLC0415
    from incidents.record.archiver import Archiver  # noqa: PLC0415
    from incidents.record.episodes import AlarmEpisodeCopier  # noqa: PLC0415
    from incidents.record.retention import Retention  # noqa: PLC0415
    from incidents.record.stream import SecurityAuditCopier  # noqa: PLC0415
    from sensors.rollup import HourlyRollup  # noqa: PLC0415

    setup_logging()   # Beijing time, the zone shown (app.timefmt)
    settings = load_settings()
    url = _pg_url(pg_url)
    redis_url = redis_url or settings.redis_url
    if not redis_url:
        raise click.UsageError("请给出 --redis-url (或 ONEMAP_REDIS_URL) / give --redis-url")
    ctx = AppContext(settings, redis_url)
    worker = Archiver(ctx.redis, connector(url, f"onemap-archiver-{name}"), consumer=name,
                      batch=batch)
    security = SecurityAuditCopier(ctx.redis, connector(url, f"onemap-security-{name}"),
                                   app_keys.SECURITY_AUDIT, consumer=name, batch=batch)
    episodes = AlarmEpisodeCopier(ctx.redis, connector(url, f"onemap-episodes-{name}"),
                                  consumer=name, batch=batch)
    rollup = HourlyRollup(ctx.redis, connector(url, f"onemap-rollup-{name}"))
    days = settings.retention_days if retention_days is None else retention_days
    retention = Retention(ctx.redis, connector(url, f"onemap-retention-{name}"), days * 86400,
                          archive=Archiver(ctx.redis, connector(
                              url, f"onemap-retention-copy-{name}")).archive)
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t = threading.Thread(target=worker.run, args=(stopped,), name="archiver", daemon=True)
    t.start()
    others = [threading.Thread(target=w.run, args=(stopped,), name=n, daemon=True)
              for n, w in (("security-archiver", security), ("episode-archiver", episodes),
                           ("rollup", rollup), ("retention", retention))]
    for o in others:
        o.start()
    click.echo(f"archiver {name}: {redis_url} → the record", err=True)
    try:
        while not stopped.is_set():
            try:
                beat(ctx.redis, "archiver", info=dict(worker.stats))
            except Exception as e:  # noqa: BLE001  (a missed heartbeat must not stop archiving)
                logging.getLogger("onemap.archiver").warning("heartbeat failed: %s", e)
            stopped.wait(BEAT_EVERY_S)
    finally:
        stopped.set()
        t.join(15)
        for o in others:
            o.join(15)
        click.echo(f"archiver {name}: stopped ({dict(worker.stats)})", err=True)


if __name__ == "__main__":      # ``python -m app.commands.db``: this command alone
    command()
