"""预案 (emergency plans, X23/X24, issue 16): one plan per hazard, response levels IV → I, each
with its trigger conditions, the command structure (指挥部, 成员单位), each member unit's task
checklist with deadlines and the resources the level needs.

A plan is a YAML file (docs/plans.md). ``parse_plan`` validates it (pydantic v2 for the shape,
then the rules a schema cannot say: levels ordered IV → I, units that are the city's centers and
the plan's members, known categories and situation families) and refuses it with one line per
problem, each naming its field: ``levels[2].tasks[0].deadline_min: 应为正整数``. ``PlanBook``
keeps the plans in Redis, versioned: every import or edit that changes a plan stores a new
version with who, when and what changed (``keys.plan_version``, ``keys.plan_log``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import redis
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grid import centers as cc
from grid.categories import CATEGORIES
from grid.model import City
from incidents import audit, keys
from incidents.actor import Actor
from incidents.defaults import SEVERITIES
from incidents.policy import Policy

RESPONSE_LEVELS: tuple[str, ...] = ("IV", "III", "II", "I")
"""Response levels from the lowest to the highest (IV 一般 … I 特别重大)."""
LEVEL_NAMES: dict[str, str] = dict(zip(RESPONSE_LEVELS, SEVERITIES, strict=True))
"""IV → 一般, III → 较大, II → 重大, I → 特别重大 (the severities' words, incidents.defaults)."""
HAZARDS: tuple[str, ...] = ("防汛防台", "森林防火", "地质灾害", "危化品", "城市内涝", "大面积停电",
                            "地震", "公共卫生", "安全生产", "其他")
"""The hazards a plan is for (灾种)."""
ALARM_LEVELS = ("blue", "yellow", "orange", "red")   # grid.contracts.LEVELS, as a Literal
TOWN_UNIT = "TOWN"
"""A member unit that stands for the response's own town (属地镇街), resolved on activation."""
DEADLINE_MAX_MIN = 30 * 24 * 60
"""A task's deadline is at most 30 days (as a 上情下达 task's: a longer one is a typo)."""
DEMO_DIR = Path(__file__).with_name("demo_plans")
"""The demo plans of 高州市 (each ``demo: true``)."""

PositiveInt = Annotated[int, Field(gt=0, strict=True)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
_STRICT = ConfigDict(extra="forbid", frozen=True)


class Trigger(BaseModel):
    """触发条件: every condition given must hold (and within a list, any item)."""

    model_config = _STRICT
    alarm_rules: list[Text] = Field(default_factory=list,
                                    description="告警规则: <设备类型> or <设备类型>.<指标>")
    alarm_level: Literal[ALARM_LEVELS] | None = Field(None, description="最低告警等级")  # type: ignore[valid-type]
    categories: list[Annotated[str, Field(strict=True, min_length=2)]] = Field(
        default_factory=list, description="事件类别编码（前缀）")
    families: list[Text] = Field(default_factory=list, description="态势类别 (flood, fire, outage…)")
    min_severity: Literal[SEVERITIES] | None = Field(None, description="最低事件等级")  # type: ignore[valid-type]
    min_sources: PositiveInt | None = Field(None, description="态势规模: 至少几条来源")


class TaskItem(BaseModel):
    """One task of a member unit's checklist (任务清单)."""

    model_config = _STRICT
    title: Text
    deadline_min: Annotated[int, Field(gt=0, le=DEADLINE_MAX_MIN, strict=True)]
    detail: str = ""


class UnitTasks(BaseModel):
    """A member unit's checklist at one level."""

    model_config = _STRICT
    unit: Text
    items: list[TaskItem] = Field(min_length=1)


class ResourceNeed(BaseModel):
    """A resource a level needs (应急资源: 类型 + 数量)."""

    model_config = _STRICT
    type: Text
    quantity: PositiveInt
    unit: str = ""


class PlanLevel(BaseModel):
    """One response level (响应级别) of a plan."""

    model_config = _STRICT
    level: Literal[RESPONSE_LEVELS]  # type: ignore[valid-type]
    name: str = ""
    triggers: list[Trigger] = Field(default_factory=list)
    tasks: list[UnitTasks] = Field(min_length=1)
    resources: list[ResourceNeed] = Field(default_factory=list)

    @property
    def cn(self) -> str:
        return f"{self.level}级（{LEVEL_NAMES[self.level]}）"


class Member(BaseModel):
    """A member unit (成员单位): a department (D…) or town (T…) center, or ``TOWN``."""

    model_config = _STRICT
    unit: Text
    duty: str = ""


class Headquarters(BaseModel):
    """指挥部: its name, its commander's post, its office (a member unit)."""

    model_config = _STRICT
    name: Text
    commander: Text
    office: Text


class Plan(BaseModel):
    """One emergency plan (预案)."""

    model_config = _STRICT
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]
    name: Text
    hazard: Literal[HAZARDS]  # type: ignore[valid-type]
    demo: bool = False
    category: Annotated[str, Field(strict=True)] = "03"
    town_activation: bool = True
    emergency_hours: Annotated[int, Field(gt=0, le=168, strict=True)] = 24
    headquarters: Headquarters
    members: list[Member] = Field(min_length=1)
    levels: list[PlanLevel] = Field(min_length=1)

    def level(self, level: str) -> PlanLevel | None:
        return next((lv for lv in self.levels if lv.level == level), None)


class PlanError(ValueError):
    """预案无效: one line per problem, each naming its field (Chinese first)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("预案无效 (invalid plan): " + "; ".join(problems))


_CN = {
    "missing": "缺少此项", "extra_forbidden": "未知的字段", "string_too_short": "不能为空",
    "string_too_long": "过长", "string_type": "应为文本（编码请加引号，如 \"0301\"）",
    "bool_type": "应为 true/false", "bool_parsing": "应为 true/false", "list_type": "应为列表",
    "model_type": "应为映射（键: 值）", "dict_type": "应为映射（键: 值）",
    "string_pattern_mismatch": "格式不符（小写字母、数字和 -，2–40 个字符）",
}


def _where(loc: Iterable[Any]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(plan)"


def _problem(e: Mapping[str, Any]) -> str:
    t, ctx = e["type"], e.get("ctx") or {}
    if t in ("int_type", "int_parsing", "int_from_float") or (t == "greater_than" and ctx.get("gt") == 0):
        cn = "应为正整数"
    elif t == "less_than_equal":
        cn = f"不能大于 {ctx.get('le')}"
    elif t == "literal_error":
        cn = f"取值应为 {ctx.get('expected', '')}"
    elif t == "too_short":
        cn = f"至少须有 {ctx.get('min_length', 1)} 项"
    else:
        cn = _CN.get(t, "取值无效")
    en = "unknown field" if t == "extra_forbidden" else e["msg"]
    return f"{_where(e['loc'])}: {cn} / {en}"


@dataclass(frozen=True)
class Known:
    """What a plan's names are checked against: the city (its centers), the situation
    families (``IncidentConfig.situations``) and, when the caller knows them, the alarm rules
    (``<kind>`` / ``<kind>.<metric>``: the app passes the sensor kinds; incidents never import
    sensors)."""

    city: City
    families: frozenset[str] = frozenset()
    alarm_rules: frozenset[str] | None = None


def parse_plan(data: Mapping[str, Any] | str, known: Known) -> Plan:
    """A plan from its YAML text (or the loaded mapping), validated; ``PlanError`` otherwise."""
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"第 {mark.line + 1} 行 " if mark is not None else ""
            raise PlanError([f"(file): YAML 格式错误 {at}/ YAML syntax error: "
                             f"{getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, Mapping):
        raise PlanError(["(file): 预案应为一个映射（键: 值） / a plan is a mapping"])
    try:
        plan = Plan.model_validate(dict(data))
    except ValidationError as exc:
        problems: list[str] = []
        for e in exc.errors(include_url=False):
            line = _problem(e)
            if line not in problems:
                problems.append(line)
        raise PlanError(problems) from None
    problems = _rules(plan, known)
    if problems:
        raise PlanError(problems)
    return plan


def _unit_problem(code: str, city: City) -> str | None:
    if code == TOWN_UNIT:
        return None
    kind = cc.kind_of(code)
    if kind not in ("town", "dept"):
        return f"{code} 不是部门或镇街中心编码（D…、T…、TOWN） / not a department or town center"
    if code not in city.centers:
        return f"{code} 不是本市的中心 / no such center in {city.name}"
    return None


def _rules(plan: Plan, known: Known) -> list[str]:
    """What the schema cannot say, each problem naming its field."""
    out: list[str] = []
    city = known.city
    if plan.category not in CATEGORIES:
        out.append(f"category: 未知的事件类别 {plan.category} / unknown category")
    members: set[str] = set()
    for i, m in enumerate(plan.members):
        why = _unit_problem(m.unit, city)
        if why:
            out.append(f"members[{i}].unit: {why}")
        elif m.unit in members:
            out.append(f"members[{i}].unit: {m.unit} 重复 / listed twice")
        members.add(m.unit)
    if plan.headquarters.office not in members:
        out.append(f"headquarters.office: {plan.headquarters.office} 不是本预案的成员单位 "
                   "/ not a member unit")
    seen: list[int] = []
    for i, lv in enumerate(plan.levels):
        rank = RESPONSE_LEVELS.index(lv.level)
        if seen and rank <= seen[-1]:
            out.append(f"levels[{i}].level: 级别须由低到高（IV→I）且不重复 / levels must rise "
                       "IV → I, each once")
        seen.append(rank)
        if lv.name and lv.name != LEVEL_NAMES[lv.level]:
            out.append(f"levels[{i}].name: {lv.level} 级应为「{LEVEL_NAMES[lv.level]}」 "
                       f"/ level {lv.level} is {LEVEL_NAMES[lv.level]}")
        for j, t in enumerate(lv.triggers):
            at = f"levels[{i}].triggers[{j}]"
            if t == Trigger():
                out.append(f"{at}: 至少须有一个条件 / a trigger needs a condition")
            for k, c in enumerate(t.categories):
                if c not in CATEGORIES:
                    out.append(f"{at}.categories[{k}]: 未知的事件类别 {c} / unknown category")
            for k, f in enumerate(t.families):
                if known.families and f not in known.families:
                    out.append(f"{at}.families[{k}]: 未知的态势类别 {f}（可选: "
                               f"{', '.join(sorted(known.families))}） / unknown situation family")
            for k, r in enumerate(t.alarm_rules):
                if known.alarm_rules is not None and r not in known.alarm_rules:
                    out.append(f"{at}.alarm_rules[{k}]: 未知的告警规则 {r} / unknown alarm rule")
        units: set[str] = set()
        for j, ut in enumerate(lv.tasks):
            at = f"levels[{i}].tasks[{j}].unit"
            if ut.unit not in members:
                out.append(f"{at}: {ut.unit} 不是本预案的成员单位 / not a member unit")
            elif ut.unit in units:
                out.append(f"{at}: {ut.unit} 在本级重复 / listed twice at this level")
            units.add(ut.unit)
    return out


# --- the versioned store ----------------------------------------------------------------------
@dataclass(frozen=True)
class StoredPlan:
    """A plan as stored: the plan, its version, who stored it when, what changed."""

    plan: Plan
    version: int
    by: str
    ts: float
    note: str = ""
    changes: tuple[str, ...] = ()

    def summary(self) -> dict:
        p = self.plan
        return {"id": p.id, "name": p.name, "hazard": p.hazard, "demo": p.demo,
                "version": self.version, "by": self.by, "ts": self.ts,
                "levels": [lv.level for lv in p.levels], "members": [m.unit for m in p.members]}


def changes(old: Any, new: Any, at: str = "", limit: int = 30) -> list[str]:
    """The fields that differ between two plan documents (``levels[0].tasks[1].deadline_min``)."""
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if len(out) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in dict.fromkeys([*a, *b]):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{path}[{i}]")
        else:
            out.append(path or "(plan)")

    walk(old, new, at)
    return out


class PlanBook:
    """The city's plans in Redis, versioned (who changed what, when)."""

    def __init__(self, r: redis.Redis, known: Known, policy: Policy,
                 clock: Callable[[], float]) -> None:
        self.r, self.known, self.policy, self.clock = r, known, policy, clock

    def put(self, text_or_data: Mapping[str, Any] | str, actor: Actor, note: str = "",
            *, check: bool = True) -> tuple[StoredPlan, bool]:
        """导入/编辑预案: validate and store a plan as its next version (city commander only,
        ``Policy.check_response``). An unchanged plan stores nothing: (current, False)."""
        if check:
            self.policy.check_response(actor, "import_plan")
        plan = parse_plan(text_or_data, self.known)
        doc = plan.model_dump(mode="json")
        while True:
            with self.r.pipeline(transaction=True) as p:
                try:
                    p.watch(keys.PLANS)
                    cur = int(p.hget(keys.PLANS, plan.id) or 0)
                    old = json.loads(p.get(keys.plan_version(plan.id, cur)) or "null") if cur else None
                    if old is not None and old["plan"] == doc:
                        p.unwatch()
                        return self._stored(old, cur), False
                    diff = changes(old["plan"] if old else {}, doc) if old else ["(new)"]
                    rec = {"plan": doc, "by": actor.user_id, "name": actor.name, "role": actor.role,
                           "ts": self.clock(), "note": note, "changes": diff}
                    p.multi()
                    p.hset(keys.PLANS, plan.id, cur + 1)
                    p.set(keys.plan_version(plan.id, cur + 1), json.dumps(rec, ensure_ascii=False))
                    p.xadd(keys.plan_log(plan.id), {"e": json.dumps(
                        {"ts": rec["ts"], "actor": actor.user_id, "name": actor.name,
                         "role": actor.role, "center": actor.center, "action": "import_plan",
                         "version": cur + 1, "reason": note, "changes": diff},
                        ensure_ascii=False)})
                    p.execute()
                    return self._stored(rec, cur + 1), True
                except redis.WatchError:
                    continue

    def _stored(self, rec: dict, version: int) -> StoredPlan:
        return StoredPlan(Plan.model_validate(rec["plan"]), version, rec.get("by", ""),
                          float(rec.get("ts") or 0), rec.get("note", ""), tuple(rec.get("changes") or ()))

    def get(self, plan_id: str, version: int | None = None) -> StoredPlan | None:
        """A plan's current version (or ``version``); None when there is none."""
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,39}", plan_id or ""):
            return None
        n = version or int(self.r.hget(keys.PLANS, plan_id) or 0)
        raw = self.r.get(keys.plan_version(plan_id, n)) if n else None
        return self._stored(json.loads(raw), n) if raw else None

    def all(self) -> list[StoredPlan]:
        """Every plan's current version, by id."""
        cur = self.r.hgetall(keys.PLANS)
        out = [self.get(pid, int(n)) for pid, n in sorted(cur.items())]
        return [s for s in out if s is not None]

    def history(self, plan_id: str) -> list[dict]:
        """A plan's versions, newest first (who, when, what changed)."""
        if self.get(plan_id) is None:
            return []
        return [audit.entry(i, f) for i, f in self.r.xrevrange(keys.plan_log(plan_id))]

    def load_demo(self, actor: Actor, directory: Path = DEMO_DIR) -> list[StoredPlan]:
        """Import the demo plans (idempotent: unchanged files store nothing). The composition root
        calls this for the demo city with its own system actor (no policy check: a deployment's
        own files, not a person's import)."""
        return [self.put(f.read_text(encoding="utf-8"), actor, "演示预案 (demo)", check=False)[0]
                for f in sorted(directory.glob("*.yaml"))]


def read_demo(directory: Path = DEMO_DIR) -> dict[str, str]:
    """The demo plan files' text by file name."""
    return {f.name: f.read_text(encoding="utf-8") for f in sorted(directory.glob("*.yaml"))}


__all__ = ["DEMO_DIR", "HAZARDS", "LEVEL_NAMES", "RESPONSE_LEVELS", "TOWN_UNIT", "Known", "Plan",
           "PlanBook", "PlanError", "PlanLevel", "StoredPlan", "Trigger", "changes", "parse_plan",
           "read_demo"]
