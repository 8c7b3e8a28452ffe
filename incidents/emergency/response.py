"""应急响应 (emergency response, issue 16): from a situation to a SUGGESTED plan level, then a
person's activation (启动响应), the member units' tasks, the response board, level changes,
the city's take-over and the end (终止响应) — and the same as a rehearsal (推演, X3).

- **Suggestion** (E30: a machine suggests, a person confirms): ``Signal.of_incident`` reads a
  case or situation (its category, family, severity, number of sources, highest alarm level);
  ``suggest`` answers, per plan, the HIGHEST level one of whose triggers holds. Nothing starts.
- **Activation** (T5, X19): ``Responses.activate`` by the city commander (any territory, the
  whole city) or a town operator (level IV, its own territory): who may is
  ``Policy.check_response``. The response is stored (``keys.response``), audited
  (``keys.response_log``) and its level's tasks are given: one 上情下达 case per member unit and
  checklist item (``IncidentService.assign_task``), deadline from the plan. ``dispatch_tasks`` is
  idempotent (the case's idempotency key is response id + level + unit + item, and the board
  entry is set only if absent), so several dispatch workers running it at once create each
  task once. When the city commands, the response's area is switched into 应急模式
  (``EmergencyMode.emergency_on``: new reports there route to the city with priority).
- **Board** (响应看板): every unit's tasks, 已签收 (acknowledged: its handler started it), 已完成
  (handled or closed), 已超时 (past its deadline, not done), and the level's resources needed.
- **Level up/down, take-over, end**: each an audit entry (who, when, before/after, why; the end
  with its summary).
- **Rehearsal** (推演, X3): ``exercise=True`` keeps everything under ``om:inc:ex:`` (its own ids
  ``X…``), its tasks are board entries only and never cases, it never touches 应急模式, and its
  log replays the exercise afterwards (``replay``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from shapely.geometry import mapping
from shapely.ops import unary_union

from grid import centers as cc
from grid.contracts import LEVELS as ALARM_LEVELS
from grid.contracts import SEVERITY_OF_LEVEL
from grid.model import CITY_CENTER
from incidents import audit, keys, kpi, scope, situations
from incidents.actor import SYSTEM, Actor
from incidents.defaults import SEVERITIES
from incidents.emergency.dispatch import committed as committed_resources
from incidents.emergency.plans import (
    LEVEL_NAMES,
    RESPONSE_LEVELS,
    TOWN_UNIT,
    PlanBook,
    PlanLevel,
    StoredPlan,
    Trigger,
)
from incidents.emergency_mode import EMERGENCY_MAX_S
from incidents.errors import Forbidden, InvalidTransition, NotFound
from incidents.incident import Incident
from incidents.service import IncidentService
from incidents.vocab import State, TaskState

_LEVEL_OF_SEVERITY = {v: k for k, v in SEVERITY_OF_LEVEL.items()}


# --- suggestion --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signal:
    """What a trigger is checked against: a case, a situation or one alarm."""

    category: str = ""
    family: str = ""
    severity: str = SEVERITIES[0]
    sources: int = 1
    alarm_level: str = ""                       # the highest alarm level among its alarms
    rules: frozenset[str] = frozenset()         # "<kind>" and "<kind>.<metric>" of its alarms
    town: str = ""
    incident: str = ""

    @classmethod
    def of_incident(cls, inc: Incident, kind_of: Callable[[str], str | None] | None = None) -> Signal:
        """A case or situation (态势): its sources are the situation's size; ``kind_of`` (device
        id → sensor kind, the app's registry) names the kinds of its alarms' devices."""
        machine = [s for s in inc.sources if situations.is_machine(str(s.get("channel", "")))]
        levels = [_LEVEL_OF_SEVERITY.get(str(s.get("severity", "")), "") for s in machine]
        levels = [lv for lv in levels if lv]
        top = max(levels, key=ALARM_LEVELS.index) if levels else ""
        kinds = {kind_of(str(s.get("ref", ""))) for s in machine if s.get("ref")} if kind_of else set()
        return cls(inc.category, inc.situation, inc.severity, max(1, len(inc.sources)), top,
                   frozenset(k for k in kinds if k), town=inc.town_code, incident=inc.id)

    @classmethod
    def of_alarm(cls, fields: dict) -> Signal:
        """One ``om:alarms`` entry (grid.contracts): its kind, metric and level."""
        kind, metric = str(fields.get("device_type", "")), str(fields.get("metric", ""))
        level = str(fields.get("level", ""))
        return cls(str(fields.get("category", "")), "", SEVERITY_OF_LEVEL.get(level, SEVERITIES[0]),
                   1, level if level in ALARM_LEVELS else "",
                   frozenset({kind, f"{kind}.{metric}"} if kind else ()),
                   town=str(fields.get("town_code", "")))


def holds(t: Trigger, s: Signal) -> list[str] | None:
    """The reasons a trigger holds for a signal (one per condition), or None when it does not."""
    why: list[str] = []
    if t.categories:
        if not any(s.category.startswith(c) for c in t.categories):
            return None
        why.append(f"类别 {s.category}")
    if t.families:
        if s.family not in t.families:
            return None
        why.append(f"态势 {s.family}")
    if t.min_severity:
        if SEVERITIES.index(s.severity) < SEVERITIES.index(t.min_severity):
            return None
        why.append(f"等级 {s.severity} ≥ {t.min_severity}")
    if t.min_sources:
        if s.sources < t.min_sources:
            return None
        why.append(f"来源 {s.sources} ≥ {t.min_sources}")
    if t.alarm_rules:
        if not s.rules & set(t.alarm_rules):
            return None
        why.append("告警规则 " + "、".join(sorted(s.rules & set(t.alarm_rules))))
    if t.alarm_level:
        if not s.alarm_level or ALARM_LEVELS.index(s.alarm_level) < ALARM_LEVELS.index(t.alarm_level):
            return None
        why.append(f"告警等级 {s.alarm_level} ≥ {t.alarm_level}")
    return why


def suggest_level(plan: StoredPlan, s: Signal) -> dict | None:
    """The highest level of ``plan`` one of whose triggers holds for ``s`` (with why), or None."""
    for lv in reversed(plan.plan.levels):
        for t in lv.triggers:
            why = holds(t, s)
            if why is not None:
                p = plan.plan
                return {"plan": p.id, "plan_name": p.name, "hazard": p.hazard, "version": plan.version,
                        "level": lv.level, "level_name": LEVEL_NAMES[lv.level], "reasons": why,
                        "town": s.town, "incident": s.incident, "demo": p.demo,
                        "town_activation": p.town_activation}
    return None


def suggest(plans: Iterable[StoredPlan], s: Signal) -> list[dict]:
    """建议启动: every plan whose trigger holds, at its highest such level (highest first). A
    suggestion only (E30): a person activates."""
    out = [x for x in (suggest_level(p, s) for p in plans) if x]
    return sorted(out, key=lambda x: -RESPONSE_LEVELS.index(x["level"]))


# --- responses ---------------------------------------------------------------------------------
ACTIVE, ENDED = "active", "ended"


@dataclass
class Responses:
    """Activation, tasks, board, level changes, take-over and end of responses (启动/调级/接管/
    终止). ``svc`` gives the tasks (上情下达) and switches 应急模式; ``plans`` holds the plans."""

    svc: IncidentService
    plans: PlanBook
    clock: Callable[[], float] | None = None
    kind_of: Callable[[str], str | None] | None = None
    """device id → its sensor kind (the app passes its registry's): alarm-rule triggers on cases."""

    def __post_init__(self) -> None:
        self.r: redis.Redis = self.svc.r
        self.city = self.svc.city
        if self.clock is None:
            self.clock = self.svc.clock

    # --- asking ----------------------------------------------------------------------------
    def _check(self, actor: Actor, action: str, **kw: object) -> None:
        """The policy's answer; a refusal is audited (as every refusal of the service)."""
        try:
            self.svc.policy.check_response(actor, action, **kw)  # type: ignore[arg-type]
        except Forbidden as exc:
            self.svc.store.audit_denied(actor, action, exc.reason, None, self.clock())
            raise

    def suggestions(self, actor: Actor, incident_id: str) -> list[dict]:
        """建议启动 for a case or situation the actor may read (scope: ``svc.get``)."""
        inc = self.svc.get(incident_id, actor)
        return suggest(self.plans.all(), Signal.of_incident(inc, self.kind_of))

    def _town_ok(self, town: str | None) -> str | None:
        if not town:
            return None
        if f"T{town}" not in self.city.centers:
            raise ValueError(f"未知的镇街 {town!r}")
        return town

    def activate(self, actor: Actor, plan_id: str, level: str, *, town: str | None = None,
                 exercise: bool = False, reason: str = "", incident: str = "",
                 idempotency_key: str | None = None, dispatch: bool = True) -> dict:
        """启动响应 (or 推演 with ``exercise``): store the response, audit it, give its level's
        tasks (``dispatch=False``: leave that to the dispatch workers, ``dispatch_tasks``), and
        (a real one the city commands) switch its area into 应急模式."""
        now = self.clock()
        town = self._town_ok(town)
        stored = self.plans.get(plan_id)
        if stored is None:
            raise NotFound(plan_id, "plan")
        plan = stored.plan
        if plan.level(level) is None:
            raise ValueError(f"预案 {plan_id} 没有 {level} 级响应 (the plan has no level {level}) "
                             f"(可选: {', '.join(lv.level for lv in plan.levels)})")
        self._check(actor, "activate", town=town, level=level)
        if not actor.is_city and not plan.town_activation:     # the plan's own word (预案规定)
            why = f"预案「{plan.name}」由市指挥部统一启动 (this plan is activated by the city)"
            self.svc.store.audit_denied(actor, "activate", why, None, now)
            raise Forbidden("activate", actor, why)
        idem = keys.idem(f"resp:{int(exercise)}:{actor.user_id}:{idempotency_key}") if idempotency_key else ""
        if idem and (done := self.r.get(idem)):
            return self.get(actor, done, exercise=exercise)
        seq = int(self.r.incr(keys.response_seq(exercise)))
        aid = f"{'X' if exercise else 'R'}{kpi.day_of(now)}{seq:04d}"
        issuer = _actor_fields(actor)
        h = {"id": aid, "plan": plan.id, "plan_version": stored.version, "plan_name": plan.name,
             "hazard": plan.hazard, "level": level, "level_since": repr(now), "town": town or "",
             "owner": actor.center if town and not actor.is_city else CITY_CENTER,
             "by": actor.user_id, "ts": repr(now), "state": ACTIVE, "exercise": int(exercise),
             "reason": reason, "incident": incident, "emergency": 0,
             f"issuer:{level}": json.dumps(issuer, ensure_ascii=False)}
        with self.r.pipeline(transaction=True) as p:
            if idem:
                p.set(idem, aid, nx=True, ex=86400)
            p.hset(keys.response(aid, exercise), mapping=h)
            p.zadd(keys.responses_active(exercise), {aid: now})
            p.zadd(keys.responses_all(exercise), {aid: now})
            p.xadd(keys.response_log(aid, exercise), _entry(actor, "activate", now, reason, {},
                                                            {"level": level, "town": town or "",
                                                             "owner": h["owner"]}))
            res = p.execute()
        if idem and not res[0]:       # another request with the same key won: answer its response
            self._discard(aid, exercise)
            return self.get(actor, self.r.get(idem) or aid, exercise=exercise)
        if not exercise and h["owner"] == CITY_CENTER:
            self._emergency_on(actor, aid, town, plan.emergency_hours, now)
        if dispatch:
            self.dispatch_tasks(aid, exercise=exercise)
        return self.get(actor, aid, exercise=exercise)

    def _discard(self, aid: str, exercise: bool) -> None:
        self.r.delete(keys.response(aid, exercise), keys.response_log(aid, exercise))
        self.r.zrem(keys.responses_active(exercise), aid)
        self.r.zrem(keys.responses_all(exercise), aid)

    def _area_geom(self, town: str | None):  # noqa: ANN202 (a shapely geometry)
        """The response's area: its town, or the whole city."""
        if town:
            t = self.city.towns
            return t.loc[t["code"].astype(str) == town].geometry.iloc[0]
        return self.city.boundary

    def _area_name(self, town: str | None) -> str:
        """The area as people read it: the town's name (东岸镇), not its code, or 全市."""
        if not town:
            return "全市"
        t = self.city.towns
        hit = t.loc[t["code"].astype(str) == town, "name"]
        return str(hit.iloc[0]) if len(hit) else f"镇街 {town}"

    def _emergency_on(self, actor: Actor, aid: str, town: str | None, hours: int, now: float,
                      keep: Iterable[str] = ()) -> None:
        """应急模式 for the response's area (the city commands it: X19 集中统一指挥). Emergency
        mode is one area: the areas of the other responses it serves (named in its reason) are
        kept in it, so one response never switches another's off."""
        geoms = [self._area_geom(town)] if aid else []
        parts = [f"应急响应 {aid}（{self._area_name(town)}）"] if aid else []
        until = now + hours * 3600.0
        cur = self.svc.emergency_state()
        for other in keep if not aid else _served(cur):
            h = self.r.hgetall(keys.response(other))
            if other == aid or h.get("state") != ACTIVE:
                continue
            geoms.append(self._area_geom(h.get("town") or None))
            parts.append(f"应急响应 {other}（{self._area_name(h.get('town') or None)}）")
            if cur:
                until = max(until, min(float(cur["until"]), now + EMERGENCY_MAX_S))
        area = {"type": "Feature", "properties": {}, "geometry": mapping(unary_union(geoms))}
        self.svc.emergency_on(area, until, actor, reason="；".join(parts))
        if aid:
            self.r.hset(keys.response(aid), "emergency", 1)

    # --- the tasks ---------------------------------------------------------------------------
    def _units(self, lv: PlanLevel, town: str) -> list[tuple[str, int, str, int, str]]:
        """(unit, item n, title, deadline min, detail) of a level, with TOWN resolved to the
        response's town; a town-scoped response tasks no other town (its territory only)."""
        out = []
        for ut in lv.tasks:
            unit = ut.unit
            if unit == TOWN_UNIT:
                if not town:
                    continue          # a city-wide response: the towns are named in the plan
                unit = f"T{town}"
            if town and cc.is_town(unit) and unit != f"T{town}":
                continue
            out += [(unit, n, it.title, it.deadline_min, it.detail) for n, it in enumerate(ut.items, 1)]
        return out

    def dispatch_tasks(self, aid: str, exercise: bool = False) -> int:
        """上情下达: give the current level's tasks of a response to its member units, each once
        (safe to run from several workers at once, and again after a crash). Returns how many
        board entries this call created."""
        h = self.r.hgetall(keys.response(aid, exercise))
        if not h:
            raise NotFound(aid, "response")
        if h.get("state") != ACTIVE:
            return 0
        stored = self.plans.get(h["plan"], int(h["plan_version"]))
        if stored is None:
            raise NotFound(h["plan"], "plan")
        level = h["level"]
        lv = stored.plan.level(level)
        assert lv is not None
        since = float(h.get("level_since") or h["ts"])
        issuer = _actor_of(json.loads(h.get(f"issuer:{level}") or "{}")) or SYSTEM
        tkey = keys.response_tasks(aid, exercise)
        made = 0
        for unit, n, title, minutes, detail in self._units(lv, h.get("town", "")):
            key = f"{level}|{unit}|{n}"
            if self.r.hexists(tkey, key):
                continue
            entry = {"key": key, "unit": unit, "level": level, "n": n, "title": title,
                     "detail": detail, "deadline_ts": since + minutes * 60.0, "created_ts": self.clock(),
                     "exercise": int(exercise)}
            if exercise:
                entry["state"] = TaskState.DISPATCHED.value
            else:
                entry["case"] = self._give(aid, h, stored, issuer, unit, key, title, detail, minutes)
            made += int(self.r.hsetnx(tkey, key, json.dumps(entry, ensure_ascii=False)))
        return made

    def sweep(self) -> int:
        """A dispatch worker's pass: give the missing tasks of every active response (real and
        推演), e.g. after a crash between activation and its tasks. Returns how many it gave."""
        made = 0
        for exercise in (False, True):
            for aid in self.r.zrange(keys.responses_active(exercise), 0, -1):
                made += self.dispatch_tasks(aid, exercise=exercise)
        return made

    def _give(self, aid: str, h: dict, stored: StoredPlan, issuer: Actor, unit: str, key: str,
              title: str, detail: str, minutes: int) -> str:
        """One member unit's task as a 上情下达 case (its idempotency key: response + task key,
        so racing workers make it once). The response's issuer gives it when its scope allows
        (``scope.can_assign``), else the city center on the response's behalf (a town's plan
        names departments: 跨部门 goes through the city)."""
        who = issuer if scope.can_assign(issuer, unit, self.svc.policy.town_of_target(unit)) is None \
            else SYSTEM
        lon = lat = None
        if h.get("town") and not cc.is_town(unit):       # the task is on the town's ground
            pt = self._area_geom(h["town"]).representative_point()
            lon, lat = float(pt.x), float(pt.y)
        inc = self.svc.assign_task(
            who, unit, f"【{stored.plan.hazard}{h['level']}级响应】{title}"[:200],
            description=f"应急响应 {aid}「{stored.plan.name}」{LEVEL_NAMES[h['level']]}级 {detail}".strip(),
            category=stored.plan.category, deadline_s=minutes * 60.0, lon=lon, lat=lat,
            idempotency_key=f"resp:{aid}:{key}")
        return inc.id

    # --- changes -----------------------------------------------------------------------------
    def _load(self, aid: str, exercise: bool) -> dict:
        h = self.r.hgetall(keys.response(aid, exercise))
        if not h:
            raise NotFound(aid, "response")
        return h

    def _change(self, actor: Actor, aid: str, exercise: bool, action: str, reason: str,
                fn: Callable[[dict], dict]) -> dict:
        """Apply ``fn(hash) → changed fields`` to an active response with its audit entry, in one
        MULTI/EXEC under WATCH (two commanders at once: one after the other, never lost)."""
        k = keys.response(aid, exercise)
        while True:
            with self.r.pipeline(transaction=True) as p:
                try:
                    p.watch(k)
                    h = p.hgetall(k)
                    if not h:
                        raise NotFound(aid, "response")
                    if h.get("state") != ACTIVE:
                        raise InvalidTransition(action, h.get("state", ""), "响应已终止 "
                                                "(the response has ended)", aid)
                    new = fn(h)
                    now = self.clock()
                    p.multi()
                    p.hset(k, mapping=new)
                    if new.get("state") == ENDED:
                        p.zrem(keys.responses_active(exercise), aid)
                    p.xadd(keys.response_log(aid, exercise), _entry(
                        actor, action, now, reason, {f: h.get(f, "") for f in new if not f.startswith("issuer")},
                        {f: v for f, v in new.items() if not f.startswith("issuer")}))
                    p.execute()
                    return h | new
                except redis.WatchError:
                    continue

    def change_level(self, actor: Actor, aid: str, level: str, reason: str = "",
                     exercise: bool = False) -> dict:
        """调整响应级别 (up or down): audited; a new level's tasks are given at once."""
        h = self._load(aid, exercise)
        stored = self.plans.get(h["plan"], int(h["plan_version"]))
        if stored is None or stored.plan.level(level) is None:
            raise ValueError(f"预案没有 {level} 级响应 (the plan has no level {level})")
        self._check(actor, "level", town=h.get("town") or None, owner=h.get("owner"), level=level)
        if level == h["level"]:
            raise InvalidTransition("level", ACTIVE, f"已是 {level} 级响应 (already level {level})", aid)

        def fn(cur: dict) -> dict:
            if cur["level"] == level:
                raise InvalidTransition("level", ACTIVE, f"已是 {level} 级响应", aid)
            out = {"level": level, "level_since": repr(self.clock())}
            if not cur.get(f"issuer:{level}"):
                out[f"issuer:{level}"] = json.dumps(_actor_fields(actor), ensure_ascii=False)
            return out

        self._change(actor, aid, exercise, "level", reason, fn)
        self.dispatch_tasks(aid, exercise=exercise)
        return self.get(actor, aid, exercise=exercise)

    def take_over(self, actor: Actor, aid: str, reason: str = "", exercise: bool = False) -> dict:
        """市接管: the city center commands a town's response from now on (X19); a real one's
        area is switched into 应急模式."""
        h = self._load(aid, exercise)
        self._check(actor, "take_over", town=h.get("town") or None, owner=h.get("owner"))

        def fn(cur: dict) -> dict:
            if cur.get("owner") == CITY_CENTER:
                raise InvalidTransition("take_over", ACTIVE, "已由市中心指挥", aid)
            return {"owner": CITY_CENTER, "taken_by": actor.user_id, "taken_ts": repr(self.clock())}

        self._change(actor, aid, exercise, "take_over", reason, fn)
        if not exercise:
            stored = self.plans.get(h["plan"], int(h["plan_version"]))
            hours = stored.plan.emergency_hours if stored else 24
            self._emergency_on(actor, aid, h.get("town") or None, hours, self.clock())
        return self.get(actor, aid, exercise=exercise)

    def end(self, actor: Actor, aid: str, summary: str, exercise: bool = False) -> dict:
        """终止响应 with a summary (总结, required): audited; 应急模式 this response switched on is
        switched off (unless it serves another response as well)."""
        summary = (summary or "").strip()
        if not summary:
            raise ValueError("终止响应须填写总结 (a summary is required to end a response)")
        h = self._load(aid, exercise)
        self._check(actor, "end", town=h.get("town") or None, owner=h.get("owner"))
        now = self.clock()
        self._change(actor, aid, exercise, "end", summary,
                     lambda cur: {"state": ENDED, "ended_ts": repr(now), "summary": summary[:4000],
                                  "ended_by": actor.user_id})
        served = _served(self.svc.emergency_state())
        if not exercise and h.get("emergency") == "1" and aid in served:
            others = [a for a in served if a != aid
                      and self.r.hget(keys.response(a), "state") == ACTIVE]
            if not others:
                self.svc.emergency_off(actor, reason=f"终止响应 {aid}")
            else:                 # the others' areas stay in emergency mode
                self._emergency_on(actor, "", None, 0, now, keep=others)
        return self.get(actor, aid, exercise=exercise)

    def exercise_step(self, actor: Actor, aid: str, key: str, step: str) -> dict:
        """推演: a member unit marks its exercise task 签收 (``start``) or 完成 (``handle``); a
        real task moves through its case instead (开始处置, 处置反馈)."""
        h = self._load(aid, True)
        tkey = keys.response_tasks(aid, True)
        raw = self.r.hget(tkey, key)
        if raw is None:
            raise NotFound(f"{aid}#{key}", "exercise task")
        t = json.loads(raw)
        if actor.center != t["unit"] and not (actor.is_city and actor.role == "city_commander"):
            raise Forbidden(step, actor, f"该推演任务属于 {t['unit']} (the task is {t['unit']}'s)")
        to = {"start": TaskState.IN_PROGRESS, "handle": TaskState.HANDLED}.get(step)
        if to is None:
            raise ValueError(f"未知的推演步骤 {step!r} (start | handle)")
        if h.get("state") != ACTIVE:
            raise InvalidTransition(step, h.get("state", ""), "推演已结束", aid)
        t["state"], t[f"{step}_ts"] = to.value, self.clock()
        self.r.hset(tkey, key, json.dumps(t, ensure_ascii=False))
        self.r.xadd(keys.response_log(aid, True), _entry(actor, f"task_{step}", self.clock(), key, {}, {}))
        return t

    # --- reading -----------------------------------------------------------------------------
    def _members(self, h: dict) -> set[str]:
        stored = self.plans.get(h["plan"], int(h["plan_version"]))
        if stored is None:
            return set()
        town = h.get("town") or ""
        return {f"T{town}" if m.unit == TOWN_UNIT and town else m.unit for m in stored.plan.members}

    def get(self, actor: Actor, aid: str, exercise: bool = False) -> dict:
        """One response (as stored), read-checked."""
        h = self._load(aid, exercise)
        self._check(actor, "read_response", town=h.get("town") or None, members=self._members(h))
        return _view(h)

    def list(self, actor: Actor, exercise: bool = False, active_only: bool = True) -> list[dict]:
        """The responses ``actor`` may read, newest first."""
        k = keys.responses_active(exercise) if active_only else keys.responses_all(exercise)
        out = []
        for aid in self.r.zrevrange(k, 0, 199):
            h = self.r.hgetall(keys.response(aid, exercise))
            if not h:
                continue
            try:
                self.svc.policy.check_response(actor, "read_response", town=h.get("town") or None,
                                               members=self._members(h))
            except Forbidden:
                continue
            out.append(_view(h))
        return out

    def log(self, actor: Actor, aid: str, exercise: bool = False) -> list[dict]:
        """The response's audit, oldest first (推演: the replay of the exercise)."""
        self.get(actor, aid, exercise)
        return [audit.entry(i, f) for i, f in self.r.xrange(keys.response_log(aid, exercise))]

    replay = log

    def board(self, actor: Actor, aid: str, exercise: bool = False) -> dict:
        """响应看板: every member unit's tasks (已签收/已完成/已超时), totals, the level's resources."""
        resp = self.get(actor, aid, exercise)
        now = self.clock()
        tasks = [json.loads(v) for v in self.r.hvals(keys.response_tasks(aid, exercise))]
        cases = {} if exercise else {i.id: i for i in self.svc.store.load_many(
            [t["case"] for t in tasks if t.get("case")])}
        units: dict[str, list[dict]] = {}
        for t in sorted(tasks, key=lambda t: (RESPONSE_LEVELS.index(t["level"]), t["unit"], t["n"])):
            state = t.get("state", TaskState.DISPATCHED.value)
            inc = cases.get(t.get("case", ""))
            if inc is not None:
                state = inc.tasks[0].state if inc.tasks else state
                if inc.state in (State.VERIFIED, State.CLOSED):
                    state = TaskState.HANDLED.value
                elif inc.state == State.VOIDED:
                    state = "voided"
            done = state == TaskState.HANDLED
            t |= {"state": state, "acknowledged": state in (TaskState.IN_PROGRESS, TaskState.HANDLED),
                  "done": done, "overdue": not done and state != "voided" and now > t["deadline_ts"]}
            units.setdefault(t["unit"], []).append(t)
        rows = []
        for unit, ts in units.items():
            c = self.city.centers.get(unit)
            rows.append({"unit": unit, "name": c.name if c else unit, "tasks": ts,
                         "acknowledged": sum(t["acknowledged"] for t in ts),
                         "done": sum(t["done"] for t in ts), "overdue": sum(t["overdue"] for t in ts)})
        stored = self.plans.get(resp["plan"], int(resp["plan_version"]))
        lv = stored.plan.level(resp["level"]) if stored else None
        every = [t for ts in units.values() for t in ts]
        return {"response": resp, "units": rows,
                "totals": {"tasks": len(every), "acknowledged": sum(t["acknowledged"] for t in every),
                           "done": sum(t["done"] for t in every),
                           "overdue": sum(t["overdue"] for t in every)},
                "resources": [r.model_dump() for r in lv.resources] if lv else [],
                "committed": [] if exercise else committed_resources(self.r, aid)}   # 一键调度


def _served(state: dict | None) -> list[str]:
    """The responses an emergency mode was switched on for (named in its reason)."""
    return re.findall(r"应急响应 (R\d+)", (state or {}).get("reason", ""))


def _actor_fields(a: Actor) -> dict:
    return {"user_id": a.user_id, "role": a.role, "center": a.center, "name": a.name}


def _actor_of(d: dict) -> Actor | None:
    if not d.get("user_id"):
        return None
    return Actor(d["user_id"], d["role"], d["center"], d.get("name", ""))


def _entry(actor: Actor, action: str, now: float, reason: str, before: dict, after: dict) -> dict:
    """An audit entry of a response (the incidents' entry form: ``audit.entry`` reads it)."""
    return {"e": json.dumps({"ts": now, "actor": actor.user_id, "name": actor.name, "role": actor.role,
                             "center": actor.center, "action": action, "reason": reason,
                             "before": before, "after": after}, ensure_ascii=False)}


def _view(h: dict) -> dict:
    out = {k: v for k, v in h.items() if not k.startswith("issuer:")}
    for k in ("ts", "level_since", "ended_ts", "taken_ts"):
        if k in out:
            out[k] = float(out[k])
    out["plan_version"] = int(out.get("plan_version") or 0)
    out["exercise"] = out.get("exercise") == "1"
    out["emergency"] = out.get("emergency") == "1"
    out["level_name"] = LEVEL_NAMES.get(out.get("level", ""), "")
    return out


__all__ = ["ACTIVE", "ENDED", "Responses", "Signal", "holds", "suggest", "suggest_level"]
