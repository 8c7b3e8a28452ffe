"""``onemap dispatch``: one dispatch worker process: the deadline worker (预警 → 督办 → 上报)
and the alarm intake (``om:alarms`` → incidents). Run as many as you like on one Redis: deadline
events are claimed atomically and alarms are shared through the consumer group ``intake``.
"""

from __future__ import annotations

import os
import socket
import threading

import click

from app.config import load_settings
from app.context import AppContext
from app.runtime import tune_gc
from app.secret_files import masked  # a password never in a log line (issue 19)
from app.timefmt import setup_logging


@click.command("dispatch")
@click.option("--redis-url", default=None, help="Redis URL (default ONEMAP_REDIS_URL).")
@click.option("--name", default=None, help="Consumer name in group 'intake' (default host-pid; "
              "keep it stable across restarts to pick up what this worker held).")
@click.option("--poll", type=float, default=1.0, show_default=True,
              help="Seconds between deadline scans.")
@click.option("--check", is_flag=True, help="Only check the incident store's consistency "
              "(every incident in exactly one place, audit complete, deadlines match) and exit.")
def command(redis_url: str | None, name: str | None, poll: float, check: bool) -> None:
    """Run the deadline worker and the alarm intake (1+N dispatch)."""
    from app.heartbeat import beat_until, stop_on_signals  # noqa: PLC0415
    from incidents import invariants  # noqa: PLC0415
    from incidents.worker import DispatchWorker  # noqa: PLC0415

    setup_logging()   # Beijing time, the zone shown (app.timefmt)
    settings = load_settings()    # a bad configuration stops here, before Redis is needed
    redis_url = redis_url or settings.redis_url
    if not redis_url:
        raise click.UsageError("give --redis-url (or ONEMAP_REDIS_URL)")
    ctx = AppContext(settings, redis_url)
    if check:
        problems = invariants.check(ctx.redis)
        for p in problems:
            click.echo(p)
        click.echo(f"{len(problems)} problem(s)", err=True)
        raise SystemExit(1 if problems else 0)
    name = name or f"dispatch-{socket.gethostname()}-{os.getpid()}"
    worker = DispatchWorker(ctx.redis, ctx.city, config=settings.incident_config, name=name,
                            poll_s=poll)
    from app.hotline import desk_over  # noqa: PLC0415 (回访 and the 好差评 SMS, issue 24)

    worker.deadlines.callbacks = desk_over(ctx, worker.service, send_sms=True)
    tune_gc()
    stopped = stop_on_signals()
    if settings.pg_url:     # the record (issue 20): each dispatch process archives too
        from app.record import start_archiver  # noqa: PLC0415

        start_archiver(ctx, settings.pg_url, stopped, name)
    t = threading.Thread(target=worker.run, args=(stopped,), name="dispatch", daemon=True)
    t.start()
    # 应急响应 (issue 16): missing member-unit tasks given, missing dispatch notes written
    from app.emergency import start_sweep  # noqa: PLC0415

    em_stats: dict = {}
    start_sweep(ctx, stopped, em_stats)
    click.echo(f"dispatch {name}: deadlines + alarm intake on {masked(redis_url)}", err=True)
    try:
        beat_until(ctx.redis, "dispatch", stopped, lambda: dict(worker.stats) | em_stats)
    finally:
        stopped.set()
        t.join(10)
        click.echo(f"dispatch {name}: stopped ({worker.stats})", err=True)
