"""``onemap notify``: the notifier process (通知): sends the outbox through the channels this
deployment configured (in-app always; e-mail with ONEMAP_SMTP_HOST; SMS with ONEMAP_SMS_URL),
runs the escalation chains, and turns new work on the incident feed into notifications to the
center's watch. ``--roster FILE`` / ``--contacts FILE`` import a duty roster / contacts CSV and
exit (docs/notify.md). Several notifiers may run on one Redis (consumer group ``notify``); keep
``--name`` stable across restarts so a restarted one resends what it held, with the same key.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import click

from app.config import load_settings
from app.context import AppContext
from app.timefmt import setup_logging


@click.command("notify")
@click.option("--redis-url", default=None, help="Redis URL (default ONEMAP_REDIS_URL).")
@click.option("--name", default=None, help="Consumer name in group 'notify' (default host-pid).")
@click.option("--roster", "roster_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Import a duty roster CSV (center,date,start,end,role,person) and exit.")
@click.option("--contacts", "contacts_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Import contacts CSV (person,name,phone,email) and exit.")
def command(redis_url: str | None, name: str | None, roster_file: Path | None,
            contacts_file: Path | None) -> None:
    """Send notifications (in-app, e-mail, SMS) and escalate unacknowledged ones."""
    from app.channels import build_senders  # noqa: PLC0415
    from app.heartbeat import beat_until, stop_on_signals  # noqa: PLC0415
    from incidents.duty import Roster, RosterError  # noqa: PLC0415
    from incidents.notify import Contacts, NotifyWorker  # noqa: PLC0415

    setup_logging()   # Beijing time, the zone shown (app.timefmt)
    settings = load_settings()
    redis_url = redis_url or settings.redis_url
    if not redis_url:
        raise click.UsageError("give --redis-url (or ONEMAP_REDIS_URL)")
    ctx = AppContext(settings, redis_url)
    if roster_file or contacts_file:
        from app.users import UserStore  # noqa: PLC0415  (only to check the roster's persons)

        users = UserStore(ctx.redis)
        try:
            if roster_file:
                roster = Roster(ctx.redis, known_persons=lambda p: users.get(p) is not None)
                shifts = roster.import_csv(roster_file.read_text(encoding="utf-8"), by="cli")
                click.echo(f"导入 {len(shifts)} 个班次 (shifts imported)")
            if contacts_file:
                n = Contacts(ctx.redis).import_csv(contacts_file.read_text(encoding="utf-8"))
                click.echo(f"导入 {n} 个联系人 (contacts imported)")
        except RosterError as e:
            raise click.ClickException("排班导入被拒绝 (nothing imported):\n  " + "\n  ".join(e.problems)) from None
        except ValueError as e:
            raise click.ClickException(f"导入被拒绝 (nothing imported): {e}") from None
        return
    name = name or f"notify-{socket.gethostname()}-{os.getpid()}"
    worker = NotifyWorker(ctx.redis, build_senders(settings, ctx.redis),
                          config=settings.notify_config, name=name)
    stopped = stop_on_signals()
    worker.ensure_groups()
    t = threading.Thread(target=worker.run, args=(stopped,), name="notify", daemon=True)
    t.start()
    from app import exchange_client  # noqa: PLC0415  (上报省平台 rules + delivery, issue 18)

    xstats, _ = exchange_client.start(ctx, stopped, name)
    click.echo(f"notify {name}: channels {', '.join(sorted(worker.senders))} on {redis_url}", err=True)
    try:
        beat_until(ctx.redis, "notify", stopped, lambda: dict(worker.stats) | xstats())
    finally:
        stopped.set()
        t.join(10)
        click.echo(f"notify {name}: stopped ({dict(worker.stats)})", err=True)
