"""GeoJSON for the map: RFC 7946 (counter-clockwise exteriors, no ``crs``), simplified as a
coverage, rounded, optionally shifted to the tile server's CRS (issue 18).

MapLibre draws ``layout.map.layers`` GeoJSON polygons far more cheaply than plotly traces, and
the browser receives them once per page; rounding to 1e-5° (≈1 m) halves their size. The
geometry rules are ``grid.io.rfc7946_geometries``, the same as every export's.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from grid.io import geojson_coordinates, rfc7946_geometries
from layers.basemap import to_display

DECIMALS = 5  # ≈1 m: far below a pixel at any zoom the wall uses (exports: grid.io.PRECISION)


def _display_geoms(geoms: gpd.GeoSeries, tolerance_deg: float, tile_crs: str) -> np.ndarray:
    shift = None
    if tile_crs.lower() == "gcj02":
        def shift(xy: np.ndarray) -> np.ndarray:
            x, y = to_display(xy[:, 0], xy[:, 1], tile_crs)
            return np.column_stack([x, y])
    return rfc7946_geometries(geoms, tolerance_deg, DECIMALS, shift)


def _round(obj):  # noqa: ANN001, ANN202 (nested coordinate lists)
    return geojson_coordinates(obj, DECIMALS)


def feature_collection(frame: gpd.GeoDataFrame, id_col: str | None = None,
                       props: tuple[str, ...] = (), tolerance_deg: float = 0.0003,
                       tile_crs: str = "wgs84") -> dict:
    """GeoDataFrame → FeatureCollection dict (feature ``id`` from ``id_col``)."""
    geoms = _display_geoms(frame.geometry, tolerance_deg, tile_crs)
    feats = []
    cols = {p: frame[p].tolist() for p in props}
    ids = frame[id_col].tolist() if id_col else None
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        gi = g.__geo_interface__
        f = {"type": "Feature", "geometry": {"type": gi["type"],
                                             "coordinates": _round(gi["coordinates"])},
             "properties": {p: cols[p][i] for p in props}}
        if ids is not None:
            f["id"] = str(ids[i])
        feats.append(f)
    return {"type": "FeatureCollection", "features": feats}

