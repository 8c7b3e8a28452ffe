"""Placement strategies of the demo devices (布点), named by ``Kind.placement``.

A kind says *how* its demo devices are placed (``placement="cells"``, ``"rural_water"``…) and
with which parameters (``urban_share``, ``demo_meta``, ``demo_name``); this module knows the
strategies, and nothing here knows a kind's name. A new kind that fits a strategy touches only
``sensors/kinds/<kind>.py``; one that needs a new way of placing adds a function here
(``@strategy("name")``). Each returns (points, metas, names) for ``kind.count`` devices (the
weather strategy: one per village); ``sensors.registry`` turns them into rows.

The random numbers are drawn in a fixed order (kinds in ``KINDS`` order, each strategy as
written), so the demo city's devices are the same from run to run and release to release.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from grid.model import City
from sensors.kinds.base import Kind

Site = tuple[float, float, int]
"""(lon, lat, cell row)."""
Placed = tuple[list[Site], list[dict], list[str]]
Strategy = Callable[["Placer", Kind], Placed]

INDUSTRIAL_PARKS = {"金山": "金山街道", "城东": "潘州街道", "蒲康": "宝光街道", "长坡": "长坡镇",
                    "石鼓": "石鼓镇", "分界": "分界镇"}   # §11 geography hints → host town
WATER_BODIES = ["河道", "河道", "河道", "水库", "山塘"]

STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str) -> Callable[[Strategy], Strategy]:
    """Register a placement strategy under ``name`` (the value of ``Kind.placement``)."""
    def add(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn
    return add


def place(p: Placer, kind: Kind) -> Placed:
    """The demo devices of ``kind``: (points, metas, names)."""
    try:
        fn = STRATEGIES[kind.placement]
    except KeyError:
        raise ValueError(f"{kind.name}: unknown placement {kind.placement!r}; "
                         f"known: {sorted(STRATEGIES)}") from None
    return fn(p, kind)


def _meta(kind: Kind, rng: np.random.Generator) -> dict:
    return kind.demo_meta(rng) if kind.demo_meta is not None else {}


def points_in(geom: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniform random points inside ``geom`` (rejection sampling in its bounding box)."""
    minx, miny, maxx, maxy = geom.bounds
    out: list[np.ndarray] = []
    got = 0
    shapely.prepare(geom)
    while got < n:
        k = max(16, 3 * (n - got))
        xs, ys = rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)
        ok = shapely.contains_xy(geom, xs, ys)
        pts = np.column_stack([xs[ok], ys[ok]])[: n - got]
        out.append(pts)
        got += len(pts)
    return np.vstack(out) if out else np.empty((0, 2))


class Placer:
    """Chooses grid cells for devices: urban streets dense, rural towns sparse."""

    def __init__(self, city: City, rng: np.random.Generator) -> None:
        self.city, self.rng = city, rng
        kinds = dict(zip(city.towns["code"], city.towns["kind"], strict=True))
        self.cells = city.cells.reset_index(drop=True)
        self.cell_urban = np.array([kinds[t] == "street" for t in self.cells["town_code"]])
        self.villages = city.villages.reset_index(drop=True)
        self.village_rural = np.array([kinds[t] != "street" for t in self.villages["town_code"]])
        self.village_names = city.village_names
        self.town_names = city.town_names

    def vname(self, ci: int) -> str:
        """Village name of cell row ``ci``."""
        return self.village_names.get(str(self.cells["village_code"].iat[ci]), "")

    def tname(self, ci: int) -> str:
        """Town name of cell row ``ci``."""
        return self.town_names.get(str(self.cells["town_code"].iat[ci]), "")

    def in_cells(self, idx: np.ndarray, spread: float = 1.0) -> list[tuple[float, float, int]]:
        """One point inside each chosen cell: (lon, lat, cell row)."""
        out = []
        for i in idx:
            (x, y), = points_in(self.cells.geometry.iat[int(i)], 1, self.rng)
            out.append((float(x), float(y), int(i)))
        return out

    def cells_where(self, n: int, urban_share: float) -> np.ndarray:
        urban = np.flatnonzero(self.cell_urban)
        rural = np.flatnonzero(~self.cell_urban)
        nu = int(round(n * urban_share))
        return np.concatenate([self.rng.choice(urban, nu), self.rng.choice(rural, n - nu)])

    def cell_of_point(self, x: float, y: float) -> int:
        i = int(self.city.locate_many(np.array([x]), np.array([y]))[0])
        return i

    def in_village(self, v: int) -> tuple[float, float, int]:
        geom = self.villages.geometry.iat[v]
        for _ in range(20):
            (x, y), = points_in(geom, 1, self.rng)
            i = self.cell_of_point(x, y)
            if i >= 0:
                return float(x), float(y), i
        raise RuntimeError(f"no point of village {self.villages['code'].iat[v]} lies in a cell")

    def cluster(self, cell: int, n: int, metres: float) -> list[tuple[float, float, int]]:
        """n points within ``metres`` of a random point of ``cell`` (same building/bridge)."""
        (x0, y0), = points_in(self.cells.geometry.iat[cell], 1, self.rng)
        out = []
        for _ in range(n):
            dx, dy = self.rng.normal(0, metres / 111_000.0, 2)
            x, y = x0 + dx, y0 + dy
            i = self.cell_of_point(x, y)
            if i < 0:
                x, y, i = x0, y0, cell
            out.append((float(x), float(y), i))
        return out


@strategy("village_each")
def village_each(p: Placer, kind: Kind) -> Placed:
    """One device per village (e.g. an automatic weather station, S19)."""
    pts = [p.in_village(v) for v in range(len(p.villages))]
    return (pts, [_meta(kind, p.rng) for _ in pts],
            [f"{p.tname(c)}{p.vname(c)}{kind.demo_name or kind.label}" for *_, c in pts])


@strategy("rural_water")
def rural_water(p: Placer, kind: Kind) -> Placed:
    """On a river, reservoir or pond (meta ``water_body``) of a rural village (S35)."""
    rural_v = np.flatnonzero(p.village_rural)
    vs = p.rng.choice(rural_v, kind.count, replace=len(rural_v) < kind.count)
    pts = [p.in_village(int(v)) for v in vs]
    metas, names = [], []
    for _, _, c in pts:
        body = str(p.rng.choice(WATER_BODIES))
        metas.append({"water_body": body, **_meta(kind, p.rng)})
        names.append(f"{p.tname(c)}{p.vname(c)}{body}{kind.demo_name or kind.label}")
    return pts, metas, names


@strategy("cells")
def cells(p: Placer, kind: Kind) -> Placed:
    """One device in each of ``count`` cells, ``urban_share`` of them in urban streets."""
    pts = p.in_cells(p.cells_where(kind.count, kind.urban_share))
    return (pts, [_meta(kind, p.rng) for _ in pts],
            [f"{p.tname(c)}{p.vname(c)}{kind.demo_name or kind.label}" for *_, c in pts])


@strategy("scenic")
def scenic(p: Placer, kind: Kind) -> Placed:
    """One device per scenic spot (mostly rural cells)."""
    pts = p.in_cells(p.cells_where(kind.count, kind.urban_share))
    return (pts, [_meta(kind, p.rng) for _ in pts],
            [f"{p.vname(c)}景区{i + 1}{kind.demo_name or kind.label}"
             for i, (*_, c) in enumerate(pts)])


@strategy("bridges")
def bridges(p: Placer, kind: Kind) -> Placed:
    """Bridges with 4 sensors each within 30 m (桥台, 跨中, 墩顶, 支座; S13, S34)."""
    pts, metas, names = [], [], []
    for b, cell in enumerate(p.cells_where(kind.count // 4, kind.urban_share)):
        bname = f"{p.vname(int(cell))}{b + 1}号桥"
        for j, pt in enumerate(p.cluster(int(cell), 4, 30)):
            pts.append(pt)
            metas.append({"bridge": f"bridge-{b + 1:03d}", "bridge_name": bname, "position": j + 1})
            names.append(f"{bname}{('桥台', '跨中', '墩顶', '支座')[j]}监测点")
    return pts, metas, names


@strategy("buildings")
def buildings(p: Placer, kind: Kind) -> Placed:
    """Buildings (key fire units, 40 % ancient) with 5 sensors each within 15 m: 3 smoke
    detectors and 2 hydrant pressure gauges (S24, S25)."""
    pts, metas, names = [], [], []
    for b, cell in enumerate(p.cells_where(kind.count // 5, kind.urban_share)):
        ancient = p.rng.random() < 0.4
        bname = f"{p.vname(int(cell))}{'古建筑' if ancient else '消防重点单位'}{b + 1:03d}"
        for j, pt in enumerate(p.cluster(int(cell), 5, 15)):
            sensor = "smoke" if j < 3 else "hydrant"
            pts.append(pt)
            metas.append({"building": f"bld-{b + 1:03d}", "building_name": bname,
                          "ancient": bool(ancient), "sensor": sensor})
            names.append(f"{bname}{'烟感' if sensor == 'smoke' else '消防水压'}{j + 1}")
    return pts, metas, names


@strategy("industrial")
def industrial(p: Placer, kind: Kind) -> Placed:
    """Enterprises in the industrial parks (``INDUSTRIAL_PARKS``), 5 detectors each within 60 m
    (S30, S31)."""
    town_by_name = {v: c for c, v in p.town_names.items()}
    parks = [(park, town_by_name.get(tn)) for park, tn in INDUSTRIAL_PARKS.items()]
    pts, metas, names = [], [], []
    for e in range(kind.count // 5):
        park, tcode = parks[e % len(parks)]
        cand = np.flatnonzero(p.cells["town_code"].to_numpy() == tcode) if tcode else \
            np.arange(len(p.cells))
        cell = int(p.rng.choice(cand if len(cand) else np.arange(len(p.cells))))
        ename = f"{park}工业园化工企业{e + 1:02d}"
        for j, pt in enumerate(p.cluster(cell, 5, 60)):
            pts.append(pt)
            metas.append({"enterprise": f"ent-{e + 1:03d}", "enterprise_name": ename, "park": park})
            names.append(f"{ename}{kind.demo_name or kind.label}{j + 1}")
    return pts, metas, names
