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
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
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


PRECISION = 6
"""GeoJSON coordinate decimals (RFC 7946 §11.2: 6 decimals of a degree ≈ 0.1 m): every export,
API and CLI alike (issue 18)."""


def rfc7946_geometries(geoms: np.ndarray | gpd.GeoSeries, tolerance_deg: float = 0.0,
                       precision: int | None = PRECISION,
                       transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Geometries ready for RFC 7946 GeoJSON (issue 18): a polygonal layer is simplified as one
    coverage (``shapely.coverage_simplify``: shared edges simplified together, so neighbours
    still meet and an export re-imports without overlaps or gaps), optionally ``transform``-ed
    (display CRS), snapped to ``precision`` decimals as a whole, and wound counter-clockwise
    outside, clockwise for holes (§3.1.6)."""
    arr = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    if tolerance_deg > 0 and len(arr):
        polygonal = shapely.get_type_id(arr)
        if np.isin(polygonal, (3, 6)).all():   # Polygon, MultiPolygon: a coverage
            arr = shapely.coverage_simplify(arr, tolerance_deg, simplify_boundary=True)
        else:
            arr = shapely.simplify(arr, tolerance_deg, preserve_topology=True)
    if transform is not None:
        arr = shapely.transform(arr, transform)
    if precision is not None:
        # one grid for the whole layer: a vertex two neighbours share lands on the same point
        arr = shapely.set_precision(arr, 10.0 ** -precision)
    return shapely.orient_polygons(arr, exterior_cw=False)


def geojson_coordinates(obj: object, precision: int | None = PRECISION) -> object:
    """``__geo_interface__`` coordinates (tuples) → lists of floats at ``precision`` decimals."""
    if isinstance(obj, tuple | list):
        if obj and isinstance(obj[0], int | float):
            return [round(float(v), precision) if precision is not None else float(v) for v in obj]
        return [geojson_coordinates(o, precision) for o in obj]
    return obj


def to_geojson(gdf: gpd.GeoDataFrame, precision: int | None = PRECISION,
               tolerance_deg: float = 0.0, props: tuple[str, ...] | None = None,
               id_col: str | None = "code") -> dict:
    """A layer as an RFC 7946 FeatureCollection dict: WGS-84, no ``crs`` member, ``precision``
    decimals, right-hand-rule rings, a polygonal layer simplified as a coverage; each feature's
    ``id`` = its ``id_col`` (``code``). The one export path of the API (``/api/geojson/<layer>``)
    and the CLI (``onemap city export``)."""
    g = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    geoms = rfc7946_geometries(g.geometry, tolerance_deg, precision)
    cols = [c for c in (props if props is not None else g.columns) if c != g.geometry.name]
    rows = g[cols].to_dict("records") if cols else [{} for _ in range(len(g))]
    ids = g[id_col].astype(str).tolist() if id_col and id_col in g.columns else None
    feats = []
    for i, (geom, row) in enumerate(zip(geoms, rows, strict=True)):
        gi = None if geom is None or geom.is_empty else geom.__geo_interface__
        f: dict = {"type": "Feature",
                   "geometry": None if gi is None else {
                       "type": gi["type"],
                       "coordinates": geojson_coordinates(gi["coordinates"], precision)},
                   "properties": {k: _plain(v) for k, v in row.items()}}
        if ids is not None:
            f["id"] = ids[i]
        feats.append(f)
    return {"type": "FeatureCollection", "features": feats}


def _plain(v: object) -> object:
    """A JSON value for a property (numpy scalars, NaN → null)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    if v is None or isinstance(v, str | int | float | bool | list | dict):
        return v
    return v.isoformat() if hasattr(v, "isoformat") else str(v)   # timestamps, decimals
