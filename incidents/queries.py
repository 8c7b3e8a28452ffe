"""Reads of the incident service (the facade ``IncidentService`` mixes this in): one case, its
trail, the work lists, what a user may do with a case (``policy``), routing and merge suggestions,
KPIs and the open-case frame for the map. Every read checks scope (S1/S2) first."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import shapely

from grid import centers as cc
from grid.categories import CATEGORIES
from incidents import audit, keys, kpi, routing, scope
from incidents import defaults as D
from incidents.actor import SYSTEM, Actor
from incidents.errors import NotFound
from incidents.incident import (
    OPEN_STATES,
    Incident,
)
from incidents.policy import Offer
from incidents.roles import spec as role_spec
from incidents.routing import parse_area
from incidents.store import work_items
from incidents.unit_of_work import _idem
from incidents.vocab import Channel, State, TaskState

VIEWS = ("todo", "new", "mine", "overdue", "open", "all")
"""The work lists of ``list_queue``; ``todo`` (待办) is every role's default work view."""

HUMAN_CHANNELS: frozenset[str] = frozenset({Channel.GRID_WORKER, Channel.HOTLINE, Channel.WALK_IN})
"""Reports a person made (网格员, 12345, 来访): never buried under machine cases (issue 15)."""

CHANNEL_GROUPS: dict[str, frozenset[str]] = {
    "human": HUMAN_CHANNELS,
    "hotline": frozenset({Channel.HOTLINE}),
    "iot": frozenset({Channel.IOT, Channel.DEVICE_FAULT}),
    "video": frozenset({Channel.VIDEO_AI}),
}
"""The queue's quick filter by channel (人工 / 12345 / 物联 / 视频AI): a case belongs to a group
when any of its sources came through one of the group's channels (a situation with a hotline
report among its sensor alarms is found under 12345 too)."""

NOTICE_SCAN = 1000
"""How many of the newest ``om:inc:notices`` entries a center's 通知 are looked for in (one
stream for every center, capped at ``defaults.NOTICES_MAXLEN``)."""
NOTICE_READ_TTL_S = 30 * 86400
"""How long a user's 已读 marks are kept (s) after their last one: longer than a notice stays
among the newest ``NOTICE_SCAN`` on any day."""

TIER_NAMES = ("人工新报", "应急", "超期", "")
"""``triage_rank`` tiers as a queue row marks them (the rest: no mark)."""


# --- triage: the order of a work list, one home (the console, the API and the bench read it) ---
Center = str | frozenset[str]
"""A center code, or the codes a grid worker's tasks are addressed to (``scope.worker_ids``)."""


def _is(code: str, center: Center) -> bool:
    return code == center if isinstance(center, str) else code in center


def is_situation(inc: Incident) -> bool:
    """A situation (态势/事件群): one case for many sources (the intake's ``situation`` family,
    or more than one source correlated or merged in)."""
    return bool(getattr(inc, "situation", "")) or len(inc.sources) > 1


def channels_of(inc: Incident) -> set[str]:
    """Every channel the case was reported through (its own and its sources')."""
    return {inc.channel, *(str(s.get("channel", "")) for s in inc.sources)}


def channel_group(inc: Incident, group: str) -> bool:
    """Is ``inc`` in the quick filter's channel ``group`` (``CHANNEL_GROUPS``)?"""
    return bool(channels_of(inc) & CHANNEL_GROUPS[group])


def new_to(inc: Incident, center: Center) -> bool:
    """Waits for ``center``'s first step: a report in its queue not yet accepted (上报), or a
    sub-task dispatched to it not yet started (a department's or grid worker's 待签收)."""
    if inc.state == State.REPORTED and _is(inc.place[2:], center) and inc.place.startswith("q:"):
        return True
    return any(_is(t.center, center) and t.state == TaskState.DISPATCHED for t in inc.tasks)


def fresh_human(inc: Incident, center: Center) -> bool:
    """A fresh human item for ``center``: it waits for the center's first step and a person
    reported it (a correlated 12345 call or grid report counts), or a person's decision sent it
    here (a dispatch to this center); or a person's report joined the case (``human_ts``, a
    situation's new human source) since it last changed state."""
    human = getattr(inc, "human_ts", 0.0)   # the intake's marker: a person's report joined
    if human and human >= max((v for k, v in inc.times.items() if k != State.REPORTED), default=0.0):
        return True         # … since the case last moved: the owner has not acted on it yet
    if not new_to(inc, center):
        return False
    if any(_is(t.center, center) and t.state == TaskState.DISPATCHED for t in inc.tasks):
        return True
    return bool(channels_of(inc) & HUMAN_CHANNELS)


def arrived(inc: Incident, center: Center) -> float:
    """When the case came to ``center`` as work: its sub-task's dispatch, its newest human
    source, or its report."""
    ts = [t.dispatched_ts for t in inc.tasks if _is(t.center, center) and t.open]
    ts += [float(s.get("ts") or 0) for s in inc.sources if s.get("channel") in HUMAN_CHANNELS]
    return max([inc.created_ts, getattr(inc, "human_ts", 0.0), *ts])


def my_overdue(inc: Incident, center: Center, now: float) -> bool:
    """Past the case's stage deadline, or past the deadline of this center's own part."""
    return inc.overdue(now) or any(t.open and _is(t.center, center) and 0 < t.due_ts < now
                                   for t in inc.tasks)


def in_area(incs: Sequence[Incident], area: Any) -> list[bool]:
    """Whether each case lies in the emergency area (a shapely geometry; None: no area)."""
    if area is None or not incs:
        return [False] * len(incs)
    return [bool(x) for x in shapely.contains_xy(area, [i.lon for i in incs], [i.lat for i in incs])]


def triage_rank(inc: Incident, center: Center, now: float, emergency: bool = False) -> int:
    """0 fresh human (``fresh_human``), 1 emergency (in the emergency area, 应急, or served
    first: 重大/加急), 2 overdue (``my_overdue``), 3 the rest."""
    if fresh_human(inc, center):
        return 0
    if emergency or getattr(inc, "emergency", 0) or getattr(inc, "priority", 0):
        return 1
    if my_overdue(inc, center, now):
        return 2
    return 3


def triage_order(incs: Sequence[Incident], center: Center, now: float, area: Any = None) -> list[Incident]:
    """A work list as a center works it on a bad day (issue 15): fresh human reports and new
    dispatches first (newest first: the call that just came in is #1, never #57 behind a
    storm), then the emergency area and served-first cases (oldest first), then overdue (most
    overdue first), then the rest (oldest first). The one home of the queue's order: the
    console, the API's ``todo`` view and ``bench/storm.py`` read it."""
    em = in_area(incs, area)
    return [i for i, _ in sorted(zip(incs, em, strict=True),
                                 key=lambda pair: triage_key(pair[0], center, now, pair[1]))]


# --- membership: which cases a work list holds, one home (``list_queue`` and the console's merge) ---
def awaiting_redispatch(inc: Incident) -> bool:
    """A handler returned its part (退回) and the case waits in its owner's queue (``q:``) to be
    sent to someone else: still out with other handlers (派遣/处置), or every part came back
    (立案 again). ``list_queue("new")`` lists 上报 only; the console shows these there too."""
    return (inc.place.startswith("q:")
            and inc.state in (State.REGISTERED, State.DISPATCHED, State.IN_PROGRESS)
            and any(t.state == TaskState.RETURNED for t in inc.tasks))


def joined_since(inc: Incident, center: str) -> bool:
    """A case ``center`` sent out (``x:``) that a person's report joined since it last moved
    (``human_ts``: the 12345 call into a dispatched situation): back in the sender's 待办."""
    return inc.state in OPEN_STATES and bool(getattr(inc, "human_ts", 0)) and fresh_human(inc, center)


def arrival(inc: Incident, center: str) -> bool:
    """Work that came to ``center`` and waits for it to take it up (待受理): a report to accept
    or a sub-task to sign for (``new_to``), a returned part to send elsewhere (待改派,
    ``awaiting_redispatch``), a case back from its handlers for 核查 (反馈), a person's report
    that joined a case since it last moved (``fresh_human``). The rest of 待办 is in hand."""
    in_queue = inc.place == f"q:{center}"
    return (new_to(inc, center) or fresh_human(inc, center)
            or in_queue and (awaiting_redispatch(inc) or inc.state == State.HANDLED))


def member(inc: Incident, center: str, view: str, now: float) -> bool:
    """Is ``inc`` in ``center``'s work list ``view`` (scope aside)? 待办 (todo): its queue, the
    sub-tasks dispatched to it and a case it sent out that a person's report joined
    (``joined_since``); 待受理 (new): those of 待办 that are arrivals (``arrival``); 本中心 (mine):
    also what it supervises out with handlers; 超期 open and overdue for it (``my_overdue``);
    全部在办 every open case; 全部 every case. The one rule ``list_queue`` and ``in_view`` read."""
    places = set(work_items(inc).values())      # empty once closed or voided
    c = center
    if view in ("todo", "new"):
        todo = bool(places & {f"q:{c}", f"h:{c}"}) or (f"x:{c}" in places and joined_since(inc, c))
        return todo and (view == "todo" or arrival(inc, c))
    if view == "mine":
        return bool(places & {f"q:{c}", f"h:{c}", f"x:{c}"})
    if view == "overdue":
        return inc.state in OPEN_STATES and my_overdue(inc, c, now)
    if view == "open":
        return inc.state in OPEN_STATES
    return True     # 全部: the history, every case in scope


def in_view(inc: Incident, actor: Actor, view: str, now: float) -> bool:
    """Would ``list_queue(actor, view)`` list ``inc`` (its limit aside)? For a center's actor
    (not a grid worker, nor a city role looking at another center's queue): ``member`` of its
    center's view, and never a case outside the actor's read scope (S1/S2). The console's merge
    of pushed cases reads it (``app.screens.console.model``); tests/incidents/test_queue_views.py
    holds it to ``list_queue``."""
    if view not in VIEWS:
        raise ValueError(f"视图应为 {VIEWS} 之一 (view must be one of {VIEWS})")
    if scope.can_read(actor, inc) is not None:
        return False
    return member(inc, actor.center, view, now)


def triage_key(i: Incident, center: Center, now: float, emergency: bool = False) -> tuple:
    """One case's place in ``triage_order`` (sorting by it is that order); a console merging a
    few changed cases into the rows it shows sorts by it too."""
    tier = triage_rank(i, center, now, emergency)
    if tier == 0:
        return (0, -arrived(i, center))
    if tier == 2:
        due = [t.due_ts for t in i.tasks if t.open and _is(t.center, center) and 0 < t.due_ts < now]
        return (2, min([i.due_ts or now, *due]))
    return (tier, -getattr(i, "priority", 0), i.created_ts)


class Queries:
    """Reads: scope-checked, never a change (except the audit of a refused read)."""

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
        """A scoped work list. The three work views (membership: ``member``) are in
        ``triage_order`` (fresh human reports and new dispatches first, then the emergency area,
        overdue, the rest), so what just came is on top of each (issue 15); ``overdue``/``open``
        by priority, then oldest first; ``all`` newest first.

        ``todo`` (待办, every role's default): everything waiting for this center's action: its
        queue (new reports, 待改派, work returned for 核查 and 结案), the sub-tasks dispatched to
        it (a grid worker: its tasks) and the cases it sent out that a person's report joined
        since they last moved (``human_ts``: the call into a dispatched situation). ``new``
        (待受理): the arrivals of 待办 (``arrival``: to accept, to sign for, to re-dispatch, back
        for 核查, a person's report joined); ``mine`` (本中心): everything at the actor's center
        (its queue, its sub-tasks, what it supervises; a grid worker's own reports and tasks);
        ``overdue``: open and past the stage deadline, in scope; ``open``: all open incidents in
        scope; ``all``: also closed ones. ``center`` lets city roles look at another center's
        queue.
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
        area = self.emergency_area() if view in ("todo", "new", "mine") else None
        if worker and view == "todo":
            ids = [i for w in scope.worker_ids(actor) for i in self._place_ids(f"h:{w}")]
            incs = [i for i in self.store.load_many(_unique(ids))
                    if i.state in OPEN_STATES and scope.can_read(actor, i) is None]
            me = frozenset(scope.worker_ids(actor))
            return triage_order(incs, me, now, area)[offset:offset + limit]
        if view in ("todo", "new", "mine") and not worker:
            # one rule for the three work views (``member``), one order (``triage_order``): a
            # new dispatch or a fresh call is on top of 待办, 待受理 and 本中心 alike
            ids = [i for p in ("q", "h", "x") for i in self._place_ids(f"{p}:{c}")]
            incs = [i for i in self.store.load_many(_unique(ids)) if member(i, c, view, now)]
            return triage_order(incs, c, now, area)[offset:offset + limit]
        if view in ("new", "mine"):         # a grid worker's own reports and tasks
            ids = []
            for wid in scope.worker_ids(actor):
                ids += self._place_ids(f"h:{wid}")
            ids += self.r.zrevrange(keys.by_user(actor.user_id), 0, 200)
            incs = self.store.load_many(_unique(ids))
            if view == "new":
                incs = [i for i in incs if i.state == State.REPORTED]
            incs = [i for i in incs if scope.can_read(actor, i) is None]
            me = frozenset(scope.worker_ids(actor))
            return triage_order(incs, me, now, area)[offset:offset + limit]
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
                incs = [i for i in incs if my_overdue(i, c, now)]   # this center handles past its own
            incs.sort(key=lambda i: (-i.priority, i.created_ts))
        return incs[offset:offset + limit]

    def notices(self, actor: Actor, limit: int = 20) -> list[dict]:
        """通知 (issue 15: human reports are never swallowed; their owner is told): the newest
        notices for ``actor``'s center from ``om:inc:notices`` (``human_source``: a person's
        report joined one of its machine cases or situations; ``escalation_summary``: its
        automatic escalations waited for the rate limit), newest first, each the notice's own
        fields plus ``nid`` (its stream id) and ``read`` (this user marked it 已读). For those
        who work a center's queue (roles that own or command); scope (S1/S2): a notice about a
        case only while the actor may read that case (the case may have moved since)."""
        role = role_spec(actor.role)
        if not (role.owns or role.commands) or limit <= 0:
            return []
        mine = []
        for nid, f in self.r.xrevrange(keys.NOTICES, count=NOTICE_SCAN):
            try:
                n = json.loads(f.get("e") or "")
            except ValueError:
                continue        # not a notice of ours: skipped, never a crash
            if isinstance(n, dict) and n.get("center") == actor.center:
                mine.append(dict(n, nid=nid))
        cases = {i.id: i for i in self.store.load_many(
            list(dict.fromkeys(str(n["id"]) for n in mine if n.get("id"))))}
        out = [n for n in mine if not n.get("id") or (
            n["id"] in cases and scope.can_read(actor, cases[n["id"]]) is None)][:limit]
        read = self.r.smismember(keys.notices_read(actor.user_id), [n["nid"] for n in out]) \
            if out else []
        return [dict(n, read=bool(r)) for n, r in zip(out, read, strict=True)]

    def mark_notice_read(self, actor: Actor, nid: str) -> None:
        """已读: ``actor`` has seen notice ``nid``. The user's own mark (no case changes, so no
        audit); only a notice ``notices`` shows the actor (else NotFound, whatever id a browser
        sends)."""
        if not any(n["nid"] == nid for n in self.notices(actor, limit=NOTICE_SCAN)):
            raise NotFound(str(nid)[:40], "notice")
        k = keys.notices_read(actor.user_id)
        p = self.r.pipeline(transaction=False)
        p.sadd(k, nid)
        p.expire(k, NOTICE_READ_TTL_S)
        p.execute()

    def emergency_area(self) -> Any:
        """The active emergency mode's area as a shapely geometry, or None."""
        state = self.emergency_state()
        return parse_area(state["area"]) if state else None

    def queue_depths(self) -> dict[str, int]:
        """Work items waiting per place (q:/x:/h:) → count, for the ops page and the wall."""
        out = {}
        for k in self.r.scan_iter(match=keys.place("*"), count=500):
            out[k.removeprefix(keys.place(""))] = int(self.r.zcard(k))
        return out

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
            if other.state != State.CLOSED or (viewer is not SYSTEM and scope.can_read(viewer, other)):
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
        town = cc.town_of(center)
        if town and open_only:
            ids += self.r.zrange(keys.town(town), 0, limit - 1)
        return _unique(ids)

    @staticmethod
    def _city_wide(actor: Actor) -> bool:
        return actor.role in scope.CITY_READERS or (actor.role == "supervisor" and actor.is_city)

    def _readable(self, actor: Actor, i: Incident, center: str | None) -> bool:
        if center and center != actor.center:
            return center in i.centers or center == i.center or (
                cc.is_town(center) and i.town_code == cc.town_of(center))
        return scope.can_read(actor, i) is None


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
