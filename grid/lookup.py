"""Point lookup (定位入格): point → grid-cell row index. Exact, agrees with ``geopandas.sjoin``."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely


class Locator:
    """Point-in-cell index over a city's grid cells (row order of ``cells``); -1 outside."""

    def __init__(self, cells: gpd.GeoDataFrame) -> None:
        self.geoms = np.asarray(cells.geometry.values, dtype=object)
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)

    def locate_one(self, lon: float, lat: float) -> int:
        """Row index of the cell containing (lon, lat), -1 outside."""
        hits = self.tree.query(shapely.Point(lon, lat), predicate="within")
        return int(hits.min()) if hits.size else -1

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Vectorised: row index for each point, -1 outside (lowest index if on a shared edge)."""
        lons = np.asarray(lons, float)
        lats = np.asarray(lats, float)
        out = np.full(lons.shape[0], -1, dtype=np.int64)
        pi, ci = self.tree.query(shapely.points(lons, lats), predicate="within")
        # reverse order so that the lowest cell index is written last and wins
        order = np.lexsort((-ci, pi))
        out[pi[order]] = ci[order]
        return out
