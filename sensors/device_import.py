"""Device registry import (设备台账导入, issue 18): CSV, GeoJSON or GeoPackage → checked rows.

Every row is validated (pydantic v2) before anything is kept; a refusal names the row (1-based,
data rows; a CSV's line is row + 1) and the field, in Chinese then English, and nothing is
imported unless every row passes (``DeviceImportError`` carries all the problems at once).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sensors.kinds import KINDS

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
MAX_PROBLEMS = 50


class DeviceImportError(ValueError):
    """Refused import: ``problems`` are (row | None for the whole file, field, message)."""

    def __init__(self, problems: list[tuple[int | None, str, str]]) -> None:
        self.problems = problems
        lines = [(f"第 {r} 行 / row {r}, " if r is not None else "文件 / file, ")
                 + f"字段 / field {f!r}: {m}" for r, f, m in problems[:MAX_PROBLEMS]]
        more = len(problems) - MAX_PROBLEMS
        if more > 0:
            lines.append(f"… 另有 {more} 个问题 / {more} more")
        super().__init__("\n".join(lines))


class SensorRow(BaseModel):
    """One sensor (物联感知设备) of an import file."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN)
    type: str
    name: str = Field(default="", max_length=128)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    dept: str = Field(default="", max_length=16)
    interval_s: int | None = Field(default=None, gt=0, le=86400)
    installed: str = Field(default="", max_length=32)
    meta: str = "{}"

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in KINDS:
            raise ValueError(f"未知设备类型 / unknown type {v!r}; known: {', '.join(sorted(KINDS))}")
        return v

    @field_validator("meta")
    @classmethod
    def _json_object(cls, v: str) -> str:
        try:
            ok = isinstance(json.loads(v), dict)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError("meta 必须是 JSON 对象 / meta must be a JSON object")
        return v


class CameraRow(BaseModel):
    """One camera (视频监控点位) of an import file."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(default="", max_length=128)
    cls: int = Field(default=3, ge=1, le=3)   # 一类/二类/三类点位
    owner: str = Field(default="social", max_length=32)
    site_type: str = Field(default="road", max_length=32)
    heading_deg: float = Field(default=0.0, ge=0, lt=360)
    fov_deg: float = Field(default=90.0, gt=0, le=360)
    range_m: float = Field(default=150.0, gt=0, le=5000)
    share: str = ""
    stream_url: str = Field(default="", max_length=512)
    mobile: bool = False
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


def read_rows(path: str | os.PathLike, cameras: bool = False) -> list[dict]:
    """The checked rows of a device file (lon/lat WGS-84), or ``DeviceImportError``."""
    path = Path(path)
    raw = _read(path)
    model = CameraRow if cameras else SensorRow
    problems: list[tuple[int | None, str, str]] = []
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(raw, start=1):
        clean = {k: _text(v) for k, v in rec.items() if v is not None and v == v and v != ""}
        try:
            row = model.model_validate(clean).model_dump()
        except ValidationError as e:
            for err in e.errors(include_url=False):
                field = ".".join(str(x) for x in err["loc"]) or "?"
                msg = "缺少 / missing" if err["type"] == "missing" else err["msg"]
                problems.append((i, field, msg))
            continue
        if row["id"] in seen:
            problems.append((i, "id", f"重复 / duplicate of row {seen[row['id']]}: {row['id']!r}"))
            continue
        seen[row["id"]] = i
        rows.append(row)
    if not raw:
        problems.append((None, "file", "没有设备 / no devices in the file"))
    if problems:
        raise DeviceImportError(problems)
    return rows


def _text(v: object) -> object:
    """GDAL reads ISO dates as datetimes: back to the text the file holds (``installed``)."""
    if hasattr(v, "isoformat") and not isinstance(v, str):
        t = pd.Timestamp(v)
        return t.date().isoformat() if t == t.normalize() else t.isoformat()
    return v


def _read(path: Path) -> list[dict]:
    """File → one dict per row (lon/lat from point geometries); file-level problems raised."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DeviceImportError([(None, "file", f"文件不存在 / no such file: {path}")])
    try:
        if suffix in (".csv", ".txt"):
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            if "lon" not in df.columns or "lat" not in df.columns:
                raise DeviceImportError([(None, "lon/lat", "CSV 缺少 lon、lat 列 / the CSV has no "
                                          "lon and lat columns")])
            return df.to_dict("records")
        if suffix not in (".geojson", ".json", ".gpkg"):
            raise DeviceImportError([(None, "file", f"不支持的格式 / unsupported format {suffix!r}"
                                      " (CSV, GeoJSON, GeoPackage)")])
        import geopandas as gpd  # noqa: PLC0415

        gdf = gpd.read_file(path)
    except DeviceImportError:
        raise
    except Exception as e:  # pandas/pyogrio raise many kinds: each is a bad file, said plainly
        raise DeviceImportError([(None, "file", f"无法读取 / cannot read: {str(e)[:200]}")]) from None
    if gdf.crs is not None and not gdf.empty:
        gdf = gdf.to_crs("EPSG:4326")
    ids = _feature_ids(path) if "id" not in gdf.columns and suffix != ".gpkg" else None
    out = []
    for i, (rec, geom) in enumerate(zip(gdf.drop(columns=gdf.geometry.name).to_dict("records"),
                                        gdf.geometry, strict=True), start=1):
        if geom is None or geom.is_empty or geom.geom_type != "Point":
            kind = "空 / empty" if geom is None or geom.is_empty else geom.geom_type
            raise DeviceImportError([(i, "geometry", f"必须是点 / must be a Point, got {kind}")])
        rec["lon"], rec["lat"] = float(geom.x), float(geom.y)
        if ids is not None and ids[i - 1] is not None:
            rec["id"] = str(ids[i - 1])
        out.append(rec)
    return out


def _feature_ids(path: Path) -> list | None:
    """GeoJSON features' own ``id`` members (RFC 7946 §3.2), which GDAL keeps as the FID when
    they are numbers (the bare ``KeyError 'id'`` of issue 18)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        return None
    return [f.get("id") if isinstance(f, dict) else None for f in features]
