"""应急资源库 (the emergency resource register, X15 应急"一张图"资源库, X18 救援资源整合; issue 16).

Four categories, each a pydantic model: 队伍 teams (kind, people, equipment, contact, base point,
owning center, status), 物资 materials (warehouse point, item, quantity, unit), 避难场所 shelters
(capacity, occupancy) and 专家 experts. A register is imported from a CSV file (one row per
resource, a ``category`` column) or a GeoJSON FeatureCollection (Point features, the same
fields as properties): every row is validated first and ANY refusal names its row and field
(``第 3 行 quantity: 应为整数``); then all rows are stored in one Lua call, so a file is imported
whole or not at all (docs/resources.md).

The register lives in Redis (``grid.keys``). What changes as resources are dispatched (a team's
state, a material's available quantity) is written by ``incidents.emergency.dispatch``'s atomic
scripts into the same hash; the register reads it for the map (``frame``) and the lists.
Contacts are masked (``mask_contact``) for roles that do not read personal data (SEC18): the
caller, who knows the role, asks for it.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import redis
import shapely
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from grid import centers as cc
from grid import keys
from grid.model import City

CATEGORY_NAMES: dict[str, str] = {"team": "队伍", "material": "物资", "shelter": "避难场所",
                                  "expert": "专家"}
DISPATCHABLE = ("team", "material", "expert")
"""What 一键调度 commits: a team or an expert (one assignment at a time), a quantity of a material.
A shelter is opened and filled, not dispatched (its occupancy is the register's)."""
AVAILABLE = "available"
STATUS_NAMES: dict[str, str] = {"available": "可用", "committed": "已调派", "en_route": "在途",
                                "on_scene": "到场", "unavailable": "不可用"}
"""The map's and the list's status of a resource (a dispatched one: its assignment's state)."""
TEAM_WORDS = ("救援队伍", "队伍")
"""A plan's resource type that any team answers (预案 ``resources: [{type: 救援队伍}]``)."""

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
Text = Annotated[str, Field(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=0)]


class _Base(BaseModel):
    """What every resource has: an id, a name, a point, its owning center (CITY, T…, D…)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)
    id: Annotated[str, Field(pattern=_ID)]
    name: Text
    owner: Text
    lon: Annotated[float, Field(ge=-180, le=180)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    demo: bool = False


class Team(_Base):
    """队伍: a rescue team (its kind: 防汛抢险队, 消防救援队 …), based at a point."""

    category: Literal["team"]
    kind: Text
    people: Annotated[int, Field(gt=0)]
    equipment: str = ""
    contact: str = ""
    status: Literal["available", "unavailable"] = "available"


class Material(_Base):
    """物资: a quantity of one item in a warehouse (``name`` is the warehouse's)."""

    category: Literal["material"]
    item: Text
    quantity: Count
    unit: Text


class Shelter(_Base):
    """避难场所: its capacity and how many are sheltered now."""

    category: Literal["shelter"]
    capacity: Annotated[int, Field(gt=0)]
    occupancy: Count = 0

    @model_validator(mode="after")
    def _fits(self) -> Shelter:
        if self.occupancy > self.capacity:
            raise ValueError("occupancy > capacity")
        return self


class Expert(_Base):
    """专家: an expert (their field), reached through a contact."""

    category: Literal["expert"]
    field: Text
    contact: str = ""
    status: Literal["available", "unavailable"] = "available"


Record = Annotated[Team | Material | Shelter | Expert, Field(discriminator="category")]
_RECORD: TypeAdapter[Team | Material | Shelter | Expert] = TypeAdapter(Record)


# --- refusals ----------------------------------------------------------------------------------
class ImportRefused(ValueError):
    """导入被拒绝: one line per problem, each naming its row and field; nothing was stored."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f"（另有 {len(problems) - 20} 项）" if len(problems) > 20 else ""
        super().__init__("资源导入被拒绝，未导入任何资源 (import refused, nothing imported): "
                         + "; ".join(problems[:20]) + more)


_CN = {
    "missing": "缺少此项", "extra_forbidden": "不是该类资源的字段", "string_too_short": "不能为空",
    "string_too_long": "过长", "int_parsing": "应为整数", "int_type": "应为整数",
    "int_from_float": "应为整数", "float_parsing": "应为数字", "float_type": "应为数字",
    "bool_parsing": "应为 true/false", "string_pattern_mismatch": "编号格式不符（字母、数字、_ . : -）",
    "union_tag_invalid": "应为 team / material / shelter / expert 之一",
    "union_tag_not_found": "缺少资源类别（team / material / shelter / expert）",
}


def _problem(where: str, e: Mapping[str, Any]) -> str:
    t, ctx = e["type"], e.get("ctx") or {}
    loc = [p for p in e["loc"] if isinstance(p, str)]
    fld = loc[-1] if len(loc) > 1 else ("category" if t.startswith("union_tag") else
                                        (loc[-1] if loc else "(row)"))
    if t == "value_error" and "occupancy" in str(e.get("msg")):
        fld, cn = "occupancy", "不能大于 capacity"
    elif t in ("greater_than", "greater_than_equal"):
        cn = f"应{'大于' if t == 'greater_than' else '不小于'} {ctx.get('gt', ctx.get('ge'))}"
    elif t in ("less_than_equal",):
        cn = f"不能大于 {ctx.get('le')}"
    elif t == "literal_error":
        cn = f"取值应为 {ctx.get('expected', '')}"
    else:
        cn = _CN.get(t, "取值无效")
    return f"{where} {fld}: {cn} / {e['msg']}"


# --- parsing -----------------------------------------------------------------------------------
def _row_problems(where: str, row: dict) -> tuple[Team | Material | Shelter | Expert | None, list[str]]:
    try:
        return _RECORD.validate_python(row), []
    except ValidationError as exc:
        out: list[str] = []
        for e in exc.errors(include_url=False):
            line = _problem(where, e)
            if line not in out:
                out.append(line)
        return None, out


def _clean(row: Mapping[str, Any]) -> dict:
    """A row without its empty cells (a CSV holds every category's columns; the ones a row
    leaves empty take the model's defaults or are reported missing)."""
    out = {}
    for k, v in row.items():
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            continue
        out[str(k).strip()] = v
    return out


def read_csv(data: str | bytes) -> list[tuple[str, dict]]:
    """(where, row) of a CSV text: ``第 n 行`` is the file's line (the header is line 1)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ImportRefused([f"(文件) CSV 格式错误 / CSV syntax error: {exc}"]) from None
    return [(f"第 {i + 2} 行", _clean(r)) for i, r in enumerate(df.to_dict("records"))]


def read_geojson(data: str | bytes) -> list[tuple[str, dict]]:
    """(where, row) of a GeoJSON FeatureCollection (geopandas): ``第 n 个要素`` (1-based); a
    feature's Point gives ``lon``/``lat``, any other geometry is refused naming ``geometry``."""
    import geopandas as gpd  # noqa: PLC0415 (heavy; only an import reads it)

    raw = data.encode() if isinstance(data, str) else data
    try:
        gdf = gpd.read_file(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 (pyogrio raises its own DataSourceError types)
        raise ImportRefused([f"(文件) GeoJSON 无法读取 / unreadable GeoJSON: {exc}"]) from None
    out = []
    for i, (row, geom) in enumerate(zip(gdf.drop(columns="geometry").to_dict("records"),
                                        gdf.geometry, strict=True)):
        where = f"第 {i + 1} 个要素"
        r = _clean(row)
        if geom is None or geom.geom_type != "Point":
            r["__geometry__"] = geom.geom_type if geom is not None else "(none)"
        else:
            r["lon"], r["lat"] = float(geom.x), float(geom.y)
        out.append((where, r))
    return out


def parse(rows: Iterable[tuple[str, dict]], city: City) -> list[Team | Material | Shelter | Expert]:
    """Validate every row (the schema, then what it cannot say: ids once per file, an owner
    that is a center of the city, a point inside the city, a town's resource inside its town);
    ``ImportRefused`` with every problem, or the records."""
    problems: list[str] = []
    records: list[Team | Material | Shelter | Expert] = []
    seen: dict[str, str] = {}
    towns = city.towns.assign(code=city.towns["code"].astype(str)).set_index("code").geometry
    for where, row in rows:
        geom = row.pop("__geometry__", None)
        if geom is not None:
            problems.append(f"{where} geometry: 应为点（Point），而不是 {geom} / a Point is expected")
            continue
        rec, why = _row_problems(where, row)
        if rec is None:
            problems += why
            continue
        if rec.id in seen:
            problems.append(f"{where} id: {rec.id} 与{seen[rec.id]}重复 / duplicate id")
            continue
        seen[rec.id] = where
        if rec.owner not in city.centers or cc.kind_of(rec.owner) not in ("city", "town", "dept"):
            problems.append(f"{where} owner: {rec.owner} 不是本市的中心（CITY、T…、D…） "
                            "/ not a center of the city")
            continue
        if not shapely.contains_xy(city.boundary, rec.lon, rec.lat):
            problems.append(f"{where} lon: ({rec.lon}, {rec.lat}) 不在{city.name}范围内 "
                            "/ outside the city")
            continue
        town = cc.town_of(rec.owner)
        if town and town in towns.index and not shapely.contains_xy(towns[town], rec.lon, rec.lat):
            problems.append(f"{where} owner: 镇街的资源应在其辖区内（{rec.owner}）"
                            " / a town's resource lies in its territory")
            continue
        records.append(rec)
    if problems:
        raise ImportRefused(problems)
    if not records:
        raise ImportRefused(["(文件) 没有任何资源 / the file holds no resource"])
    return records


def read_file(path: str | Path) -> list[tuple[str, dict]]:
    """The rows of a ``.csv`` or ``.geojson``/``.json`` file."""
    p = Path(path)
    data = p.read_bytes()
    if p.suffix.lower() in (".geojson", ".json"):
        return read_geojson(data)
    if p.suffix.lower() == ".csv":
        return read_csv(data)
    raise ImportRefused([f"(文件) 只能导入 .csv 或 .geojson 文件，而不是 {p.suffix or p.name} "
                         "/ a .csv or .geojson file"])


# --- the store ---------------------------------------------------------------------------------
# Import in one call: first every check (a material's new quantity must cover what is committed
# now), then every write; a refusal writes nothing. ARGV[1]: JSON list of {id, cat, owner, town,
# doc, qty, demo}; ARGV[2] = "1": drop the generated demo resources nothing is committed from;
# ARGV[3] the import log entry; ARGV[4] the item key prefix. KEYS: ids, demo, import log (grid.keys:
# one city's, one hash slot).
_IMPORT_LUA = """
local IDS, DEMO, LOG, ITEM = KEYS[1], KEYS[2], KEYS[3], ARGV[4]
local recs = cjson.decode(ARGV[1])
local short = {}
for i, r in ipairs(recs) do
  local k = ITEM .. r.id
  if r.cat == 'material' and redis.call('EXISTS', k) == 1 then
    local total = tonumber(redis.call('HGET', k, 'total') or '0')
    local avail = tonumber(redis.call('HGET', k, 'avail') or '0')
    if total - avail > r.qty then table.insert(short, r.id .. ':' .. (total - avail)) end
  end
  local cat = redis.call('HGET', k, 'cat')
  if cat and cat ~= r.cat then table.insert(short, r.id .. ':cat:' .. cat) end
end
if #short > 0 then return {'refused', cjson.encode(short)} end
local mine = {}
for i, r in ipairs(recs) do mine[r.id] = true end
local dropped = 0
if ARGV[2] == '1' then
  for _, id in ipairs(redis.call('SMEMBERS', DEMO)) do
    local k = ITEM .. id
    local st = redis.call('HGET', k, 'state')
    local free = redis.call('HGET', k, 'asg') == false and (st == false or st == 'available')
    if redis.call('HGET', k, 'cat') == 'material' then
      free = redis.call('HGET', k, 'avail') == redis.call('HGET', k, 'total')
    end
    if free and not mine[id] then
      redis.call('DEL', k); redis.call('SREM', IDS, id); redis.call('SREM', DEMO, id)
      dropped = dropped + 1
    end
  end
end
for i, r in ipairs(recs) do
  local k = ITEM .. r.id
  redis.call('HSET', k, 'doc', r.doc, 'cat', r.cat, 'owner', r.owner, 'town', r.town, 'demo', r.demo)
  if r.cat == 'material' then
    local total = tonumber(redis.call('HGET', k, 'total') or '0')
    local avail = tonumber(redis.call('HGET', k, 'avail') or '0')
    redis.call('HSET', k, 'total', r.qty, 'avail', r.qty - (total - avail))
  elseif redis.call('HEXISTS', k, 'state') == 0 then
    redis.call('HSET', k, 'state', 'available')
  end
  redis.call('SADD', IDS, r.id)
  if r.demo == '1' then redis.call('SADD', DEMO, r.id) else redis.call('SREM', DEMO, r.id) end
end
redis.call('XADD', LOG, 'MAXLEN', '~', '1000', '*', 'e', ARGV[3])
return {'ok', tostring(#recs), tostring(dropped)}
"""


@dataclass(frozen=True)
class Held:
    """A resource as the register holds it now: its record and its live state."""

    record: Team | Material | Shelter | Expert
    town: str                       # the town its point lies in ('' outside every town)
    state: str = AVAILABLE          # a team's/expert's: available or its assignment's state
    assignment: str = ""            # a team's/expert's open assignment
    total: int = 0                  # a material's quantity (available + committed)
    avail: int = 0                  # a material's available quantity

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def category(self) -> str:
        return self.record.category

    @property
    def owner(self) -> str:
        return self.record.owner

    @property
    def usable(self) -> bool:
        """May be dispatched now (可调派): a free team/expert in service, a material in stock."""
        if self.category == "material":
            return self.avail > 0
        if self.category == "shelter":
            return False
        return self.state == AVAILABLE and getattr(self.record, "status", AVAILABLE) == AVAILABLE

    @property
    def status(self) -> str:
        """The map's status: available / committed (requested, acknowledged) / en_route /
        on_scene / unavailable (``STATUS_NAMES``)."""
        if self.category == "material":
            return AVAILABLE if self.avail > 0 else "committed"
        if self.category == "shelter":
            return AVAILABLE if self.record.occupancy < self.record.capacity else "unavailable"  # type: ignore[union-attr]
        if self.state in ("en_route", "on_scene"):
            return self.state
        if self.state != AVAILABLE:
            return "committed"
        return getattr(self.record, "status", AVAILABLE)

    def matches(self, need: str) -> bool:
        """Does this resource answer a plan's resource type (``ResourceNeed.type``)?"""
        r = self.record
        if isinstance(r, Team):
            return need in TEAM_WORDS or need == r.kind
        if isinstance(r, Material):
            return need == r.item
        if isinstance(r, Shelter):
            return need in ("避难场所", "shelter")
        return need in ("专家", "expert") or need == r.field

    def view(self, unmasked: bool, mask: Callable[[str], str] | None = None) -> dict:
        """The resource as a list shows it; contacts masked unless ``unmasked`` (SEC18) by
        ``mask`` (the caller's masking; ``mask_contact`` when it passes none)."""
        d = self.record.model_dump()
        if "contact" in d and not unmasked:
            d["contact"] = (mask or mask_contact)(d["contact"])
        d |= {"category_name": CATEGORY_NAMES[self.category], "town": self.town,
              "status": self.status, "status_name": STATUS_NAMES[self.status], "state": self.state,
              "assignment": self.assignment, "usable": self.usable}
        if self.category == "material":
            d |= {"total": self.total, "avail": self.avail}
        return d


_DIGITS = re.compile(r"\d{7,}")


def mask_contact(text: str) -> str:
    """联系方式脱敏: every run of 7+ digits keeps its first 3 and last 4 (138****5678); a name
    keeps its first character (张**)."""
    def digits(m: re.Match) -> str:
        s = m.group(0)
        return s[:3] + "*" * (len(s) - 7) + s[-4:] if len(s) > 7 else s[:3] + "****"
    masked = _DIGITS.sub(digits, text or "")
    return re.sub(r"^([\u4e00-\u9fff])([\u4e00-\u9fff]{1,3})(?=\s|$)",
                  lambda m: m.group(1) + "*" * len(m.group(2)), masked)


def _held(h: dict) -> Held | None:
    if not h.get("doc"):
        return None
    rec = _RECORD.validate_python(json.loads(h["doc"]))
    return Held(rec, h.get("town", ""), h.get("state", AVAILABLE), h.get("asg", ""),
                int(h.get("total") or 0), int(h.get("avail") or 0))


class Register:
    """The register in Redis (``grid.keys``): import, read, the map's frame."""

    def __init__(self, r: redis.Redis, city: City, clock: Callable[[], float] | None = None) -> None:
        import time  # noqa: PLC0415

        self.r, self.city, self.clock = r, city, clock or time.time
        self._import = r.register_script(_IMPORT_LUA)

    def _town_of(self, rec: _Base) -> str:
        t = cc.town_of(rec.owner)
        if t:
            return t
        loc = self.city.try_locate(rec.lon, rec.lat)
        return loc.town_code if loc else ""

    def store(self, records: list[Team | Material | Shelter | Expert], by: str = "system",
              source: str = "", replace_demo: bool | None = None) -> dict:
        """Store validated records in one atomic call (upsert by id; a material's new quantity
        keeps what is committed from it committed). Importing real resources drops the generated
        demo ones that nothing is committed from (``replace_demo``: default when no record is
        demo). Returns ``{"imported": n, "demo_dropped": m}``."""
        if replace_demo is None:
            replace_demo = not any(r.demo for r in records)
        recs = [{"id": r.id, "cat": r.category, "owner": r.owner, "town": self._town_of(r),
                 "doc": r.model_dump_json(), "qty": getattr(r, "quantity", 0),
                 "demo": "1" if r.demo else "0"} for r in records]
        entry = json.dumps({"ts": self.clock(), "by": by, "source": source, "n": len(recs)},
                           ensure_ascii=False)
        got = self._import(keys=[keys.IDS, keys.DEMO, keys.IMPORT_LOG],
                           args=[json.dumps(recs, ensure_ascii=False), "1" if replace_demo else "0",
                                 entry, keys.item("")])
        if got[0] == "refused":
            problems = []
            for s in json.loads(got[1]):
                rid, _, rest = s.partition(":")
                if rest.startswith("cat:"):
                    problems.append(f"id {rid}: 已是{CATEGORY_NAMES.get(rest[4:], rest[4:])}类资源，不能改为其他类别"
                                    " / already a resource of another category")
                else:
                    problems.append(f"id {rid} quantity: 已调派 {rest}，新数量不能少于已调派数量"
                                    " / less than what is committed now")
            raise ImportRefused(problems)
        return {"imported": int(got[1]), "demo_dropped": int(got[2])}

    def import_rows(self, rows: Iterable[tuple[str, dict]], by: str = "system", source: str = "") -> dict:
        """Validate then store (all or nothing)."""
        return self.store(parse(rows, self.city), by, source)

    def import_file(self, path: str | Path, by: str = "system") -> dict:
        return self.import_rows(read_file(path), by, Path(path).name)

    def ensure_demo(self, seed: int = 0) -> int:
        """The generated demo resources (labelled demo), stored when the register is empty."""
        if self.r.scard(keys.IDS):
            return 0
        return self.store(demo_records(self.city, seed), "system", "demo", replace_demo=False)["imported"]

    # --- reading ---------------------------------------------------------------------------
    def get(self, rid: str) -> Held | None:
        return _held(self.r.hgetall(keys.item(rid)))

    def all(self) -> list[Held]:
        ids = sorted(self.r.smembers(keys.IDS))
        with self.r.pipeline(transaction=False) as p:
            for i in ids:
                p.hgetall(keys.item(i))
            rows = p.execute()
        return [h for h in (_held(x) for x in rows) if h is not None]

    def positions(self) -> dict[str, tuple[float, float]]:
        """resource id → the last point its open assignment reported (a responder's phone)."""
        ids = self.r.zrange(keys.ASG_OPEN, 0, -1)
        with self.r.pipeline(transaction=False) as p:
            for a in ids:
                p.hmget(keys.assignment(a), "resource", "pos_lon", "pos_lat")
            rows = p.execute()
        return {rid: (float(lon), float(lat)) for rid, lon, lat in rows if rid and lon and lat}

    def frame(self) -> pd.DataFrame:
        """The map's frame (``layers.resources`` columns + ``status``; a team on the move drawn
        where its phone last reported it)."""
        return frame_of(self.all(), self.positions())


MAP_KIND = {"team": "rescue_team", "material": "warehouse", "shelter": "shelter"}
"""Register category → the map layer's kind (an expert is reached by phone, not drawn)."""
COLUMNS = ["id", "kind", "name", "lon", "lat", "capacity", "town_code", "status"]
_STATUS_RANK = ("available", "unavailable", "committed", "en_route", "on_scene")


def frame_of(held: Iterable[Held], positions: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """One row per team, shelter and warehouse (its materials summed: capacity = units available;
    status: available while any item is). ``positions``: a team's last reported point."""
    rows: list[tuple] = []
    wh: dict[tuple, list[Held]] = {}
    for h in held:
        r = h.record
        if isinstance(r, Material):
            wh.setdefault((r.name, round(r.lon, 6), round(r.lat, 6)), []).append(h)
        elif isinstance(r, Team):
            lon, lat = (positions or {}).get(r.id, (r.lon, r.lat))
            rows.append((r.id, "rescue_team", r.name, lon, lat, r.people, h.town, h.status))
        elif isinstance(r, Shelter):
            rows.append((r.id, "shelter", r.name, r.lon, r.lat, r.capacity - r.occupancy, h.town, h.status))
    for (name, lon, lat), hs in wh.items():
        status = AVAILABLE if any(x.avail > 0 for x in hs) else "committed"
        rows.append((f"wh:{hs[0].id}", "warehouse", name, lon, lat, sum(x.avail for x in hs),
                     hs[0].town, status))
    return pd.DataFrame(rows, columns=COLUMNS)


# --- the demo's generated resources ------------------------------------------------------------
DEMO_MATERIALS = (("沙袋", 2000, "个"), ("抽水泵", 6, "台"), ("冲锋舟", 3, "艘"), ("帐篷", 80, "顶"),
                  ("移动泵车", 2, "台"), ("应急发电车", 2, "台"))
DEMO_OWNER = "DYJ"
"""The demo's warehouses and experts belong to 应急 (the emergency department) when the city has it."""


def _points_in(geom, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:  # noqa: ANN001
    minx, miny, maxx, maxy = geom.bounds
    out: list[tuple[float, float]] = []
    shapely.prepare(geom)
    for _ in range(200):
        xs = rng.uniform(minx, maxx, 32)
        ys = rng.uniform(miny, maxy, 32)
        inside = shapely.contains_xy(geom, xs, ys)
        out += list(zip(xs[inside].tolist(), ys[inside].tolist(), strict=True))
        if len(out) >= n:
            return out[:n]
    c = geom.representative_point()
    return (out + [(c.x, c.y)] * n)[:n]


def demo_records(city: City, seed: int = 0) -> list[Team | Material | Shelter | Expert]:
    """Deterministic demo resources inside the city's towns (same city → same resources), each
    ``demo=True``: a rescue team and two shelters per town/street (the town's), a warehouse per ~4
    towns with the demo plans' materials and an expert at each (应急's when the city has it)."""
    rng = np.random.default_rng(zlib.crc32(f"{city.admin_code}:{seed}".encode()))
    owner = DEMO_OWNER if DEMO_OWNER in city.centers else "CITY"
    out: list[Team | Material | Shelter | Expert] = []
    for i, t in enumerate(city.towns.sort_values("code").itertuples(index=False)):
        pts = _points_in(t.geometry, 4, rng)
        tc = f"T{t.code}"
        out.append(Team(category="team", id=f"res-team-{t.code}", name=f"{t.name}应急救援队", owner=tc,
                        lon=pts[0][0], lat=pts[0][1], kind="综合应急救援队",
                        people=int(rng.integers(20, 60)), equipment="冲锋舟、抽水泵、救生衣",
                        contact=f"{t.name}队长 1380000{int(t.code[-4:]):04d}", demo=True))
        for n in (1, 2):
            out.append(Shelter(category="shelter", id=f"res-shelter-{t.code}-{n}",
                               name=f"{t.name}避难场所{'一二'[n - 1]}", owner=tc, lon=pts[n][0],
                               lat=pts[n][1], capacity=int(rng.integers(300, 3000)), demo=True))
        if i % 4 == 0:
            wname = f"{t.name}应急物资仓库"
            for j, (item, q, unit) in enumerate(DEMO_MATERIALS):
                out.append(Material(category="material", id=f"res-wh-{t.code}-{j}", name=wname,
                                    owner=owner, lon=pts[3][0], lat=pts[3][1], item=item,
                                    quantity=int(q * rng.uniform(0.5, 1.5)) or 1, unit=unit, demo=True))
            out.append(Expert(category="expert", id=f"res-expert-{t.code}", name=f"{t.name}防汛专家",
                              owner=owner, lon=pts[3][0], lat=pts[3][1], field="防汛抢险",
                              contact="13900000000", demo=True))
    return out


__all__ = ["AVAILABLE", "CATEGORY_NAMES", "COLUMNS", "DISPATCHABLE", "Expert", "Held", "ImportRefused",
           "Material", "Register", "STATUS_NAMES", "Shelter", "Team", "demo_records", "frame_of",
           "mask_contact", "parse", "read_csv", "read_file", "read_geojson"]
