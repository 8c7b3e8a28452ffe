"""``onemap open311 keys``: API keys of Open311 GeoReport v2 client systems (issue 18, X23):
``issue NAME --center CODE`` (printed once, stored as its SHA-256), ``revoke NAME``, ``list``."""

from __future__ import annotations

from datetime import datetime

import click

from app import open311
from app.config import Settings
from app.context import AppContext


def _ctx() -> AppContext:
    settings = Settings()
    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL to the Redis of the running system")
    return AppContext(settings, settings.redis_url)


@click.group("open311")
def command() -> None:
    """Open311 GeoReport v2 (对外受理接口): client systems' API keys."""


@command.group("keys")
def keys_group() -> None:
    """API keys, one per client system, scoped to a center (签发/吊销/列表)."""


@keys_group.command("issue")
@click.argument("name")
@click.option("--center", required=True, help="CITY, T<town code> or D<dept code>.")
def issue(name: str, center: str) -> None:
    """签发: a new key for client NAME at CENTER (replaces its old key); printed once."""
    ctx = _ctx()
    try:
        key = open311.issue_key(ctx.redis, name, center, ctx.city.centers)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(key)


@keys_group.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """吊销: the key of client NAME stops working at once."""
    if not open311.revoke_key(_ctx().redis, name):
        raise click.ClickException(f"客户端 {name} 没有有效的 key (no live key for {name})")
    click.echo(f"revoked {name}")


@keys_group.command("list")
def list_keys() -> None:
    """Every client system: name, center, issued, revoked."""
    for c in open311.clients(_ctx().redis):
        when = datetime.fromtimestamp(c["created"]).isoformat(timespec="seconds")
        gone = (" revoked " + datetime.fromtimestamp(c["revoked"]).isoformat(timespec="seconds")
                if c.get("revoked") else " live")
        click.echo(f"{c['name']}\t{c['center']}\t{when}{gone}")
