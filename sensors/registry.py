"""Device registry (设备台账): IoT sensors and cameras with location, owner, interval and metadata.

``load_or_create(city, city_dir)`` generates the demo devices deterministically on first use
(≈5,540 sensors of 12 kinds, 4,780 cameras; seed-requirements §11) and keeps them in
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

from grid.model import City
from sensors import placement
from sensors.kinds import KINDS
from sensors.placement import Placer, points_in

SENSOR_COLUMNS = ("id", "type", "name", "lon", "lat", "cell_code", "town_code", "dept",
                  "interval_s", "installed", "meta")
CAMERA_COLUMNS = ("id", "name", "cls", "owner", "site_type", "heading_deg", "fov_deg", "range_m",
                  "share", "stream_url", "mobile", "lon", "lat", "cell_code", "town_code")

N_CAMERAS = 4780          # Q11: 4,780 public-security front-ends
N_CAMERAS_STRESS = 26907  # Q9: 26,907 video channels (Huangshan)
STREAM_BASE = "rtsp://vms.onemap.local/live/"   # demo: no real streams (SPEC §4)
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

def _sensor_rows(city: City, rng: np.random.Generator) -> list[dict]:
    """The demo sensors: every kind placed by its placement strategy (``sensors.placement``), in
    ``KINDS`` order (the order the demo's random numbers are drawn in: it keeps the demo city's
    devices the same from release to release)."""
    p = Placer(city, rng)
    rows: list[dict] = []
    for kind in KINDS.values():
        pts, metas, names = placement.place(p, kind)
        for j, ((x, y, ci), meta, name) in enumerate(zip(pts, metas, names, strict=True)):
            day = pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(rng.integers(0, 6 * 365)))
            meta = {"transport": str(rng.choice(TRANSPORTS)), **meta}
            rows.append({"id": f"{kind.id_prefix}-{j + 1:04d}", "type": kind.name,
                         "name": name, "lon": round(x, 6), "lat": round(y, 6),
                         "cell_code": str(p.cells["code"].iat[ci]),
                         "town_code": str(p.cells["town_code"].iat[ci]), "dept": kind.dept,
                         "interval_s": kind.interval_s, "installed": day.strftime("%Y-%m-%d"),
                         "meta": json.dumps(meta, ensure_ascii=False)})
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
    p = Placer(city, rng)
    idx = p.cells_where(n, 0.45)
    rows = []
    for j, ci in enumerate(idx):
        (x, y), = points_in(p.cells.geometry.iat[int(ci)], 1, rng)
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
    """Read real devices from CSV (``lon``, ``lat`` columns), GeoJSON or GeoPackage (points).

    Every row is checked (``sensors.device_import``: pydantic, the row and field named on each
    refusal); cell and town are resolved from the location (事事入格); a device outside the city
    is refused by row. Raises ``DeviceImportError`` with every problem; returns only when all
    rows pass (nothing half-imported). Missing optional columns get defaults.
    """
    from sensors.device_import import DeviceImportError, read_rows  # noqa: PLC0415

    rows = read_rows(path, cameras)
    lon = np.array([r["lon"] for r in rows], dtype=float)
    lat = np.array([r["lat"] for r in rows], dtype=float)
    located = city.locate_many(lon, lat)
    outside = [(i + 1, "lon/lat", f"辖区外 / outside {city.name}: {rows[i]['id']} "
                f"({lon[i]:.6f}, {lat[i]:.6f})") for i in np.flatnonzero(located < 0)]
    if outside:
        raise DeviceImportError(outside)
    cells = city.cells.reset_index(drop=True)
    for r, ci in zip(rows, located, strict=True):
        r["cell_code"] = str(cells["code"].iat[int(ci)])
        r["town_code"] = str(cells["town_code"].iat[int(ci)])
        r["lon"], r["lat"] = round(r["lon"], 6), round(r["lat"], 6)
        if cameras:
            continue
        kind = KINDS[r["type"]]
        r["dept"] = r["dept"] or kind.dept
        r["interval_s"] = r["interval_s"] or kind.interval_s
        r["name"] = r["name"] or r["id"]
    return _gdf(rows, CAMERA_COLUMNS if cameras else SENSOR_COLUMNS)


def merge_devices(registry: DeviceRegistry, new: gpd.GeoDataFrame,
                  cameras: bool = False) -> tuple[DeviceRegistry, int, int]:
    """The registry with ``new`` rows added, or replacing the rows of the same id:
    (registry, added, updated)."""
    old = registry.cameras if cameras else registry.sensors
    ids = set(new["id"])
    kept = old[~old["id"].isin(ids)]
    updated = len(old) - len(kept)
    merged = gpd.GeoDataFrame(pd.concat([kept, new[list(old.columns)]], ignore_index=True),
                              geometry="geometry", crs="EPSG:4326")
    reg = (DeviceRegistry(registry.sensors, merged) if cameras
           else DeviceRegistry(merged, registry.cameras))
    return reg, len(new) - updated, updated


def export_geojson(gdf: gpd.GeoDataFrame, path: str | os.PathLike) -> Path:
    """Write sensors or cameras as a GeoJSON FeatureCollection (WGS-84)."""
    path = Path(path)
    path.write_text(gdf.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
    return path
