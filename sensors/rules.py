"""Threshold rules and alarm episodes (超标预警, S9).

Per-kind rules with demo-default thresholds are declared in ``sensors/kinds/<kind>.py``; a device
overrides them in its registry ``meta`` (``{"thresholds": {"<rule id>": [blue, yellow, orange,
red]}}``, e.g. water level around the device's own 警戒水位); a deployment overrides both in the
``[sensors]`` table of its TOML file (:class:`ThresholdOverrides`: per kind, per device). Levels are blue/yellow/orange/red
(蓝/黄/橙/红). Hysteresis and a minimum duration keep a value that oscillates at a limit from
flapping; rate rules catch water rising fast; a combined rule raises one flood-risk episode when
heavy rain and fast-rising water meet in one village.

The state of every episode lives in Redis and is changed only by ``scripts/ingest.lua`` (atomic):
with several ingest workers, an episode is raised exactly once, and each raise → level → clear
is one entry in ``om:alarms`` (docs/architecture.md), which incidents consume (group ``intake``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grid.contracts import Source
from sensors import defaults, keys
from sensors.kinds import CAMERA, KINDS
from sensors.kinds.base import LEVELS, Kind, Rule
from sensors.kinds.camera import AI_LABELS
from sensors.registry import DeviceRegistry

SCRIPTS = Path(__file__).resolve().parent / "scripts"
COMBINED_CATEGORY = "0301"   # 防汛排涝: heavy rain + rising water in one village


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def rule_spec(kind: Kind, rule: Rule, thresholds: list | tuple | None = None) -> str:
    """The compact JSON a rule is evaluated with in ``ingest.lua`` (see its header)."""
    metric = kind.metric_map[rule.metric]
    t = list(thresholds if thresholds is not None else rule.thresholds)
    if len(t) != 4:
        raise ValueError(f"{kind.name}.{rule.id}: need 4 thresholds (blue..red), got {t}")
    return _dumps({
        "r": rule.id, "m": rule.metric, "lb": rule.label, "u": rule.unit or metric.unit,
        "d": 1 if rule.direction == "above" else -1, "h": rule.hysteresis,
        "md": int(rule.min_duration_s * 1000), "t": t, "c": rule.category or kind.category,
        "mode": {"value": "v", "rate": "r", "event": "e"}[rule.mode],
        "w": int(rule.window_s * 1000), "tag": rule.tag or "",
        "src": Source.VIDEO_AI if rule.mode == "event" else Source.IOT})


# --- deployment overrides: the [sensors] table ------------------------------------------------

Level = Literal["blue", "yellow", "orange", "red"]
LevelValues = Annotated[list[float], Field(min_length=4, max_length=4)] | dict[Level, float]
"""Limits of one rule: all four ``[blue, yellow, orange, red]`` or some of them by name
(``{yellow = 10.2, red = 11.5}``: the others keep what they were)."""
_TABLE = dict[str, dict[str, LevelValues]]


class _SensorTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: _TABLE = Field(default_factory=dict, description="kind → rule id → levels.")
    devices: _TABLE = Field(default_factory=dict, description="device id → rule id → levels.")


class ThresholdConfigError(ValueError):
    """The ``[sensors]`` table is wrong: one line per problem, each naming its key
    (``sensors.thresholds.water_level.levle``), Chinese first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _levels(v: list[float] | dict[str, float]) -> dict[int, float]:
    if isinstance(v, Mapping):
        return {LEVELS.index(k): float(x) for k, x in v.items()}
    return {i: float(x) for i, x in enumerate(v)}


def _apply(base: list | tuple, over: dict[int, float] | None) -> list:
    t = list(base)
    for i, x in (over or {}).items():
        t[i] = x
    return t


def _ordered(rule: Rule, t: list) -> bool:
    """Limits must grow blue → red for an ``above`` rule and shrink for a ``below`` one."""
    v = [x for x in t if x is not None]
    pairs = list(zip(v, v[1:], strict=False))
    return all(a <= b for a, b in pairs) if rule.direction == "above" else all(a >= b for a, b in pairs)


@dataclass(frozen=True)
class ThresholdOverrides:
    """A deployment's thresholds (超标预警, S9), over the kinds' demo defaults.

    ``kinds``: kind → rule id → {level index: limit}; ``devices``: device id → rule id →
    {level index: limit}. A device's limits: the rule's default, then the kind override, then
    the device's own thresholds in the registry ``meta`` (e.g. a water level's 警戒水位), then
    the device override; each replaces only the levels it names.
    """

    kinds: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    devices: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], kinds: Mapping[str, Kind] | None = None) -> ThresholdOverrides:
        """Validate a ``[sensors]`` table: unknown keys, kinds, rules or levels and limits out of
        order are errors naming the key. Device ids and their rules are checked when the
        registry is compiled (:func:`compile_registry`), the first time the devices are known."""
        kinds = KINDS if kinds is None else kinds
        try:
            table = _SensorTable.model_validate(dict(d))
        except ValidationError as e:
            raise ThresholdConfigError(_problems(e, "sensors")) from None
        problems: list[str] = []
        out: dict[str, dict[str, dict[int, float]]] = {}
        for kname, rules in table.thresholds.items():
            kind = kinds.get(kname)
            if kind is None:
                problems.append(f"sensors.thresholds.{kname}: 未知的设备类型 / unknown device kind "
                                f"(known: {', '.join(sorted(kinds))})")
                continue
            by_id = {r.id: r for r in kind.rules}
            for rid, levels in rules.items():
                key = f"sensors.thresholds.{kname}.{rid}"
                rule = by_id.get(rid)
                if rule is None:
                    problems.append(f"{key}: 未知的规则 / unknown rule of {kname} "
                                    f"(known: {', '.join(by_id)})")
                    continue
                over = _levels(levels)
                if not _ordered(rule, _apply(rule.thresholds, over)):
                    problems.append(_order_problem(key, rule, _apply(rule.thresholds, over)))
                out.setdefault(kname, {})[rid] = over
        if problems:
            raise ThresholdConfigError(problems)
        return cls(out, {dev: {rid: _levels(v) for rid, v in rules.items()}
                         for dev, rules in table.devices.items()})

    def __bool__(self) -> bool:
        return bool(self.kinds or self.devices)

    def kind_thresholds(self, kind: Kind, rule: Rule) -> list:
        """The limits of ``rule`` for every device of ``kind`` without its own."""
        return _apply(rule.thresholds, self.kinds.get(kind.name, {}).get(rule.id))


def _order_problem(key: str, rule: Rule, t: list) -> str:
    way = "递增 / increasing" if rule.direction == "above" else "递减 / decreasing"
    return f"{key}: 阈值须由蓝到红{way.split(' / ')[0]} / limits must be {way.split(' / ')[1]} " \
           f"from blue to red, got {t}"


def _problems(error: ValidationError, root: str) -> list[str]:
    cn = {"extra_forbidden": "未知的配置项", "literal_error": "取值不在允许范围内"}
    out: list[str] = []
    for e in error.errors(include_url=False):
        # a union (list | table) reports each member; name the key, not pydantic's member tags
        loc = [str(p) for p in e["loc"] if p != "[key]" and not str(p).startswith(("list[", "dict["))]
        en = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        line = f"{'.'.join([root, *loc])}: {cn.get(e['type'], '取值无效')} / {en}"
        if line not in out:
            out.append(line)
    return out


@dataclass(frozen=True)
class RuleRef:
    """A rule of one device: its spec and a cheap test of whether a value is near its limits."""

    spec: str
    always: bool          # rate and event rules are always evaluated
    above: bool
    edge: float           # least severe limit widened by the hysteresis

    def hot(self, v: float) -> bool:
        return self.always or (v >= self.edge if self.above else v <= self.edge)


def rule_ref(kind: Kind, rule: Rule, thresholds: list | tuple | None = None) -> RuleRef:
    t = [x for x in (thresholds if thresholds is not None else rule.thresholds) if x is not None]
    above = rule.direction == "above"
    edge = (min(t) - rule.hysteresis) if above else (max(t) + rule.hysteresis)
    return RuleRef(rule_spec(kind, rule, thresholds), rule.mode != "value", above, edge)


@dataclass(frozen=True)
class DeviceEntry:
    """What the ingest worker needs about one device, precomputed."""

    id: str
    type: str
    kind: Kind
    static: str                                   # JSON: type, lon, lat, cell, town, village
    rules: dict[str, tuple[RuleRef, ...]] = field(default_factory=dict)   # metric → rules
    mobile: bool = False                          # a camera on a tour bus or boat (V29)


def _static(row: dict, device_type: str) -> str:
    cell = str(row["cell_code"])
    return _dumps({"type": device_type, "lon": f"{float(row['lon']):.6f}",
                   "lat": f"{float(row['lat']):.6f}", "cell": cell, "town": str(row["town_code"]),
                   "village": cell[:12]})


def compile_registry(registry: DeviceRegistry,
                     overrides: ThresholdOverrides | None = None) -> dict[str, DeviceEntry]:
    """Device id → DeviceEntry (rules with per-device thresholds), for every sensor and camera.

    ``overrides``: the deployment's ``[sensors]`` table; a device it names that is not in the
    registry, a rule its kind does not have, or limits out of order raise
    :class:`ThresholdConfigError` (so ``onemap ingest`` stops at start, naming the key)."""
    overrides = overrides or ThresholdOverrides()
    out: dict[str, DeviceEntry] = {}
    kind_specs: dict[str, dict[str, tuple[RuleRef, ...]]] = {}
    for name, kind in KINDS.items():
        by_metric: dict[str, list[RuleRef]] = {}
        for r in kind.rules:
            by_metric.setdefault(r.metric, []).append(rule_ref(kind, r, overrides.kind_thresholds(kind, r)))
        kind_specs[name] = {m: tuple(v) for m, v in by_metric.items()}
    problems: list[str] = []
    pending = dict(overrides.devices)
    cols = ["id", "type", "lon", "lat", "cell_code", "town_code", "meta"]
    for row in registry.sensors[cols].to_dict("records"):
        kind = KINDS[row["type"]]
        specs = kind_specs[row["type"]]
        own = json.loads(row["meta"] or "{}").get("thresholds") or {}
        dev_over = pending.pop(row["id"], None)
        if own or dev_over:
            by_metric = {}
            for r in kind.rules:
                t = _apply(own.get(r.id) or overrides.kind_thresholds(kind, r),
                           (dev_over or {}).get(r.id))
                if dev_over and r.id in dev_over and not _ordered(r, t):
                    problems.append(_order_problem(f"sensors.devices.{row['id']}.{r.id}", r, t))
                by_metric.setdefault(r.metric, []).append(rule_ref(kind, r, t))
            specs = {m: tuple(v) for m, v in by_metric.items()}
            for rid in set(dev_over or ()) - {r.id for r in kind.rules}:
                problems.append(f"sensors.devices.{row['id']}.{rid}: 未知的规则 / unknown rule of "
                                f"{kind.name} (known: {', '.join(r.id for r in kind.rules)})")
        out[row["id"]] = DeviceEntry(row["id"], row["type"], kind, _static(row, row["type"]), specs)
    problems += [f"sensors.devices.{d}: 登记簿中没有该设备 / no such sensor in the registry"
                 for d in pending]
    if problems:
        raise ThresholdConfigError(problems)
    ai = {lb: rule_ref(CAMERA, r) for lb, r in zip(AI_LABELS, CAMERA.rules, strict=True)}
    cols = ["id", "lon", "lat", "cell_code", "town_code", "mobile"]
    for row in registry.cameras[cols].to_dict("records"):
        out[row["id"]] = DeviceEntry(row["id"], "camera", CAMERA, _static(row, "camera"),
                                     {f"ai:{lb}": (s,) for lb, s in ai.items()},
                                     mobile=bool(row["mobile"]))
    return out


class Batch:
    """The arguments of one ``ingest.lua`` call: the rule specs used (each sent once) and one
    record per reading, detection or status (see the script's header)."""

    __slots__ = ("args", "specs")

    def __init__(self) -> None:
        self.specs: dict[str, int] = {}
        self.args: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.args)

    def _idx(self, spec: str) -> str:
        i = self.specs.get(spec)
        if i is None:
            i = self.specs[spec] = len(self.specs) + 1
        return str(i)

    def reading(self, dev: DeviceEntry, ts: int, metrics_json: str, values: dict[str, float]) -> None:
        rules = dev.rules
        parts: list[str] = []
        hot = False
        for m, v in values.items():
            refs = rules.get(m)
            if refs:
                vs = num(v)
                for ref in refs:
                    parts.append(self._idx(ref.spec))
                    parts.append(vs)
                    if not hot and ref.hot(v):
                        hot = True
        self.args += (f"{dev.id}|{ts}|{'1' if hot else '0'}|{metrics_json}|{'|'.join(parts)}",
                      dev.static if hot else "", "")

    def detection(self, dev: DeviceEntry, ts: int, label: str, confidence: float,
                  snapshot: str) -> bool:
        """A video-AI detection; False if the label is not known."""
        refs = dev.rules.get(f"ai:{label}")
        if not refs:
            return False
        self.args += (f"{dev.id}|{ts}|1||{self._idx(refs[0].spec)}|{num(confidence)}",
                      dev.static, snapshot)
        return True

    def heard(self, dev: DeviceEntry, now_ms: int) -> None:
        """A sign of life without readings (status ``online``): seen, state, fault cleared."""
        self.args += (f"{dev.id}|{now_ms}|0||", "", "")


class RuleEngine:
    """Runs ``ingest.lua`` for a batch: history, last value, device state, rules, alarms."""

    def __init__(self, r: redis.Redis, history_maxlen: int = defaults.HISTORY_MAXLEN,
                 alarms_maxlen: int = defaults.ALARMS_MAXLEN) -> None:
        self.redis = r
        self.script = r.register_script((SCRIPTS / "ingest.lua").read_text(encoding="utf-8"))
        self.head = [_dumps(keys.script_keys()), str(history_maxlen), str(alarms_maxlen)]
        self.route = keys.DEV_STATE   # KEYS[1]: names the city's hash slot (Redis Cluster routes on it)
        self.combined = _dumps({"lv": defaults.COMBINED_LEVEL, "c": COMBINED_CATEGORY})

    def args(self, now_ms: int, batch: Batch) -> list[str]:
        return [*self.head, str(now_ms), self.combined, str(len(batch.specs)), *batch.specs,
                *batch.args]

    def run(self, now_ms: int, batch: Batch):  # noqa: ANN201
        """Run the script on ``batch`` now (one round trip); returns the alarm entries written."""
        return self.script(keys=[self.route], args=self.args(now_ms, batch))


def num(v: float) -> str:
    """A reading value as text: integers without '.0', floats as Python repr (round-trips)."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))
