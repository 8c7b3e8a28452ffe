"""Payload schemas at the edge (边缘校验): the OneMap JSON reading, SenML JSON (RFC 8428), status,
and video-AI detections. See docs/mqtt.md for the topic scheme and examples.

Validation happens in two steps so that the dead letter can say *why*:

1. structure (pydantic, strict types): ``not_json`` or ``schema``;
2. meaning against the device kind (``check_reading``): ``unknown_metric``, ``wrong_type``,
   ``wrong_unit``, ``out_of_range``, ``future_ts``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from sensors.kinds.base import Kind

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
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
    """One SenML record (RFC 8428 §4): base name/time/unit, name, unit, value fields, time."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    bn: StrictStr | None = None
    bt: StrictInt | StrictFloat | None = None
    bu: StrictStr | None = None
    bver: StrictInt | None = None
    n: StrictStr | None = None
    u: StrictStr | None = None
    v: StrictInt | StrictFloat | None = None
    vb: StrictBool | None = None
    vs: StrictStr | None = None
    t: StrictInt | StrictFloat | None = None


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


def parse_reading(payload: bytes) -> tuple[int | None, dict, dict]:
    """Telemetry payload (OneMap JSON object or SenML array) → (ts ms | None, metrics, units).

    SenML: names are ``bn`` + ``n`` (the part after the last ':' or '/' of the resolved name is the
    metric), times ``bt`` + ``t`` in seconds (RFC 8428 §4.5.3), value from ``v`` or ``vb``.
    """
    head = payload.lstrip()[:1]
    try:
        if head == b"[":
            return _senml(SenMLPack.validate_json(payload))
        r = _ONEMAP(payload)
    except ValidationError as e:
        raise _structural(e) from None
    return r.ts, dict(r.metrics), dict(r.units or {})


def _senml(records: list[SenMLRecord]) -> tuple[int | None, dict, dict]:
    bn, bt, bu = "", 0.0, None
    metrics: dict = {}
    units: dict = {}
    ts: float | None = None
    for rec in records:
        bn = rec.bn if rec.bn is not None else bn
        bt = float(rec.bt) if rec.bt is not None else bt
        bu = rec.bu if rec.bu is not None else bu
        name = bn + (rec.n or "")
        metric = name.replace("/", ":").rsplit(":", 1)[-1]
        if not metric:
            raise Rejected("schema", "SenML record without a name")
        value = rec.vb if rec.vb is not None else rec.v
        if value is None:
            raise Rejected("schema", f"SenML record {metric!r} has no v/vb")
        metrics[metric] = value
        unit = rec.u or bu
        if unit is not None:
            units[metric] = unit
        t = bt + float(rec.t or 0.0)
        # RFC 8428: values < 2**28 are relative to now; OneMap requires absolute times.
        if t >= 2 ** 28:
            ts = max(ts or 0.0, t)
    return (int(ts * 1000) if ts is not None else None), metrics, units


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
