"""``onemap cap senders``: who may send CAP 1.2 alerts to ``POST /api/cap`` (issue 18): ``add
USER`` / ``remove USER`` / ``list``. A sender is an account (e.g. the weather bureau's, with an
API token from ``onemap users token``); the city center's duty staff may always relay an alert."""

from __future__ import annotations

import click

from app import cap
from app.config import Settings
from app.context import AppContext
from app.users import UserStore


def _ctx() -> AppContext:
    settings = Settings()
    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL to the Redis of the running system")
    return AppContext(settings, settings.redis_url)


@click.group("cap")
def command() -> None:
    """CAP 1.2 预警接入: registered sender accounts."""


@command.group("senders")
def senders_group() -> None:
    """CAP 发送方账号 (登记/撤销/列表)."""


@senders_group.command("add")
@click.argument("user")
def add(user: str) -> None:
    """登记: account USER may send CAP alerts."""
    ctx = _ctx()
    if UserStore(ctx.redis).get(user) is None:
        raise click.ClickException(f"无此账号 {user} (no such account)")
    cap.allow_sender(ctx.redis, user)
    click.echo(f"CAP sender {user}")


@senders_group.command("remove")
@click.argument("user")
def remove(user: str) -> None:
    """撤销: account USER may no longer send CAP alerts."""
    cap.allow_sender(_ctx().redis, user, allowed=False)
    click.echo(f"removed {user}")


@senders_group.command("list")
def list_senders() -> None:
    """Every registered CAP sender account."""
    for u in cap.senders(_ctx().redis):
        click.echo(u)
