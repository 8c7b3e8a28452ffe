"""``onemap ledger``: the grid worker's registers (辖区对象花名册, G8; issue 24; docs/ledger.md).

``onemap ledger import FILE`` imports a people, houses or units file (CSV or XLSX, the register
told by its header or ``--kind``) into the record: each refused row printed with its row number,
field and reason, the valid rows committed in one transaction. ``onemap ledger export KIND``
writes a register as CSV (the import's columns), masked unless ``--unmasked`` (audited, SEC9).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from grid.ledger.model import KINDS


def _ledger(pg_url: str | None):  # noqa: ANN202 (app.ledger.Ledger)
    from app.commands.db import _pg_url  # noqa: PLC0415
    from app.config import load_settings  # noqa: PLC0415
    from app.context import AppContext  # noqa: PLC0415
    from app.ledger import attach  # noqa: PLC0415

    settings = load_settings()
    ctx = AppContext(settings, settings.redis_url)
    return attach(ctx, _pg_url(pg_url))


@click.group("ledger")
def command() -> None:
    """The registers of people, houses and units per grid cell (辖区对象花名册)."""


@command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), default=None,
              help="people | houses | units (default: told by the file's header).")
@click.option("--pg-url", default=None, help="PostgreSQL URL (default ONEMAP_PG_URL).")
def import_(file: Path, kind: str | None, pg_url: str | None) -> None:
    """Import FILE (.csv or .xlsx): bad rows refused with reasons, the rest committed at once."""
    from grid.ledger.store import LedgerFileError  # noqa: PLC0415

    try:
        rep = _ledger(pg_url).import_file(file, kind)
    except LedgerFileError as e:
        raise click.ClickException(str(e)) from None
    d = rep.to_dict(limit=10_000)
    for p in d["problems"]:
        click.echo(p)
    click.echo(f"{d['kind']}: 共 {d['rows']} 行，导入 {d['imported']} 行，拒绝 {d['rejected']} 行 / "
               f"{d['rows']} rows, {d['imported']} imported, {d['rejected']} refused")


@command.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV file to write (default: standard output).")
@click.option("--town", default=None, help="Only this town's part (town code).")
@click.option("--unmasked", is_flag=True, help="Personal fields in clear (audited).")
@click.option("--pg-url", default=None, help="PostgreSQL URL (default ONEMAP_PG_URL).")
def export(kind: str, output: Path | None, town: str | None, unmasked: bool,
           pg_url: str | None) -> None:
    """Write the KIND register as CSV in the import's columns (masked unless --unmasked)."""
    from app import security  # noqa: PLC0415
    from app.ledger import mask_person  # noqa: PLC0415
    from grid.ledger.store import export_csv  # noqa: PLC0415
    from incidents import masking  # noqa: PLC0415

    led = _ledger(pg_url)

    def mask(row: dict) -> dict:
        if kind == "people":
            return mask_person(row)
        return dict(row, phone=masking.phones(row.get("phone") or "")) if "phone" in row else row

    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        with led.connect() as conn:
            n = export_csv(conn, kind, out, town=town, mask=None if unmasked else mask)
    finally:
        if output:
            out.close()
    if unmasked:
        security.audit(led.redis, "ledger_export", user=f"cli:{getpass.getuser()}", role="cli",
                       target=f"{kind}:{town or 'all'}", reason=f"未脱敏导出 {n} 条")
    click.echo(f"已导出 {n} 行 / {n} rows exported", err=True)
