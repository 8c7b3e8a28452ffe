"""City model on disk (城市模型存取): ``city.json`` + GeoParquet layers, and GeoJSON export.

A city directory holds:

- ``city.json``: ``name``, ``admin_code``, ``attribution``, ``departments`` (code, name,
  categories), ``meta``, ``format`` (version);
- ``towns.parquet``, ``villages.parquet``, ``cells.parquet``, ``boundary.parquet``: GeoParquet,
  EPSG:4326, columns as documented on ``grid.model.City``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import shapely

from grid.model import City, Department

FORMAT = 1
LAYERS = ("towns", "villages", "cells")
_STR_COLUMNS = {
    "towns": ("code", "name", "kind"),
    "villages": ("code", "name", "town_code", "kind"),
    "cells": ("code", "village_code", "town_code", "worker_id", "worker_name"),
}


def save_city(city: City, directory: str | os.PathLike) -> Path:
    """Write the city to ``directory`` atomically (a temp dir renamed at the end)."""
    out = Path(directory)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        doc = {
            "format": FORMAT,
            "name": city.name,
            "admin_code": city.admin_code,
            "attribution": city.attribution,
            "departments": [{"code": d.code, "name": d.name, "categories": list(d.categories)}
                            for d in city.departments],
            "meta": city.meta,
        }
        (tmp / "city.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        for layer in LAYERS:
            getattr(city, layer).to_crs("EPSG:4326").to_parquet(tmp / f"{layer}.parquet", index=False)
        gpd.GeoDataFrame({"name": [city.name]}, geometry=[city.boundary], crs="EPSG:4326").to_parquet(
            tmp / "boundary.parquet", index=False)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move tmp into place; an existing directory is swapped out, never left half-written."""
    try:
        tmp.rename(out)          # atomic; fails if out exists and is not empty
        return
    except OSError:
        if not out.exists():
            raise
    old = out.with_name(f".{out.name}.old.{os.getpid()}")
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def load_city(directory: str | os.PathLike) -> City:
    """Read a city written by ``save_city`` (or ``onemap city import``)."""
    d = Path(directory)
    meta_path = d / "city.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{d} is not a city directory (no city.json)")
    doc = json.loads(meta_path.read_text(encoding="utf-8"))
    layers = {}
    for layer in LAYERS:
        gdf = gpd.read_parquet(d / f"{layer}.parquet")
        for col in _STR_COLUMNS[layer]:
            if col in gdf.columns:
                gdf[col] = gdf[col].astype(str)
        layers[layer] = gdf.reset_index(drop=True)
    boundary = gpd.read_parquet(d / "boundary.parquet").geometry.iloc[0]
    deps = tuple(Department(x["code"], x["name"], tuple(x.get("categories", ())))
                 for x in doc.get("departments", ()))
    return City(name=doc["name"], admin_code=str(doc["admin_code"]), boundary=boundary,
                departments=deps, attribution=doc.get("attribution", ""), meta=doc.get("meta", {}),
                **layers)


def load_or_build_city(name: str, directory: str | os.PathLike, seed: int = 0) -> City:
    """Load the city in ``directory`` if present, else build the demo city ``name`` and save it."""
    d = Path(directory)
    if (d / "city.json").exists():
        return load_city(d)
    from grid.build import build_city  # noqa: PLC0415 (building is the rare path)

    city = build_city(name, seed=seed)
    if not (d / "city.json").exists():   # another process may have saved it meanwhile
        save_city(city, d)
    return load_city(d)


def to_geojson(gdf: gpd.GeoDataFrame, precision: int | None = 6) -> dict:
    """A layer as a GeoJSON FeatureCollection dict (WGS-84), each feature's ``id`` = its ``code``."""
    g = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    if precision is not None:
        # rounding (not set_precision) keeps every shape; the map only needs ~0.1 m
        g = g.set_geometry(shapely.transform(g.geometry.values, lambda c: c.round(precision)))
    fc = json.loads(g.to_json(drop_id=True))
    if "code" in g.columns:
        for f in fc["features"]:
            f["id"] = f["properties"]["code"]
    return fc
