"""``onemap restore DIR``: a backup made by ``onemap backup`` into FRESH services (恢复,
SEC29–SEC33, issue 20): checksums verified first; a Redis holding keys or a record holding
incidents is refused unless ``--force``. The work is ``app.backup``'s; docs/record.md."""

from __future__ import annotations

import json
from pathlib import Path

import click

from app.commands.backup import sources
from app.config import load_settings


@click.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--redis-url", default=None, help="Redis URL of a user allowed RESTORE (default: "
              "ONEMAP_REDIS_URL as the private Redis's admin).")
@click.option("--pg-url", default=None, help="PostgreSQL URL of the record (default ONEMAP_PG_URL).")
@click.option("--force", is_flag=True, help="Restore over keys/rows already there (replacing them).")
def command(directory: Path, redis_url: str | None, pg_url: str | None, force: bool) -> None:
    """恢复: put a backup back into fresh Redis and PostgreSQL and the data dir."""
    from app.backup import BackupError, restore  # noqa: PLC0415

    settings = load_settings()
    try:
        done = restore(directory, sources(settings, redis_url, pg_url), force=force)
    except BackupError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"恢复完成 restore done: {done['keys']} keys, record {json.dumps(done['rows'])}, "
               f"{done['files']} files (restart the broker so it reads the restored credentials)")


if __name__ == "__main__":      # ``python -m app.commands.restore``: this command alone
    command()
