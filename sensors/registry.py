"""Device registry (设备台账): IoT sensors and cameras with location, owner, interval and metadata.

``load_or_create(city, city_dir)`` generates the demo devices deterministically on first use
(≈5,440 sensors of 11 kinds, 4,780 cameras; seed-requirements §11) and keeps them in
``<city_dir>/devices/*.parquet``; later calls read them back. ``import_devices`` reads a CSV
(``lon``/``lat`` columns) or GeoJSON of real devices, ``export_geojson`` writes one.

Columns (docs/architecture.md): sensors ``id, type, name, lon, lat, cell_code, town_code, dept,
interval_s, installed, meta`` (meta: JSON string); cameras ``id, name, cls, owner, site_type,
heading_deg, fov_deg, range_m, share, stream_url, mobile, lon, lat, cell_code, town_code``.
Every device resolves to a grid cell (事事入格, G5).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from grid.model import City
from sensors.kinds import KINDS
from sensors.kinds import visitor_flow as _vf
from sensors.kinds import water_level as _wl

SENSOR_COLUMNS = ("id", "type", "name", "lon", "lat", "cell_code", "town_code", "dept",
                  "interval_s", "installed", "meta")
CAMERA_COLUMNS = ("id", "name", "cls", "owner", "site_type", "heading_deg", "fov_deg", "range_m",
                  "share", "stream_url", "mobile", "lon", "lat", "cell_code", "town_code")

N_CAMERAS = 4780          # Q11: 4,780 public-security front-ends
N_CAMERAS_STRESS = 26907  # Q9: 26,907 video channels (Huangshan)
STREAM_BASE = "rtsp://vms.onemap.local/live/"   # demo: no real streams (SPEC §4)
INDUSTRIAL_PARKS = {"金山": "金山街道", "城东": "潘州街道", "蒲康": "宝光街道", "长坡": "长坡镇",
                    "石鼓": "石鼓镇", "分界": "分界镇"}   # §11 geography hints → host town
TRANSPORTS = ("NB-IoT", "NB-IoT", "4G", "5G", "LoRa", "eMTC")   # S6

DEVICES_DIR = "devices"


@dataclass
class DeviceRegistry:
    """Sensors and cameras of one city (GeoDataFrames, EPSG:4326)."""

    sensors: gpd.GeoDataFrame
    cameras: gpd.GeoDataFrame

    @cached_property
    def _sensor_rows(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.sensors["id"])}

    @cached_property
    def _camera_rows(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.cameras["id"])}

    def sensor(self, device_id: str) -> dict | None:
        """One sensor row as a dict (meta decoded), or None."""
        i = self._sensor_rows.get(device_id)
        if i is None:
            return None
        row = self.sensors.iloc[i].drop(labels="geometry").to_dict()
        row["meta"] = json.loads(row["meta"] or "{}")
        return row

    def camera(self, camera_id: str) -> dict | None:
        i = self._camera_rows.get(camera_id)
        return None if i is None else self.cameras.iloc[i].drop(labels="geometry").to_dict()

    def device_type(self, device_id: str) -> str | None:
        """Kind name of a sensor, ``camera`` for a camera, None if unknown."""
        i = self._sensor_rows.get(device_id)
        if i is not None:
            return str(self.sensors["type"].iat[i])
        return "camera" if device_id in self._camera_rows else None

    def __len__(self) -> int:
        return len(self.sensors) + len(self.cameras)

    @cached_property
    def fleet(self) -> pd.DataFrame:
        """Every device, sensors then cameras: id, type ('camera' for cameras), town_code,
        interval_s (cameras: their status heartbeat). Cached: health sweeps and summaries."""
        from sensors.defaults import CAMERA_HEARTBEAT_S  # noqa: PLC0415

        s = pd.DataFrame(self.sensors[["id", "type", "town_code", "interval_s"]])
        c = pd.DataFrame(self.cameras[["id", "town_code"]]).assign(
            type="camera", interval_s=CAMERA_HEARTBEAT_S)
        df = pd.concat([s, c[["id", "type", "town_code", "interval_s"]]], ignore_index=True)
        df["interval_s"] = df["interval_s"].astype(float)
        return df


# --- generation -----------------------------------------------------------------------------------

def _points_in(geom: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
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


class _Placer:
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

    def in_cells(self, idx: np.ndarray, spread: float = 1.0) -> list[tuple[float, float, int]]:
        """One point inside each chosen cell: (lon, lat, cell row)."""
        out = []
        for i in idx:
            (x, y), = _points_in(self.cells.geometry.iat[int(i)], 1, self.rng)
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
            (x, y), = _points_in(geom, 1, self.rng)
            i = self.cell_of_point(x, y)
            if i >= 0:
                return float(x), float(y), i
        raise RuntimeError(f"no point of village {self.villages['code'].iat[v]} lies in a cell")

    def cluster(self, cell: int, n: int, metres: float) -> list[tuple[float, float, int]]:
        """n points within ``metres`` of a random point of ``cell`` (same building/bridge)."""
        (x0, y0), = _points_in(self.cells.geometry.iat[cell], 1, self.rng)
        out = []
        for _ in range(n):
            dx, dy = self.rng.normal(0, metres / 111_000.0, 2)
            x, y = x0 + dx, y0 + dy
            i = self.cell_of_point(x, y)
            if i < 0:
                x, y, i = x0, y0, cell
            out.append((float(x), float(y), i))
        return out


def _sensor_rows(city: City, rng: np.random.Generator) -> list[dict]:
    p = _Placer(city, rng)
    rows: list[dict] = []

    def add(kind_name: str, pts: list[tuple[float, float, int]], metas: list[dict],
            names: list[str]) -> None:
        kind = KINDS[kind_name]
        start = sum(1 for r in rows if r["type"] == kind_name)
        for j, ((x, y, ci), meta, name) in enumerate(zip(pts, metas, names, strict=True)):
            day = pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(rng.integers(0, 6 * 365)))
            meta = {"transport": str(rng.choice(TRANSPORTS)), **meta}
            rows.append({"id": f"{kind.id_prefix}-{start + j + 1:04d}", "type": kind_name,
                         "name": name, "lon": round(x, 6), "lat": round(y, 6),
                         "cell_code": str(p.cells["code"].iat[ci]),
                         "town_code": str(p.cells["town_code"].iat[ci]), "dept": kind.dept,
                         "interval_s": kind.interval_s, "installed": day.strftime("%Y-%m-%d"),
                         "meta": json.dumps(meta, ensure_ascii=False)})

    def vname(ci: int) -> str:
        return p.village_names.get(str(p.cells["village_code"].iat[ci]), "")

    def tname(ci: int) -> str:
        return p.town_names.get(str(p.cells["town_code"].iat[ci]), "")

    # weather: one automatic station per village (S19)
    pts = [p.in_village(v) for v in range(len(p.villages))]
    add("weather", pts, [{} for _ in pts], [f"{tname(c)}{vname(c)}自动气象站" for *_, c in pts])

    # water level: rural villages, rivers/reservoirs/ponds (S35)
    rural_v = np.flatnonzero(p.village_rural)
    for kind_name in ("water_level", "water_quality"):
        k = KINDS[kind_name]
        vs = rng.choice(rural_v, k.count, replace=len(rural_v) < k.count)
        pts = [p.in_village(int(v)) for v in vs]
        metas, names = [], []
        for _, _, c in pts:
            body = str(rng.choice(["河道", "河道", "河道", "水库", "山塘"]))
            m: dict = {"water_body": body}
            if kind_name == "water_level":
                warn = round(float(rng.uniform(6, 30)), 1)
                m.update(warn_m=warn, freeboard_m=round(float(rng.uniform(1.2, 2.0)), 2),
                         thresholds={"level": _wl.thresholds_for(warn)})
            metas.append(m)
            names.append(f"{tname(c)}{vname(c)}{body}{k.label}")
        add(kind_name, pts, metas, names)

    # manholes dense in the urban streets; smart poles and electrical mostly urban
    for kind_name, share in (("manhole", 0.8), ("smart_pole", 0.75), ("electrical", 0.6),
                             ("air_quality", 0.35)):
        k = KINDS[kind_name]
        pts = p.in_cells(p.cells_where(k.count, share))
        metas = [{"depth_cm": int(rng.integers(80, 300))} if kind_name == "manhole" else {}
                 for _ in pts]
        add(kind_name, pts, metas, [f"{tname(c)}{vname(c)}{k.label}" for *_, c in pts])

    # bridges: 60 × 4 sensors (S13, S34)
    k = KINDS["bridge"]
    pts, metas, names = [], [], []
    for b, cell in enumerate(p.cells_where(k.count // 4, 0.4)):
        bname = f"{vname(int(cell))}{b + 1}号桥"
        for j, pt in enumerate(p.cluster(int(cell), 4, 30)):
            pts.append(pt)
            metas.append({"bridge": f"bridge-{b + 1:03d}", "bridge_name": bname, "position": j + 1})
            names.append(f"{bname}{('桥台', '跨中', '墩顶', '支座')[j]}监测点")
    add("bridge", pts, metas, names)

    # fire IoT: 300 buildings × 5 (3 smoke, 2 hydrant) in key units and ancient buildings (S24, S25)
    k = KINDS["fire"]
    pts, metas, names = [], [], []
    for b, cell in enumerate(p.cells_where(k.count // 5, 0.6)):
        ancient = rng.random() < 0.4
        bname = f"{vname(int(cell))}{'古建筑' if ancient else '消防重点单位'}{b + 1:03d}"
        for j, pt in enumerate(p.cluster(int(cell), 5, 15)):
            sensor = "smoke" if j < 3 else "hydrant"
            pts.append(pt)
            metas.append({"building": f"bld-{b + 1:03d}", "building_name": bname,
                          "ancient": bool(ancient), "sensor": sensor})
            names.append(f"{bname}{'烟感' if sensor == 'smoke' else '消防水压'}{j + 1}")
    add("fire", pts, metas, names)

    # gas: ~40 chemical enterprises × 5 in the industrial parks (S30, S31)
    k = KINDS["gas"]
    town_by_name = {v: c for c, v in p.town_names.items()}
    parks = [(park, town_by_name.get(tn)) for park, tn in INDUSTRIAL_PARKS.items()]
    pts, metas, names = [], [], []
    for e in range(k.count // 5):
        park, tcode = parks[e % len(parks)]
        cand = np.flatnonzero(p.cells["town_code"].to_numpy() == tcode) if tcode else \
            np.arange(len(p.cells))
        cell = int(rng.choice(cand if len(cand) else np.arange(len(p.cells))))
        ename = f"{park}工业园化工企业{e + 1:02d}"
        for j, pt in enumerate(p.cluster(cell, 5, 60)):
            pts.append(pt)
            metas.append({"enterprise": f"ent-{e + 1:03d}", "enterprise_name": ename, "park": park})
            names.append(f"{ename}气体探测器{j + 1}")
    add("gas", pts, metas, names)

    # scenic spots: visitor flow (S40), rural
    k = KINDS["visitor_flow"]
    pts = p.in_cells(p.cells_where(k.count, 0.1))
    metas = []
    for _ in pts:
        cap = int(rng.integers(3, 21)) * 1000
        metas.append({"capacity": cap, "thresholds": {"visitors": _vf.thresholds_for(cap)}})
    add("visitor_flow", pts, metas, [f"{vname(c)}景区{i + 1}客流计数" for i, (*_, c) in enumerate(pts)])
    return rows


_URBAN_SITES = (("road", 0.34), ("residential_entrance", 0.22), ("school", 0.08),
                ("commercial", 0.14), ("transport_hub", 0.05), ("old_compound", 0.1),
                ("scenic_spot", 0.02), ("hospital", 0.05))
_RURAL_SITES = (("road", 0.3), ("rural_public", 0.25), ("forest", 0.14), ("school", 0.07),
                ("scenic_spot", 0.06), ("industrial_park", 0.08), ("river", 0.06),
                ("urban_fringe", 0.04))
SITE_CN = {"road": "道路", "residential_entrance": "小区出入口", "school": "学校", "commercial": "商圈",
           "transport_hub": "交通枢纽", "old_compound": "老旧小区", "scenic_spot": "景区",
           "hospital": "医院", "rural_public": "乡村公共区域", "forest": "重点林区",
           "industrial_park": "工业园区", "river": "河道", "urban_fringe": "城乡结合部",
           "tour_bus": "旅游大巴", "boat": "旅游船"}


def _camera_rows(city: City, rng: np.random.Generator, n: int) -> list[dict]:
    """Cameras (雪亮工程): class 一/二/三 15/15/70 % (§11), social ≈ 70 % (Q9), sharing to 综治
    ≈ 65 % and 视联网 ≈ 19 % (Q10), ~1 % mobile on tour buses and boats (V29)."""
    p = _Placer(city, rng)
    idx = p.cells_where(n, 0.45)
    rows = []
    for j, ci in enumerate(idx):
        (x, y), = _points_in(p.cells.geometry.iat[int(ci)], 1, rng)
        urban = bool(p.cell_urban[int(ci)])
        sites = _URBAN_SITES if urban else _RURAL_SITES
        site = str(rng.choice([s for s, _ in sites], p=np.array([w for _, w in sites]) /
                              sum(w for _, w in sites)))
        mobile = rng.random() < 0.01
        if mobile:
            site = str(rng.choice(["tour_bus", "boat"]))
        cls = int(rng.choice([1, 2, 3], p=[0.15, 0.15, 0.70]))
        owner = "social" if cls == 3 else "public"
        share = ["综治"] if rng.random() < 0.65 else []
        if rng.random() < 0.19:
            share.append("视联网")
        share += [d for d in ("城管", "交通", "应急", "林业", "文旅") if rng.random() < 0.08]
        fov, rng_m = (360.0, 2000.0) if site == "forest" else (
            float(rng.choice([60, 75, 90, 110])), float(rng.choice([80, 120, 150, 200, 300])))
        cid = f"cam-{j + 1:05d}"
        rows.append({"id": cid, "name": f"{p.town_names[str(p.cells['town_code'].iat[int(ci)])]}"
                     f"{p.village_names.get(str(p.cells['village_code'].iat[int(ci)]), '')}"
                     f"{SITE_CN[site]}{j + 1:05d}",
                     "cls": cls, "owner": owner, "site_type": site,
                     "heading_deg": round(float(rng.uniform(0, 360)), 1), "fov_deg": fov,
                     "range_m": rng_m, "share": ",".join(share), "stream_url": STREAM_BASE + cid,
                     "mobile": bool(mobile), "lon": round(float(x), 6), "lat": round(float(y), 6),
                     "cell_code": str(p.cells["code"].iat[int(ci)]),
                     "town_code": str(p.cells["town_code"].iat[int(ci)])})
    return rows


def _gdf(rows: list[dict], columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows, columns=list(columns))
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")


def generate(city: City, seed: int = 0, stress: bool = False) -> DeviceRegistry:
    """The demo devices of ``city`` (deterministic per city and seed); ``stress``: 26,907 cameras."""
    base = [seed, int(city.admin_code) if str(city.admin_code).isdigit() else 0]
    sensors = _gdf(_sensor_rows(city, np.random.default_rng([*base, 1])), SENSOR_COLUMNS)
    n_cam = N_CAMERAS_STRESS if stress else N_CAMERAS
    cameras = _gdf(_camera_rows(city, np.random.default_rng([*base, 2]), n_cam), CAMERA_COLUMNS)
    return DeviceRegistry(sensors, cameras)


# --- storage ------------------------------------------------------------------------------------

def save(registry: DeviceRegistry, city_dir: str | os.PathLike, stress: bool = False) -> Path:
    out = Path(city_dir) / DEVICES_DIR
    out.mkdir(parents=True, exist_ok=True)
    suffix = "_stress" if stress else ""
    for name, gdf in (("sensors", registry.sensors), ("cameras", registry.cameras)):
        tmp = out / f".{name}{suffix}.parquet.tmp"
        gdf.to_parquet(tmp)
        os.replace(tmp, out / f"{name}{suffix}.parquet")
    return out


def load_or_create(city: City, city_dir: str | os.PathLike, stress: bool = False) -> DeviceRegistry:
    """The city's devices: read from ``<city_dir>/devices``, generated (and saved) on first use."""
    d = Path(city_dir) / DEVICES_DIR
    suffix = "_stress" if stress else ""
    fs, fc = d / f"sensors{suffix}.parquet", d / f"cameras{suffix}.parquet"
    if fs.exists() and fc.exists():
        return DeviceRegistry(gpd.read_parquet(fs), gpd.read_parquet(fc))
    reg = generate(city, stress=stress)
    save(reg, city_dir, stress=stress)
    return reg


# --- import / export ----------------------------------------------------------------------------

def import_devices(path: str | os.PathLike, city: City, cameras: bool = False) -> gpd.GeoDataFrame:
    """Read real devices from CSV (``lon``, ``lat`` columns) or GeoJSON (points).

    Cell and town are resolved from the location (事事入格); devices outside the city raise
    ``ValueError`` naming them. Missing optional columns get defaults.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        lon, lat = df["lon"].astype(float).to_numpy(), df["lat"].astype(float).to_numpy()
    else:
        gdf = gpd.read_file(path).to_crs("EPSG:4326")
        df = pd.DataFrame(gdf.drop(columns="geometry"))
        lon, lat = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    df["lon"], df["lat"] = lon, lat
    rows = city.locate_many(lon, lat)
    if (rows < 0).any():
        bad = df["id"].to_numpy()[rows < 0][:10].tolist()
        raise ValueError(f"devices outside {city.name} (辖区外): {bad}")
    cells = city.cells.reset_index(drop=True)
    df["cell_code"] = cells["code"].to_numpy()[rows]
    df["town_code"] = cells["town_code"].to_numpy()[rows]
    if cameras:
        defaults_ = {"name": "", "cls": 3, "owner": "social", "site_type": "road", "heading_deg": 0.0,
                     "fov_deg": 90.0, "range_m": 150.0, "share": "", "stream_url": "",
                     "mobile": False}
        for c, v in defaults_.items():
            if c not in df or (df[c] == "").all():
                df[c] = v
        for c in ("cls",):
            df[c] = df[c].astype(int)
        for c in ("heading_deg", "fov_deg", "range_m"):
            df[c] = df[c].astype(float)
        df["mobile"] = df["mobile"].astype(str).str.lower().isin(["true", "1", "yes"])
        return _gdf(df.to_dict("records"), CAMERA_COLUMNS)
    unknown = set(df["type"]) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown device types {sorted(unknown)}; known: {sorted(KINDS)}")
    df["dept"] = [r if r else KINDS[t].dept for r, t in
                  zip(df.get("dept", pd.Series([""] * len(df))), df["type"], strict=True)]
    df["interval_s"] = [int(v) if str(v).strip() else KINDS[t].interval_s for v, t in
                        zip(df.get("interval_s", pd.Series([""] * len(df))), df["type"],
                            strict=True)]
    if "installed" not in df:
        df["installed"] = ""
    if "name" not in df:
        df["name"] = df["id"]
    meta = df["meta"] if "meta" in df else pd.Series(["{}"] * len(df))
    df["meta"] = [m if isinstance(m, str) and m.strip() else "{}" for m in meta]
    for m in df["meta"]:
        json.loads(m)   # fail early on bad metadata
    return _gdf(df.to_dict("records"), SENSOR_COLUMNS)


def export_geojson(gdf: gpd.GeoDataFrame, path: str | os.PathLike) -> Path:
    """Write sensors or cameras as a GeoJSON FeatureCollection (WGS-84)."""
    path = Path(path)
    path.write_text(gdf.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
    return path
