"""``onemap city``: build the demo city model or import a real city's own data (grid/)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.config import Settings


@click.group("city")
def command() -> None:
    """City model (城市网格模型): build the demo city, import a real one."""


def _default_out(name: str) -> Path:
    return Settings().data_dir / "cities" / name


@command.command("build")
@click.argument("name", default="高州市")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Output directory (default <ONEMAP_DATA_DIR>/cities/NAME).")
@click.option("--seed", type=int, default=0, show_default=True, help="Generation seed.")
def build(name: str, out: Path | None, seed: int) -> None:
    """Generate the demo city inside the real county boundary NAME (e.g. 高州市)."""
    from grid.build import build_city  # noqa: PLC0415
    from grid.io import save_city  # noqa: PLC0415

    out = out or _default_out(name)
    try:
        city = build_city(name, seed=seed)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from e
    save_city(city, out)
    click.echo(f"{city.name} ({city.admin_code}): {len(city.towns)} towns/streets, "
               f"{len(city.villages)} villages/communities, {len(city.cells)} grid cells → {out}")


@command.command("import")
@click.option("--towns", required=True, help="Towns/streets file (GeoPackage, Shapefile, GeoJSON; "
              "FILE#LAYER for one layer of a GeoPackage).")
@click.option("--villages", required=True, help="Villages/communities file.")
@click.option("--cells", required=True, help="Grid cells file.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output city directory (written only if the data passes every check).")
@click.option("--name", default=None, help="City name (default: the output directory's name).")
@click.option("--name-field", multiple=True, metavar="[LAYER=]FIELD",
              help="Field holding the name (default 'name'); LAYER is towns, villages or cells.")
@click.option("--code-field", multiple=True, metavar="[LAYER=]FIELD",
              help="Field holding the code (default 'code'): 9/12/15-digit unit-grid codes.")
@click.option("--parent-field", multiple=True, metavar="[LAYER=]FIELD",
              help="Field holding the parent's code (default villages=town_code, cells=village_code).")
@click.option("--worker-id-field", default="worker_id", show_default=True,
              help="Cells: grid worker id (if absent: W<cell code>).")
@click.option("--worker-name-field", default="worker_name", show_default=True,
              help="Cells: grid worker name (optional).")
@click.option("--crs", default=None, help="CRS of files that declare none (e.g. EPSG:4549).")
@click.option("--tolerance", "tolerance_m2", type=float, default=None,
              help="Overlaps and gaps below this many m² are ignored (default 25).")
@click.option("--tolerance-width", "tolerance_width_m", type=float, default=None,
              help="Overlaps and gaps narrower than this many metres are ignored (default 0.5).")
@click.option("--attribution", default="", help="Data source/licence shown on the map.")
def import_(towns: str, villages: str, cells: str, out: Path, name: str | None,
            name_field: tuple[str, ...], code_field: tuple[str, ...], parent_field: tuple[str, ...],
            worker_id_field: str, worker_name_field: str, crs: str | None,
            tolerance_m2: float | None, tolerance_width_m: float | None, attribution: str) -> None:
    """Import a real city's towns, villages and grid cells (any CRS → WGS-84), after validation."""
    from tqdm import tqdm  # noqa: PLC0415

    from grid.importer import FieldMap, import_city  # noqa: PLC0415
    from grid.validate import TOLERANCE_M2, TOLERANCE_WIDTH_M, CityDataError  # noqa: PLC0415

    fields = FieldMap(worker_id=worker_id_field, worker_name=worker_name_field)
    try:
        for kind, specs in (("name", name_field), ("code", code_field), ("parent", parent_field)):
            for spec in specs:
                fields.set(kind, spec)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    bar = tqdm(total=8, desc="import", unit="step", file=sys.stderr)

    def step(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)

    try:
        city = import_city(towns, villages, cells, out, name=name, fields=fields, crs=crs,
                           tolerance_m2=TOLERANCE_M2 if tolerance_m2 is None else tolerance_m2,
                           tolerance_width_m=(TOLERANCE_WIDTH_M if tolerance_width_m is None
                                              else tolerance_width_m),
                           attribution=attribution, step=step)
    except CityDataError as e:
        bar.close()
        click.echo(str(e), err=True)
        sys.exit(1)
    bar.update(bar.total - bar.n)
    bar.close()
    click.echo(f"imported {city.name} ({city.admin_code}): {len(city.towns)} towns/streets, "
               f"{len(city.villages)} villages/communities, {len(city.cells)} grid cells → {out}")


@command.command("export")
@click.argument("city_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Directory for towns.geojson, villages.geojson, cells.geojson, boundary.geojson.")
def export(city_dir: Path, out: Path) -> None:
    """Export a city directory's layers as GeoJSON (WGS-84), e.g. for GIS tools or kepler.gl."""
    import json  # noqa: PLC0415

    import geopandas as gpd  # noqa: PLC0415

    from grid.io import load_city, to_geojson  # noqa: PLC0415

    city = load_city(city_dir)
    out.mkdir(parents=True, exist_ok=True)
    boundary = gpd.GeoDataFrame({"name": [city.name], "code": [city.admin_code],
                                 "attribution": [city.attribution]},
                                geometry=[city.boundary], crs="EPSG:4326")
    for layer, gdf in (("towns", city.towns), ("villages", city.villages), ("cells", city.cells),
                       ("boundary", boundary)):
        # RFC 7946 at grid.io.PRECISION, snapped as one layer (no slivers): the API's path too
        (out / f"{layer}.geojson").write_text(json.dumps(to_geojson(gdf),
                                                         ensure_ascii=False),
                                             encoding="utf-8")
    click.echo(f"exported {city.name} to {out}")
