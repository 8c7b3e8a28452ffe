"""What is around an incident (周边): sensors and their recent readings (cameras that can see
it: ``sensors.cameras.cameras_seeing``).

Pure functions over the device registry frames (plus one Redis read for readings), used by the
console's incident panel. "Can see it": within the camera's range and inside its field of view
(heading ± fov/2); cameras with a 360° view (fov ≥ 360) see all around.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import redis

EARTH_M = 6_371_008.8
CAMERA_RADIUS_M = 500.0
"""Search radius for cameras around an incident (m). Demo default."""
SENSOR_RADIUS_M = 1500.0
"""Search radius for sensors around an incident (m). Demo default."""


def _dist_bearing(lon0: float, lat0: float, lons: np.ndarray, lats: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Distance (m) and bearing (deg, from each device TO the point) on a local plane."""
    k = np.cos(np.radians(lat0))
    dx = np.radians(lon0 - lons) * k * EARTH_M      # east, device → point
    dy = np.radians(lat0 - lats) * EARTH_M          # north
    return np.hypot(dx, dy), (np.degrees(np.arctan2(dx, dy)) + 360.0) % 360.0


def _plain(v: object) -> object:
    """numpy scalars → Python values (JSON endpoints serialise these dicts)."""
    return v.item() if isinstance(v, np.generic) else v


def near(frame: pd.DataFrame, lon: float, lat: float, radius_m: float, limit: int,
         fields: tuple[str, ...]) -> list[dict]:
    """Rows of ``frame`` (columns lon, lat + ``fields``) within ``radius_m``, nearest first."""
    if frame is None or frame.empty:
        return []
    lons, lats = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    box = (np.abs(lons - lon) < radius_m / 80_000) & (np.abs(lats - lat) < radius_m / 100_000)
    sub = frame[box]
    if sub.empty:
        return []
    dist, _ = _dist_bearing(lon, lat, sub["lon"].to_numpy(float), sub["lat"].to_numpy(float))
    keep = dist <= radius_m
    order = np.argsort(dist[keep])[:limit]
    rows = sub[keep].iloc[order]
    return [{**{f: _plain(r[f]) for f in fields}, "lon": float(r["lon"]), "lat": float(r["lat"]),
             "distance_m": round(float(d), 1)}
            for (_, r), d in zip(rows.iterrows(), dist[keep][order], strict=True)]


def sensors_near(sensors: pd.DataFrame, lon: float, lat: float,
                 radius_m: float = SENSOR_RADIUS_M, limit: int = 5) -> list[dict]:
    """Sensors within ``radius_m``, nearest first."""
    return near(sensors, lon, lat, radius_m, limit, ("id", "type", "name"))


def resources_near(resources: pd.DataFrame, lon: float, lat: float, radius_m: float,
                   limit: int = 5) -> list[dict]:
    """Emergency resources (救援队伍, 物资仓库, 避难场所) within ``radius_m``, nearest first."""
    return near(resources, lon, lat, radius_m, limit, ("id", "kind", "name", "capacity"))


def readings(r: redis.Redis, history_key: str, count: int = 60) -> tuple[list[float], dict[str, list]]:
    """The last ``count`` readings of a device history stream (fields ``ts``, ``m`` JSON):
    timestamps (epoch s) and metric → values, oldest first."""
    entries = list(reversed(r.xrevrange(history_key, count=count)))
    ts: list[float] = []
    series: dict[str, list] = {}
    for _, f in entries:
        try:
            metrics = json.loads(f.get("m") or "{}")
        except ValueError:
            continue
        ts.append(float(f.get("ts", 0)) / 1000.0)
        for k, v in metrics.items():
            if isinstance(v, int | float):
                series.setdefault(k, [None] * (len(ts) - 1)).append(float(v))
        for vals in series.values():
            if len(vals) < len(ts):
                vals.append(None)
    return ts, series
