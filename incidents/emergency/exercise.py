"""推演 (rehearsal, X3; issue 16): run a plan as an exercise on a COPY of the live picture.

An exercise run (``EX…``) lives in its own keys (``keys.exercise*``, ``om:inc:ex:run:…``) and
its response in the responses' 推演 namespace (``om:inc:ex:resp:…``, ``Responses`` with
``exercise=True``). What it does, each step an entry of its log in order (the replay):

1. **copy** (``copy``): the live picture as it is now — open cases, active real responses and
   every resource's state (the copy it dispatches from: ``keys.exercise_resources``);
2. **alarms** (``alarm``): the triggers, e.g. the alarms the simulator's scenario raises in the
   town (the composition root, ``app.exercise``, runs the scenario without any broker);
3. **suggestion** (``suggest`` or ``no_trigger``): the plan's level whose trigger holds for the
   scenario's situation (``response.suggest_level``; E30: the exercise's director confirms by
   running it);
4. **activation** (``activate``): the plan's response at that level with ``exercise=True``: its
   member units' tasks are board entries only, never cases; 应急模式 is never switched;
5. **dispatch** (``dispatch``): for each resource the level needs, the nearest available ones of
   the COPY, committed in the copy only (the real register is never touched);
6. **end** (``end``): the exercise response ended with the summary.

Nothing here writes a real case, a real response, 应急模式 or a real resource: an exercise
leaves the real incident counts and resource states as they were (tests assert it). Every
label a person reads says 演练.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import redis

from grid.contracts import LEVELS as ALARM_LEVELS
from grid.contracts import SEVERITY_OF_LEVEL
from grid.resources import Register
from incidents import keys, kpi
from incidents.actor import Actor
from incidents.defaults import SEVERITIES
from incidents.emergency.dispatch import distance_m
from incidents.emergency.plans import LEVEL_NAMES
from incidents.emergency.response import ACTIVE, Responses, Signal, suggest_level
from incidents.errors import NotFound

MARK = "演练"
"""What every screen and line that shows an exercise says."""
RUNNING, DONE, NO_TRIGGER = "running", "ended", "no_trigger"


def _entry(actor: Actor, action: str, now: float, data: dict) -> dict:
    return {"e": json.dumps({"ts": now, "actor": actor.user_id, "name": actor.name, "role": actor.role,
                             "action": action, "mark": MARK, **data}, ensure_ascii=False)}


def situation_signal(alarms: list[dict], town: str, family_of: Callable[[str], str]) -> Signal:
    """The scenario's alarms as one situation (态势) the plan's triggers are checked against, as
    the intake would join them: the family of the most frequent category (its alarms only; a
    category of no family: that category's), the highest level (and its severity), as many
    sources as alarms, the alarms' rules (``<kind>``, ``<kind>.<metric>``)."""
    if not alarms:
        return Signal(town=town, sources=0)
    cats: dict[str, int] = {}
    for a in alarms:
        cats[str(a.get("category", ""))] = cats.get(str(a.get("category", "")), 0) + 1
    category = max(cats, key=lambda c: (cats[c], c))
    family = family_of(category)
    mine = [a for a in alarms if (family_of(str(a.get("category", ""))) == family if family
                                  else str(a.get("category", "")) == category)]
    levels = [str(a.get("level", "")) for a in mine if a.get("level") in ALARM_LEVELS]
    top = max(levels, key=ALARM_LEVELS.index) if levels else ""
    rules = set()
    for a in mine:
        kind, metric = str(a.get("device_type", "")), str(a.get("metric", ""))
        if kind:
            rules |= {kind, f"{kind}.{metric}"} if metric else {kind}
    return Signal(category, family, SEVERITY_OF_LEVEL.get(top, SEVERITIES[0]),
                  len(mine), top, frozenset(rules), town=town)


@dataclass
class Exercises:
    """推演 runs over ``responses`` (its 推演 namespace) and a COPY of ``register``."""

    responses: Responses
    register: Register
    family_of: Callable[[str], str] = lambda category: ""
    """incident category → its situation family (the incident config's ``situations``)."""

    def __post_init__(self) -> None:
        self.r: redis.Redis = self.responses.r
        self.clock = self.responses.clock

    # --- running ---------------------------------------------------------------------------
    def start(self, actor: Actor, plan_id: str, scenario: str, alarms: Iterable[dict], *,
              town: str | None = None, note: str = "") -> dict:
        """Run ``plan_id`` as an exercise triggered by ``alarms`` (the scenario's) in ``town``:
        copy, suggestion, activation (推演), dispatch from the copy. Returns the run."""
        stored = self.responses.plans.get(plan_id)
        if stored is None:
            raise NotFound(plan_id, "plan")
        town = self.responses._town_ok(town)  # noqa: SLF001 (the responses' own town check)
        self.responses._check(actor, "activate", town=town, level="IV")  # noqa: SLF001
        now = self.clock()
        eid = f"EX{kpi.day_of(now)}{int(self.r.incr(keys.EXERCISE_SEQ)):04d}"
        log = keys.exercise_log(eid)
        self.r.hset(keys.exercise(eid), mapping={
            "id": eid, "plan": plan_id, "plan_name": stored.plan.name, "scenario": scenario,
            "town": town or "", "by": actor.user_id, "ts": repr(now), "state": RUNNING,
            "note": note[:500], "mark": MARK})
        self.r.zadd(keys.EXERCISES, {eid: now})
        self.r.xadd(log, _entry(actor, "start", now, {"plan": plan_id, "scenario": scenario,
                                                     "town": town or ""}))
        picture = self._copy(eid)
        self.r.hset(keys.exercise(eid), "picture", json.dumps(picture, ensure_ascii=False))
        self.r.xadd(log, _entry(actor, "copy", self.clock(), picture))
        alarms = list(alarms)
        for a in alarms:
            self.r.xadd(log, _entry(actor, "alarm", self.clock(), {"alarm": a}))
        sig = situation_signal(alarms, town or "", self.family_of)
        sug = suggest_level(stored, sig)
        if sug is None:
            self.r.xadd(log, _entry(actor, "no_trigger", self.clock(), {
                "sources": sig.sources, "family": sig.family, "alarm_level": sig.alarm_level}))
            self.r.hset(keys.exercise(eid), mapping={"state": NO_TRIGGER, "alarms": len(alarms)})
            return self.get(eid)
        self.r.xadd(log, _entry(actor, "suggest", self.clock(), {
            "level": sug["level"], "level_name": sug["level_name"], "reasons": sug["reasons"]}))
        resp = self.responses.activate(actor, plan_id, sug["level"], town=town, exercise=True,
                                       reason=f"{MARK} {eid}（情景 {scenario}）")
        tasks = self.responses.board(actor, resp["id"], exercise=True)["totals"]["tasks"]
        self.r.hset(keys.exercise(eid), mapping={"response": resp["id"], "level": sug["level"],
                                                 "alarms": len(alarms)})
        self.r.xadd(log, _entry(actor, "activate", self.clock(), {
            "response": resp["id"], "level": sug["level"], "tasks": tasks}))
        point = self._point(alarms, town)
        lv = stored.plan.level(sug["level"])
        for need in lv.resources if lv else []:
            for d in self._dispatch(eid, need.type, need.quantity, point):
                self.r.xadd(log, _entry(actor, "dispatch", self.clock(), d | {"need": need.type}))
        return self.get(eid)

    def end(self, actor: Actor, eid: str, summary: str) -> dict:
        """结束推演: its response ended with ``summary`` (required), the run marked ended."""
        h = self._load(eid)
        if h.get("response") and self.r.hget(keys.response(h["response"], True), "state") == ACTIVE:
            self.responses.end(actor, h["response"], summary, exercise=True)
        elif not (summary or "").strip():
            raise ValueError("结束推演须填写总结 (a summary is required)")
        now = self.clock()
        self.r.hset(keys.exercise(eid), mapping={"state": DONE, "ended_ts": repr(now),
                                                 "summary": summary.strip()[:4000]})
        self.r.xadd(keys.exercise_log(eid), _entry(actor, "end", now, {"summary": summary.strip()}))
        return self.get(eid)

    # --- the copy ----------------------------------------------------------------------------
    def _copy(self, eid: str) -> dict:
        """The live picture now, read only: counts of open cases and active real responses, and
        every resource's state into the run's copy."""
        held = self.register.all()
        copy = {h.id: json.dumps({"state": h.status, "usable": h.usable, "avail": h.avail},
                                 ensure_ascii=False) for h in held}
        if copy:
            self.r.hset(keys.exercise_resources(eid), mapping=copy)
        by_status: dict[str, int] = {}
        for h in held:
            by_status[h.status] = by_status.get(h.status, 0) + 1
        return {"open_cases": int(self.r.zcard(keys.ALL)), "resources": len(held),
                "resources_by_status": by_status,
                "real_responses_active": int(self.r.zcard(keys.responses_active(False)))}

    def _point(self, alarms: list[dict], town: str | None) -> tuple[float, float]:
        pts = [(float(a["lon"]), float(a["lat"])) for a in alarms if a.get("lon") is not None]
        if pts:
            return float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts]))
        city = self.responses.city
        g = (city.towns[city.towns["code"].astype(str) == town].geometry.iloc[0] if town
             else city.boundary)
        p = g.representative_point()
        return float(p.x), float(p.y)

    def _dispatch(self, eid: str, need: str, quantity: int, point: tuple[float, float]) -> list[dict]:
        """The nearest resources of the COPY matching ``need`` until ``quantity`` is covered,
        committed in the copy (a team/expert no longer usable, a material's quantity less)."""
        k = keys.exercise_resources(eid)
        state = {rid: json.loads(v) for rid, v in self.r.hgetall(k).items()}
        held = [h for h in self.register.all() if h.matches(need) and state.get(h.id, {}).get("usable")]
        if not held:
            return []
        dist = distance_m(point[0], point[1], np.array([h.record.lon for h in held]),
                          np.array([h.record.lat for h in held]))
        out, got = [], 0
        for i in np.argsort(dist, kind="stable"):
            h = held[int(i)]
            s = state[h.id]
            q = min(int(s.get("avail", 0)), quantity - got) if h.category == "material" else 1
            if q <= 0:
                continue
            if h.category == "material":
                s["avail"] = int(s["avail"]) - q
                s["usable"] = s["avail"] > 0
            else:
                s["usable"], s["state"] = False, "committed"
            self.r.hset(k, h.id, json.dumps(s, ensure_ascii=False))
            out.append({"resource": h.id, "name": h.record.name, "category": h.category,
                        "quantity": q, "distance_m": round(float(dist[int(i)]), 1),
                        "distance": "straight_line"})
            got += q
            if got >= quantity:
                break
        return out

    # --- reading -----------------------------------------------------------------------------
    def _load(self, eid: str) -> dict:
        h = self.r.hgetall(keys.exercise(eid))
        if not h:
            raise NotFound(eid, "exercise")
        return h

    def get(self, eid: str) -> dict:
        h = self._load(eid)
        out = dict(h)
        out["ts"] = float(h["ts"])
        out["picture"] = json.loads(h.get("picture") or "{}")
        out["level_name"] = LEVEL_NAMES.get(h.get("level", ""), "")
        out["alarms"] = int(h.get("alarms") or 0)
        return out

    def list(self, limit: int = 100) -> list[dict]:
        """The runs, newest first."""
        return [self.get(e) for e in self.r.zrevrange(keys.EXERCISES, 0, limit - 1)
                if self.r.exists(keys.exercise(e))]

    def replay(self, actor: Actor, eid: str) -> list[dict]:
        """The run replayed: its events and its response's audit (task steps, level changes,
        the end), merged in time order (ties: the run's own order first)."""
        h = self._load(eid)
        out = [(json.loads(f["e"]), 0, i) for i, f in self.r.xrange(keys.exercise_log(eid))]
        if h.get("response"):
            for e in self.responses.log(actor, h["response"], exercise=True):
                if e.get("action") != "activate":
                    out.append((e | {"mark": MARK, "response": h["response"]}, 1, ""))
        out.sort(key=lambda x: (float(x[0].get("ts", 0)), x[1], x[2]))
        return [e for e, _, _ in out]


__all__ = ["MARK", "Exercises", "situation_signal"]
