"""Coordinates (坐标): WGS-84 ⇄ GCJ-02 (火星坐标) for base maps that use GCJ-02 (高德, 腾讯).

OneMap stores everything in WGS-84. GCJ-02 is the obfuscated datum required of published maps in
China; converting at the edge keeps markers on the right street of such a base map (offsets in
Gaozhou are ~300–600 m). The forward transform is the standard published formula (Krasovsky
ellipsoid, a = 6378245 m); the inverse is solved by fixed-point iteration, so a round trip is
within millimetres (the usual one-step inverse is only good to a few metres). Both are vectorised
over numpy arrays and are a no-op outside China (the usual bounding box), as GCJ-02 is.
"""

from __future__ import annotations

import numpy as np

_A = 6378245.0                        # Krasovsky 1940 semi-major axis (m)
_EE = 0.00669342162296594323          # its first eccentricity squared


def out_of_china(lon: np.ndarray | float, lat: np.ndarray | float) -> np.ndarray | bool:
    """True where GCJ-02 does not apply (the conventional China bounding box)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    res = (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)
    return bool(res) if res.ndim == 0 else res


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
            + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
            + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool):  # noqa: ANN202
    return (float(lon), float(lat)) if scalar else (lon, lat)


def wgs84_to_gcj02(lon: np.ndarray | float, lat: np.ndarray | float):  # noqa: ANN201
    """WGS-84 → GCJ-02 (arrays in, arrays out; floats in, a (lon, lat) tuple out)."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _delta(lon, lat)
    return _out(lon + dlon, lat + dlat, scalar)


def gcj02_to_wgs84(lon: np.ndarray | float, lat: np.ndarray | float, tol_deg: float = 1e-10,
                   max_iter: int = 30):  # noqa: ANN201
    """GCJ-02 → WGS-84 by iteration: find w with wgs84_to_gcj02(w) == g (to ~1e-5 m)."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    glon, glat = np.asarray(lon, float), np.asarray(lat, float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        dlon, dlat = _delta(wlon, wlat)
        elon, elat = wlon + dlon - glon, wlat + dlat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < tol_deg) and np.all(np.abs(elat) < tol_deg):
            break
    return _out(wlon, wlat, scalar)
