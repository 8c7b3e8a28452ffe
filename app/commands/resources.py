"""``onemap resources``: the emergency resource register (应急资源库, X15/X18, issue 16) — import a
CSV or GeoJSON file (all rows or none; every refusal names its row and field), list it."""

from __future__ import annotations

import getpass
import sys

import click

from app.config import Settings


def _register():  # noqa: ANN202 (grid.resources.Register)
    from app.context import AppContext  # noqa: PLC0415
    from grid.resources import Register  # noqa: PLC0415

    settings = Settings()
    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL to the Redis of the running system")
    ctx = AppContext(settings, settings.redis_url)
    return Register(ctx.redis, ctx.city)


@click.group("resources")
def command() -> None:
    """应急资源 (emergency resources): import and list teams, materials, shelters, experts."""


@command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_(file: str) -> None:
    """Import FILE (.csv or .geojson, docs/resources.md): exit 1 naming every bad row and field,
    nothing imported."""
    from grid.resources import ImportRefused  # noqa: PLC0415

    try:
        got = _register().import_file(file, by=f"cli:{getpass.getuser()}")
    except ImportRefused as exc:
        click.echo("资源导入被拒绝，未导入任何资源 (import refused, nothing imported):", err=True)
        for p in exc.problems:
            click.echo(f"  {p}", err=True)
        sys.exit(1)
    click.echo(f"已导入 {got['imported']} 项资源 (imported)"
               + (f"，移除演示资源 {got['demo_dropped']} 项" if got["demo_dropped"] else ""))


@command.command("list")
def list_() -> None:
    """Every resource with its status (contacts masked)."""
    for h in _register().all():
        v = h.view(unmasked=False)
        qty = f" {v['avail']}/{v['total']}" if h.category == "material" else ""
        click.echo(f"{h.id}\t{v['category_name']}\t{h.record.name}\t{h.owner}\t{v['status_name']}{qty}"
                   + ("\t演示" if h.record.demo else ""))
