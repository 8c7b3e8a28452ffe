"""The city model (城市网格模型): territory tree and command centers.

city → towns/streets (镇/街道) → villages/communities (村/社区) → grid cells (网格, one grid worker
each, 一格一员), plus the centers of "1+28+N" (T1, T4, T6, T10, G5 事事入格).

Every GeoDataFrame is in WGS-84 (EPSG:4326). Codes follow the Chinese unit-grid scheme:
town ``440981101`` (6-digit admin division + 3), village ``440981101001`` (+3),
grid cell ``440981101001001`` (+3, 15 digits).

Center codes: ``CITY`` for the city center (the "1"), ``T<town code>`` for a town/street
sub-center, ``D<dept code>`` for a department sub-center (e.g. ``DCG`` 城管).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import geopandas as gpd
import numpy as np
from shapely.geometry.base import BaseGeometry

CITY_CENTER = "CITY"
Tier = Literal["city", "town", "department"]


def town_center_code(town_code: str) -> str:
    """Center code of the sub-center of a town/street (镇/街道指挥联动中心)."""
    return f"T{town_code}"


def dept_center_code(dept_code: str) -> str:
    """Center code of a department sub-center (业务分中心)."""
    return f"D{dept_code}"


@dataclass(frozen=True)
class Department:
    """A line department (条) and the event categories it handles."""

    code: str            # short stable code, e.g. "CG" (城管)
    name: str            # 城管
    categories: tuple[str, ...] = ()   # category codes it owns (see grid.categories)

    @property
    def center_code(self) -> str:
        return dept_center_code(self.code)


@dataclass(frozen=True)
class Center:
    """A command center: the city center, a town/street sub-center or a department sub-center."""

    code: str
    name: str
    tier: Tier
    town_code: str | None = None     # for tier == "town"
    dept_code: str | None = None     # for tier == "department"
    parent: str | None = None        # one tier up (CITY for sub-centers, None for CITY)


@dataclass(frozen=True)
class Location:
    """Where a point falls: its grid cell and the whole chain above it (块)."""

    lon: float
    lat: float
    cell_code: str
    village_code: str
    town_code: str
    worker_id: str

    @property
    def town_center(self) -> str:
        return town_center_code(self.town_code)


class OutsideJurisdiction(LookupError):  # noqa: N818 (domain name, operators say 辖区外)
    """辖区外: the point is not inside any grid cell of this city."""

    def __init__(self, lon: float, lat: float, city: str) -> None:
        super().__init__(f"({lon:.6f}, {lat:.6f}) is outside the jurisdiction of {city} (辖区外)")
        self.lon, self.lat = lon, lat


@dataclass
class City:
    """A city's territory tree and centers. Build with ``grid.build`` or load with ``grid.io``.

    towns:    code, name, kind ('town'|'street'), geometry
    villages: code, name, town_code, kind ('village'|'community'), geometry
    cells:    code, village_code, town_code, worker_id, worker_name, geometry
    """

    name: str
    admin_code: str
    boundary: BaseGeometry
    towns: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    departments: tuple[Department, ...]
    attribution: str = ""
    meta: dict = field(default_factory=dict)

    # --- centers --------------------------------------------------------------------------
    @cached_property
    def centers(self) -> dict[str, Center]:
        """All centers by code: CITY, T<town>, D<dept>."""
        out = {CITY_CENTER: Center(CITY_CENTER, f"{self.name}城市运行管理中心", "city")}
        for code, name, kind in zip(self.towns["code"], self.towns["name"], self.towns["kind"],
                                    strict=True):
            # Town names already end in 镇/街道 (潘州街道 → 潘州街道指挥联动中心); imported ones may not.
            full = name if str(name).endswith(("镇", "街道", "乡")) else \
                f"{name}{'街道' if kind == 'street' else '镇'}"
            out[town_center_code(code)] = Center(town_center_code(code), f"{full}指挥联动中心", "town",
                                                 town_code=code, parent=CITY_CENTER)
        for d in self.departments:
            out[d.center_code] = Center(d.center_code, f"{d.name}业务分中心", "department",
                                        dept_code=d.code, parent=CITY_CENTER)
        return out

    def department_for(self, category: str) -> Department | None:
        """The line owner (条) of a category, matching the longest category-code prefix
        (memoised per category: routing asks it for every report)."""
        memo = self.__dict__.get("_dept_memo")
        if memo is None or memo[0] is not self.departments:   # built, or departments replaced
            memo = self.__dict__["_dept_memo"] = (self.departments, {})
        if category not in memo[1]:
            best: tuple[int, Department | None] = (0, None)
            for d in self.departments:
                for c in d.categories:
                    if category.startswith(c) and len(c) > best[0]:
                        best = (len(c), d)
            memo[1][category] = best[1]
        return memo[1][category]

    # --- lookup ---------------------------------------------------------------------------
    @cached_property
    def _locator(self):  # noqa: ANN202 (grid.lookup.Locator; imported lazily to avoid a cycle)
        from grid.lookup import Locator  # noqa: PLC0415

        return Locator(self.cells)

    def locate(self, lon: float, lat: float) -> Location:
        """Point → grid cell → village → town (raises OutsideJurisdiction). Fast path."""
        i = self._locator.locate_one(lon, lat)
        if i < 0:
            raise OutsideJurisdiction(lon, lat, self.name)
        return self._location(i, lon, lat)

    def try_locate(self, lon: float, lat: float) -> Location | None:
        """Like ``locate`` but None outside the city."""
        i = self._locator.locate_one(lon, lat)
        return None if i < 0 else self._location(i, lon, lat)

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Vectorised: row index into ``cells`` for each point, -1 outside the city."""
        return self._locator.locate_many(np.asarray(lons, float), np.asarray(lats, float))

    @cached_property
    def _cell_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        c = self.cells
        return (c["code"].to_numpy(), c["village_code"].to_numpy(), c["town_code"].to_numpy(),
                c["worker_id"].to_numpy())

    def _location(self, i: int, lon: float, lat: float) -> Location:
        code, village, town, worker = (a[i] for a in self._cell_rows)
        return Location(lon, lat, str(code), str(village), str(town), str(worker))

    # --- convenience ----------------------------------------------------------------------
    @cached_property
    def town_names(self) -> dict[str, str]:
        return dict(zip(self.towns["code"], self.towns["name"], strict=True))

    @cached_property
    def village_names(self) -> dict[str, str]:
        return dict(zip(self.villages["code"], self.villages["name"], strict=True))
