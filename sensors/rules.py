"""Threshold rules and alarm episodes (超标预警, S9).

Per-kind rules with demo-default thresholds are declared in ``sensors/kinds/<kind>.py``; a device
overrides them in its registry ``meta`` (``{"thresholds": {"<rule id>": [blue, yellow, orange,
red]}}``, e.g. water level around the device's own 警戒水位). Levels are blue/yellow/orange/red
(蓝/黄/橙/红). Hysteresis and a minimum duration keep a value that oscillates at a limit from
flapping; rate rules catch water rising fast; a combined rule raises one flood-risk episode when
heavy rain and fast-rising water meet in one village.

The state of every episode lives in Redis and is changed only by ``scripts/ingest.lua`` (atomic):
with several ingest workers, an episode is raised exactly once, and each raise → level → clear
is one entry in ``om:alarms`` (docs/architecture.md), which incidents consume (group ``intake``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import redis

from sensors import defaults, keys
from sensors.kinds import CAMERA, KINDS
from sensors.kinds.base import Kind, Rule
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
        "src": "video_ai" if rule.mode == "event" else "iot"})


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


def compile_registry(registry: DeviceRegistry) -> dict[str, DeviceEntry]:
    """Device id → DeviceEntry (rules with per-device overrides), for every sensor and camera."""
    out: dict[str, DeviceEntry] = {}
    kind_specs: dict[str, dict[str, tuple[RuleRef, ...]]] = {}
    for name, kind in KINDS.items():
        by_metric: dict[str, list[RuleRef]] = {}
        for r in kind.rules:
            by_metric.setdefault(r.metric, []).append(rule_ref(kind, r))
        kind_specs[name] = {m: tuple(v) for m, v in by_metric.items()}
    cols = ["id", "type", "lon", "lat", "cell_code", "town_code", "meta"]
    for row in registry.sensors[cols].to_dict("records"):
        kind = KINDS[row["type"]]
        specs = kind_specs[row["type"]]
        over = json.loads(row["meta"] or "{}").get("thresholds") or {}
        if over:
            by_metric = {}
            for r in kind.rules:
                by_metric.setdefault(r.metric, []).append(rule_ref(kind, r, over.get(r.id)))
            specs = {m: tuple(v) for m, v in by_metric.items()}
        out[row["id"]] = DeviceEntry(row["id"], row["type"], kind, _static(row, row["type"]), specs)
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
        self.combined = _dumps({"lv": defaults.COMBINED_LEVEL, "c": COMBINED_CATEGORY})

    def args(self, now_ms: int, batch: Batch) -> list[str]:
        return [*self.head, str(now_ms), self.combined, str(len(batch.specs)), *batch.specs,
                *batch.args]

    def run(self, now_ms: int, batch: Batch):  # noqa: ANN201
        """Run the script on ``batch`` now (one round trip); returns the alarm entries written."""
        return self.script(keys=[], args=self.args(now_ms, batch))


def num(v: float) -> str:
    """A reading value as text: integers without '.0', floats as Python repr (round-trips)."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))
