"""Payload schemas at the edge (边缘校验): the OneMap JSON reading, SenML JSON (RFC 8428), status,
and video-AI detections. See docs/mqtt.md for the topic scheme and examples.

Validation happens in two steps so that the dead letter can say *why*:

1. structure (pydantic, strict types): ``not_json`` or ``schema``;
2. meaning against the device kind (``check_reading``): ``unknown_metric``, ``wrong_type``,
   ``wrong_unit``, ``out_of_range``, ``future_ts``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Annotated, Literal

import cbor2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictBytes,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from sensors.kinds.base import Kind

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
SENML_VERSION = 10
"""RFC 8428 §4.4: the SenML version OneMap understands; a pack with a higher ``bver`` is refused."""
MAX_STRING = 256
"""Longest ``vs``/``vd`` value kept in a reading (characters)."""
REASONS = ("oversized", "bad_topic", "not_json", "schema", "unknown_device", "unknown_metric",
           "wrong_type", "wrong_unit", "out_of_range", "future_ts", "internal",
           # issue 19, raised by sensors.ingest: older than MAX_PAST_S; retain on a telemetry topic
           "stale_ts", "retained")
"""Dead-letter reasons (sensors.deadletter counts per reason)."""


class Rejected(ValueError):
    """A message that goes to the dead letter: ``reason`` (one of REASONS) and a detail."""

    def __init__(self, reason: str, detail: str = "", device_id: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.device_id = reason, detail, device_id


class OneMapReading(BaseModel):
    """OneMap telemetry JSON: ``{"ts": 1732270000123, "metrics": {"level_m": 12.31},
    "units": {"level_m": "m"}}``. ``ts`` is epoch milliseconds; ``units`` optional but checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: StrictInt = Field(gt=0)
    metrics: dict[str, Scalar] = Field(min_length=1)
    units: dict[str, StrictStr] | None = None
    seq: StrictInt | None = None
    id: StrictStr | None = None


class SenMLRecord(BaseModel):
    """One SenML record (RFC 8428 §4): base fields, name, unit, value fields, sum, time.

    Fields the RFC registers but OneMap does not use (``ut``) are checked and kept out of the
    reading; unknown fields are ignored (§4.4); must-understand fields (``…_``) are refused
    before this model sees the record (``_senml_records``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    bn: StrictStr | None = None
    bt: StrictInt | StrictFloat | None = None
    bu: StrictStr | None = None
    bv: StrictInt | StrictFloat | None = None
    bs: StrictInt | StrictFloat | None = None
    bver: StrictInt | None = Field(default=None, ge=1, le=SENML_VERSION)
    n: StrictStr | None = None
    u: StrictStr | None = None
    v: StrictInt | StrictFloat | None = None
    vs: StrictStr | None = Field(default=None, max_length=MAX_STRING)
    vb: StrictBool | None = None
    vd: StrictStr | StrictBytes | None = None
    s: StrictInt | StrictFloat | None = None
    t: StrictInt | StrictFloat | None = None
    ut: StrictInt | StrictFloat | None = Field(default=None, ge=0)


SenMLPack = TypeAdapter(Annotated[list[SenMLRecord], Field(min_length=1)])


class Detection(BaseModel):
    """Video-AI detection (智能发现): ``{"ts": …, "label": "smoke_fire", "confidence": 0.91,
    "snapshot_url": "https://…/snap.jpg"}``. No face or vehicle attributes are accepted (V15)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: StrictInt = Field(gt=0)
    label: StrictStr
    confidence: StrictFloat | StrictInt = Field(ge=0, le=1)
    snapshot_url: StrictStr = Field(default="", max_length=512)
    bbox: list[StrictInt | StrictFloat] | None = None


class Position(BaseModel):
    """A mobile camera's position: ``{"ts": …, "lon": 110.9, "lat": 21.9, "heading_deg": 90}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: StrictInt = Field(gt=0)
    lon: StrictFloat | StrictInt = Field(ge=-180, le=180)
    lat: StrictFloat | StrictInt = Field(ge=-90, le=90)
    heading_deg: StrictFloat | StrictInt | None = Field(default=None, ge=0, lt=360)


class Status(BaseModel):
    """Device status (and last will): ``{"state": "offline", "ts": …}`` or the bare word."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: Literal["online", "offline"]
    ts: StrictInt | None = None


_ONEMAP = OneMapReading.model_validate_json
_DETECTION = Detection.model_validate_json
_STATUS = Status.model_validate_json
_POSITION = Position.model_validate_json


def _structural(e: ValidationError) -> Rejected:
    first = e.errors(include_url=False)[0] if e.errors() else {"type": "?", "msg": str(e)}
    if first["type"] == "json_invalid":
        return Rejected("not_json", first["msg"][:200])
    loc = ".".join(str(x) for x in first.get("loc", ()))
    return Rejected("schema", f"{loc}: {first['msg']}"[:200])


Reading = tuple[int | None, dict, dict]
"""(ts ms | None: "now", metrics name → value, units name → unit)."""


def parse_reading(payload: bytes, now_ms: int | None = None) -> list[Reading]:
    """Telemetry payload → its readings, nothing lost (S1, S4; RFC 8428).

    OneMap JSON object: one reading. SenML pack (JSON array, or CBOR array sniffed by its first
    byte 0x80–0x9f, RFC 8428 §6): one reading per record, keyed by the record's resolved name
    (``bn`` + ``n``; a sum under ``<name>#sum``), time ``bt`` + ``t`` in seconds, a time under
    2**28 relative to ``now_ms`` (None when no clock is given and the time is "now").
    ``merge_readings`` maps names onto a kind's metrics and joins the records of one instant.
    """
    head = payload.lstrip()[:1]
    if head and 0x80 <= head[0] <= 0x9F and payload[:1] == head:
        return _senml(_cbor_records(payload), now_ms)
    try:
        if head == b"[":
            return _senml(_json_records(payload), now_ms)
        r = _ONEMAP(payload)
    except ValidationError as e:
        raise _structural(e) from None
    return [(r.ts, dict(r.metrics), dict(r.units or {}))]


SENML_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*\Z")
"""RFC 8428 §4.5.1: a resolved name starts with a letter or digit, then letters, digits, - : . / _"""
_CBOR_LABELS = {-1: "bver", -2: "bn", -3: "bt", -4: "bu", -5: "bv", -6: "bs", 0: "n", 1: "u",
                2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t", 7: "ut", 8: "vd"}
"""RFC 8428 §6 Table 4: CBOR integer labels."""


def _json_records(payload: bytes) -> list[dict]:
    try:
        doc = json.loads(payload)
    except ValueError as e:
        raise Rejected("not_json", str(e)[:200]) from None
    return _pack(doc)


def _cbor_records(payload: bytes) -> list[dict]:
    try:
        doc = cbor2.loads(payload)
    except Exception as e:  # cbor2 raises its own errors and ValueError/EOFError alike
        raise Rejected("not_json", f"CBOR 解析失败 / invalid CBOR: {e}"[:200]) from None
    if isinstance(doc, list):
        doc = [{_CBOR_LABELS.get(k, k): v for k, v in r.items()} if isinstance(r, dict) else r
               for r in doc]
    return _pack(doc)


def _pack(doc: object) -> list[dict]:
    if not isinstance(doc, list) or not doc:
        raise Rejected("schema", "SenML 包必须是非空数组 / a SenML pack is a non-empty array")
    for i, rec in enumerate(doc):
        if not isinstance(rec, dict):
            raise Rejected("schema", f"record {i}: 不是对象 / not an object")
        for k in rec:
            if isinstance(k, str) and k.endswith("_"):
                # §4.4: a field ending in "_" must be understood; OneMap understands none
                raise Rejected("schema", f"record {i}: 不支持的必须理解字段 / must-understand "
                                         f"field {k!r} not supported"[:200])
    return doc


def _senml(doc: list[dict], now_ms: int | None) -> list[Reading]:
    try:
        records = SenMLPack.validate_python(doc)
    except ValidationError as e:
        raise _structural(e) from None
    bn, bt, bu, bv, bs, bver = "", 0.0, None, 0.0, 0.0, None
    out: list[Reading] = []
    for i, rec in enumerate(records):
        if rec.bver is not None:
            if bver is not None and rec.bver != bver:   # §4.4: one version per pack
                raise Rejected("schema", f"record {i}: bver {rec.bver} ≠ {bver}")
            bver = rec.bver
        bn = rec.bn if rec.bn is not None else bn
        bt = float(rec.bt) if rec.bt is not None else bt
        bu = rec.bu if rec.bu is not None else bu
        bv = float(rec.bv) if rec.bv is not None else bv
        bs = float(rec.bs) if rec.bs is not None else bs
        values = [x for x in (rec.v, rec.vs, rec.vb, rec.vd) if x is not None]
        if len(values) > 1:
            raise Rejected("schema", f"record {i}: 多个值字段 / more than one of v, vs, vb, vd")
        if not values and rec.s is None:
            if rec.n is None and rec.u is None and rec.t is None:
                continue   # a record of base fields only (§5.1.7's first record)
            raise Rejected("schema", f"record {i}: 无值 / no v, vs, vb, vd or s")
        name = bn + (rec.n or "")
        if not SENML_NAME.match(name):
            raise Rejected("schema", f"record {i}: 名称不合 RFC 8428 §4.5.1 / invalid name "
                                     f"{name!r}"[:200])
        unit = rec.u if rec.u is not None else bu
        t = bt + float(rec.t or 0.0)
        if t >= 2 ** 28:
            ts: int | None = round(t * 1000)
        else:   # §4.5.3: relative to now
            ts = None if now_ms is None else now_ms + round(t * 1000)
        metrics: dict = {}
        units: dict = {}
        if values:
            value = values[0]
            if rec.v is not None:
                value = bv + rec.v if bv else rec.v
            elif rec.vd is not None:
                value = _data(rec.vd, i)
            metrics[name] = value
            if unit is not None:
                units[name] = unit
        if rec.s is not None:
            metrics[name + "#sum"] = bs + rec.s if bs else rec.s
            if unit is not None:
                units[name + "#sum"] = unit
        out.append((ts, metrics, units))
    if not out:
        raise Rejected("schema", "SenML 包没有记录值 / a pack without values")
    return out


class Data(str):
    """A SenML data value (``vd``), base64url without padding (RFC 8428 §4.3)."""


def _data(vd: str | bytes, i: int) -> Data:
    if isinstance(vd, bytes):   # CBOR carries the bytes themselves
        return Data(base64.urlsafe_b64encode(vd).rstrip(b"=").decode())
    try:
        base64.urlsafe_b64decode(vd + "=" * (-len(vd) % 4))
    except ValueError:
        raise Rejected("schema", f"record {i}: vd 不是 base64url / vd is not base64url") from None
    if len(vd) > MAX_STRING or "=" in vd:
        raise Rejected("schema", f"record {i}: vd 不是无填充 base64url / vd padded or too long")
    return Data(vd)


def _keys(kind: Kind, name: str, unit: str | None) -> str:
    """The kind's metric for a SenML name: the whole name or its last ``:``/``/`` segment,
    with ``@<unit>`` first (a pack that tells quantities apart by unit only, RFC 8428 §5.1.3);
    a sum (``#sum``) goes to ``<metric>_sum``."""
    mm = kind.metric_map
    base, _, tag = name.partition("#")
    seg = re.split(r"[:/]", base)[-1]
    for cand in dict.fromkeys((base, seg)):
        if tag == "sum":
            cand += "_sum"
        for key in ((f"{cand}@{unit}",) if unit else ()) + (cand,):
            if key in mm:
                return key
    return seg + ("_sum" if tag == "sum" else "")


def merge_readings(kind: Kind, readings: list[Reading], now_ms: int) -> list[tuple[int, dict, dict]]:
    """Name each value by its kind's metric and join the values of one instant into one reading
    (time order; a name that repeats at one instant starts another reading, so none is lost)."""
    named: list[tuple[int, str, object, str | None]] = []
    for ts, metrics, units in readings:
        for name, value in metrics.items():
            unit = units.get(name)
            key = name if name in kind.metric_map else _keys(kind, name, unit)
            named.append((ts if ts is not None else now_ms, key, value, unit))
    named.sort(key=lambda x: x[0])
    out: list[tuple[int, dict, dict]] = []
    for ts, key, value, unit in named:
        if not out or out[-1][0] != ts or key in out[-1][1]:
            out.append((ts, {}, {}))
        out[-1][1][key] = value
        if unit is not None:
            out[-1][2][key] = unit
    return out


def check_reading(kind: Kind, metrics: dict, units: dict, ts: int, now_ms: int,
                  max_future_ms: int) -> dict[str, float]:
    """Check a parsed reading against its device kind; the numeric metrics (bools as 0/1)."""
    if ts - now_ms > max_future_ms:
        raise Rejected("future_ts", f"ts {ts} is {(ts - now_ms) / 1000:.0f} s ahead")
    mm = kind.metric_map
    out: dict[str, float] = {}
    for name, value in metrics.items():
        m = mm.get(name)
        if m is None:
            raise Rejected("unknown_metric", f"{name!r} is not a metric of {kind.name}")
        if m.type in ("string", "data"):
            if not isinstance(value, str) or isinstance(value, Data) != (m.type == "data"):
                want = "vd 数据 / a data value" if m.type == "data" else "vs 字符串 / a string"
                raise Rejected("wrong_type", f"{name} 应为 {want}, got {value!r}"[:200])
            continue   # recorded with the reading; rules take numbers only
        if m.type == "bool":
            if not isinstance(value, bool):
                raise Rejected("wrong_type", f"{name} must be true/false, got {value!r}"[:200])
            out[name] = 1.0 if value else 0.0
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Rejected("wrong_type", f"{name} must be a number, got {value!r}"[:200])
        u = units.get(name)
        if u is not None and not m.accepts_unit(u):
            raise Rejected("wrong_unit", f"{name} in {u!r}, expected {m.unit!r}")
        if not (m.lo <= value <= m.hi):
            raise Rejected("out_of_range", f"{name}={value} outside [{m.lo}, {m.hi}] {m.unit}")
        out[name] = float(value)
    return out


def parse_detection(payload: bytes) -> Detection:
    try:
        return _DETECTION(payload)
    except ValidationError as e:
        raise _structural(e) from None


def parse_status(payload: bytes) -> Status:
    """``online`` / ``offline`` as a bare word (typical last will) or a JSON object."""
    word = payload.strip().lower()
    if word in (b"online", b"offline"):
        return Status(state=word.decode())
    try:
        return _STATUS(payload)
    except ValidationError as e:
        raise _structural(e) from None


def parse_position(payload: bytes) -> Position:
    try:
        return _POSITION(payload)
    except ValidationError as e:
        raise _structural(e) from None
