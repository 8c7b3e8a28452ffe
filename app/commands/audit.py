"""``onemap audit``: check the security audit's and the incident trails' hash chains (SEC9, SEC21);
archive the security audit with an anchor."""

from __future__ import annotations

import sys

import click
import redis

from app import security
from app.config import Settings
from incidents import audit as incident_audit


def _redis() -> redis.Redis:
    settings = Settings()
    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL to the Redis of the running system")
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


@click.group("audit")
def command() -> None:
    """Audit (安全审计, 事件留痕): verify the hash chains, archive old security entries."""


@command.command("verify")
@click.option("--incidents", "only", flag_value="incidents",
              help="Only the incident audit trails (事件留痕), every incident ever opened.")
@click.option("--security", "only", flag_value="security", help="Only the security audit.")
def verify(only: str | None) -> None:
    """Walk the hash chains (the security audit, then every incident's trail, SEC21); name the
    first altered or removed entry of each (exit 1), else exit 0."""
    r = _redis()
    ok = True
    if only != "incidents":
        ok = _verify_security(r) and ok
    if only != "security":
        ok = _verify_incidents(r) and ok
    if not ok:
        sys.exit(1)


def _verify_security(r: redis.Redis) -> bool:
    rep = security.verify_chain(r)
    if rep.ok:
        click.echo(f"审计链完整 audit chain intact: {rep.checked} entries checked"
                   + (f", {rep.legacy} older unchained entries" if rep.legacy else "")
                   + f"; head {rep.head or '(empty)'}")
        return True
    first_id, what = rep.problems[0]
    click.echo(f"审计链被篡改 audit chain broken at entry {first_id}: {what}", err=True)
    for entry_id, more in rep.problems[1:]:
        click.echo(f"  also {entry_id}: {more}", err=True)
    click.echo(f"{len(rep.problems)} problem(s), {rep.checked} entries checked", err=True)
    return False


def _verify_incidents(r: redis.Redis) -> bool:
    rep = incident_audit.verify_trails(r)
    tail = (f"{rep.incidents} incident trails, {rep.checked} entries checked"
            + (f", {rep.legacy} older unchained entries" if rep.legacy else ""))
    if rep.ok:
        click.echo(f"事件留痕完整 incident audit trails intact: {tail}")
        return True
    for inc_id, entry_id, what in rep.problems:
        click.echo(f"事件留痕被篡改 incident {inc_id} trail broken at entry {entry_id}: {what}",
                   err=True)
    click.echo(f"{len(rep.problems)} problem(s) in incident trails, {tail}", err=True)
    return False


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
