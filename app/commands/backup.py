"""``onemap backup DIR``: the whole system into DIR (备份, SEC29–SEC33, issue 20): a Redis
snapshot, a consistent dump of the record (PostgreSQL + PostGIS), the data dir's secrets and the
devices' credentials, with a manifest (versions, times, SHA-256). ``onemap restore DIR`` puts it
back into fresh services. The work is ``app.backup``'s; docs/record.md."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, urlparse

import click

from app.config import Settings, config_file, load_settings


def admin_redis_url(settings: Settings, redis_url: str | None) -> str:
    """The Redis URL a backup uses: ``--redis-url``; else ONEMAP_REDIS_URL, with the private
    Redis's ``admin`` user (``<data_dir>/redis/acl/admin.password``, app.redis_acl) when that
    file exists and the URL is on this host (a component user may not SYNC or RESTORE)."""
    url = redis_url or settings.redis_url
    if not url:
        raise click.UsageError("请给出 --redis-url (或 ONEMAP_REDIS_URL) / give --redis-url "
                               "(a user allowed SYNC and RESTORE, e.g. the private Redis's admin)")
    if redis_url:
        return url
    pw = Path(settings.data_dir) / "redis" / "acl" / "admin.password"
    u = urlparse(url)
    if pw.exists() and u.hostname in ("127.0.0.1", "localhost", "::1"):
        secret = quote(pw.read_text().strip(), safe="")
        return f"{u.scheme}://admin:{secret}@{u.hostname}:{u.port or 6379}{u.path or '/0'}"
    return url


def sources(settings: Settings, redis_url: str | None, pg_url: str | None):  # noqa: ANN201
    from app.backup import Sources  # noqa: PLC0415

    return Sources(admin_redis_url(settings, redis_url), pg_url or settings.pg_url,
                   Path(settings.data_dir), settings.mqtt_auth_dir, config_file())


@click.command("backup")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--redis-url", default=None, help="Redis URL of a user allowed SYNC (default: "
              "ONEMAP_REDIS_URL as the private Redis's admin).")
@click.option("--pg-url", default=None, help="PostgreSQL URL of the record (default ONEMAP_PG_URL).")
def command(directory: Path, redis_url: str | None, pg_url: str | None) -> None:
    """备份: Redis snapshot + record dump + secrets and device credentials into DIRECTORY."""
    from app.backup import BackupError, backup  # noqa: PLC0415

    settings = load_settings()
    try:
        m = backup(directory, sources(settings, redis_url, pg_url))
    except BackupError as e:
        raise click.ClickException(str(e)) from e
    pg = m["postgres"]
    click.echo(f"备份完成 backup done: {directory} — Redis {m['redis']['keys']} keys, "
               f"record {json.dumps(pg['rows']) if pg else '(none: history off)'}, "
               f"{len(m['files'])} files")


if __name__ == "__main__":      # ``python -m app.commands.backup``: this command alone
    command()
