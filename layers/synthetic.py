"""Stand-in device frames in the registry's shape (docs/architecture.md), deterministic per city.

For tests and the bench (the 26,907-camera stress frame), and the wall's fallback while no
device registry is available. The real registry is ``sensors.registry.load_or_create``.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

if TYPE_CHECKING:
    from grid.model import City

SENSOR_TYPES = ("manhole", "fire", "smart_pole", "weather", "electrical", "bridge", "gas",
                "water_level", "water_quality", "air_quality", "visitor_flow")


def _points(city: City, n: int, rng: np.random.Generator, urban_bias: float = 0.5) -> np.ndarray:
    """n points inside the city, denser in the town with most cells (the urban core)."""
    geom = city.boundary
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    out = []
    cells = city.cells
    core = shapely.centroid(np.asarray(cells.geometry.values, dtype=object))
    # half the points near cell centroids (density follows the grid), half uniform
    k = int(n * urban_bias)
    idx = rng.integers(0, len(core), k)
    xy = shapely.get_coordinates(core)
    cx, cy = xy[idx, 0], xy[idx, 1]
    out.append(np.column_stack([cx + rng.normal(0, 0.004, k), cy + rng.normal(0, 0.004, k)]))
    need = n - k
    while need > 0:
        xs = rng.uniform(minx, maxx, need * 2)
        ys = rng.uniform(miny, maxy, need * 2)
        ok = shapely.contains_xy(geom, xs, ys)
        pts = np.column_stack([xs[ok], ys[ok]])[:need]
        out.append(pts)
        need -= len(pts)
    return np.vstack(out)


def sensors_frame(city: City, n: int = 5400, seed: int = 0) -> pd.DataFrame:
    """id, type, name, lon, lat (the columns the layers read)."""
    rng = np.random.default_rng(zlib.crc32(f"sensors:{city.admin_code}:{seed}".encode()))
    pts = _points(city, n, rng)
    types = rng.choice(SENSOR_TYPES, n)
    ids = [f"{t[:2]}-{i:05d}" for i, t in enumerate(types)]
    return pd.DataFrame({"id": ids, "type": types, "name": ids, "lon": pts[:, 0].round(6),
                         "lat": pts[:, 1].round(6)})


def cameras_frame(city: City, n: int = 4780, seed: int = 0) -> pd.DataFrame:
    """id, name, cls, owner, heading_deg, fov_deg, range_m, lon, lat (4,780 or 26,907 stress)."""
    rng = np.random.default_rng(zlib.crc32(f"cameras:{city.admin_code}:{seed}:{n}".encode()))
    pts = _points(city, n, rng, urban_bias=0.7)
    cls = rng.choice([1, 2, 3], n, p=[0.2, 0.3, 0.5])
    ids = [f"cam-{i:05d}" for i in range(n)]
    return pd.DataFrame({"id": ids, "name": ids, "cls": cls,
                         "owner": np.where(cls == 3, "social", "public"),
                         "heading_deg": rng.uniform(0, 360, n).round(1),
                         "fov_deg": rng.choice([60.0, 90.0, 360.0], n, p=[0.5, 0.3, 0.2]),
                         "range_m": rng.uniform(30, 120, n).round(0),
                         "lon": pts[:, 0].round(6), "lat": pts[:, 1].round(6)})


def states_for(ids: pd.Series, seed: int = 0, offline: float = 0.04, warning: float = 0.01,
               alarm: float = 0.003) -> dict[str, str]:
    """A plausible ``om:dev:state`` mapping (mostly normal)."""
    rng = np.random.default_rng(seed)
    u = rng.random(len(ids))
    st = np.where(u < alarm, "alarm", np.where(u < alarm + warning, "warning",
                  np.where(u < alarm + warning + offline, "offline", "normal")))
    return dict(zip(ids.astype(str), st.tolist(), strict=True))
