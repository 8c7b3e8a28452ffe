"""一键调度 (one-click resource dispatch, X19 集中统一指挥/联合调度, X23 预案与调度, X18; issue 16).

- **Suggestion** (``suggest``): from a case/situation or a response, the nearest AVAILABLE
  resources of the kinds the response's plan level needs (``ResourceNeed.type``: a team's kind
  or 救援队伍, a material's item, 专家); without a response, the nearest of each category.
  Distances are along the roads when a road network is configured (``roads``:
  ``grid.roads.RoadNetwork``; ``distance: "road"``), straight-line (great circle) otherwise
  (``distance: "straight_line"``); every answer says which (docs/resources.md).
- **Dispatch** (``dispatch``): one call commits a team/expert, or a quantity of a material, to
  an incident and/or response as an assignment (调派单 ``A…``). One Lua call checks and changes
  everything together (the resource's state or available quantity, the assignment, its
  indexes, the idempotency key): a resource is never committed twice, the last unit of a
  material goes to exactly one of two racing clicks, and a retried click (same idempotency key)
  answers the first assignment.
- **Steps** (``step``): requested 已请求 → acknowledged 已确认 → en_route 在途 → on_scene 到场
  → released 已释放 (forward only; 释放 from any open state returns a material's quantity, less
  what was consumed, and frees a team), each one Lua call.
- **Audit**: each step is a note on the incident's trail through the incident service
  (``IncidentService.note``, idempotency key ``res:<assignment>:<step>``) and an entry of the
  assignment's own log (``grid.keys.assignment_log``). A crash between the two leaves the note
  missing, never the state half-changed; ``sweep`` writes the missing notes.
- **Who**: ``Policy.check_resource_dispatch`` (refusals audited).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import redis

from grid import keys as rkeys
from grid.resources import AVAILABLE, CATEGORY_NAMES, DISPATCHABLE, Held, Register
from incidents import keys, kpi, masking
from incidents.actor import SYSTEM, Actor
from incidents.emergency.plans import TOWN_UNIT
from incidents.errors import Conflict, Forbidden, InvalidTransition, NotFound
from incidents.incident import Incident
from incidents.service import IncidentService

STATES: tuple[str, ...] = ("requested", "acknowledged", "en_route", "on_scene", "released")
"""An assignment's states, in order (调派单状态)."""
STATE_NAMES: dict[str, str] = {"requested": "已请求", "acknowledged": "已确认", "en_route": "在途",
                               "on_scene": "到场", "released": "已释放"}
OPEN_STATES = STATES[:-1]
IDEM_TTL_S = 86400
"""A dispatch click's idempotency key is kept a day (a retry comes within seconds)."""
SUGGEST_MAX = 12
"""At most this many resources suggested per need (a list an operator reads at a glance)."""

_DISPATCH_LUA = """
if ARGV[7] == '1' then
  local got = redis.call('GET', KEYS[3])
  if got then return {'dup', got} end
end
local cat = redis.call('HGET', KEYS[1], 'cat')
if not cat then return {'err', 'not_found', ''} end
local qty = tonumber(ARGV[2])
if cat == 'material' then
  local avail = tonumber(redis.call('HGET', KEYS[1], 'avail') or '0')
  if qty > avail then return {'err', 'short', tostring(avail)} end
  redis.call('HINCRBY', KEYS[1], 'avail', -qty)
elseif cat == 'team' or cat == 'expert' then
  if redis.call('HGET', KEYS[1], 'state') ~= 'available' then
    return {'err', 'busy', redis.call('HGET', KEYS[1], 'asg') or ''}
  end
  redis.call('HSET', KEYS[1], 'state', 'requested', 'asg', ARGV[1])
else
  return {'err', 'not_dispatchable', cat}
end
local f = cjson.decode(ARGV[4])
for k, v in pairs(f) do redis.call('HSET', KEYS[2], k, tostring(v)) end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
if ARGV[8] == '1' then redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1]) end
if ARGV[9] == '1' then redis.call('ZADD', KEYS[7], ARGV[3], ARGV[1]) end
if ARGV[7] == '1' then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[6]) end
redis.call('XADD', KEYS[8], '*', 'e', ARGV[5])
return {'ok', ARGV[1]}
"""

_STEP_LUA = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'err', 'not_found', ''} end
local to = ARGV[1]
if st == to then return {'same', st} end
if st == 'released' then return {'err', 'released', st} end
local order = {requested = 1, acknowledged = 2, en_route = 3, on_scene = 4, released = 5}
if order[to] <= order[st] then return {'err', 'order', st} end
local aid = redis.call('HGET', KEYS[1], 'id')
local cat = redis.call('HGET', KEYS[1], 'category')
if cat == 'material' and to == 'released' then
  local q = tonumber(redis.call('HGET', KEYS[1], 'qty'))
  local used = tonumber(ARGV[4])
  if used > q then return {'err', 'consumed', tostring(q)} end
  redis.call('HINCRBY', KEYS[2], 'avail', q - used)
  if used > 0 then redis.call('HINCRBY', KEYS[2], 'total', 0 - used) end
  redis.call('HSET', KEYS[1], 'consumed', used)
elseif cat ~= 'material' and redis.call('HGET', KEYS[2], 'asg') == aid then
  if to == 'released' then
    redis.call('HSET', KEYS[2], 'state', 'available')
    redis.call('HDEL', KEYS[2], 'asg')
  else
    redis.call('HSET', KEYS[2], 'state', to)
  end
end
redis.call('HSET', KEYS[1], 'state', to, 'ts:' .. to, ARGV[2], 'actor:' .. to, ARGV[5])
if to == 'released' then redis.call('ZREM', KEYS[3], aid) end
redis.call('XADD', KEYS[4], '*', 'e', ARGV[3])
return {'ok', st}
"""


def _actor_json(a: Actor) -> str:
    return json.dumps({"user_id": a.user_id, "role": a.role, "center": a.center, "name": a.name},
                      ensure_ascii=False)


def _actor_of(s: str | None) -> Actor:
    d = json.loads(s or "{}")
    return Actor(d["user_id"], d["role"], d["center"], d.get("name", "")) if d.get("user_id") else SYSTEM


def _entry(actor: Actor, action: str, now: float, before: str, after: str, note: str = "") -> str:
    return json.dumps({"ts": now, "actor": actor.user_id, "name": actor.name, "role": actor.role,
                       "center": actor.center, "action": action, "before": before, "after": after,
                       "reason": note}, ensure_ascii=False)


def distance_m(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Great-circle (straight-line) distances in metres (haversine, R = 6371 km)."""
    p1, p2 = math.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lons) - math.radians(lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(a))


def view(h: dict) -> dict:
    """An assignment as the API and the board show it."""
    out = dict(h)
    for k in ("qty", "consumed"):
        if k in out:
            out[k] = int(out[k])
    for k in [k for k in out if k.startswith(("ts", "pos_", "base_"))]:
        out[k] = float(out[k])
    for k in [k for k in out if k.startswith("actor:")]:
        out[k] = json.loads(out[k]).get("user_id", "")
    for k in [k for k in out if k.startswith("noted:")]:
        out.pop(k)
    out["state_name"] = STATE_NAMES.get(out.get("state", ""), "")
    out["open"] = out.get("state") in OPEN_STATES
    return out


def resource_view(actor: Actor, h: Held) -> dict:
    """A resource as ``actor`` may see it: contacts masked unless its role reads personal data
    (SEC18, ``incidents.masking``)."""
    return h.view(masking.sees(actor.role), masking.person)


def committed(r: redis.Redis, response_id: str) -> list[dict]:
    """响应看板「已调派资源」: every assignment for a response, newest first (the board reads it)."""
    ids = r.zrevrange(rkeys.by_response(response_id), 0, 199)
    with r.pipeline(transaction=False) as p:
        for a in ids:
            p.hgetall(rkeys.assignment(a))
        rows = p.execute()
    return [view(h) for h in rows if h]


def invariants(r: redis.Redis) -> list[str]:
    """What must hold whatever crashed when (each resource in exactly one state, quantities
    consistent): a team/expert is available with no open assignment, or in its ONE open
    assignment's state; a material's total = available + its open assignments' quantities, none
    negative; an open assignment is not released and a released one is not open. Returns the
    problems (empty: consistent)."""
    out: list[str] = []
    open_ids = set(r.zrange(rkeys.ASG_OPEN, 0, -1))
    every = r.zrange(rkeys.ASG_ALL, 0, -1)
    with r.pipeline(transaction=False) as p:
        for a in every:
            p.hgetall(rkeys.assignment(a))
        asgs = dict(zip(every, p.execute(), strict=True))
    by_res: dict[str, list[dict]] = {}
    for a, h in asgs.items():
        st = h.get("state")
        if st not in STATES:
            out.append(f"{a}: unknown state {st!r}")
        elif (st in OPEN_STATES) != (a in open_ids):
            out.append(f"{a}: state {st} but {'in' if a in open_ids else 'not in'} the open set")
        if st in OPEN_STATES:
            by_res.setdefault(h.get("resource", ""), []).append(h)
    for a in open_ids - set(asgs):
        out.append(f"{a}: open but never recorded")
    for rid in r.smembers(rkeys.IDS):
        h = r.hgetall(rkeys.item(rid))
        mine = by_res.get(rid, [])
        if h.get("cat") == "material":
            total, avail = int(h.get("total", 0)), int(h.get("avail", 0))
            held = sum(int(x.get("qty", 0)) for x in mine)
            if avail < 0 or total < 0 or avail + held != total:
                out.append(f"{rid}: total {total} != available {avail} + committed {held}")
        elif h.get("cat") in ("team", "expert"):
            st, asg = h.get("state"), h.get("asg", "")
            if st == AVAILABLE:
                if asg or mine:
                    out.append(f"{rid}: available but assigned {asg or mine[0]['id']}")
            elif len(mine) != 1 or mine[0]["id"] != asg or mine[0]["state"] != st:
                out.append(f"{rid}: state {st} / {asg} but open assignments "
                           f"{[(x['id'], x['state']) for x in mine]}")
    return out


@dataclass
class ResourceDispatch:
    """一键调度 over the register (``grid.resources.Register``) for the incident service's cases
    and the responses (``incidents.emergency.response``)."""

    svc: IncidentService
    register: Register
    clock: Callable[[], float] | None = None
    between: Callable[[str], None] | None = None
    """Called between a step's commit and its audit note (tests stop the process there)."""
    roads: object | None = None
    """A road network (``grid.roads.RoadNetwork``: ``distances(lon, lat, lons, lats)``) when one
    is configured: suggestions rank by road distance; None: straight-line."""

    def __post_init__(self) -> None:
        self.r: redis.Redis = self.svc.r
        if self.clock is None:
            self.clock = self.svc.clock
        self._dispatch = self.r.register_script(_DISPATCH_LUA)
        self._step = self.r.register_script(_STEP_LUA)

    # --- asking ----------------------------------------------------------------------------
    def _check(self, actor: Actor, held: object, inc: Incident | None, action: str) -> None:
        try:
            self.svc.policy.check_resource_dispatch(actor, held, inc, action=action)
        except Forbidden as exc:
            self.svc.store.audit_denied(actor, f"resource_{action}", exc.reason,
                                        inc.id if inc else None, self.clock())
            raise

    def may(self, actor: Actor, held: Held, inc: Incident | None = None) -> bool:
        try:
            self.svc.policy.check_resource_dispatch(actor, held, inc)
        except Forbidden:
            return False
        return True

    def _plan_doc(self, resp: dict) -> dict:
        """The plan (as stored, JSON) of the version a response was activated with."""
        n = int(resp.get("plan_version") or self.r.hget(keys.PLANS, resp.get("plan", "")) or 0)
        doc = self.r.get(keys.plan_version(resp.get("plan", ""), n)) if n else None
        return json.loads(doc).get("plan", {}) if doc else {}

    def _response(self, actor: Actor, response_id: str) -> dict:
        """A (real) response ``actor`` may read (its territory, the city, its member units)."""
        h = self.r.hgetall(keys.response(response_id))
        if not h:
            raise NotFound(response_id, "response")
        town = h.get("town") or ""
        members = {f"T{town}" if m.get("unit") == TOWN_UNIT and town else m.get("unit", "")
                   for m in self._plan_doc(h).get("members", [])}
        self.svc.policy.check_response(actor, "read_response", town=town or None, members=members)
        return h

    def _response_of(self, inc: Incident) -> str:
        """The active (real) response opened for this case, if any (its board lists the dispatch)."""
        for aid in self.r.zrevrange(keys.responses_active(False), 0, 49):
            if self.r.hget(keys.response(aid), "incident") == inc.id:
                return aid
        return ""

    def _needs(self, resp: dict) -> list[dict]:
        """The resources the response's current level needs (预案 ``levels[].resources``)."""
        for lv in self._plan_doc(resp).get("levels", []):
            if lv.get("level") == resp.get("level"):
                return list(lv.get("resources", []))
        return []

    def _point(self, inc: Incident | None, resp: dict | None) -> tuple[float, float]:
        if inc is not None:
            return inc.lon, inc.lat
        city = self.svc.city
        town = (resp or {}).get("town")
        if town:
            t = city.towns[city.towns["code"].astype(str) == town]
            if len(t):
                p = t.geometry.iloc[0].representative_point()
                return float(p.x), float(p.y)
        p = city.boundary.representative_point()
        return float(p.x), float(p.y)

    # --- suggestion ------------------------------------------------------------------------
    def suggest(self, actor: Actor, incident_id: str = "", response_id: str = "", limit: int = 3
                ) -> dict:
        """建议调度: the nearest available resources for each need of the response's plan level
        (enough to cover its quantity), else the nearest ``limit`` of each category; each with
        its distance (along the roads when configured, else straight-line) and whether ``actor``
        may dispatch it (contacts masked for a role without ``sees_personal_data``:
        ``incidents.masking``)."""
        inc = self.svc.get(incident_id, actor) if incident_id else None
        resp = self._response(actor, response_id) if response_id else None
        if resp is None and inc is not None and (rid := self._response_of(inc)):
            resp, response_id = self.r.hgetall(keys.response(rid)), rid
        if inc is None and resp and resp.get("incident"):
            inc = self.svc.get(resp["incident"], actor)
        lon, lat = self._point(inc, resp)
        usable = [h for h in self.register.all() if h.usable]
        how = "road" if self.roads is not None else "straight_line"
        if not usable:
            dist = np.zeros(0)
        else:
            lons = np.array([h.record.lon for h in usable])
            lats = np.array([h.record.lat for h in usable])
            dist = (self.roads.distances(lon, lat, lons, lats) if self.roads is not None  # type: ignore[attr-defined]
                    else distance_m(lon, lat, lons, lats))
        order = np.argsort(dist, kind="stable")
        needs = self._needs(resp) if resp else []
        groups = []
        if needs:
            for n in needs:
                want, got, picked = int(n.get("quantity", 1)), 0, []
                for i in order:
                    h = usable[i]
                    if not h.matches(n["type"]):
                        continue
                    q = min(h.avail, want - got) if h.category == "material" else 1
                    picked.append(self._item(actor, h, float(dist[i]), inc, q))
                    got += q
                    if got >= want or len(picked) >= SUGGEST_MAX:
                        break
                groups.append({"need": n["type"], "quantity": want, "unit": n.get("unit", ""),
                               "covered": got >= want, "resources": picked})
        else:
            for cat in DISPATCHABLE:
                picked = [self._item(actor, usable[i], float(dist[i]), inc, 1)
                          for i in order if usable[i].category == cat][:limit]
                groups.append({"need": CATEGORY_NAMES[cat], "quantity": None, "unit": "",
                               "covered": bool(picked), "resources": picked})
        return {"incident": inc.id if inc else "", "response": response_id or "",
                "lon": lon, "lat": lat, "distance": how,
                "distance_name": "道路距离" if how == "road" else "直线距离", "groups": groups}

    def _item(self, actor: Actor, h: Held, d: float, inc: Incident | None, q: int) -> dict:
        """One suggested resource; ``distance_m`` None when the roads do not reach it (last)."""
        return resource_view(actor, h) | {"distance_m": round(d, 1) if math.isfinite(d) else None,
                                          "may_dispatch": self.may(actor, h, inc), "suggested_quantity": q}

    # --- dispatch and steps ----------------------------------------------------------------
    def dispatch(self, actor: Actor, resource_id: str, *, incident: str = "", response: str = "",
                 quantity: int = 1, idempotency_key: str | None = None, note: str = "") -> dict:
        """一键调度: commit a team/expert (or ``quantity`` of a material) to an incident and/or
        a response; returns the assignment (a retried ``idempotency_key``: the first one)."""
        idem = rkeys.idem(actor.user_id, idempotency_key) if idempotency_key else rkeys.idem("-", "-")
        if idempotency_key and (done := self.r.get(idem)):
            return self.get(done)
        if not incident and not response:
            raise ValueError("调度须指明事件或应急响应 (an incident or a response is required)")
        held = self.register.get(resource_id)
        if held is None:
            raise NotFound(resource_id, "resource")
        if held.category not in DISPATCHABLE:
            raise ValueError(f"{CATEGORY_NAMES[held.category]}不能调派 (a {held.category} is not dispatched)")
        if held.category == "material":
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise ValueError("调派数量应为正整数 (quantity: a positive integer)")
        else:
            quantity = 1
            if getattr(held.record, "status", AVAILABLE) != AVAILABLE:
                raise Conflict(f"{held.record.name} 不在可用状态（不可用） (not in service)")
        inc = self.svc.get(incident, actor) if incident else None
        resp = self._response(actor, response) if response else None
        if inc is None and resp and resp.get("incident"):
            inc = self.svc.get(resp["incident"], actor)
        if resp is None and inc is not None and (rid := self._response_of(inc)):
            response = rid
        self._check(actor, held, inc, "dispatch")
        now = self.clock()
        aid = f"A{kpi.day_of(now)}{int(self.r.incr(rkeys.ASG_SEQ)):05d}"
        rec = held.record
        fields = {"id": aid, "resource": rec.id, "category": rec.category, "name": rec.name,
                  "item": getattr(rec, "item", "") or getattr(rec, "kind", "") or getattr(rec, "field", ""),
                  "unit": getattr(rec, "unit", "") or ("支" if rec.category == "team" else "人"),
                  "qty": quantity, "owner": rec.owner, "town": held.town,
                  "incident": inc.id if inc else "", "response": response or "", "state": "requested",
                  "ts": now, "ts:requested": now, "actor:requested": _actor_json(actor),
                  "note": note[:500], "base_lon": rec.lon, "base_lat": rec.lat}
        got = self._dispatch(
            keys=[rkeys.item(rec.id), rkeys.assignment(aid), idem, rkeys.ASG_OPEN, rkeys.ASG_ALL,
                  rkeys.by_incident(fields["incident"] or "-"), rkeys.by_response(response or "-"),
                  rkeys.assignment_log(aid)],
            args=[aid, quantity, repr(now), json.dumps(fields, ensure_ascii=False),
                  _entry(actor, "dispatch", now, "", "requested", note), IDEM_TTL_S,
                  "1" if idempotency_key else "0", "1" if fields["incident"] else "0",
                  "1" if response else "0"])
        if got[0] == "dup":
            return self.get(got[1])
        if got[0] == "err":
            why, extra = got[1], got[2]
            if why == "not_found":
                raise NotFound(resource_id, "resource")
            if why == "short":
                raise Conflict(f"{rec.name}「{fields['item']}」库存不足：可用 {extra}{fields['unit']}，"
                               f"需 {quantity} (not enough in stock: {extra} available)")
            raise Conflict(f"{rec.name} 已被调派（调派单 {extra}），不能重复调派 (already committed)")
        self._after(aid, "requested", actor)
        return self.get(aid)

    def step(self, actor: Actor, assignment_id: str, to: str, note: str = "", consumed: int = 0) -> dict:
        """推进调派单: 已确认 / 在途 / 到场 / 已释放 (forward only; the same step again does
        nothing). 释放 returns a material's quantity less ``consumed``."""
        if to not in STATES[1:]:
            raise ValueError(f"未知的调派步骤 {to!r}（可选: {', '.join(STATES[1:])}）")
        if not isinstance(consumed, int) or isinstance(consumed, bool) or consumed < 0:
            raise ValueError("消耗数量应为非负整数 (consumed: a non-negative integer)")
        h = self.r.hgetall(rkeys.assignment(assignment_id))
        if not h:
            raise NotFound(assignment_id, "assignment")
        held = self.register.get(h["resource"]) or SimpleNamespace(owner=h["owner"], town=h["town"])
        self._check(actor, held, None, to)
        now = self.clock()
        got = self._step(keys=[rkeys.assignment(assignment_id), rkeys.item(h["resource"]),
                               rkeys.ASG_OPEN, rkeys.assignment_log(assignment_id)],
                         args=[to, repr(now), _entry(actor, to, now, h["state"], to, note), consumed,
                               _actor_json(actor)])
        if got[0] == "err":
            if got[1] == "not_found":
                raise NotFound(assignment_id, "assignment")
            if got[1] == "consumed":
                raise ValueError(f"消耗数量不能大于调派数量 {got[2]} (consumed > dispatched)")
            raise InvalidTransition(to, STATE_NAMES.get(got[2], got[2]),
                                    f"调派单已是「{STATE_NAMES.get(got[2], got[2])}」，只能向后推进",
                                    assignment_id)
        if got[0] == "ok":
            self._after(assignment_id, to, actor)
        return self.get(assignment_id)

    def release(self, actor: Actor, assignment_id: str, note: str = "", consumed: int = 0) -> dict:
        """释放: the team is free again, the material's quantity returns (less ``consumed``)."""
        return self.step(actor, assignment_id, "released", note, consumed)

    def update_position(self, assignment: str, lon: float, lat: float, actor: Actor | None = None) -> dict:
        """A responder's phone reports where the team is (the map draws it there while open)."""
        if not (isinstance(lon, int | float) and isinstance(lat, int | float)
                and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("位置无效：lon 在 -180..180、lat 在 -90..90 (invalid position)")
        h = self.r.hgetall(rkeys.assignment(assignment))
        if not h:
            raise NotFound(assignment, "assignment")
        if actor is not None:
            held = self.register.get(h["resource"]) or SimpleNamespace(owner=h["owner"], town=h["town"])
            self._check(actor, held, None, "position")
        if h.get("state") not in OPEN_STATES:
            raise InvalidTransition("position", STATE_NAMES.get(h.get("state", ""), ""),
                                    "调派单已释放 (released)", assignment)
        self.r.hset(rkeys.assignment(assignment),
                    mapping={"pos_lon": float(lon), "pos_lat": float(lat), "pos_ts": self.clock()})
        return self.get(assignment)

    # --- the audit on the incident ------------------------------------------------------------
    def _after(self, aid: str, step: str, actor: Actor) -> None:
        if self.between is not None:
            self.between(step)
        self._record(aid, step, actor)

    def _record(self, aid: str, step: str, actor: Actor) -> None:
        """The step as a note on the incident's trail (the service's audited path), once."""
        k = rkeys.assignment(aid)
        h = self.r.hgetall(k)
        if h.get(f"noted:{step}"):
            return
        if h.get("incident"):
            what = f"{h['name']}（{h['item']}）{h['qty']}{h['unit']}"
            text = f"【一键调度】调派单 {aid} {what}：{STATE_NAMES[step]}"
            try:
                self.svc.note(h["incident"], actor, text, idempotency_key=f"res:{aid}:{step}")
            except (Forbidden, InvalidTransition):
                # the owner of the resource may not read the case, or it is closed: the system
                # notes it for them (who did it is named), the assignment's log has it anyway
                with contextlib.suppress(Forbidden, InvalidTransition):
                    self.svc.note(h["incident"], SYSTEM, f"{text}（{actor.name or actor.user_id}）",
                                  idempotency_key=f"res:{aid}:{step}")
        self.r.hset(k, f"noted:{step}", 1)

    def sweep(self, limit: int = 500) -> int:
        """Write the notes a crash left unwritten (a step committed, its note not yet)."""
        n = 0
        for aid in self.r.zrevrange(rkeys.ASG_ALL, 0, limit - 1):
            h = self.r.hgetall(rkeys.assignment(aid))
            for st in STATES:
                if h.get(f"ts:{st}") and not h.get(f"noted:{st}"):
                    self._record(aid, st, _actor_of(h.get(f"actor:{st}")))
                    n += 1
        return n

    # --- reading ---------------------------------------------------------------------------
    def get(self, assignment_id: str) -> dict:
        h = self.r.hgetall(rkeys.assignment(assignment_id))
        if not h:
            raise NotFound(assignment_id, "assignment")
        return view(h)

    def log(self, assignment_id: str) -> list[dict]:
        return [json.loads(f["e"]) for _, f in self.r.xrange(rkeys.assignment_log(assignment_id))]

    def assignments(self, incident: str = "", response: str = "", open_only: bool = False) -> list[dict]:
        """Assignments of an incident, of a response, or every open one (newest first)."""
        k = (rkeys.by_incident(incident) if incident else rkeys.by_response(response) if response
             else rkeys.ASG_OPEN)
        ids = self.r.zrevrange(k, 0, 499)
        with self.r.pipeline(transaction=False) as p:
            for a in ids:
                p.hgetall(rkeys.assignment(a))
            rows = [view(h) for h in p.execute() if h]
        return [x for x in rows if x["open"]] if open_only else rows


__all__ = ["OPEN_STATES", "STATES", "STATE_NAMES", "ResourceDispatch", "committed", "distance_m",
           "invariants", "resource_view", "view"]
