"""Import a real city's own territory data (城市数据导入): towns, villages and grid cells.

Reads GeoPackage, Shapefile or GeoJSON (anything pyogrio reads; ``path#layer`` picks a layer of a
multi-layer file), maps the fields by option, reprojects any CRS to WGS-84, validates everything
(``grid.validate``) and writes a city directory (``grid.io``) only if there is no problem: the
output is written to a temporary directory and renamed at the end, so a refused or failed
import leaves nothing behind (never half-import).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from grid.categories import DEMO_DEPARTMENTS
from grid.codes import worker_id
from grid.io import save_city
from grid.model import City
from grid.validate import TOLERANCE_M2, TOLERANCE_WIDTH_M, CityDataError, Problem, validate_layers

LAYERS = ("towns", "villages", "cells")


@dataclass
class FieldMap:
    """Which source fields hold name, code and parent code (per layer; defaults shown)."""

    name: dict[str, str] = field(default_factory=lambda: dict.fromkeys(LAYERS, "name"))
    code: dict[str, str] = field(default_factory=lambda: dict.fromkeys(LAYERS, "code"))
    parent: dict[str, str] = field(default_factory=lambda: {"villages": "town_code",
                                                            "cells": "village_code"})
    worker_id: str = "worker_id"
    worker_name: str = "worker_name"

    def set(self, kind: str, spec: str) -> None:
        """Apply ``FIELD`` (every layer) or ``LAYER=FIELD`` to the ``kind`` mapping."""
        target = getattr(self, kind)
        layer, sep, fld = spec.partition("=")
        if not sep:
            for k in (target if kind == "parent" else LAYERS):
                target[k] = spec
        elif layer in LAYERS:
            target[layer] = fld
        else:
            raise ValueError(f"unknown layer {layer!r} in {spec!r} (use towns=, villages= or cells=)")


def parse_crs(crs: str | None) -> CRS | None:
    """A CRS from user input (EPSG:4549, 4326, a WKT or PROJ string); clear error if unknown."""
    if crs is None:
        return None
    try:
        return CRS.from_user_input(crs)
    except CRSError as e:
        raise CityDataError([Problem("crs", f"--crs {crs}", f"unknown CRS ({e})")]) from e


def read_layer(layer: str, path: str | os.PathLike, fields: FieldMap,
               crs: CRS | None = None) -> tuple[gpd.GeoDataFrame, list[Problem], CRS | None]:
    """One layer in WGS-84 (columns _row, code, name, parent, worker_*, geometry), its problems
    and its source CRS."""
    spec = str(path)
    src, _, sublayer = spec.partition("#")
    if not Path(src).exists():
        return gpd.GeoDataFrame(), [Problem(layer, src, "file not found")], None
    try:
        gdf = gpd.read_file(src, layer=sublayer or None)
    except Exception as e:  # noqa: BLE001 (pyogrio raises several types; all mean unreadable)
        return gpd.GeoDataFrame(), [Problem(layer, src, f"cannot read: {e}")], None
    problems: list[Problem] = []
    if gdf.crs is None:
        if crs is None:
            return gdf, [Problem(layer, src, "unknown CRS: the file declares no coordinate "
                                             "reference system; pass --crs (e.g. --crs EPSG:4326)")], None
        gdf = gdf.set_crs(crs)
    source_crs = gdf.crs
    try:
        gdf = gdf.to_crs("EPSG:4326")
    except Exception as e:  # noqa: BLE001
        return gdf, [Problem(layer, src, f"unknown CRS {gdf.crs!r}: cannot reproject to WGS-84 ({e})")], None
    b = gdf.total_bounds if len(gdf) and not gdf.geometry.is_empty.all() else None
    if b is not None and not (-180 <= b[0] <= b[2] <= 180 and -90 <= b[1] <= b[3] <= 90):
        problems.append(Problem(layer, src, f"coordinates out of range after reprojection "
                                            f"({b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}): "
                                            "is the CRS right? pass --crs"))
    cols = {"code": fields.code[layer], "name": fields.name[layer]}
    if layer in fields.parent:
        cols["parent"] = fields.parent[layer]
    if layer == "cells":
        cols["worker_id"] = fields.worker_id
        cols["worker_name"] = fields.worker_name
    out = gpd.GeoDataFrame({"_row": range(1, len(gdf) + 1)}, geometry=gdf.geometry.values,
                           crs="EPSG:4326")
    for dst, fld in cols.items():
        if fld not in gdf.columns and fld[:10] in gdf.columns:
            fld = fld[:10]   # Shapefile (DBF) field names are cut to 10 characters
        if fld in gdf.columns:
            out[dst] = gdf[fld].map(_as_text).to_numpy()
        elif dst in ("code", "name", "parent") and not (layer == "cells" and dst == "name"):
            problems.append(Problem(layer, src, f"no field {fld!r} for the {dst} "
                                                f"(fields: {', '.join(map(str, gdf.columns[:-1]))}); "
                                                f"map it with --{dst}-field {layer}=FIELD"))
    return out, problems, source_crs


def _as_text(v: object) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, float) and v.is_integer():   # shapefiles often store codes as numbers
        return str(int(v))
    return str(v).strip()


def import_city(towns: str | os.PathLike, villages: str | os.PathLike, cells: str | os.PathLike,
                out: str | os.PathLike, *, name: str | None = None, fields: FieldMap | None = None,
                crs: str | None = None, tolerance_m2: float = TOLERANCE_M2,
                tolerance_width_m: float = TOLERANCE_WIDTH_M, attribution: str = "", step: Callable[[str], None] = lambda s: None) -> City:
    """Read, validate and save a city; raises CityDataError (nothing written) if anything is wrong."""
    fields = fields or FieldMap()
    the_crs = parse_crs(crs)
    layers: dict[str, gpd.GeoDataFrame] = {}
    problems: list[Problem] = []
    crss = []
    for layer, path in zip(LAYERS, (towns, villages, cells), strict=True):
        step(f"reading {layer}")
        gdf, probs, src_crs = read_layer(layer, path, fields, the_crs)
        layers[layer] = gdf
        problems += probs
        crss.append(src_crs)
    if problems:
        raise CityDataError(problems)
    common = crss[0] if all(c == crss[0] for c in crss) else None
    problems = validate_layers(layers, tolerance_m2, step=step, source_crs=common,
                               tolerance_width_m=tolerance_width_m)
    if problems:
        raise CityDataError(problems)

    step("writing")
    t = layers["towns"]
    admin = str(t["code"].iloc[0])[:6]
    towns_gdf = gpd.GeoDataFrame({"code": t["code"], "name": t["name"],
                                  "kind": [_town_kind(n) for n in t["name"]]},
                                 geometry=t.geometry.values, crs="EPSG:4326")
    v = layers["villages"]
    villages_gdf = gpd.GeoDataFrame({"code": v["code"], "name": v["name"], "town_code": v["parent"],
                                     "kind": [_village_kind(n) for n in v["name"]]},
                                    geometry=v.geometry.values, crs="EPSG:4326")
    c = layers["cells"]
    town_of = dict(zip(v["code"], v["parent"], strict=True))
    wid = c["worker_id"] if "worker_id" in c.columns else pd.Series([None] * len(c))
    wname = c["worker_name"] if "worker_name" in c.columns else pd.Series([None] * len(c))
    extra = {"name": c["name"]} if "name" in c.columns else {}
    cells_gdf = gpd.GeoDataFrame({
        "code": c["code"], "village_code": c["parent"],
        "town_code": [town_of[p] for p in c["parent"]],
        "worker_id": [w if w else worker_id(code) for w, code in zip(wid, c["code"], strict=True)],
        "worker_name": [w or "" for w in wname], **extra,
    }, geometry=c.geometry.values, crs="EPSG:4326")
    city_name = name or Path(out).name
    src = ", ".join(Path(str(p).partition("#")[0]).name for p in (towns, villages, cells))
    city = City(name=city_name, admin_code=admin,
                boundary=shapely.union_all(towns_gdf.geometry.values),
                towns=towns_gdf.reset_index(drop=True), villages=villages_gdf.reset_index(drop=True),
                cells=cells_gdf.reset_index(drop=True), departments=DEMO_DEPARTMENTS,
                attribution=attribution or f"Imported from {src}",
                meta={"generator": "grid.importer", "sources": [str(p) for p in (towns, villages, cells)],
                      "tolerance_m2": tolerance_m2, "tolerance_width_m": tolerance_width_m})
    save_city(city, out)
    return city


def _town_kind(name: object) -> str:
    return "street" if str(name).endswith("街道") else "town"


def _village_kind(name: object) -> str:
    return "community" if str(name).endswith("社区") else "village"
