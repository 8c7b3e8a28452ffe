"""IncidentService: the one Python API that reads and changes incidents (app, CLI, tests).

Every method takes an ``incidents.actor.Actor``; scope (S1/S2: a town sees its territory 块, a
department its line 条, a grid worker its own reports and tasks) and supervision separation
(监管分离 T11: the handler never verifies or closes its own case) are enforced HERE, raising
``Forbidden`` (and writing an audit entry). Invalid transitions raise ``InvalidTransition``.
Every change (state + queue move + audit + feed + KPIs + deadlines) is one atomic Lua call
(``incidents.store``), so no incident is ever in two queues, in none, or half-moved.

Incidents returned are read-only snapshots (shared with the service's cache); an incident changes
only through these methods.

Typical use::

    svc = IncidentService(redis, city)
    inc = svc.report(worker, "0108", lon, lat, description="井盖缺失", idempotency_key=draft_id)
    svc.accept(inc.id, town_op); svc.dispatch(inc.id, town_op, ["CG"])
    svc.start(inc.id, dept_op); svc.handle(inc.id, dept_op, note="已更换")
    svc.verify(inc.id, supervisor, passed=True); svc.close(inc.id, town_op)
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import redis

from grid.categories import CATEGORIES
from grid.model import CITY_CENTER, City, Location
from incidents import audit, keys, kpi, lifecycle, routing, scope
from incidents import defaults as D
from incidents.actor import SYSTEM, Actor
from incidents.config import IncidentConfig
from incidents.errors import Forbidden, IncidentError, InvalidTransition, KeyReused, NotFound
from incidents.incident import (
    CHANNELS,
    OPEN_STATES,
    STAGE_NAMES,
    Incident,
    Task,
    to_json,
)
from incidents.policy import Offer, Policy, task_is
from incidents.store import (
    PHASES,
    Change,
    Commit,
    Stale,
    Store,
    clone,
    due_score,
    phase_times,
    stage_limit,
)

CamerasNear = Callable[[float, float, float], list[dict]]
"""(lon, lat, radius_m) → nearby cameras as dicts (id, name, distance_m, ...): injectable."""

_MAX_RETRIES = 20


def _unbatched_call(method: Callable) -> Callable:
    """Intake and multi-incident actions run at once even inside ``batch()`` (they branch on
    what the server answers)."""
    @functools.wraps(method)
    def wrapper(self: IncidentService, *args: Any, **kwargs: Any) -> Any:
        with self._unbatched():
            return method(self, *args, **kwargs)
    return wrapper


VIEWS = ("new", "mine", "overdue", "open", "all")


class IncidentService:
    """The incident API. ``redis`` must use ``decode_responses=True``; ``clock`` → epoch s."""

    def __init__(self, redis: redis.Redis, city: City, config: IncidentConfig | None = None,
                 clock: Callable[[], float] = time.time, *,
                 cameras_near: CamerasNear | None = None,
                 resources_near: CamerasNear | None = None) -> None:
        self.r = redis
        self.city = city
        self.config = config or IncidentConfig()
        self.clock = clock
        self.cameras_near = cameras_near
        self.resources_near = resources_near
        self.store = Store(redis, self.config)
        self._local = threading.local()      # the open batch of this thread, if any
        self._seq_lock = threading.Lock()
        self._seq_next = self._seq_end = 0   # the reserved block of case numbers [next, end]
        self._emergency_cache: tuple[str, dict] | None = None   # (version, hash) last read
        self.policy = Policy(city)           # who may do what, now: the one rulebook

    def _next_seq(self) -> int:
        """The next case number of this object's reserved block (``config.id_block``)."""
        with self._seq_lock:
            if self._seq_next == 0 or self._seq_next > self._seq_end:
                block = max(1, int(self.config.id_block))
                self._seq_end = int(self.r.incrby(keys.SEQ, block))
                self._seq_next = self._seq_end - block + 1
            seq = self._seq_next
            self._seq_next += 1
            return seq

    def _read_emergency(self) -> tuple[str, dict]:
        """(version, emergency hash) read together; cached until a report's guard says stale."""
        p = self.r.pipeline(transaction=True)
        p.get(keys.EMERGENCY_VERSION)
        p.hgetall(keys.EMERGENCY)
        v, h = p.execute()
        self._emergency_cache = (v or "", h or {})
        return self._emergency_cache

    # ======================================================================================
    # intake (上报)
    # ======================================================================================
    @_unbatched_call
    def report(self, actor: Actor, category: str, lon: float, lat: float, *,
               severity: str = "一般", description: str = "", title: str = "",
               channel: str | None = None, idempotency_key: str | None = None,
               attachments: Sequence[str] = (), ref: str = "", area: dict | None = None,
               correlate: bool = True, on_behalf_of: str = "") -> Incident:
        """上报: intake for every channel (grid worker, iot, video_ai, hotline, external, api).

        Idempotent: the same ``idempotency_key`` (a client-generated draft id, an alarm episode)
        returns the incident made the first time (``intake == "duplicate"``) and creates nothing.
        A report of the same/related category near an open incident within the category's
        window is linked to it as one more source (``intake == "correlated"``), not opened again.
        ``area`` (GeoJSON) marks an event that covers ground: if it spans several towns it goes
        one tier up. ``on_behalf_of``: the user who found it, when an operator enters it for
        them (拆分 split); the audit names the operator. Returns the incident (``intake ==
        "created"`` when new).
        """
        now = self.clock()
        if actor.role not in scope.REPORTERS:
            self._deny(actor, "report", "该角色不上报事件 "
                                        f"(role {actor.role} does not report events)", None, now)
        if on_behalf_of and actor.role == "grid_worker":
            self._deny(actor, "report", "网格员只上报自己发现的事件 "
                                        "(grid workers report their own findings)", None, now)
        reporter = on_behalf_of or actor.user_id
        if category not in CATEGORIES:
            raise ValueError(f"未知的事件类别 {category!r} (unknown category, see grid.categories)")
        if severity not in D.SEVERITIES:
            raise ValueError(f"未知的等级 {severity!r}，应为 {'、'.join(D.SEVERITIES)} (unknown severity)")
        lon, lat = _checked_point(lon, lat)
        channel = channel or ("grid_worker" if actor.role == "grid_worker" else "api")
        loc = self.city.try_locate(lon, lat)
        source = {"channel": channel, "ref": ref, "reporter": reporter, "ts": now,
                  "description": description, "lon": lon, "lat": lat, "category": category,
                  "severity": severity, "key": idempotency_key or ""}
        towns = self._towns_touched(area) if area else 1
        correlate = correlate and self.config.correlate
        idem = _idem("report", actor, idempotency_key)
        for _ in range(_MAX_RETRIES):
            # one round trip per report: the case number comes from this object's reserved
            # block, the emergency mode from its cached copy, which the script checks is current
            seq = self._next_seq()
            ev, emergency = self._emergency_cache or self._read_emergency()
            rt = routing.route(self.city, self.config, category, severity, loc, lon=lon, lat=lat,
                               now=now, emergency=emergency or None, towns_touched=towns)
            inc = Incident(
                id=f"E{kpi.day_of(now)}{seq:06d}", category=category, severity=severity,
                channel=channel, title=title or f"{CATEGORIES[category].name}",
                description=description, lon=float(lon), lat=float(lat),
                cell_code=loc.cell_code if loc else "", village_code=loc.village_code if loc else "",
                town_code=loc.town_code if loc else "", reporter=reporter,
                reporter_center=actor.center, center=rt.center, tier=rt.tier,
                place=f"q:{rt.center}", state="reported", priority=rt.priority, created_ts=now,
                route_reason=rt.reason, emergency=int(rt.emergency), sources=[source],
                attachments=list(attachments), centers=sorted({rt.center}),
                suggested_depts=list(rt.suggested))
            # one script: idempotency key, correlation and creation together (no race between
            # two simultaneous reports of the same event)
            res = self.store.commit(None, inc, actor, "report", now, reason=rt.reason,
                                    idem=idem, correlate=correlate,
                                    guard=(keys.EMERGENCY_VERSION, ev))
            if res.status == "guard":     # 应急模式 switched since we read it: route again
                self._emergency_cache = None
                continue
            if res.status == "dup":
                return self._duplicate(res.value, actor, idempotency_key, _same_report(source))
            if res.status == "match":
                linked = self._link(res.value, source, actor, idem, now)
                if linked is not None:
                    return linked
                continue            # it closed meanwhile: try again
            break
        inc.intake = "created"
        if rt.auto_dispatch:
            inc = self._mutate(inc.id, SYSTEM, "dispatch", lambda i: self._do_dispatch(
                i, SYSTEM, list(rt.auto_dispatch), auto=True), reason="自动派遣规则 "
                                                                      "(automatic rule, admin-marked)")
            inc.intake = "created"
        return inc

    @_unbatched_call
    def assign_task(self, actor: Actor, target: str, title: str, *, description: str = "",
                    category: str = "1001", deadline_s: float | None = None,
                    lon: float | None = None, lat: float | None = None,
                    idempotency_key: str | None = None) -> Incident:
        """上情下达: a center gives a patrol/inspection task to a town, department or grid worker
        (``W<cell>``). Tracked like an incident (kind ``task``): start → handle → verify → close.
        ``deadline_s`` overrides the handle-stage deadline."""
        now = self.clock()
        try:
            tgt = routing.target_center(self.city, target)
        except KeyError:
            raise ValueError(f"未知的任务对象 {target!r} (unknown task target)") from None
        tgt_town = self.policy.town_of_target(tgt)
        why = scope.can_assign(actor, tgt, tgt_town)
        if why:
            self._deny(actor, "assign_task", why, None, now)
        idem = _idem("task", actor, idempotency_key)
        same = _same_task(tgt, title)
        if idem:
            existing = self.r.get(keys.idem(idem))
            if existing:
                return self._duplicate(existing, actor, idempotency_key, same)
        if lon is None or lat is None:
            lon, lat = self._anchor(tgt)
        lon, lat = _checked_point(lon, lat)
        loc = self.city.try_locate(lon, lat)
        seq = self._next_seq()
        inc = Incident(
            id=f"T{kpi.day_of(now)}{seq:06d}", kind="task", category=category, channel="assignment",
            title=title, description=description, lon=float(lon), lat=float(lat),
            cell_code=loc.cell_code if loc else "", village_code=loc.village_code if loc else "",
            town_code=loc.town_code if loc else (tgt_town or ""), reporter=actor.user_id,
            reporter_center=actor.center, center=actor.center,
            tier=self._tier(actor.center), place=f"x:{actor.center}", state="dispatched",
            created_ts=now, route_reason="上情下达",
            tasks=[Task(1, tgt, dispatched_ts=now,
                        town=(tgt_town or "") if tgt.startswith("W") else "")],
            centers=sorted({actor.center, tgt}), sources=[{"channel": "assignment",
                                                           "reporter": actor.user_id, "ts": now}])
        if deadline_s is not None:
            inc.handle_limit_s = float(deadline_s)
        inc.tasks[0].due_ts = now + stage_limit(inc, "handle", self.config)
        res = self.store.commit(None, inc, actor, "assign_task", now, reason=title, idem=idem)
        if res.status == "dup":
            return self._duplicate(res.value, actor, idempotency_key, same)
        inc.intake = "created"
        return inc

    # ======================================================================================
    # reads
    # ======================================================================================
    def reported_with(self, actor: Actor, idempotency_key: str) -> str | None:
        """The id of the incident ``actor`` reported with this key (kept ``idempotency_ttl_s``),
        or None: an alarm episode's incident, a phone's draft once it was sent."""
        return self.r.get(keys.idem(_idem("report", actor, idempotency_key) or ""))

    def get(self, incident_id: str, actor: Actor) -> Incident:
        """One incident, if the actor's scope covers it (else Forbidden, audited)."""
        inc = self.store.load(incident_id)
        if inc is None:
            raise NotFound(incident_id)
        why = scope.can_read(actor, inc)
        if why:
            self._deny(actor, "read", why, incident_id, self.clock())
        return inc

    def available_actions(self, incident_id: str | Incident, actor: Actor) -> list[Offer]:
        """What ``actor`` may do with the case now (``incidents.policy``): the console's buttons,
        the API's ``actions`` and the phone's task buttons all come from here. Read scope first
        (outside it: Forbidden, audited, as ``get``)."""
        inc = incident_id if isinstance(incident_id, Incident) else self.get(incident_id, actor)
        offers = self.policy.available(actor, inc)
        if any(o.action == "merge" for o in offers):
            others = tuple(self.merge_candidates(inc, actor))
            offers = [Offer(o.action, o.label, o.needs, o.hint, others) if o.action == "merge" else o
                      for o in offers if o.action != "merge" or others]
        return offers

    def merge_candidates(self, incident_id: str | Incident, actor: Actor) -> list[str]:
        """合并: the open cases near this one (``defaults.MERGE_RADIUS_M``) that ``actor`` may
        fold into it (``policy.merge_ok``: its own, not yet dispatched), nearest first."""
        inc = incident_id if isinstance(incident_id, Incident) else self.get(incident_id, actor)
        hits = self.r.geosearch(keys.GEO, longitude=inc.lon, latitude=inc.lat,
                                radius=D.MERGE_RADIUS_M, unit="m", sort="ASC", count=50)
        out = []
        for other in self.store.load_many([h for h in hits if h != inc.id]):
            if other.id != inc.id and scope.can_read(actor, other) is None \
                    and self.policy.merge_ok(actor, other) is None:
                out.append(other.id)
        return out

    def timeline(self, incident_id: str, actor: Actor) -> list[dict]:
        """The audit trail (E32) as a timeline, oldest first: ts, actor, name, role, center,
        action, reason, task, from_state, state, before, after (dicts)."""
        self.get(incident_id, actor)
        return audit.timeline(self.r, incident_id)

    def list_queue(self, actor: Actor, view: str = "mine", limit: int = 50, offset: int = 0,
                   center: str | None = None) -> list[Incident]:
        """A scoped work list, queue order (priority, then oldest first).

        ``new``: waiting in the actor's center queue, not yet accepted; ``mine``: everything at
        the actor's center (its queue, its sub-tasks, what it supervises; a grid worker's own
        reports and tasks); ``overdue``: open and past the stage deadline, in scope; ``open``: all
        open incidents in scope; ``all``: also closed ones (newest first). ``center`` lets city
        roles look at another center's queue.
        """
        if view not in VIEWS:
            raise ValueError(f"视图应为 {VIEWS} 之一 (view must be one of {VIEWS})")
        if actor.role == "admin":
            self._deny(actor, "list", "管理员管理账号，不办理事件 "
                                      "(admins manage accounts, not incidents)", None,
                       self.clock())
        now = self.clock()
        c = actor.center
        if center and center != c:
            if actor.role not in scope.CITY_READERS and not (actor.role == "supervisor" and actor.is_city):
                self._deny(actor, "list", f"无权查看 {center} 的队列 "
                                          f"(may not look at {center}'s queue)", None, now)
            c = center
        worker = actor.role == "grid_worker" and not center
        if view in ("new", "mine"):
            ids: list[str] = []
            if worker:
                for wid in scope.worker_ids(actor):
                    ids += self._place_ids(f"h:{wid}")
                ids += self.r.zrevrange(keys.by_user(actor.user_id), 0, 200)
            else:
                ids += self._place_ids(f"q:{c}")
                if view == "mine":
                    ids += self._place_ids(f"h:{c}") + self._place_ids(f"x:{c}")
            incs = self.store.load_many(_unique(ids))
            if view == "new":
                incs = [i for i in incs if i.state == "reported"]
            if worker:
                incs = [i for i in incs if scope.can_read(actor, i) is None]
            incs.sort(key=lambda i: (-i.priority, i.created_ts))
        elif view == "all":
            ids = self._scope_ids(actor, c, open_only=False, limit=max(500, offset + limit))
            incs = [i for i in self.store.load_many(ids) if self._readable(actor, i, center)]
            incs.sort(key=lambda i: -i.created_ts)
        elif self._city_wide(actor) and c == actor.center:
            # the whole city: read only the page asked for, straight from the ordered indexes
            if view == "overdue":   # the owning centers' overdue indexes, merged, most overdue first
                due = self.r.zunion([keys.overdue(c) for c in self.city.centers], withscores=True)
                ids = [i for i, ts in sorted(due, key=lambda x: x[1]) if ts < now][offset:offset + limit]
            else:
                ids = self.r.zrange(keys.OPEN, offset, offset + limit - 1)
            incs = [i for i in self.store.load_many(ids) if i.state in OPEN_STATES]
            if view == "open":
                incs.sort(key=lambda i: (-i.priority, i.created_ts))
            return incs
        else:
            ids = self._scope_ids(actor, c, open_only=True, limit=5000)
            incs = [i for i in self.store.load_many(ids)
                    if i.state in OPEN_STATES and self._readable(actor, i, center)]
            if view == "overdue":   # the case past its stage deadline, or a part of it that
                incs = [i for i in incs if i.overdue(now) or any(   # this center handles past its own
                    t.open and t.center == c and 0 < t.due_ts < now for t in i.tasks)]
            incs.sort(key=lambda i: (-i.priority, i.created_ts))
        return incs[offset:offset + limit]

    def queue_depths(self) -> dict[str, int]:
        """Work items waiting per place (q:/x:/h:) → count, for the ops page and the wall."""
        out = {}
        for k in self.r.scan_iter(match=keys.place("*"), count=500):
            out[k.removeprefix(keys.place(""))] = int(self.r.zcard(k))
        return out

    # ======================================================================================
    # lifecycle (owning-center actions)
    # ======================================================================================
    def accept(self, incident_id: str, actor: Actor, note: str = "") -> Incident:
        """受理: the owning center takes the report into its work."""
        def fn(i: Incident) -> None:
            self.policy.check("accept", actor, i)
            i.state = "accepted"
        return self._mutate(incident_id, actor, "accept", fn, reason=note)

    def register(self, incident_id: str, actor: Actor, note: str = "") -> Incident:
        """立案: the case is confirmed as a valid case to handle."""
        def fn(i: Incident) -> None:
            self.policy.check("register", actor, i)
            i.state = "registered"
        return self._mutate(incident_id, actor, "register", fn, reason=note)

    def dispatch(self, incident_id: str, actor: Actor, dept_codes: Iterable[str],
                 note: str = "") -> Incident:
        """派遣: send the case to one or more handlers (一处发现、多项联动: one sub-task each).

        ``dept_codes``: department codes (``CG``) or center codes (``DCG``, ``T<town>``) or grid
        workers (``W<cell>``). Dispatching from 受理 registers (立案) implicitly; in 应急模式 a
        case is dispatched straight from 上报 (accepted on dispatch)."""
        targets = list(dept_codes)
        return self._mutate(incident_id, actor, "dispatch",
                            lambda i: self._do_dispatch(i, actor, targets), reason=note)

    def verify(self, incident_id: str, actor: Actor, passed: bool, note: str = "") -> Incident:
        """核查: the supervising side (never the handler, T11) checks the result. ``passed=False``
        reopens the case: its sub-tasks go back to their handlers."""
        def fn(i: Incident) -> None:
            self.policy.check("verify", actor, i)
            if passed:
                i.state = "verified"
                i.place = f"q:{i.center}"
            else:
                i.state = "dispatched"
                i.place = f"x:{i.center}"
                i.reopen_count += 1
                now = self.clock()
                limit = stage_limit(i, "handle", self.config)
                for t in i.tasks:
                    if t.state == "handled":
                        t.state, t.dispatched_ts, t.started_ts, t.handled_ts = "dispatched", now, 0.0, 0.0
                        t.due_ts = now + limit
        action = "verify" if passed else "reopen"
        return self._mutate(incident_id, actor, action, fn, reason=note, reset_stage=not passed)

    def close(self, incident_id: str, actor: Actor, note: str = "") -> Incident:
        """结案: the dispatching center closes a verified case (never the handler, T11)."""
        def fn(i: Incident) -> None:
            self.policy.check("close", actor, i)
            i.state, i.place = "closed", ""
        return self._mutate(incident_id, actor, "close", fn, reason=note)

    def void(self, incident_id: str, actor: Actor, reason: str) -> Incident:
        """作废: a duplicate or invalid report, with a reason (required)."""
        if not reason.strip():
            raise ValueError("作废须说明原因 (void needs a reason)")

        def fn(i: Incident) -> None:
            self.policy.check("void", actor, i)
            i.state, i.place, i.void_reason = "voided", "", reason
        return self._mutate(incident_id, actor, "void", fn, reason=reason)

    def return_(self, incident_id: str, actor: Actor, reason: str, task: int | None = None) -> Incident:
        """退回. A handler returns its sub-task to the dispatching center (not ours / cannot do);
        when no sub-task is left the case waits again in the center's queue (立案, re-dispatch).
        The owning center returns a case it received from below (escalated) to that center."""
        if not reason.strip():
            raise ValueError("退回须说明原因 (return needs a reason)")

        def fn(i: Incident) -> int | None:
            lifecycle.check("return", i.state, i.id)
            t = self.policy.my_task(actor, i, task, required=False)
            if t is not None:
                t.state, t.note = "returned", reason
                self._after_task_change(i)
                # others still work on it: the case waits in the owner's queue all the same,
                # to be sent to someone else (改派) or verified without that part later
                i.place = f"q:{i.center}"
                return t.n
            self.policy.return_down(actor, i)
            down = i.origin.pop()
            i.center, i.tier, i.place, i.state = down, self._tier(down), f"q:{down}", "reported"
            if down not in i.centers:
                i.centers.append(down)
            return None
        return self._mutate(incident_id, actor, "return", fn, reason=reason, reset_stage=True)

    def escalate(self, incident_id: str, actor: Actor, reason: str = "") -> Incident:
        """上报: the owning center sends the case one tier up (town/department → city)."""
        def fn(i: Incident) -> None:
            self.policy.check("escalate", actor, i)
            self._move_up(i)
        return self._mutate(incident_id, actor, "escalate", fn, reason=reason, reset_stage=True)

    def take_over(self, incident_id: str, actor: Actor, reason: str = "") -> Incident:
        """接管: the city center takes over any open incident (it becomes the owner)."""
        def fn(i: Incident) -> None:
            self.policy.check("take_over", actor, i)
            i.origin.append(i.center)
            self._set_owner(i, CITY_CENTER)
        return self._mutate(incident_id, actor, "take_over", fn, reason=reason, reset_stage=True)

    def urge(self, incident_id: str, actor: Actor, note: str = "") -> Incident:
        """督办: press the current holder of an open case (recorded; counts in KPIs)."""
        def fn(i: Incident) -> None:
            self.policy.check("urge", actor, i)
            i.urged += 1
        return self._mutate(incident_id, actor, "urge", fn, reason=note)

    def callback(self, incident_id: str, actor: Actor, satisfaction: int, note: str = "") -> Incident:
        """回访: record the reporter's satisfaction (1–5, 好差评 E35) on a closed case, once."""
        if not 1 <= int(satisfaction) <= 5:
            raise ValueError("满意度为 1 到 5 (satisfaction is 1..5)")

        def fn(i: Incident) -> None:
            self.policy.check("callback", actor, i)
            i.satisfaction = int(satisfaction)
        return self._mutate(incident_id, actor, "callback", fn, reason=note)

    def note(self, incident_id: str, actor: Actor, text: str, idempotency_key: str | None = None
             ) -> Incident:
        """备注: add a note to the trail (anyone who may read the case)."""
        def fn(i: Incident) -> None:
            self.policy.check("note", actor, i)
        return self._mutate(incident_id, actor, "note", fn, reason=text,
                            idem=_idem("note", actor, idempotency_key))

    def update_severity(self, incident_id: str, actor: Actor, severity: str, reason: str = "",
                        idempotency_key: str | None = None) -> Incident:
        """定级: change the severity. Raised to 重大 or above, the case goes to the city center."""
        if severity not in D.SEVERITIES:
            raise ValueError(f"未知的等级 {severity!r} (unknown severity)")

        def fn(i: Incident) -> None:
            self.policy.check("severity", actor, i)
            self._set_severity(i, severity)
        return self._mutate(incident_id, actor, "severity", fn, reason=reason,
                            idem=_idem("severity", actor, idempotency_key))

    # ======================================================================================
    # handler actions (sub-tasks)
    # ======================================================================================
    def start(self, incident_id: str, actor: Actor, task: int | None = None, note: str = "") -> Incident:
        """开始处置: a handler starts its sub-task."""
        def fn(i: Incident) -> int:
            lifecycle.check("start", i.state, i.id)
            t = self.policy.my_task(actor, i, task)
            if t.state != "dispatched":
                raise InvalidTransition("start", t.state, task_is(t), i.id)
            t.state, t.started_ts, t.handler = "in_progress", self.clock(), actor.user_id
            i.state = "in_progress"
            return t.n
        return self._mutate(incident_id, actor, "start", fn, reason=note)

    def handle(self, incident_id: str, actor: Actor, task: int | None = None, note: str = "",
               attachments: Sequence[str] = ()) -> Incident:
        """反馈 (处置完毕): a handler reports its sub-task done; when every sub-task is done the
        case goes back to the dispatching center's queue for 核查."""
        def fn(i: Incident) -> int:
            lifecycle.check("handle", i.state, i.id)
            t = self.policy.my_task(actor, i, task)
            if not t.open:
                raise InvalidTransition("handle", t.state, task_is(t), i.id)
            now = self.clock()
            t.state, t.handled_ts, t.note = "handled", now, note
            t.handler = t.handler or actor.user_id
            if not t.started_ts:
                t.started_ts = now
            i.attachments += list(attachments)
            self._after_task_change(i)
            return t.n
        return self._mutate(incident_id, actor, "handle", fn, reason=note)

    report_back = handle

    def perform(self, incident_id: str, actor: Actor, action: str, body: dict | None = None
                ) -> Incident:
        """Do an action declared in ``incidents.actions`` with its own ``check`` and ``apply``
        (e.g. 加急): asked of the policy, applied to a copy, committed by the one write path."""
        from incidents.actions import REGISTRY  # noqa: PLC0415

        spec = REGISTRY[action]
        if spec.apply is None:
            raise KeyError(f"{action} is done by its own method, not perform()")
        args = dict(body or {})

        def fn(i: Incident) -> None:
            self.policy.check(action, actor, i)
            spec.apply(i, actor, args)
        return self._mutate(incident_id, actor, action, fn,
                            reason=str(args.get(spec.reason_field) or args.get("note") or "")[:2000],
                            reset_stage=spec.reset_stage)

    # ======================================================================================
    # correlation: merge / split
    # ======================================================================================
    @_unbatched_call
    def merge(self, target_id: str, other_ids: Iterable[str], actor: Actor, reason: str = "") -> Incident:
        """合并: fold other incidents into ``target_id`` (their sources move over; each other
        one is voided as a duplicate, linked to the target). Everything is checked first, so a
        refusal changes nothing; then the target takes each source before the other is voided
        (an interruption can leave a source twice, never lose one; merging again finishes it
        without taking the sources twice)."""
        others = [o for o in dict.fromkeys(other_ids) if o != target_id]
        target = self.get(target_id, actor)
        now = self.clock()
        self._ask("merge", actor, target, now)
        loaded = []
        for oid in others:
            o = self.get(oid, actor)
            why = self.policy.merge_ok(actor, o)
            if isinstance(why, Forbidden):
                self._deny(actor, "merge", why.reason, oid, now)
            if why is not None:
                raise why
            loaded.append(o)
        for other in loaded:
            def add_fn(i: Incident, o: Incident = other) -> None:
                self.policy.check("merge", actor, i)
                # taken over already by a merge that was cut short: not twice (a retry finishes it)
                if not any(s.get("merged_from") == o.id for s in i.sources):
                    i.sources += [dict(s, merged_from=o.id) for s in o.sources]
                i.attachments += [a for a in o.attachments if a not in i.attachments]
                if o.id not in i.links:
                    i.links.append(o.id)
                self._set_severity(i, _max_sev(i.severity, o.severity))
            target = self._mutate(target_id, actor, "merge", add_fn,
                                  reason=reason or f"合并 {other.id} (merged {other.id})")

            def void_fn(i: Incident, tid: str = target_id) -> None:
                why = self.policy.merge_ok(actor, i)
                if why is not None:
                    raise why
                i.state, i.place, i.merged_into = "voided", "", tid
                i.void_reason = f"已合并到 {tid} (merged into {tid})"
                if tid not in i.links:
                    i.links.append(tid)
            self._mutate(other.id, actor, "merge", void_fn, reason=reason or f"合并到 {target_id} "
                                                                             f"(merged into {target_id})")
        return target

    @_unbatched_call
    def split(self, incident_id: str, actor: Actor, source_index: int, reason: str = "") -> Incident:
        """拆分: take one linked source out of a correlated incident into a new incident of its
        own (it was not the same event after all). Returns the new incident. The new incident is
        made before the source is removed: an interruption never loses a report, and splitting
        the same source again finishes the job with the incident made the first time."""
        inc = self.get(incident_id, actor)
        if not 0 < source_index < len(inc.sources):
            raise ValueError(f"拆分的来源序号应为 1..{len(inc.sources) - 1}，0 是首报 "
                             f"(source_index must be 1..{len(inc.sources) - 1})")
        self._ask("split", actor, inc, self.clock())
        src = inc.sources[source_index]
        new = self.report(actor, src["category"], src["lon"], src["lat"],
                          severity=src.get("severity", "一般"), description=src.get("description", ""),
                          channel=src.get("channel"), ref=src.get("ref", ""), correlate=False,
                          on_behalf_of=src.get("reporter") or "",
                          idempotency_key=f"split:{incident_id}:{src.get('ts', '')}:"
                                          f"{src.get('reporter', '')}")

        def fn(i: Incident) -> None:
            self.policy.check("split", actor, i)
            if src in i.sources[1:]:
                i.sources.remove(src)
            if new.id not in i.links:
                i.links.append(new.id)

        def back_link(i: Incident) -> None:
            if incident_id not in i.links:
                i.links.append(incident_id)
        self._mutate(incident_id, actor, "split", fn, reason=reason or f"拆分出 {new.id} "
                                                                       f"(split into {new.id})")
        return self._mutate(new.id, SYSTEM, "note", back_link,
                            reason=f"由 {actor.user_id} 从 {incident_id} 拆分 "
                                   f"(split from {incident_id} by {actor.user_id})")

    # ======================================================================================
    # routing suggestions (E30: a person confirms)
    # ======================================================================================
    def suggest_routing(self, incident_id: str, actor: Actor | None = None) -> dict[str, Any]:
        """Suggestions for the operator to confirm: departments (line owner 条 and related),
        nearby cameras and resources (injectable functions), similar past incidents."""
        viewer = actor or SYSTEM
        inc = self.get(incident_id, viewer)
        depts = []
        seen = set()
        for code in [routing.line_owner(self.city, inc.category)] + list(inc.suggested_depts) + [
                routing.line_owner(self.city, s.get("category", "")) for s in inc.sources]:
            if code and code not in seen and code in self.city.centers:
                seen.add(code)
                depts.append({"center": code, "name": self.city.centers[code].name,
                              "why": "条: line owner of the category"})
        cams = self.cameras_near(inc.lon, inc.lat, 500.0) if self.cameras_near else []
        res = self.resources_near(inc.lon, inc.lat, 2000.0) if self.resources_near else []
        similar = []
        hits = self.r.geosearch(keys.GEO_HIST, longitude=inc.lon, latitude=inc.lat,
                                radius=D.SIMILAR_RADIUS_M, unit="m", sort="ASC", count=200,
                                withdist=True)
        cand = [(h[0], float(h[1])) for h in hits if h[0] != inc.id]
        for other in self.store.load_many([c[0] for c in cand]):
            if other.id == inc.id or not self.config.related_to(other.category, inc.category):
                continue
            if other.state != "closed" or (viewer is not SYSTEM and scope.can_read(viewer, other)):
                continue            # closed ones the operator may read (S1/S2)
            dist = next(d for i, d in cand if i == other.id)
            similar.append({"id": other.id, "category": other.category, "title": other.title,
                            "state": other.state, "distance_m": round(dist, 1),
                            "handlers": sorted(other.handler_centers),
                            "created_ts": other.created_ts})
            if len(similar) >= D.SIMILAR_LIMIT:
                break
        return {"owner": inc.center, "reason": inc.route_reason, "departments": depts,
                "cameras": cams, "resources": res, "similar": similar}

    # ======================================================================================
    # emergency mode (应急模式)
    # ======================================================================================
    def emergency_on(self, area: dict, until: float, actor: Actor, reason: str = "") -> dict:
        """应急模式 on: new incidents inside ``area`` (GeoJSON) until ``until`` (epoch s) route to
        the city center with priority. City commander only; audited (``emergency_log``)."""
        now = self.clock()
        self._commander_only(actor, "emergency_on", now)
        if until <= now:
            raise ValueError("结束时间须晚于现在 (until must be in the future)")
        routing.parse_area(area)  # validate before storing
        state = {"area": json.dumps(area, ensure_ascii=False), "until": repr(float(until)),
                 "since": repr(now), "by": actor.user_id, "reason": reason}
        self._switch_emergency(actor, "emergency_on", reason, now, state)
        return self.emergency_state() or {}

    def emergency_off(self, actor: Actor, reason: str = "") -> None:
        """应急模式 off (city commander only; audited)."""
        now = self.clock()
        self._commander_only(actor, "emergency_off", now)
        self._switch_emergency(actor, "emergency_off", reason, now, None)

    def _commander_only(self, actor: Actor, action: str, now: float) -> None:
        if actor.role != "city_commander":
            self._deny(actor, action, "只有市指挥长可以启动/解除应急模式 "
                       "(only the city commander switches emergency mode)", None, now)

    def _switch_emergency(self, actor: Actor, action: str, reason: str, now: float,
                          state: dict | None) -> None:
        """Replace the emergency mode and append its audit entry (who, role, center, when, why,
        before/after: E32) in one MULTI/EXEC; the version bump makes reports route again."""
        while True:
            with self.r.pipeline() as p:
                try:
                    p.watch(keys.EMERGENCY)
                    before = p.hgetall(keys.EMERGENCY)
                    p.multi()
                    p.delete(keys.EMERGENCY)
                    if state:
                        p.hset(keys.EMERGENCY, mapping=state)
                    p.incr(keys.EMERGENCY_VERSION)
                    p.xadd(keys.EMERGENCY_LOG, {"e": to_json({
                        "ts": now, "actor": actor.user_id, "name": actor.name, "role": actor.role,
                        "center": actor.center, "action": action, "reason": reason,
                        "before": _emergency_view(before), "after": _emergency_view(state or {})})})
                    p.execute()
                    return
                except redis.WatchError:
                    continue

    def emergency_log(self, actor: Actor, limit: int = 100) -> list[dict]:
        """应急模式 switches, newest first (ts, actor, name, role, center, action, reason, before,
        after): city roles only."""
        if not IncidentService._city_wide(actor):
            self._deny(actor, "emergency_log", "应急记录仅限市中心查看 "
                                               "(the emergency log is the city center's)", None, self.clock())
        return [audit.entry(i, f) for i, f in self.r.xrevrange(keys.EMERGENCY_LOG, count=limit)]

    def emergency_state(self) -> dict | None:
        """The active emergency mode (area as a dict, until, since, by, reason) or None."""
        h = self.r.hgetall(keys.EMERGENCY)
        if not h or float(h.get("until", 0)) < self.clock():
            return None
        return {"area": json.loads(h["area"]), "until": float(h["until"]),
                "since": float(h.get("since", 0)), "by": h.get("by", ""), "reason": h.get("reason", "")}

    # ======================================================================================
    # KPIs and the map
    # ======================================================================================
    def kpis(self, center: str | None = None, since: float | None = None,
             until: float | None = None) -> dict:
        """KPIs (考核) of a center, or of the whole city: received, accepted/dispatched/handled
        on time (+ rates), closure rate, overdue now, reopen rate, mean/p90 per stage,
        satisfaction. Kept incrementally; ``since``/``until`` select whole days (UTC+8)."""
        return kpi.read(self.r, center, since, until, self.clock(), owners=list(self.city.centers))

    def open_incidents_frame(self) -> pd.DataFrame:
        """Every open incident for the map: id, category, category_name, severity, state,
        center, tier, lon, lat, town_code, overdue, created_ts, title, priority, n_sources."""
        ids = self.r.zrange(keys.OPEN, 0, -1)
        cols = ["id", "category", "severity", "state", "center", "tier", "lon", "lat",
                "town_code", "due_ts", "created_ts", "title", "priority", "sources"]
        p = self.r.pipeline(transaction=False)
        for i in ids:
            p.hmget(keys.incident(i), cols)
        rows = [r for r in p.execute() if r[0]]
        now = self.clock()
        df = pd.DataFrame(rows, columns=cols)
        out = pd.DataFrame({
            "id": df["id"].astype(str), "category": df["category"].astype(str),
            "category_name": [CATEGORIES[c].name if c in CATEGORIES else c for c in df["category"]],
            "severity": df["severity"].astype(str), "state": df["state"].astype(str),
            "center": df["center"].astype(str), "tier": df["tier"].astype(str),
            "lon": pd.to_numeric(df["lon"]).astype(float), "lat": pd.to_numeric(df["lat"]).astype(float),
            "town_code": df["town_code"].astype(str),
            "overdue": (pd.to_numeric(df["due_ts"]).astype(float) > 0)
            & (pd.to_numeric(df["due_ts"]).astype(float) < now),
            "created_ts": pd.to_numeric(df["created_ts"]).astype(float),
            "title": df["title"].astype(str),
            "priority": pd.to_numeric(df["priority"]).astype(int),
            "n_sources": [len(json.loads(s or "[]")) for s in df["sources"]],
        })
        return out

    # ======================================================================================
    # deadlines (used by incidents.deadlines.DeadlineWorker)
    # ======================================================================================
    def fire_deadline(self, member: str) -> str:
        """Act on one due deadline event ``id|stage|phase`` exactly once (atomic claim): 预警
        warn, 督办 urge, or 上报 escalate one tier. Returns what happened ('warn', 'urge',
        'escalate', 'stale', 'claimed')."""
        inc_id, stage, phase = member.split("|")
        for _ in range(_MAX_RETRIES):
            inc, _ = self.store.for_update(inc_id, fresh=True)
            if inc is None or inc.stage != stage or inc.state not in OPEN_STATES:
                self.r.zrem(keys.DUE, member)
                return "stale"
            now = self.clock()
            due = self.r.zscore(keys.DUE, member)
            if due is None or due > now:   # fired by another worker, or re-armed (reopened) since
                return "stale"
            new = clone(inc)
            reset = False
            reason = f"deadline {stage} ({inc.due_ts:.0f})"
            # only the stage's next event is armed: firing one arms the one after it
            nxt = PHASES[PHASES.index(phase) + 1] if phase != PHASES[-1] else None
            extra = [["ZADD", keys.DUE, due_score(phase_times(inc, self.config)[nxt]),
                      f"{inc_id}|{stage}|{nxt}"]] if nxt else None
            if phase == "urge":
                new.urged += 1
                action, reason = "urge", f"督办: {STAGE_NAMES.get(stage, stage)}超时 ({stage} overdue)"
            elif phase == "escalate":
                action = "escalate"
                if inc.center != CITY_CENTER:
                    self._move_up(new)
                    reset = True
                    reason = (f"上报: {STAGE_NAMES.get(stage, stage)}严重超时，上提一级 "
                              f"({stage} overdue past the limit)")
                else:
                    reason = (f"{STAGE_NAMES.get(stage, stage)}严重超时，已在最高层级 "
                              f"({stage} overdue past the limit at the top tier)")
            else:
                action, reason = "warn", f"预警: {STAGE_NAMES.get(stage, stage)}即将到期 ({stage} due soon)"
            try:
                res = self.store.commit(inc, new, SYSTEM, action, now, reason=reason, claim=member,
                                        reset_stage=reset, extra=extra)
            except Stale:
                continue
            if res.status == "claimed":
                return "claimed"
            return action
        return "stale"

    # ======================================================================================
    # internals
    # ======================================================================================
    def _mutate(self, incident_id: str, actor: Actor, action: str, fn: Callable[[Incident], Any], *,
                reason: str = "", reset_stage: bool = False, idem: str | None = None) -> Incident:
        """Read (cached), check + change with ``fn``, commit atomically; re-read and retry when
        the incident changed meanwhile. A refusal is re-checked on fresh data, then audited.
        Inside ``batch()`` the change is queued instead (and the predicted incident returned)."""
        b = getattr(self._local, "batch", None)
        if b is not None:
            return self._queue(b, incident_id, actor, action, fn, reason, reset_stage, idem)
        fresh = False
        for _ in range(_MAX_RETRIES):
            old, new, task_n = self._check(incident_id, actor, action, fn, fresh=fresh)
            try:
                res = self.store.commit(old, new, actor, action, self.clock(), reason=reason,
                                        task_n=task_n if isinstance(task_n, int) else None,
                                        idem=idem, reset_stage=reset_stage)
            except Stale:
                fresh = True
                continue
            if res.status == "dup":
                # a retry: answered with what the first call made (a concurrent retry of a
                # correlated report may have linked it first); a key of another case: refused
                if res.value != incident_id and action != "correlate":
                    raise KeyReused(idem or "", res.value)
                return self.store.load(res.value)  # type: ignore[return-value]
            return new
        raise Stale(incident_id)

    def _check(self, incident_id: str, actor: Actor, action: str, fn: Callable[[Incident], Any],
               fresh: bool = False, base: Incident | None = None) -> tuple[Incident, Incident, Any]:
        """(old, new, fn's result): ``fn`` applied to a copy; refusals re-checked on fresh data
        (a cached copy may be old), then audited and raised."""
        while True:
            if base is not None:
                old, cached = base, False
            else:
                old, cached = self.store.for_update(incident_id, fresh=fresh)
            if old is None:
                raise NotFound(incident_id)
            new = clone(old)
            try:
                return old, new, fn(new)
            except (Forbidden, InvalidTransition) as exc:
                if cached:
                    fresh = True
                    continue
                now = self.clock()
                if isinstance(exc, Forbidden):
                    self.store.audit_denied(actor, action, exc.reason, incident_id, now)
                raise

    # --- batches ----------------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Queue the lifecycle actions called inside (accept, dispatch, handle, verify, close,
        urge, …) and send them in ONE round trip on exit: a console or worker working through a
        queue batch. A long batch is sent in chunks of ~``defaults.BATCH_SEND_EVERY`` while the
        rest is prepared (Redis works in parallel with the caller; replies are read on exit).
        Each action is still checked when called (refusals raise at once) and still runs
        atomically on its own; several actions on one incident are chained so a later
        one never lands if an earlier one did not. Actions the server refused for a concurrent
        change are redone one by one. ``Batch.results`` holds, per queued action, the incident
        or the error. Calls inside return the *predicted* incident. Intake (report,
        assign_task, merge, split) is never batched. Per thread; nested batches join."""
        if getattr(self._local, "batch", None) is not None:
            yield self._local.batch
            return
        b = Batch()
        self._local.batch = b
        try:
            yield b
        finally:
            self._local.batch = None
            self._flush(b)

    def prefetch(self, items: Iterable[Any]) -> int:
        """Read the incidents a queue batch is about in one round trip before working it (with
        ``batch()``: one read + one write round trip per batch instead of one read per incident).
        ``items``: incident ids, or queue entries (``incident_id``/``version``: a cached copy at
        least that new is kept). Returns how many were read. Scope and transitions are still
        checked per action; a copy that turns out old only costs a retry (version check)."""
        wanted: dict[str, int] = {}
        for it in items:
            if isinstance(it, str):
                wanted[it] = 1 << 62        # no version known: always read
            else:
                wanted[it.incident_id] = max(wanted.get(it.incident_id, 0), int(it.version))
        return self.store.prefetch(wanted)

    @contextmanager
    def _unbatched(self) -> Iterator[None]:
        saved = getattr(self._local, "batch", None)
        self._local.batch = None
        try:
            yield
        finally:
            self._local.batch = saved

    def _queue(self, b: Batch, incident_id: str, actor: Actor, action: str, fn: Callable, reason: str,
               reset_stage: bool, idem: str | None) -> Incident:
        prev = b.state.get(incident_id)
        old, new, task_n = self._check(incident_id, actor, action, fn,
                                       base=prev[0] if prev else None)
        change = self.store.prepare(old, new, actor, action, self.clock(), reason=reason,
                                    task_n=task_n if isinstance(task_n, int) else None,
                                    idem=idem, reset_stage=reset_stage,
                                    after_token=prev[1] if prev else None)
        b.items.append(_Queued(incident_id, actor, action, fn, reason, reset_stage, idem, new, change))
        b.state[incident_id] = (new, change.token)
        if len(b.items) - b.sent > D.BATCH_SEND_EVERY:
            self._send_ready(b)
        return new

    def _send_ready(self, b: Batch) -> None:
        """Send the queued changes that no later one can join: all but the trailing run of the
        last incident (its next step, if it comes, shares their script call)."""
        items, end = b.items, len(b.items) - 1
        last = items[end].incident_id
        while end > b.sent and items[end - 1].incident_id == last:
            end -= 1
        if end > b.sent:
            if b.stream is None:
                b.stream = self.store.stream()
            b.stream.send([it.change for it in items[b.sent:end]])
            b.sent = end

    def _flush(self, b: Batch) -> None:
        items, b.items, b.state = b.items, [], {}
        if b.stream is None:      # a small batch: one round trip on the thread's connection
            results = self.store.commit_many([it.change for it in items])
        else:                     # the rest of a streamed one, then every reply
            stream, b.stream, sent, b.sent = b.stream, None, b.sent, 0
            stream.send([it.change for it in items[sent:]])
            results = stream.results()
        redo: set[str] = set()
        for it, res in zip(items, results, strict=True):
            if it.incident_id not in redo and isinstance(res, Commit) and res.status == "ok":
                b.results.append(it.new)
                continue
            redo.add(it.incident_id)   # and every later action on it: they were chained
            try:
                b.results.append(self._mutate(it.incident_id, it.actor, it.action, it.fn,
                                              reason=it.reason, reset_stage=it.reset_stage,
                                              idem=it.idem))
            except IncidentError as exc:
                b.results.append(exc)

    def _ask(self, action: str, actor: Actor, inc: Incident, now: float) -> None:
        """``policy.check`` outside ``_mutate`` (merge, split: several cases): a Forbidden is
        audited as every refusal is."""
        try:
            self.policy.check(action, actor, inc)
        except Forbidden as exc:
            self._deny(actor, action, exc.reason, inc.id, now)

    def _deny(self, actor: Actor, action: str, why: str, incident_id: str | None, now: float):
        self.store.audit_denied(actor, action, why, incident_id, now)
        raise Forbidden(action, actor, why, incident_id)

    def _do_dispatch(self, i: Incident, actor: Actor, targets: list[str], auto: bool = False) -> None:
        """派遣 one sub-task per target. On a case already out with its handlers this is 追加派遣 /
        改派: more handlers, e.g. instead of one that returned its part (退回)."""
        if auto:
            self.policy.check_auto_dispatch(i)
        else:
            self.policy.check("dispatch", actor, i)
        # an admin-marked automatic rule, or 应急模式 (fast path): accepted on dispatch
        if (auto or i.emergency) and i.state == "reported":
            i.state = "accepted"
        if not targets:
            raise ValueError("请选择至少一个派遣单位 (dispatch needs at least one department)")
        now = self.clock()
        busy = {t.center for t in i.open_tasks}
        picked: list[tuple[str, str]] = []
        for code in targets:
            c, town = self.policy.dispatch_target(i, actor, code)
            if c in busy:
                raise InvalidTransition("dispatch", i.state, f"{c} 已有办理中的子任务，无需重复派遣 "
                                                             f"({c} already has an open sub-task)", i.id)
            if all(c != p for p, _ in picked):
                picked.append((c, town))
        limit = stage_limit(i, "handle", self.config)
        n0 = max((t.n for t in i.tasks), default=0)
        for k, (c, town) in enumerate(picked, 1):
            i.tasks.append(Task(n0 + k, c, dispatched_ts=now, due_ts=now + limit, town=town))
            if c not in i.centers:
                i.centers.append(c)
        if i.state in lifecycle.OUT:      # added to a running case: its stage clock runs on
            self._after_task_change(i)
        else:
            i.state = "dispatched"
        i.place = f"x:{i.center}"

    def _after_task_change(self, i: Incident) -> None:
        """Parent state from its sub-tasks: handled when every active one is (fan-out)."""
        active = i.active_tasks
        if not active:  # all returned: back to the center's queue for re-dispatch
            i.state, i.place = "registered", f"q:{i.center}"
        elif all(t.state == "handled" for t in active):
            i.state, i.place = "handled", f"q:{i.center}"
        elif any(t.state == "in_progress" for t in active) or any(t.state == "handled" for t in active):
            i.state = "in_progress"
        else:
            i.state = "dispatched"

    def _set_severity(self, i: Incident, severity: str) -> None:
        """定级 (by hand, or raised by a correlated report or a merge): 重大 and above go to the
        city center, first in its queue (T3); the deadlines of the running stage (store.prepare)
        and of the open sub-tasks follow the new severity."""
        if severity == i.severity:
            return
        i.severity = severity
        if severity in self.config.major_severities:
            i.priority = 1
            if i.center != CITY_CENTER:
                i.origin.append(i.center)
                self._set_owner(i, CITY_CENTER)
        limit = stage_limit(i, "handle", self.config)
        for t in i.open_tasks:
            t.due_ts = t.dispatched_ts + limit

    def _move_up(self, i: Incident) -> None:
        parent = self.city.centers[i.center].parent if i.center in self.city.centers else CITY_CENTER
        if i.center == CITY_CENTER or parent is None:
            raise InvalidTransition("escalate", i.state, "市中心已是最高层级 "
                                                         "(the city center is the top tier)", i.id)
        i.origin.append(i.center)
        i.escalations += 1
        self._set_owner(i, parent)

    def _set_owner(self, i: Incident, center: str) -> None:
        i.center, i.tier = center, self._tier(center)
        if i.place:
            i.place = f"{i.place[0]}:{center}"
        if center not in i.centers:
            i.centers.append(center)

    def _tier(self, center: str) -> str:
        c = self.city.centers.get(center)
        return c.tier if c else "town"

    def _anchor(self, target: str) -> tuple[float, float]:
        """A representative point for a task without a location (the target's area)."""
        geom = None
        if target.startswith("W"):
            rows = self.city.cells[self.city.cells["code"] == target[1:]]
            geom = rows.geometry.iloc[0] if len(rows) else None
        elif target.startswith("T"):
            rows = self.city.towns[self.city.towns["code"] == target[1:]]
            geom = rows.geometry.iloc[0] if len(rows) else None
        p = (geom if geom is not None else self.city.boundary).representative_point()
        return float(p.x), float(p.y)

    def _towns_touched(self, area: dict) -> int:
        geom = routing.parse_area(area)
        towns = self.city.towns
        return int(towns.geometry.intersects(geom).sum())

    def _link(self, target_id: str, source: dict, actor: Actor, idem: str | None,
              now: float) -> Incident | None:
        def fn(i: Incident) -> None:
            if i.state not in OPEN_STATES:
                raise InvalidTransition("correlate", i.state, "事件已办结 (closed meanwhile)", i.id)
            i.sources.append(source)
            self._set_severity(i, _max_sev(i.severity, source["severity"]))
        try:
            inc = self._mutate(target_id, SYSTEM, "correlate", fn, idem=idem,
                               reason=f"{CHANNELS.get(source['channel'], source['channel'])}上报"
                                      f"（{actor.user_id}）已关联: 附近有同类/相关类别的在办事件 "
                                      f"({source['channel']} report by {actor.user_id} linked: "
                                      f"same/related category nearby)")
        except InvalidTransition:
            return None
        if source["reporter"]:
            self.r.zadd(keys.by_user(source["reporter"]), {target_id: now})
        inc.intake = "correlated"
        return inc

    def _duplicate(self, incident_id: str, actor: Actor, key: str | None,
                   same: Callable[[Incident, str], bool]) -> Incident:
        """What a retried intake (same key, same user) made the first time. A key reused for
        another request is refused (KeyReused), not answered with an unrelated incident."""
        inc = self.store.load(incident_id)
        if inc is None:
            raise NotFound(incident_id)
        if not same(inc, key or ""):
            raise KeyReused(key or "", incident_id)
        why = scope.can_read(actor, inc)
        if why:
            self._deny(actor, "read", why, incident_id, self.clock())
        inc.intake = "duplicate"
        return inc

    def _place_ids(self, place_code: str) -> list[str]:
        return [m.split("#", 1)[0] for m in self.r.zrange(keys.place(place_code), 0, 1000)]

    def _scope_ids(self, actor: Actor, center: str, open_only: bool, limit: int) -> list[str]:
        if self._city_wide(actor) and center == actor.center:
            key = keys.OPEN if open_only else keys.ALL
            return self.r.zrevrange(key, 0, limit - 1)
        if actor.role == "grid_worker":
            ids = list(self.r.zrevrange(keys.by_user(actor.user_id), 0, limit - 1))
            for wid in scope.worker_ids(actor):
                ids += self.r.zrevrange(keys.involved(wid), 0, limit - 1)
            return _unique(ids)
        ids = list(self.r.zrevrange(keys.involved(center), 0, limit - 1))
        if center.startswith("T") and open_only:
            ids += self.r.zrange(keys.town(center[1:]), 0, limit - 1)
        return _unique(ids)

    @staticmethod
    def _city_wide(actor: Actor) -> bool:
        return actor.role in scope.CITY_READERS or (actor.role == "supervisor" and actor.is_city)

    def _readable(self, actor: Actor, i: Incident, center: str | None) -> bool:
        if center and center != actor.center:
            return center in i.centers or center == i.center or (
                center.startswith("T") and i.town_code == center[1:])
        return scope.can_read(actor, i) is None


@dataclass
class Batch:
    """Actions queued by ``IncidentService.batch()``; after the block, ``results`` holds one
    entry per action, in order: the incident after it, or the IncidentError it ended with."""

    items: list = field(default_factory=list)
    state: dict = field(default_factory=dict)
    results: list = field(default_factory=list)
    sent: int = 0               # items already sent (a streamed batch: ``_send_ready``)
    stream: Any = None          # its store.CommitStream, once the first chunk is sent

    @property
    def errors(self) -> list[IncidentError]:
        return [r for r in self.results if isinstance(r, Exception)]


@dataclass
class _Queued:
    incident_id: str
    actor: Actor
    action: str
    fn: Callable
    reason: str
    reset_stage: bool
    idem: str | None
    new: Incident
    change: Change


def _idem(kind: str, actor: Actor, key: str | None) -> str | None:
    """A client's idempotency key, kept apart per action and per user: a retry finds its own
    first result, never another user's or another action's (an alarm episode's key is the
    intake's, user SYSTEM, shared by every intake worker)."""
    return f"{kind}:{actor.user_id}:{key}" if key else None


def _same_report(first: dict) -> Callable[[Incident, str], bool]:
    """Whether a stored incident answers a retry of the report whose source is ``first``: the
    source that carried the key has the same category and point (a correlated report is one
    source of another incident; one split off since is not there any more: not checked)."""
    def same(inc: Incident, key: str) -> bool:
        for s in inc.sources:
            if s.get("key") == key and s.get("reporter") == first["reporter"]:
                return (s.get("category") == first["category"]
                        and abs(float(s.get("lon", 0)) - first["lon"]) < 1e-6
                        and abs(float(s.get("lat", 0)) - first["lat"]) < 1e-6)
        return True
    return same


def _same_task(target: str, title: str) -> Callable[[Incident, str], bool]:
    def same(inc: Incident, key: str) -> bool:
        return inc.kind == "task" and inc.title == title and bool(inc.tasks) and inc.tasks[0].center == target
    return same


def _emergency_view(h: dict) -> dict:
    """An emergency hash as the audit shows it (area as GeoJSON, times as numbers)."""
    if not h:
        return {}
    return {"area": json.loads(h["area"]) if h.get("area") else None,
            "until": float(h.get("until") or 0), "since": float(h.get("since") or 0),
            "by": h.get("by", ""), "reason": h.get("reason", "")}


def _checked_point(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 degrees, finite and on the map (GEO indexes refuse anything else)."""
    lon, lat = float(lon), float(lat)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -85 <= lat <= 85):
        raise ValueError(f"({lon}, {lat}) 不是有效的 WGS-84 坐标 "
                         "(not a WGS-84 point: lon -180..180, lat -85..85)")
    return lon, lat


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _max_sev(a: str, b: str) -> str:
    order = {s: k for k, s in enumerate(D.SEVERITIES)}
    return a if order.get(a, 0) >= order.get(b, 0) else b


def location_of(city: City, lon: float, lat: float) -> Location | None:
    """Convenience for callers: the grid cell chain of a point, or None outside the city."""
    return city.try_locate(lon, lat)
