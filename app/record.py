"""Wiring of the record (档案库, issue 20) into a OneMap process: the archiver as a background
thread and the archive reader behind ``IncidentService.get``, when a PostgreSQL is configured
(``ONEMAP_PG_URL``) — or, for ``onemap demo``, a private one it can start (``app.pg``).
Production runs the archiver as its own process (``onemap db archive``); docs/record.md."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings
from app.context import AppContext
from app.runtime import Runtime

if TYPE_CHECKING:
    from incidents.record.archiver import Archiver

log = logging.getLogger("onemap")

HISTORY_OFF = ("历史档案未启用 history is off: no ONEMAP_PG_URL and no PostgreSQL + PostGIS here "
               "(apt-get install postgresql postgresql-15-postgis-3)")


def ensure_pg(settings: Settings, runtime: Runtime) -> tuple[str | None, str]:
    """(URL, what to tell the operator): ONEMAP_PG_URL, else a private PostgreSQL + PostGIS in
    ``<data_dir>/pg`` when the binaries are installed, else none (history off)."""
    if settings.pg_url:
        return settings.pg_url, "PostgreSQL: ONEMAP_PG_URL"
    import subprocess  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    from app import pg  # noqa: PLC0415

    if not pg.available():
        return None, HISTORY_OFF
    data_dir = Path(settings.data_dir).resolve()
    try:
        pg.let_through(data_dir)       # as root, PostgreSQL runs as postgres: 0710 root:postgres
        svc = pg.start_postgres(data_dir / "pg")
    except (OSError, RuntimeError, subprocess.SubprocessError, psycopg.Error) as e:
        # e.g. as root the data dir must be reachable by the postgres user
        log.warning("private PostgreSQL did not start: %s", e)
        return None, f"历史档案未启用 history is off: PostgreSQL did not start ({e})"
    runtime.services.append(svc)
    return svc.url, f"PostgreSQL (private, {svc.data_dir}): {svc.url}"


def attach_reader(ctx: AppContext, url: str) -> None:
    """``IncidentService.get`` falls through to the record (a case Redis no longer holds)."""
    from app.pg import connector  # noqa: PLC0415
    from incidents.record.reader import ArchiveReader  # noqa: PLC0415

    reader = ArchiveReader(connector(url, "onemap-reader"))
    ctx.incidents.archive, ctx.incidents.archive_trail = reader, reader.trail


def start_archiver(ctx: AppContext, url: str, stop: threading.Event,
                   name: str) -> tuple[Archiver, list[threading.Thread]]:
    """The archiver (consumer ``name`` on the incident feed), the security audit's copy (SEC9)
    and the alarm episodes' (E18), the hourly telemetry rollups and the retention (保留期:
    closed cases the record confirmed leave Redis after ``settings.retention_days``), each in
    a daemon thread until ``stop`` is set."""
    from app import keys as app_keys  # noqa: PLC0415
    from app.pg import connector  # noqa: PLC0415
    from incidents.record.archiver import Archiver  # noqa: PLC0415
    from incidents.record.episodes import AlarmEpisodeCopier  # noqa: PLC0415
    from incidents.record.retention import Retention  # noqa: PLC0415
    from incidents.record.stream import SecurityAuditCopier  # noqa: PLC0415
    from sensors.rollup import HourlyRollup  # noqa: PLC0415

    archiver = Archiver(ctx.redis, connector(url, f"onemap-archiver-{name}"), consumer=name)
    security = SecurityAuditCopier(ctx.redis, connector(url, f"onemap-security-{name}"),
                                   app_keys.SECURITY_AUDIT, consumer=name)
    episodes = AlarmEpisodeCopier(ctx.redis, connector(url, f"onemap-episodes-{name}"),
                                  consumer=name)
    rollup = HourlyRollup(ctx.redis, connector(url, f"onemap-rollup-{name}"))
    retention = Retention(ctx.redis, connector(url, f"onemap-retention-{name}"),
                          ctx.settings.retention_days * 86400, archive=Archiver(ctx.redis, connector(
                              url, f"onemap-retention-copy-{name}")).archive)
    threads = []
    for label, worker in (("archiver", archiver), ("security-archiver", security),
                          ("episode-archiver", episodes), ("rollup", rollup),
                          ("retention", retention)):
        t = threading.Thread(target=worker.run, args=(stop,), name=label, daemon=True)
        t.start()
        threads.append(t)
    return archiver, threads


def start_record(ctx: AppContext, runtime: Runtime, name: str = "demo-archiver") -> str:
    """The record for this process: a PostgreSQL (``ensure_pg``), its schema at head, the
    archiver in a thread (stopped with ``runtime``), the reader attached. Returns one line for
    the operator; never raises: without a record the rest of OneMap runs (history off)."""
    from app.pg import migrate  # noqa: PLC0415

    url, said = ensure_pg(ctx.settings, runtime)
    if url is None:
        return said
    try:
        migrate(url)
    except Exception as e:  # noqa: BLE001  (a record that cannot be set up leaves history off)
        log.warning("record schema not applied: %s", e)
        return f"历史档案未启用 history is off: schema not applied ({e})"
    _, threads = start_archiver(ctx, url, runtime.stop_event, name)
    for t in threads:
        runtime.add(t.name, lambda t=t: t.join(10))
    attach_reader(ctx, url)
    from app.ledger import attach as attach_ledger  # noqa: PLC0415 (issue 24: the registers)

    attach_ledger(ctx, url)
    return said + "; archiving incidents to the record"


def start_record_soon(ctx: AppContext, runtime: Runtime, say: Callable[[str], None]) -> None:
    """``start_record`` in a thread (``onemap demo``): the screens do not wait for initdb and
    PostGIS; ``say`` tells the operator how it went. Stopping waits for it first, so that a
    PostgreSQL it started is in ``runtime.services`` before those are stopped."""
    def work() -> None:
        try:
            say(start_record(ctx, runtime))
        except Exception as e:  # noqa: BLE001  (never takes the demo down)
            log.exception("record start failed")
            say(f"历史档案未启用 history is off: {e}")

    t = threading.Thread(target=work, name="record-start", daemon=True)
    t.start()
    runtime.add("record-start", lambda: t.join(120))


__all__ = ["ensure_pg", "attach_reader", "start_archiver", "start_record", "start_record_soon",
           "HISTORY_OFF"]
