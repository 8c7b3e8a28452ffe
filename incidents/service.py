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

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import redis

from grid import centers as cc
from grid.categories import CATEGORIES
from grid.model import CITY_CENTER, City, Location
from incidents import defaults as D
from incidents import keys, kpi, lifecycle, routing, scope, situations
from incidents.actor import SYSTEM, Actor
from incidents.config import IncidentConfig
from incidents.emergency_mode import EmergencyMode
from incidents.errors import Forbidden, IncidentError, InvalidTransition, KeyReused, NotFound
from incidents.incident import (
    CHANNELS,
    FINAL_STATES,
    OPEN_STATES,
    STAGE_NAMES,
    Incident,
    Task,
    to_json,
)
from incidents.policy import Policy, task_is
from incidents.queries import Queries
from incidents.receipt import Receipt, new_receipt_id
from incidents.store import (
    PHASES,
    Stale,
    Store,
    clone,
    due_score,
    phase_times,
    stage_limit,
)
from incidents.unit_of_work import _MAX_RETRIES, UnitOfWork, _idem, _unbatched_call
from incidents.vocab import State as S
from incidents.vocab import TaskState as TS

CALLER_FIELDS = ("phone", "call_id", "recording")
"""What a hotline case may carry of its call (``report(caller=…)``): the number, the CTI's call id
and its recording link (issue 24)."""

CamerasNear = Callable[[float, float, float], list[dict]]
"""(lon, lat, radius_m) → nearby cameras as dicts (id, name, distance_m, ...): injectable."""



class IncidentService(UnitOfWork, Queries, EmergencyMode):
    """The incident API. ``redis`` must use ``decode_responses=True``; ``clock`` → epoch s.

    One facade, split by responsibility: this module holds intake and the actions (commands);
    reads are ``incidents.queries``, the emergency switch ``incidents.emergency_mode``, the
    read-check-commit loop and batches ``incidents.unit_of_work``; who may do what is
    ``incidents.policy``, each action's declaration ``incidents.actions``."""

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
        # the record's readers (issue 20): ``get`` and ``timeline`` fall through to them when
        # Redis lacks the case
        self.archive: Callable[[str], Incident | None] | None = None
        self.archive_trail: Callable[[str], list[dict]] | None = None

    def get(self, incident_id: str, actor: Actor) -> Incident:
        """One incident (``Queries.get``); one Redis no longer holds comes from the record
        (``self.archive``, issue 20: 查询穿透), under the same read scope (S1/S2)."""
        try:
            return super().get(incident_id, actor)
        except NotFound:
            inc = self.archive(incident_id) if self.archive is not None else None
            if inc is None:
                raise
        why = scope.can_read(actor, inc)
        if why:
            self._deny(actor, "read", why, incident_id, self.clock())
        return inc

    def timeline(self, incident_id: str, actor: Actor) -> list[dict]:
        """The audit trail (``Queries.timeline``); of a case Redis no longer holds, the
        record's copy (``self.archive_trail``, issue 20)."""
        trail = super().timeline(incident_id, actor)    # scope first, through ``get``
        if not trail and self.archive_trail is not None:
            return self.archive_trail(incident_id)
        return trail

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


    # ======================================================================================
    # intake (上报)
    # ======================================================================================
    @_unbatched_call
    def report(self, actor: Actor, category: str, lon: float, lat: float, *,
               severity: str = "一般", description: str = "", title: str = "",
               channel: str | None = None, idempotency_key: str | None = None,
               attachments: Sequence[str] = (), ref: str = "", area: dict | None = None,
               correlate: bool = True, on_behalf_of: str = "", gateway: str = "",
               caller: dict[str, str] | None = None) -> Incident | Receipt:
        """上报: intake for every channel (grid worker, iot, video_ai, hotline, external, api).

        Idempotent: the same ``idempotency_key`` (a client-generated draft id, an alarm episode)
        returns the incident made the first time (``intake == "duplicate"``) and creates nothing.
        A report of the same/related category near an open incident within the category's
        window is linked to it as one more source (``intake == "correlated"``), not opened again.
        ``area`` (GeoJSON) marks an event that covers ground: if it spans several towns it goes
        one tier up. ``on_behalf_of``: the user who found it, when an operator enters it for
        them (拆分 split); the audit names the operator. Returns the incident (``intake ==
        "created"`` when new).

        Situations (``incidents.situations``): an alarm (machine channel) of a situation family
        joins the family's open situation in its area (town, or radius; ``gateway``: the area of
        an outage behind one gateway) or opens it; a person's report of the family joins an open
        situation nearby as a source (never swallowed: its owner is told).

        Scope is total (issue 19): a report that correlates into a case outside the reporter's
        scope returns a ``Receipt`` (``intake == "merged"``: "已并入已有事件" and the reporter's
        own reference), nothing of that case, and neither raises its severity nor moves it
        (``_link``).
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
        if title:         # what the reporter called it: their receipt repeats it (issue 19)
            source["title"] = title
        if caller:        # a 12345 call: the caller's number (masked: incidents.masking), call id,
            # recording, as fields of the source, never free text (issue 24, E4)
            source.update({k: str(v)[:300] for k, v in caller.items() if k in CALLER_FIELDS and v})
        towns = self._towns_touched(area) if area else 1
        correlate = correlate and self.config.correlate
        idem = _idem("report", actor, idempotency_key)
        fam = situations.family_for(self.config, category) if correlate else None
        slot = extra = fold = None
        if fam is not None:
            region = situations.area_of(fam, loc.town_code if loc else "", gateway)
            if idem and (done := self.r.get(keys.idem(idem))):     # a retry: what it made
                return self._duplicate(done, actor, idempotency_key, _same_report(source))
            hit = self._find_situation(fam, region, lon, lat, now)
            if hit is not None:
                linked = self._link(hit, source, actor, idem, now)
                if linked is not None:
                    return linked
            if situations.is_machine(channel):
                # weather over many towns: one city situation (全市态势) takes in the towns' ones
                fold = situations.fold_plan(self.r, self.store.load_many, fam, region,
                                            self.city.towns["code"], now)
                if fold is not None:
                    region = situations.CITY_AREA
                    towns = max(towns, len({i.town_code for i in fold}) + 1)   # one tier up
                slot = _idem("report", SYSTEM, situations.slot_key(
                    fam, region, situations.window_of(fam, now)))
                if idem:
                    extra = [("SET", keys.idem(idem), "", "EX", str(self.config.idempotency_ttl_s))]
                correlate = fam.area == "radius"     # near cases of the family (atomic, in Lua)
            else:
                fam = None                # a person's report away from any situation: a case
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
                place=f"q:{rt.center}", state=S.REPORTED, priority=rt.priority, created_ts=now,
                route_reason=rt.reason, emergency=int(rt.emergency), sources=[source],
                attachments=list(attachments), centers=sorted({rt.center}),
                suggested_depts=list(rt.suggested))
            if slot is not None and fam is not None:
                inc.situation = fam.name
                inc.title = situations.title(fam, situations.CITY_PLACE if fold is not None
                                             else self._place_name(loc))
                if extra:
                    extra[0] = ("SET", keys.idem(idem), inc.id, "EX", str(self.config.idempotency_ttl_s))
            # one script: idempotency key, correlation and creation together (no race between
            # two simultaneous reports of the same event); a situation's slot key is its
            # idempotency key (one situation per family × area × window), the alarm's its extra
            res = self.store.commit(None, inc, actor, "report", now, reason=rt.reason,
                                    idem=slot or idem, correlate=correlate,
                                    guard=(keys.EMERGENCY_VERSION, ev), extra=extra)
            if res.status == "guard":     # 应急模式 switched since we read it: route again
                self._emergency_cache = None
                continue
            if res.status == "dup" and slot is not None:
                # another worker opened the situation first: join it; a slot left by a
                # situation that closed since is cleared and the situation opened again
                linked = self._link(res.value, source, actor, idem, now, family=fam)
                if linked is not None:
                    return linked
                if self.r.get(keys.idem(slot)) == res.value:
                    self.r.delete(keys.idem(slot))
                continue
            if res.status == "dup":
                return self._duplicate(res.value, actor, idempotency_key, _same_report(source))
            if res.status == "match":
                linked = self._link(res.value, source, actor, idem, now, family=fam)
                if linked is not None:
                    return linked
                continue            # it closed meanwhile: try again
            break
        inc.intake = "created"
        if fold:
            inc = self._fold(inc.id, fold)
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
            tier=self._tier(actor.center), place=f"x:{actor.center}", state=S.DISPATCHED,
            created_ts=now, route_reason="上情下达",
            tasks=[Task(1, tgt, dispatched_ts=now,
                        town=(tgt_town or "") if cc.is_worker(tgt) else "")],
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
    # lifecycle (owning-center actions)
    # ======================================================================================
    def accept(self, incident_id: str, actor: Actor, note: str = "") -> Incident:
        """受理: the owning center takes the report into its work."""
        def fn(i: Incident) -> None:
            self.policy.check("accept", actor, i)
            i.state = S.ACCEPTED
        return self._mutate(incident_id, actor, "accept", fn, reason=note)

    def register(self, incident_id: str, actor: Actor, note: str = "") -> Incident:
        """立案: the case is confirmed as a valid case to handle."""
        def fn(i: Incident) -> None:
            self.policy.check("register", actor, i)
            i.state = S.REGISTERED
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
                i.state = S.VERIFIED
                i.place = f"q:{i.center}"
            else:
                i.state = S.DISPATCHED
                i.place = f"x:{i.center}"
                i.reopen_count += 1
                now = self.clock()
                limit = stage_limit(i, "handle", self.config)
                for t in i.tasks:
                    if t.state == TS.HANDLED:
                        t.state, t.dispatched_ts, t.started_ts, t.handled_ts = TS.DISPATCHED, now, 0.0, 0.0
                        t.due_ts = now + limit
        action = "verify" if passed else "reopen"
        return self._mutate(incident_id, actor, action, fn, reason=note, reset_stage=not passed)

    def close(self, incident_id: str, actor: Actor, note: str = "") -> Incident:
        """结案: the dispatching center closes a verified case (never the handler, T11)."""
        def fn(i: Incident) -> None:
            self.policy.check("close", actor, i)
            i.state, i.place = S.CLOSED, ""
        return self._mutate(incident_id, actor, "close", fn, reason=note)

    def void(self, incident_id: str, actor: Actor, reason: str) -> Incident:
        """作废: a duplicate or invalid report, with a reason (required)."""
        if not reason.strip():
            raise ValueError("作废须说明原因 (void needs a reason)")

        def fn(i: Incident) -> None:
            self.policy.check("void", actor, i)
            i.state, i.place, i.void_reason = S.VOIDED, "", reason
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
                t.state, t.note = TS.RETURNED, reason
                self._after_task_change(i)
                # others still work on it: the case waits in the owner's queue all the same,
                # to be sent to someone else (改派) or verified without that part later
                i.place = f"q:{i.center}"
                return t.n
            self.policy.return_down(actor, i)
            down = i.origin.pop()
            i.center, i.tier, i.place, i.state = down, self._tier(down), f"q:{down}", S.REPORTED
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

    def attach_evidence(self, incident_id: str, actor: Actor, url: str, text: str) -> Incident:
        """取证: a 备注 that also attaches a file the server made (a frame grabbed from a camera,
        issue 23) to the case; the audit entry carries the attachments before and after."""
        def fn(i: Incident) -> None:
            self.policy.check("note", actor, i)
            if url not in i.attachments:
                i.attachments.append(url)
        return self._mutate(incident_id, actor, "note", fn, reason=text)

    def update_severity(self, incident_id: str, actor: Actor, severity: str, reason: str = "",
                        idempotency_key: str | None = None) -> Incident:
        """定级: change the severity. Raised to 重大 or above, the case goes to the city center."""
        if severity not in D.SEVERITIES:
            raise ValueError(f"未知的等级 {severity!r} (unknown severity)")

        def fn(i: Incident) -> None:
            self.policy.check("severity", actor, i)
            # while open, a case keeps the highest severity it reached; only a person's 定级
            # lowers it (an alarm's level falling back is not a judgement)
            self._set_severity(i, severity if actor is not SYSTEM else _max_sev(i.severity, severity))
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
            if t.state != TS.DISPATCHED:
                raise InvalidTransition("start", t.state, task_is(t), i.id)
            t.state, t.started_ts, t.handler = TS.IN_PROGRESS, self.clock(), actor.user_id
            i.state = S.IN_PROGRESS
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
            t.state, t.handled_ts, t.note = TS.HANDLED, now, note
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
                i.state, i.place, i.merged_into = S.VOIDED, "", tid
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
        key = f"split:{incident_id}:{src.get('ts', '')}:{src.get('reporter', '')}"

        def made(idem: str) -> Incident:
            return self.report(actor, src["category"], src["lon"], src["lat"],
                               severity=src.get("severity", "一般"),
                               description=src.get("description", ""), channel=src.get("channel"),
                               ref=src.get("ref", ""), correlate=False,
                               on_behalf_of=src.get("reporter") or "", idempotency_key=idem)
        new = made(key)
        if new.state in FINAL_STATES:
            # split before, then merged back (合并: voided): this is a new split, not the retry
            # of an interrupted one, so it gets an incident of its own
            new = made(f"{key}:{inc.version}")

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
    # deadlines (used by incidents.deadlines.DeadlineWorker)
    # ======================================================================================
    def fire_deadline(self, member: str, limited: Counter | None = None) -> str:
        """Act on one due deadline event ``id|stage|phase`` exactly once (atomic claim): 预警
        warn, 督办 urge, or 上报 escalate one tier. Returns what happened ('warn', 'urge',
        'escalate', 'stale', 'claimed', 'limited').

        Escalation storms are impossible: a situation escalates once (then it is recorded as
        overdue where it is), and each center's automatic escalations are rate-limited
        (``escalation_limit`` per ``escalation_window_s``): the rest wait, re-armed for the next
        window, counted in ``limited`` (center → n) for the worker's one summary notice."""
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
                moves = inc.center != CITY_CENTER and not (inc.situation and inc.escalations)
                if moves:
                    k, later = self._escalation_slot(inc.center, now)
                    if later is not None:     # over the center's rate: waits for the next window
                        self.r.zadd(keys.DUE, {member: later}, xx=True)
                        if limited is not None:
                            limited[inc.center] += 1
                        return "limited"
                    # counted in the same atomic call as the move (a claim lost to another
                    # worker counts nothing)
                    extra = [("INCR", k), ("EXPIRE", k, str(int(2 * self.config.escalation_window_s) + 1))]
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

    def _escalation_slot(self, center: str, now: float) -> tuple[str, float | None]:
        """(the counter of ``center``'s automatic escalations in the current rate window, None
        while under ``escalation_limit`` else when the next window starts). Workers racing on
        the last free place may pass the limit by one each: a bound, not a storm."""
        w = self.config.escalation_window_s
        n = int(now // w)
        k = keys.escalation_limit(center, n)
        if int(self.r.get(k) or 0) < self.config.escalation_limit:
            return k, None
        return k, (n + 1) * w

    def _do_dispatch(self, i: Incident, actor: Actor, targets: list[str], auto: bool = False) -> None:
        """派遣 one sub-task per target. On a case already out with its handlers this is 追加派遣 /
        改派: more handlers, e.g. instead of one that returned its part (退回)."""
        if auto:
            self.policy.check_auto_dispatch(i)
        else:
            self.policy.check("dispatch", actor, i)
        # an admin-marked automatic rule, or 应急模式 (fast path): accepted on dispatch
        if (auto or i.emergency) and i.state == S.REPORTED:
            i.state = S.ACCEPTED
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
            i.state = S.DISPATCHED
        i.place = f"x:{i.center}"

    def _after_task_change(self, i: Incident) -> None:
        """Parent state from its sub-tasks: handled when every active one is (fan-out)."""
        active = i.active_tasks
        if not active:  # all returned: back to the center's queue for re-dispatch
            i.state, i.place = S.REGISTERED, f"q:{i.center}"
        elif all(t.state == TS.HANDLED for t in active):
            i.state, i.place = S.HANDLED, f"q:{i.center}"
        elif any(t.state == TS.IN_PROGRESS for t in active) or any(t.state == TS.HANDLED for t in active):
            i.state = S.IN_PROGRESS
        else:
            i.state = S.DISPATCHED

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
        if cc.is_worker(target):
            rows = self.city.cells[self.city.cells["code"] == cc.cell_of(target)]
            geom = rows.geometry.iloc[0] if len(rows) else None
        elif cc.is_town(target):
            rows = self.city.towns[self.city.towns["code"] == cc.town_of(target)]
            geom = rows.geometry.iloc[0] if len(rows) else None
        p = (geom if geom is not None else self.city.boundary).representative_point()
        return float(p.x), float(p.y)

    def _link(self, target_id: str, source: dict, actor: Actor, idem: str | None,
              now: float, family: object = None) -> Incident | Receipt | None:
        """One more source of an open case (关联上报, audited ``correlate`` in the reporter's
        name). An alarm that joins a recovered case makes it active again. A person's report
        that joins a machine case or a situation is never swallowed: ``human_ts`` is set (the
        queue's "新的人工上报"), the owner's queue stream gets an entry and ``om:inc:notices`` a
        notice naming the reporter. None when the case closed meanwhile.

        Scope is total (issue 19, S1/S2): a report that joins a case outside the reporter's
        scope (``scope.can_join``) is linked as a *foreign* source (``foreign``, its ``receipt``
        id): it never raises the case's severity nor moves it (the owner is notified the same
        way and decides, 定级), it gives the reporter no read of the case (``scope.can_read``
        skips foreign sources), and the reporter gets a ``Receipt``, nothing of the case."""
        human = not situations.is_machine(source["channel"])
        who = source.get("ref") if not human and source.get("ref") else actor.user_id
        label = CHANNELS.get(source["channel"], source["channel"])
        # the audit names the person who reported (a machine's alarm: the system, its ref in
        # the reason), so a person's link is never taken for the system's own doing
        auditor = actor if human and actor is not SYSTEM else SYSTEM
        for _ in range(_MAX_RETRIES):
            try:
                old, new, _ = self._check(target_id, SYSTEM, "correlate", lambda i: None)
            except NotFound:
                return None
            if old.state not in OPEN_STATES:
                return None
            i = new
            foreign = actor is not SYSTEM and scope.can_join(actor, old) is not None
            src = dict(source)
            if foreign:
                src.update(foreign=1, by=actor.user_id,
                           receipt=new_receipt_id(kpi.day_of(now)))
            i.sources.append(src)
            if not foreign:      # a foreign report asks; the owner decides (定级)
                self._set_severity(i, _max_sev(i.severity, source["severity"]))
            extra: list = []
            if not human and i.recovered_ts:          # an alarm again: not recovered any more
                i.recovered_ts = 0.0
                extra.append(("ZREM", keys.RECOVER, i.id))
            machine_case = bool(i.situation) or situations.is_machine(i.channel)
            if human and (machine_case or foreign):
                i.human_ts = now
                ts_ms = str(int(now * 1000))
                if i.place:      # the owner's queue stream: a consumer sees it arrive
                    extra.append(("XADD", keys.queue(i.center), "MAXLEN", "~",
                                  str(self.config.queue_maxlen), "*", "e",
                                  f"{i.id}||correlate|{old.version + 1}|{ts_ms}"))
                notice = {"kind": "human_source", "id": i.id, "center": i.center,
                          "reporter": source.get("reporter", ""),
                          "channel": source["channel"], "category": source["category"],
                          "description": source.get("description", "")[:200], "ts": now}
                if foreign:      # from outside the case's scope: what they asked for, to decide
                    notice.update(foreign=1, reporter_center=actor.center,
                                  severity=source["severity"])
                extra.append(("XADD", keys.NOTICES, "MAXLEN", "~", str(D.NOTICES_MAXLEN), "*", "e",
                              to_json(notice)))
            what = "态势" if i.situation else "在办事件"
            reason = (f"{label}上报（{who}）已关联到{what}: 附近有同类/相关类别的在办事件 "
                      f"({source['channel']} report by {who} linked: same/related category nearby)")
            if foreign:
                reason += (f"；来自辖区外（{actor.center}），未改变等级与承办单位，请承办单位研判 "
                           f"(from outside the case's scope: severity and owner unchanged)")
            try:
                res = self.store.commit(old, new, auditor, "correlate", self.clock(), reason=reason,
                                        idem=idem, extra=extra or None)
            except Stale:
                continue
            if res.status == "dup":      # a retry of this very report: what it joined first
                done = self.store.load(res.value)
                if done is None:
                    return None
                return self._duplicate(done.id, actor, source.get("key") or "",
                                       _same_report(source))
            break
        else:
            return None
        if foreign:
            return Receipt.of_source(src, title=source.get("title", ""))
        if source["reporter"]:
            self.r.zadd(keys.by_user(source["reporter"]), {target_id: now})
        new.intake = "correlated"
        return new

    def _find_situation(self, fam, region: str, lon: float, lat: float, now: float) -> str | None:  # noqa: ANN001
        """The open situation of family ``fam`` that a report at (lon, lat) in ``region`` joins:
        the area's slot (town mode) or the nearest within the family's radius."""
        if fam.area == "radius":
            ids = self.r.geosearch(keys.GEO, longitude=lon, latitude=lat, radius=fam.radius_m,
                                   unit="m", sort="ASC", count=50)
        else:       # its town's, then the city's once the family went city-wide (全市态势)
            ids = [i for a in situations.areas(fam, region)
                   for i in situations.slot_candidates(self.r, fam, a, now)]
        for inc in self.store.load_many(list(ids)):
            if situations.joinable(inc, fam, now):
                return inc.id
        return None

    def _fold(self, city_id: str, towns: Sequence[Incident]) -> Incident:
        """全市态势: the towns' situations of a family gone city-wide join the city situation
        ``city_id`` (``situations.fold_plan``), as ``merge`` does, in the system's name: its
        sources move over (``merged_from``), then the town's is voided as merged. One a person
        has a stake in (``situations.foldable``) is only linked: it stays its town's."""
        city = self.store.load(city_id)
        for other in towns:
            take = situations.foldable(other, situations.touched_by_person(self.r, other.id))

            def add_fn(i: Incident, o: Incident = other, take: bool = take) -> None:
                if take and not any(s.get("merged_from") == o.id for s in i.sources):
                    i.sources += [dict(s, merged_from=o.id) for s in o.sources]
                    self._set_severity(i, _max_sev(i.severity, o.severity))
                if o.id not in i.links:
                    i.links.append(o.id)
            city = self._mutate(city_id, SYSTEM, "merge", add_fn, reason=(
                f"全市态势: 并入 {other.id}（{other.title}）(city-wide: merged {other.id})" if take
                else f"全市态势: 关联 {other.id}，已有人员处理，仍由原单位办理 (linked, kept)"))
            if not take:
                continue

            def void_fn(i: Incident, tid: str = city_id) -> None:
                if not situations.foldable(i, False):     # a person acted meanwhile: refused
                    raise InvalidTransition("merge", i.state, "已有人员处理 (a person acted)", i.id)
                i.state, i.place, i.merged_into = S.VOIDED, "", tid
                i.void_reason = f"已并入全市态势 {tid} (merged into the city situation {tid})"
                if tid not in i.links:
                    i.links.append(tid)
            with contextlib.suppress(IncidentError):   # refused: kept by its town (its
                self._mutate(other.id, SYSTEM, "merge", void_fn,   # sources listed twice,
                             reason=f"全市态势: 并入 {city_id} (merged into {city_id})")  # never lost)
        return city

    def _place_name(self, loc: Location | None) -> str:
        if loc is None:
            return "辖区外"
        return self.city.town_names.get(loc.town_code, loc.town_code)

    # ======================================================================================
    # alarms: level, clear, recovery (incidents.intake, the deadline worker)
    # ======================================================================================
    def alarm_level(self, incident_id: str, key: str, severity: str, reason: str = "",
                    idempotency_key: str | None = None) -> Incident | None:
        """An alarm source's level changed: its source and the case keep the highest severity
        reached (a falling level changes nothing: only a person's 定级 lowers a case). Returns
        the changed case, or None when nothing rose."""
        inc = self.store.load(incident_id)
        if inc is None or inc.state not in OPEN_STATES or severity not in D.SEVERITIES:
            return None
        src = next((s for s in inc.sources if s.get("key") == key), None)
        rises = _max_sev(inc.severity, severity) != inc.severity or (
            src is not None and _max_sev(src.get("severity", "一般"), severity) != src.get("severity"))
        if not rises:
            return None

        def fn(i: Incident) -> None:
            self.policy.check("severity", SYSTEM, i)
            i.sources = [dict(s, severity=_max_sev(s.get("severity", "一般"), severity))
                         if s.get("key") == key else s for s in i.sources]
            self._set_severity(i, _max_sev(i.severity, severity))
        return self._mutate(incident_id, SYSTEM, "severity", fn, reason=reason,
                            idem=_idem("severity", SYSTEM, idempotency_key))

    def alarm_clear(self, incident_id: str, key: str, reason: str = "",
                    idempotency_key: str | None = None) -> Incident | None:
        """An alarm source cleared (告警解除, audited ``alarm_clear``). When every source of the
        case has cleared, none is a person's report and no person acted on it, the case is
        已恢复 (``recovered_ts``) and due to close as 自动恢复 after ``recovery_quiet_s``."""
        inc = self.store.load(incident_id)
        if inc is None or inc.state not in OPEN_STATES:
            return None
        touched = situations.touched_by_person(self.r, incident_id)
        now = self.clock()
        quiet = self.config.recovery_quiet_s
        for _ in range(_MAX_RETRIES):
            old, new, _ = self._check(incident_id, SYSTEM, "alarm_clear",
                                      lambda i: lifecycle.check("alarm_clear", i.state, i.id))
            # new dicts: a clone shares its sources' dicts with the cached original
            new.sources = [dict(s, cleared=now) if s.get("key") == key and not s.get("cleared")
                           else s for s in new.sources]
            extra = None
            if (situations.all_cleared(new) and not touched and not new.recovered_ts
                    and not situations.has_human_source(new)):
                new.recovered_ts = now
                extra = [("ZADD", keys.RECOVER, str(int(now + quiet) + 1), new.id)]
            try:
                res = self.store.commit(old, new, SYSTEM, "alarm_clear", now, reason=reason,
                                        idem=_idem("clear", SYSTEM, idempotency_key), extra=extra)
            except Stale:
                continue
            return new if res.status == "ok" else self.store.load(incident_id)
        raise Stale(incident_id)

    def auto_recover(self, incident_id: str) -> str:
        """自动恢复: close a recovered machine case after its quiet period (the deadline worker).
        Exactly once (version guard); a case that got a new alarm, a person's report or a
        person's action since stays open. Returns 'recovered' or why not."""
        for _ in range(_MAX_RETRIES):
            inc, _ = self.store.for_update(incident_id, fresh=True)
            now = self.clock()
            if inc is None or inc.state not in OPEN_STATES or not inc.recovered_ts:
                self.r.zrem(keys.RECOVER, incident_id)
                return "stale"
            if now < inc.recovered_ts + self.config.recovery_quiet_s:
                return "early"
            if (not situations.all_cleared(inc) or situations.has_human_source(inc)
                    or situations.touched_by_person(self.r, incident_id)):
                self.r.zrem(keys.RECOVER, incident_id)
                return "kept"
            new = clone(inc)
            new.state, new.place = S.VOIDED, ""
            mins = int(self.config.recovery_quiet_s // 60)
            new.void_reason = (f"自动恢复：告警已全部解除，{mins} 分钟内无新告警、无人处理 "
                               f"(auto-recovered: every alarm cleared, quiet for {mins} min)")
            for t in new.tasks:
                if t.open:        # nobody worked it (a person's start would have kept it open)
                    t.state, t.note = TS.RETURNED, "自动恢复 (auto-recovered)"
            try:
                self.store.commit(inc, new, SYSTEM, "auto_recover", now, reason=new.void_reason,
                                  extra=[("ZREM", keys.RECOVER, incident_id)])
            except Stale:
                continue
            return "recovered"
        return "stale"

    def recover_due(self, limit: int = 200) -> int:
        """Close as 自动恢复 what is due in ``om:inc:recover``; returns how many closed."""
        due = self.r.zrangebyscore(keys.RECOVER, "-inf", repr(self.clock()), start=0, num=limit)
        return sum(self.auto_recover(i) == "recovered" for i in due)

    def _duplicate(self, incident_id: str, actor: Actor, key: str | None,
                   same: Callable[[Incident, str], bool]) -> Incident | Receipt:
        """What a retried intake (same key, same user) made the first time. A key reused for
        another request is refused (KeyReused), not answered with an unrelated incident. A
        report that joined a case outside the reporter's scope is answered with its receipt
        again (issue 19), never with the case."""
        inc = self.store.load(incident_id)
        if inc is None:
            raise NotFound(incident_id)
        if not same(inc, key or ""):
            raise KeyReused(key or "", incident_id)
        why = scope.can_read(actor, inc)
        if why:
            mine = next((s for s in inc.sources if s.get("foreign") and s.get("receipt")
                         and s.get("by") == actor.user_id and s.get("key") == (key or "")), None)
            if mine is not None:
                return Receipt.of_source(mine, title=mine.get("title", ""))
            self._deny(actor, "read", why, incident_id, self.clock())
        inc.intake = "duplicate"
        return inc




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


def _checked_point(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 degrees, finite and on the map (GEO indexes refuse anything else)."""
    lon, lat = float(lon), float(lat)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -85 <= lat <= 85):
        raise ValueError(f"({lon}, {lat}) 不是有效的 WGS-84 坐标 "
                         "(not a WGS-84 point: lon -180..180, lat -85..85)")
    return lon, lat


_SEV_RANK = {s: k for k, s in enumerate(D.SEVERITIES)}


def _max_sev(a: str, b: str) -> str:
    return a if _SEV_RANK.get(a, 0) >= _SEV_RANK.get(b, 0) else b


def location_of(city: City, lon: float, lat: float) -> Location | None:
    """Convenience for callers: the grid cell chain of a point, or None outside the city."""
    return city.try_locate(lon, lat)
