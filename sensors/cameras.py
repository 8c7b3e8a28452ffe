"""Cameras (雪亮工程) that can see a point: within a radius AND with the point inside their field
of view (and their range), nearest first. The incident panel uses it to open the right videos
(V1 全域覆盖, V28 video for emergency dispatch). No face or vehicle data is involved (V15).
"""

from __future__ import annotations

import math

import numpy as np
import redis

from sensors import keys
from sensors.registry import DeviceRegistry

M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQ = 111_320.0


def _offsets_m(lon0: float, lat0: float, lons: np.ndarray, lats: np.ndarray):  # noqa: ANN202
    """Local east/north metres from (lon0, lat0) (equirectangular: fine within a few km)."""
    dx = (lons - lon0) * M_PER_DEG_LON_EQ * math.cos(math.radians(lat0))
    dy = (lats - lat0) * M_PER_DEG_LAT
    return dx, dy


def live_positions(r: redis.Redis) -> dict[str, tuple[float, float, float | None]]:
    """Last reported position of each mobile camera: id → (lon, lat, heading or None)."""
    out = {}
    for cid, v in r.hgetall(keys.CAM_POS).items():
        lon, lat, heading, _ts = v.split(",")
        out[cid] = (float(lon), float(lat), float(heading) if heading else None)
    return out


def cameras_seeing(registry: DeviceRegistry, lon: float, lat: float, radius_m: float = 300.0,
                   limit: int = 10,
                   positions: dict[str, tuple[float, float, float | None]] | None = None,
                   ) -> list[dict]:
    """能看到该点的摄像机: cameras within ``radius_m`` of (lon, lat) whose field of view (heading ±
    fov/2, up to ``range_m``) contains the point, nearest first, at most ``limit``.

    Each dict: id, name, distance_m, bearing_deg (camera → point, 0 = north, clockwise), cls,
    owner, site_type, heading_deg, fov_deg, range_m, share, stream_url, mobile, lon, lat,
    cell_code, town_code. ``positions`` (``live_positions(redis)``) moves mobile cameras.
    """
    cams = _placed(registry, positions)
    if cams.empty:
        return []
    clon, clat = cams["lon"].to_numpy(float), cams["lat"].to_numpy(float)
    # coarse box first: 10k+ cameras, a handful near the point
    dlat = radius_m / M_PER_DEG_LAT
    dlon = radius_m / (M_PER_DEG_LON_EQ * max(0.01, math.cos(math.radians(lat))))
    near = np.flatnonzero((np.abs(clat - lat) <= dlat) & (np.abs(clon - lon) <= dlon))
    if near.size == 0:
        return []
    # vector from each camera to the point
    dx, dy = _offsets_m(lon, lat, clon[near], clat[near])
    dx, dy = -dx, -dy
    dist = np.hypot(dx, dy)
    bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
    heading = cams["heading_deg"].to_numpy(float)[near]
    fov = cams["fov_deg"].to_numpy(float)[near]
    rng = cams["range_m"].to_numpy(float)[near]
    off = np.abs((bearing - heading + 180.0) % 360.0 - 180.0)
    ok = (dist <= radius_m) & (dist <= rng) & ((fov >= 360.0) | (off <= fov / 2.0) | (dist < 1.0))
    return _rows(cams, near[ok], dist[ok], bearing[ok], limit)


def cameras_nearest(registry: DeviceRegistry, lon: float, lat: float, radius_m: float = 2000.0,
                    limit: int = 3,
                    positions: dict[str, tuple[float, float, float | None]] | None = None,
                    ) -> list[dict]:
    """最近的摄像机: the cameras nearest to (lon, lat) within ``radius_m``, whatever way they
    point: the fallback when none can see the spot (``cameras_seeing`` empty; issue 15 found 83 %
    of open cases so). The same dicts as ``cameras_seeing``; a screen labels them as not seeing
    the spot (turn a PTZ camera, or look at the approach)."""
    cams = _placed(registry, positions)
    if cams.empty:
        return []
    dx, dy = _offsets_m(lon, lat, cams["lon"].to_numpy(float), cams["lat"].to_numpy(float))
    dx, dy = -dx, -dy
    dist = np.hypot(dx, dy)
    idx = np.flatnonzero(dist <= radius_m)
    bearing = np.degrees(np.arctan2(dx[idx], dy[idx])) % 360.0
    return _rows(cams, idx, dist[idx], bearing, limit)


def cameras_for(registry: DeviceRegistry, lon: float, lat: float, radius_m: float = 300.0,
                limit: int = 6,
                positions: dict[str, tuple[float, float, float | None]] | None = None,
                ) -> tuple[list[dict], bool]:
    """(cameras, they see it): the cameras that can see the point, or else the nearest ones
    (``cameras_nearest``, within four times ``radius_m``) with ``False``."""
    seeing = cameras_seeing(registry, lon, lat, radius_m=radius_m, limit=limit, positions=positions)
    if seeing:
        return seeing, True
    return cameras_nearest(registry, lon, lat, radius_m=4 * radius_m, limit=min(limit, 3),
                           positions=positions), False


def _rows(cams, idx: np.ndarray, dist: np.ndarray, bearing: np.ndarray, limit: int) -> list[dict]:  # noqa: ANN001
    order = np.argsort(dist, kind="stable")[:limit]
    cols = ["id", "name", "cls", "owner", "site_type", "heading_deg", "fov_deg", "range_m", "share",
            "stream_url", "mobile", "lon", "lat", "cell_code", "town_code"]
    rows = cams.iloc[idx[order]][cols].to_dict("records")
    for r, d, b in zip(rows, dist[order], bearing[order], strict=True):
        r["distance_m"] = round(float(d), 1)
        r["bearing_deg"] = round(float(b), 1)
        r["cls"] = int(r["cls"])
        r["mobile"] = bool(r["mobile"])
    return rows


def _placed(registry: DeviceRegistry, positions: dict | None):  # noqa: ANN202 (DataFrame)
    """The registry's cameras, mobile ones moved to where they are now (``live_positions``)."""
    cams = registry.cameras
    if cams.empty:
        return cams
    if positions:   # mobile cameras where they are now (live_positions), not where registered
        cams = cams.copy()
        idx = cams["id"].map({c: i for i, c in enumerate(positions)})
        hit = idx.notna().to_numpy()
        if hit.any():
            pos = list(positions.values())
            sel = idx[hit].astype(int).to_numpy()
            cams.loc[hit, "lon"] = [pos[i][0] for i in sel]
            cams.loc[hit, "lat"] = [pos[i][1] for i in sel]
            heads = [pos[i][2] for i in sel]
            cur = cams.loc[hit, "heading_deg"].to_numpy(float)
            cams.loc[hit, "heading_deg"] = [h if h is not None else c for h, c in zip(heads, cur,
                                                                                     strict=True)]
    return cams
