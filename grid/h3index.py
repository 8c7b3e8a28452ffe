"""H3 helpers (六边形聚合) for map aggregation at resolutions 7–10 (~5 km² down to ~0.015 km²).

The map draws many points as H3 hexagons beyond ~50k points (ecosystem-notes §4); these helpers
turn lon/lat arrays into H3 cell ids and hexagons into GeoJSON. ``h3ronpy`` (vectorised, arrow)
is used when installed, else the plain ``h3`` 4.x loop (~1.4 M points/s), which gives the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable

import h3
import numpy as np

MIN_RES, MAX_RES = 7, 10
"""Resolutions used for aggregation on the map (7 ≈ 5.2 km², 10 ≈ 0.015 km² a hexagon)."""


def _check_res(res: int) -> None:
    if not MIN_RES <= res <= MAX_RES:
        raise ValueError(f"H3 resolution {res} outside {MIN_RES}–{MAX_RES}")


def point_to_h3(lon: float, lat: float, res: int) -> str:
    """H3 cell id (hex string) of one point."""
    _check_res(res)
    return h3.latlng_to_cell(lat, lon, res)


def points_to_h3(lons: np.ndarray, lats: np.ndarray, res: int) -> np.ndarray:
    """H3 cell ids (object array of hex strings) for arrays of points; '' for NaN points."""
    _check_res(res)
    lons = np.asarray(lons, float).ravel()
    lats = np.asarray(lats, float).ravel()
    ok = np.isfinite(lons) & np.isfinite(lats)
    out = np.full(lons.shape[0], "", dtype=object)
    if not ok.any():
        return out
    try:
        from h3ronpy import cells_to_string  # noqa: PLC0415 (optional speed-up)
        from h3ronpy.vector import coordinates_to_cells  # noqa: PLC0415

        cells = coordinates_to_cells(lats[ok], lons[ok], res)
        out[ok] = np.asarray(cells_to_string(cells).to_pylist(), dtype=object)
    except ImportError:
        f = h3.latlng_to_cell
        out[ok] = [f(la, lo, res) for lo, la in zip(lons[ok].tolist(), lats[ok].tolist(), strict=True)]
    return out


def h3_counts(lons: np.ndarray, lats: np.ndarray, res: int) -> dict[str, int]:
    """How many points fall in each H3 cell (NaN points are skipped)."""
    ids = points_to_h3(lons, lats, res)
    ids = ids[ids != ""]
    uniq, cnt = np.unique(ids.astype(str), return_counts=True)
    return dict(zip(uniq.tolist(), cnt.tolist(), strict=True))


def h3_to_geojson(cells: Iterable[str], values: dict[str, float] | None = None) -> dict:
    """A FeatureCollection of hexagons (lon/lat order), ``id`` = cell id, ``value`` if given."""
    feats = []
    for c in cells:
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(c)]
        ring.append(ring[0])
        props = {"h3": c}
        if values is not None:
            props["value"] = values.get(c, 0)
        feats.append({"type": "Feature", "id": c, "properties": props,
                      "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": feats}
