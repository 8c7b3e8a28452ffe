"""``onemap audit``: check the security audit's hash chain (SEC9, SEC21), archive it with an anchor."""

from __future__ import annotations

import sys

import click
import redis

from app import security
from app.config import Settings


def _redis() -> redis.Redis:
    settings = Settings()
    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL to the Redis of the running system")
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


@click.group("audit")
def command() -> None:
    """Security audit (安全审计): verify the hash chain, archive old entries."""


@command.command("verify")
def verify() -> None:
    """Walk the chain; name the first altered or removed entry (exit 1), else exit 0."""
    rep = security.verify_chain(_redis())
    if rep.ok:
        click.echo(f"审计链完整 audit chain intact: {rep.checked} entries checked"
                   + (f", {rep.legacy} older unchained entries" if rep.legacy else "")
                   + f"; head {rep.head or '(empty)'}")
        return
    first_id, what = rep.problems[0]
    click.echo(f"审计链被篡改 audit chain broken at entry {first_id}: {what}", err=True)
    for entry_id, more in rep.problems[1:]:
        click.echo(f"  also {entry_id}: {more}", err=True)
    click.echo(f"{len(rep.problems)} problem(s), {rep.checked} entries checked", err=True)
    sys.exit(1)


@command.command("trim")
@click.option("--keep", type=click.IntRange(min=1), required=True,
              help="Entries to keep (the newest); older ones are removed after an anchor is saved.")
@click.confirmation_option(prompt="已导出旧条目? Removed entries are gone from Redis; exported them first?")
def trim(keep: int) -> None:
    """Archive: remove all but the newest KEEP entries, keeping the chain verifiable (anchor)."""
    r = _redis()
    n = security.trim_chain(r, keep)
    if n:
        security.audit(r, "audit_trimmed", user="cli", reason=f"{n} entries removed, kept {keep}")
    click.echo(f"removed {n} entries")


@command.command("export")
def export() -> None:
    """Print every entry (chain fields included) as JSON lines, oldest first, for archiving."""
    r = _redis()
    start = "-"
    while rows := r.xrange(security.keys.SECURITY_AUDIT, min=start, count=1000):
        for entry_id, f in rows:
            click.echo(security.dumps({"id": entry_id, **f}))
        start = f"({rows[-1][0]}"
