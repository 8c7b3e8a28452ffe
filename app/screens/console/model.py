"""The console's data model (webviz's ``_business_logic.py``): everything the console shows,
computed without Dash, so it is unit-testable and the callbacks stay thin.

What the panel offers is the policy's answer, never the console's own: the buttons, their
labels, the inputs shown and the dropdown options all come from
``IncidentService.available_actions`` (``incidents.policy.Offer``), so the console never shows
a button the service refuses, nor hides one it allows (issue 14, "one rulebook"; S1/S2 scope,
T11 监管分离, E14 closed loop).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.api import act, summary
from app.nearby import CAMERA_RADIUS_M, readings, sensors_near
from app.timefmt import fmt_cst
from grid import centers as cc
from grid.model import CITY_CENTER
from incidents import queries as triage
from incidents.actor import Actor
from incidents.incident import CHANNELS, STATE_NAMES
from incidents.policy import OFFERED, Offer
from incidents.queries import awaiting_redispatch
from incidents.roles import CONSOLE_ROLES
from incidents.vocab import Action
from sensors.cameras import cameras_for, live_positions

__all__ = ["CONSOLE_ROLES"]

POLL_MS = 400
"""How often a console without push (a WSGI-only server answers ``/events`` with 204) asks
whether the incident feed moved (ms). With push (``app.live``, assets/console/live.js) the
``tick`` interval is the 30 s safety net (``app.live.FALLBACK_POLL_MS``)."""
QUEUE_LIMIT = 500
"""Most rows of a queue (``list_queue``'s limit for the console)."""
PATCH_VIEWS = frozenset({"todo", "new", "mine", "open"})
"""Views a pushed change is merged into (``ConsoleData.patch_queue``); 超期 moves with the clock
and 全部 is the history: those are re-read whole."""
FULL_EVERY = 20
"""Every FULL_EVERY-th pushed change re-reads the whole view anyway: what moved with the clock
since (a case going overdue climbs the triage order; 时限 turns 超期) shows within a storm's few
seconds, not only at the 30 s safety net."""
PATCH_MAX_IDS = 100
"""Past this many named cases a merge saves little: re-read whole."""
VIEWS = (("todo", "待办"), ("new", "待受理"), ("mine", "本中心"), ("overdue", "超期"),
         ("open", "全部在办"), ("all", "全部"))
DEFAULT_VIEW = "todo"
"""Every role's default tab: what waits for this center's action (``list_queue("todo")``)."""
CHANNEL_FILTERS = (("", "全部渠道"), ("human", "人工上报"), ("hotline", "12345"),
                   ("iot", "物联感知"), ("video", "视频AI"))
"""The quick filter by channel group (``incidents.queries.CHANNEL_GROUPS``)."""
FLAG_FILTERS = (("overdue", "超期"), ("emergency", "应急区域"), ("situation", "态势"))
"""The quick filters one click each: overdue, in the emergency area, a situation (>1 source)."""
PAGE_SIZE = 8
"""Queue rows per page: what the queue box shows without scrolling at 1366×768 (a clerk's
laptop); more than that paged, never hidden under the box's edge."""
NO_SELECTION = "请选择事件"
"""The panel before a case is chosen."""
REDISPATCH_NAME = "待改派"
"""The queue's state of a case a handler returned its part of (退回), waiting in the owner's
queue to be sent to someone else (改派) while it is still out (派遣/处置) or all parts came back."""

ACCESS_KEYS: dict[str, str] = {
    Action.ACCEPT: "a", Action.REGISTER: "r", Action.DISPATCH: "d", Action.START: "s",
    Action.HANDLE: "h", Action.VERIFY: "v", Action.REOPEN: "n", Action.CLOSE: "c",
    Action.RETURN: "b", Action.ESCALATE: "e", Action.TAKE_OVER: "t", Action.URGE: "u",
    Action.SEVERITY: "l", Action.MERGE: "g", Action.SPLIT: "p", Action.VOID: "x",
    Action.CALLBACK: "k", Action.PUSH_UPPER: "y", Action.NOTE: "m", "expedite": "j",
}
"""Alt+letter per action button (the clerk's keyboard path). "w" is the new-incident form's."""
assert len(set(ACCESS_KEYS.values())) == len(ACCESS_KEYS) and "w" not in ACCESS_KEYS.values()

BUTTONS: tuple[tuple[str, str], ...] = tuple((str(a), ACCESS_KEYS.get(a, "")) for a in OFFERED)
"""One button per action the policy can offer (``policy.OFFERED``, its order), with its access
key: an action added to the policy gets its button here without a console change. Which of
them show, and with which label, is the policy's answer for the case (``Controls``)."""
PRIMARY = frozenset({Action.ACCEPT, Action.DISPATCH, Action.VERIFY, Action.CLOSE, Action.START,
                     Action.HANDLE})
"""The buttons of the main path, drawn as primary."""

ACTION_NAMES: dict[str, str] = {**Action.names(), "escalate": "上报上级"}
"""Audit actions in the operator's words (the timeline)."""


def fmt(ts: float, with_date: bool = False) -> str:
    """Beijing time (``app.timefmt``), whatever the server's zone."""
    return fmt_cst(ts, "%m-%d %H:%M" if with_date else "%H:%M:%S")


def action_name(action: str) -> str:
    """An audit entry's action as the timeline says it (越权被拒 for a refused attempt)."""
    if action.startswith("denied:"):
        return f"越权被拒 ({ACTION_NAMES.get(action[7:], action[7:])})"
    return ACTION_NAMES.get(action, action)


# --- the queue ---------------------------------------------------------------------------------
def state_name(inc, actor: Actor) -> str:  # noqa: ANN001
    """The state as the queue and panel show it to ``actor``: 待改派 for the owning (or a city)
    center when a returned part waits for re-dispatch, else the lifecycle state's name."""
    if (actor.center == inc.center or actor.is_city) and awaiting_redispatch(inc):
        return REDISPATCH_NAME
    return STATE_NAMES.get(inc.state, inc.state)


def in_view(inc, actor: Actor, view: str, now: float | None = None) -> bool:  # noqa: ANN001
    """Would the console's ``queue(actor, view)`` list ``inc`` (its limit aside)? The
    membership rules have one home, ``incidents.queries.in_view`` (what ``list_queue`` lists);
    the console adds only what its 待受理 shows beyond ``list_queue("new")``: a returned part
    waiting in the center's queue for 改派 (``awaiting_redispatch``). Kept in step with
    ``queue`` by tests/app/test_live_console.py (a merge equals a whole re-read)."""
    now = time.time() if now is None else now
    if triage.in_view(inc, actor, view, now):
        return True
    return (view == "new" and redispatch_here(inc, actor)
            and triage.in_view(inc, actor, "mine", now))


def redispatch_here(inc, actor: Actor) -> bool:  # noqa: ANN001
    """A returned part waiting in ``actor``'s center queue for 改派: what the console's 待受理
    shows beyond ``list_queue("new")`` (one rule for ``queue`` and ``in_view``)."""
    return inc.place == f"q:{actor.center}" and awaiting_redispatch(inc)


def pushed_ids(feed) -> list[str] | None:  # noqa: ANN001
    """The case ids a pushed change names (assets/console/live.js sets the ``feed-last`` store
    to ``{"f": feed id, "ids": […], "more": bool, "n": the page's change count}``), or None:
    re-read whole (a poll's plain feed id, "something else changed", the emergency switch, every
    ``FULL_EVERY``-th change)."""
    if not isinstance(feed, dict) or feed.get("more") or not isinstance(feed.get("ids"), list):
        return None
    n = feed.get("n")
    if not isinstance(n, int) or n % FULL_EVERY == 0:
        return None
    return [i for i in feed["ids"] if isinstance(i, str)]


def queue_order(incs: list, view: str, now: float, center: str = "", area=None) -> list:  # noqa: ANN001
    """The queue as an operator works it: ``incidents.queries.triage_order`` (fresh human
    reports and new dispatches, then the emergency area and served-first cases (T3), then
    overdue (E14a 督办), then the oldest); the history view (全部) stays newest first."""
    if view == "all":
        return list(incs)
    return triage.triage_order(incs, center, now, area)


@dataclass(frozen=True)
class QuickFilter:
    """The queue's quick filters (issue 15): a channel group, severities, and flags that must
    all hold (``FLAG_FILTERS``)."""

    channel: str = ""
    severities: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()

    @classmethod
    def of(cls, channel, severities, flags) -> QuickFilter:  # noqa: ANN001
        ch = channel if channel in triage.CHANNEL_GROUPS else ""
        return cls(ch, tuple(severities or ()), frozenset(flags or ()))

    def keep(self, inc, center: str, now: float, in_area: bool) -> bool:  # noqa: ANN001
        if self.channel and not triage.channel_group(inc, self.channel):
            return False
        if self.severities and inc.severity not in self.severities:
            return False
        f = self.flags
        return not ("overdue" in f and not triage.my_overdue(inc, center, now)
                    or "emergency" in f and not (in_area or inc.emergency)
                    or "situation" in f and not triage.is_situation(inc))


def flags_of(inc, center: str, now: float, in_area: bool, seen: float) -> str:  # noqa: ANN001
    """The queue's 标记 column: 新 (came in since the user last marked the view read), 人工 (a
    fresh human report) or 新派 (a new dispatch to this center), 应急, 态势N (its sources),
    已恢复 (every alarm source cleared)."""
    out = []
    if seen and triage.arrived(inc, center) > seen:
        out.append("新")
    if triage.fresh_human(inc, center):
        out.append("新派" if triage.new_to(inc, center) and inc.tasks and any(
            t.center == center for t in inc.tasks) else "人工")
    if in_area or inc.emergency:
        out.append("应急")
    if triage.is_situation(inc):
        out.append(f"态势{len(inc.sources)}")
    if getattr(inc, "recovered_ts", 0):
        out.append("已恢复")
    return " ".join(out)


PRIORITY_MARKS = ("人工", "新派", "应急")
"""A row marked 新 with one of these is a new priority item: the optional sound and browser
notification (assets/console/notify.js) fire for it."""


def bulk_message(label: str, results: list[dict], shown: int = 3) -> str:
    """Per-item results of a bulk action in one line: ✓ 18 受理 · ✗ 2: E…: why; …"""
    ok = [r for r in results if r["ok"]]
    bad = [r for r in results if not r["ok"]]
    msg = f"✓ {len(ok)} {label}"
    if bad:
        msg += f" · ✗ {len(bad)}: " + "; ".join(f"{r['id']}: {r['reason']}" for r in bad[:shown])
        if len(bad) > shown:
            msg += f"; 另 {len(bad) - shown} 件"
    return msg


OVERDUE_COLOR = "#ff3df2"
QUEUE_STYLES = [  # a boolean cannot be matched by filter_query: the rows carry od = 1 / 0
    {"if": {"filter_query": "{od} = 1"}, "color": OVERDUE_COLOR, "fontWeight": 600},
    {"if": {"filter_query": "{od} = 1", "column_id": "due"}, "color": OVERDUE_COLOR,
     "fontWeight": 700},
    {"if": {"filter_query": '{flag} contains "新"', "column_id": "flag"}, "color": "#ffd400",
     "fontWeight": 700},
    {"if": {"state": "active"}, "border": "1px solid #4fc3f7"}]


def selection_styles(sel: str | None) -> list[dict]:
    """The queue's conditional styles with the selected case's row marked, by its id (so the
    mark follows the case through live updates, sorting and paging)."""
    if not sel or not all(ch.isalnum() or ch in "-_" for ch in sel):
        return QUEUE_STYLES
    return QUEUE_STYLES + [{"if": {"filter_query": f'{{id}} = "{sel}"'},
                            "backgroundColor": "#21406a", "fontWeight": 600}]


# --- names -------------------------------------------------------------------------------------
def short_center(city, code: str) -> str:  # noqa: ANN001
    """A short center name for tables: the town name, the department name, 市中心, a grid
    worker (W<cell>) by name."""
    if code == CITY_CENTER:
        return "市指挥中心"
    town = cc.town_of(code)
    if town is not None:
        return city.town_names.get(town, code)
    cell = cc.cell_of(code)
    if cell is not None:
        cells = city.cells
        hit = cells.loc[cells["worker_id"] == code, "worker_name"]
        if not len(hit):
            hit = cells.loc[cells["code"] == cell, "worker_name"]
        name = str(hit.iloc[0]) if len(hit) and isinstance(hit.iloc[0], str) else ""
        return f"{name}网格员" if name else code
    c = city.centers.get(code)
    return c.name.replace("业务分中心", "") if c else code


_WORKERS: dict[int, dict[str, str]] = {}


def target_label(city, code: str) -> str:  # noqa: ANN001
    """A dispatch or task target as a clerk reads it: a department or town by its short name, a
    grid worker as "网格员 姓名 · 村/社区" (one table per city, built once)."""
    if not cc.is_worker(code):
        return short_center(city, code)
    names = _WORKERS.get(id(city))
    if names is None:
        cells = city.cells
        tn, vn = city.town_names, city.village_names
        names = _WORKERS[id(city)] = {
            str(w): f"网格员 {n} · {vn.get(v) or tn.get(t, '')}"
            for w, n, t, v in zip(cells["worker_id"], cells["worker_name"], cells["town_code"],
                                  cells["village_code"], strict=True)}
    return names.get(code, code)


def options(city, codes: Iterable[str]) -> list[dict]:  # noqa: ANN001
    """Dropdown options for center codes, in the given order."""
    return [{"label": target_label(city, c), "value": c} for c in codes]


# --- what the panel offers -------------------------------------------------------------------
INPUT_OF_NEED = {"targets": "depts", "satisfaction": "satisfaction", "severity": "severity",
                 "others": "others", "source": "source", "reason": "reason", "note": "reason"}
"""``Offer.needs`` → the panel input that asks for it (a reason and a note share one field)."""


@dataclass(frozen=True)
class Controls:
    """What the panel shows for one case and one actor: the policy's offers as buttons (in the
    policy's order, with its labels), the inputs those offers need and their options."""

    labels: dict[str, str] = field(default_factory=dict)       # action → button label
    hints: tuple[str, ...] = ()                                 # why (e.g. after 监管分离)
    inputs: frozenset[str] = frozenset()                        # INPUT_OF_NEED values shown
    targets: tuple[dict, ...] = ()                              # 派遣至 options
    preselect: tuple[str, ...] = ()                             # suggested departments
    severities: tuple[dict, ...] = ()
    others: tuple[dict, ...] = ()                               # 合并: candidate cases
    sources: tuple[dict, ...] = ()                              # 拆分: correlated sources
    source: int | None = None                                   # preselected when only one

    @property
    def offered(self) -> list[str]:
        return list(self.labels)


def source_label(city, inc, k: int) -> str:  # noqa: ANN001
    """One correlated report of a case, as 拆分 lists it: channel · reporter · description."""
    s = inc.sources[k]
    who = str(s.get("reporter", ""))
    who = short_center(city, who) if cc.kind_of(who) else who
    desc = str(s.get("description", "") or "")
    return (f"#{k} {CHANNELS.get(s.get('channel', ''), s.get('channel', ''))} · {who} · "
            f"{desc[:40] or '—'}")


def controls(city, inc, offers: list[Offer], suggested: Iterable[str] = (),  # noqa: ANN001
             titles: dict[str, str] | None = None) -> Controls:
    """The panel's controls from the policy's offers for ``inc`` (``available_actions``).

    ``suggested``: the routing suggestion's departments (preselected in 派遣至 when the policy
    lists them); ``titles``: merge candidates' titles by id (shown with the id)."""
    by = {o.action: o for o in offers}
    inputs = frozenset(INPUT_OF_NEED[o.needs] for o in offers if o.needs in INPUT_OF_NEED)
    targets = list(by[Action.DISPATCH].choices) if Action.DISPATCH in by else []
    sources = list(by[Action.SPLIT].choices) if Action.SPLIT in by else []
    titles = titles or {}
    return Controls(
        labels={o.action: o.label for o in offers},
        hints=tuple(dict.fromkeys(o.hint for o in offers if o.hint)),
        inputs=inputs,
        targets=tuple(options(city, targets)),
        preselect=tuple(d for d in dict.fromkeys(suggested) if d in targets),
        severities=tuple({"label": s, "value": s}
                         for s in (by[Action.SEVERITY].choices if Action.SEVERITY in by else ())),
        others=tuple({"label": f"{o} · {titles.get(o, '')}".rstrip(" ·"), "value": o}
                     for o in (by[Action.MERGE].choices if Action.MERGE in by else ())),
        sources=tuple({"label": source_label(city, inc, k), "value": k} for k in sources),
        source=sources[0] if len(sources) == 1 else None)


# --- doing an action ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Inputs:
    """What the clerk entered in the panel for an action."""

    text: str = ""
    depts: tuple[str, ...] = ()
    satisfaction: int | None = None
    severity: str | None = None
    others: tuple[str, ...] = ()
    source: int | None = None


def action_body(action: str, given: Inputs) -> dict:
    """The API body (``app.api.act``) of one panel action, or ValueError when an input the
    action needs is missing (told in the panel, nothing sent)."""
    text = (given.text or "").strip()
    body: dict = {"note": text, "reason": text, "text": text}
    if action == Action.REOPEN and not text:
        raise ValueError("核查不通过须说明原因 (a reason is required)")
    if action == Action.DISPATCH:
        body["depts"] = list(given.depts)
        if not body["depts"]:
            raise ValueError("请选择派遣单位 (choose at least one department)")
    if action == Action.CALLBACK:
        body["satisfaction"] = given.satisfaction or 0
    if action == Action.NOTE and not text:
        raise ValueError("备注内容为空 (the note is empty)")
    if action == Action.SEVERITY:
        if not given.severity:
            raise ValueError("请选择等级 (choose a severity)")
        body["severity"] = given.severity
    if action == Action.MERGE:
        if not given.others:
            raise ValueError("请选择要合并的事件 (choose the cases to merge into this one)")
        body["others"] = list(given.others)
    if action == Action.SPLIT:
        if given.source is None:
            raise ValueError("请选择要拆分出的来源 (choose the report to split off)")
        body["source_index"] = int(given.source)
    return body


def do_action(service, actor: Actor, incident_id: str, action: str, given: Inputs):  # noqa: ANN001, ANN201
    """One button of the panel → one service call (the HTTP API's ``act``: the same rules)."""
    return act(service, actor, incident_id, action, action_body(action, given))  # handle: a note


# --- map helpers --------------------------------------------------------------------------------
def circle_area(lon: float, lat: float, radius_km: float, n: int = 32) -> dict:
    """A GeoJSON polygon approximating a circle (for an emergency area)."""
    dlat = radius_km / 111.32
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    ring = [[round(lon + dlon * math.cos(2 * math.pi * k / n), 6),
             round(lat + dlat * math.sin(2 * math.pi * k / n), 6)] for k in range(n)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def emergency_banner(service, city, actor: Actor | None) -> str:  # noqa: ANN001
    """应急模式 banner text for this actor's screen, or '' (shown when its area touches the
    actor's territory; city and department screens always show it)."""
    state = service.emergency_state()
    if not state or actor is None:
        return ""
    town_code = cc.town_of(actor.center)
    if town_code:
        from incidents.routing import parse_area  # noqa: PLC0415

        town = city.towns[city.towns["code"] == town_code]
        if len(town) and not parse_area(state["area"]).intersects(town.geometry.iloc[0]):
            return ""
    why = f" · {state['reason']}" if state.get("reason") else ""
    return f"⚠ 应急模式 启动中 · 至 {fmt(state['until'], True)}{why} · 区域内新事件直报市指挥中心"


def intake_message(city, inc) -> str:  # noqa: ANN001
    """What the new-incident form says about what the intake did: a new case, a report linked
    to an open case nearby as one more source (关联), or a repeat of one made before."""
    if inc.intake == "merged":    # joined a case outside the caller's scope: a receipt only
        return f"✓ 已并入已有事件（回执 {inc.id}），由其承办单位处理 (merged: receipt {inc.id})"
    c = city.centers.get(inc.center)
    where = c.name if c else inc.center
    if inc.intake == "correlated":
        return f"✓ 已关联到 {inc.id}（附近已有同类在办事件，作为新的来源记入）→ {where}"
    if inc.intake == "duplicate":
        return f"✓ 已提交过，未重复创建: {inc.id} → {where}"
    return f"✓ 已新建 {inc.id} → {where}"


def locate(city, pick, landmark, trigger) -> tuple[float, float, str] | None:  # noqa: ANN001
    """Where a new incident is: the landmark just chosen, else the picked point, else a
    landmark; (lon, lat, cell code or ''). None when nothing usable was chosen (also a value no
    page sends: a crafted request is told to pick a place, never a 500)."""
    if not isinstance(landmark, str | None) or not isinstance(pick, dict | None):
        return None           # not what any page sends
    try:
        if trigger == "new-landmark" and landmark:
            lon, lat = (float(v) for v in landmark.split(","))
        elif pick:
            lon, lat = float(pick["lon"]), float(pick["lat"])
        elif landmark:
            lon, lat = (float(v) for v in landmark.split(","))
        else:
            return None
    except (TypeError, ValueError, KeyError):
        return None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    loc = city.try_locate(lon, lat)
    return lon, lat, loc.cell_code if loc else ""


# --- the data model -------------------------------------------------------------------------------
class ConsoleData:
    """The console's reads over one app context (the service with the caller's Actor, the city,
    the device registry, Redis), as plain data: what the callbacks render."""

    def __init__(self, ctx) -> None:  # noqa: ANN001
        self.ctx = ctx

    @property
    def service(self):  # noqa: ANN201 (IncidentService)
        return self.ctx.incidents

    @property
    def city(self):  # noqa: ANN201 (City)
        return self.ctx.city

    @property
    def redis(self):  # noqa: ANN201
        return self.ctx.redis

    def watch(self, center: str) -> str:
        """值班 line of ``center`` (its watch by name, from the duty roster)."""
        from app.users import UserStore  # noqa: PLC0415

        users = UserStore(self.redis)

        def name_of(uid: str) -> str:
            u = users.get(uid)
            return (u.name or uid) if u else uid
        return watch_line(self.redis, center, name_of)

    @property
    def tile_url(self) -> str | None:
        return self.ctx.settings.tile_url

    def queue(self, actor: Actor, view: str, now: float | None = None,
              filt: QuickFilter | None = None, seen: float = 0.0) -> list[dict]:
        """The rows of the queue for ``view``, in triage order (``queue_order``), through the
        quick filters; the new-work view includes a returned part waiting for 改派. ``seen``:
        when the user last marked the view read (rows since then are marked 新)."""
        now = time.time() if now is None else now
        svc = self.service
        incs = svc.list_queue(actor, view, limit=500)
        if view == "new":
            known = {i.id for i in incs}
            incs += [i for i in svc.list_queue(actor, "mine", limit=500)
                     if i.id not in known and redispatch_here(i, actor)]
        area = svc.emergency_area()
        center = actor.center if actor.role != "grid_worker" else f"W{actor.cell}"
        ordered = incs if view == "todo" else queue_order(incs, view, now, center, area)
        em = triage.in_area(ordered, area)
        filt = filt or QuickFilter()
        return [self.row(inc, actor, view, center, now, e, seen)
                for inc, e in zip(ordered, em, strict=True) if filt.keep(inc, center, now, e)]

    def row(self, inc, actor: Actor, view: str, center: str, now: float, in_area: bool,  # noqa: ANN001
            seen: float) -> dict:
        """One queue row; ``_k``: its place in the view's order (``triage.triage_key``; 全部:
        newest first), computed now, so a merge (``patch_queue``) can put a changed case where
        a whole re-read would."""
        s = summary(inc, now)
        over = triage.my_overdue(inc, center, now)
        key = ((-inc.created_ts,) if view == "all"
               else triage.triage_key(inc, center, now, in_area))
        s.update(owner=short_center(self.city, inc.center), created=fmt(inc.created_ts, True),
                 due=("超期 " if over else "") + (fmt(inc.due_ts, True) or "—"),
                 od=int(over), overdue=over, state_name=state_name(inc, actor),
                 flag=flags_of(inc, center, now, in_area, seen), _k=list(key))
        return s

    def patch_queue(self, actor: Actor, view: str, ids: list[str], shown: list[dict],
                    now: float | None = None, filt: QuickFilter | None = None,
                    seen: float = 0.0) -> list[dict] | None:
        """The queue after the cases ``ids`` changed (a push named them, issue 15): the rows the
        screen holds (``shown``, in order) with only those cases re-read, each dropped, replaced
        or inserted where ``queue`` would put it (``in_view``, the quick filters, ``_k``).

        None when a merge cannot stand for a whole re-read: a view not in ``PATCH_VIEWS``, rows
        without their order (an older page), a queue at ``QUEUE_LIMIT`` (a re-read would cut
        it elsewhere), too many ids. The callers then re-read whole; they do anyway every
        ``FULL_EVERY``-th change, on a view or filter change and on the safety-net poll, so
        what moved with the clock (overdue) catches up. Scope (S1/S2): a case the actor may
        not read is never added, whatever ids the browser sent."""
        if (view not in PATCH_VIEWS or actor.role == "grid_worker" or len(ids) > PATCH_MAX_IDS
                or len(shown) >= QUEUE_LIMIT
                or not all(isinstance(r, dict) and isinstance(r.get("_k"), list) for r in shown)):
            return None
        now = time.time() if now is None else now
        ids = list(dict.fromkeys(i for i in ids if isinstance(i, str)))
        incs = self.service.store.load_many(ids)
        area = self.service.emergency_area() if incs else None
        filt = filt or QuickFilter()
        center = actor.center
        fresh = [self.row(inc, actor, view, center, now, e, seen)
                 for inc, e in zip(incs, triage.in_area(incs, area), strict=True)
                 if in_view(inc, actor, view, now) and filt.keep(inc, center, now, e)]
        named = set(ids)
        rows = [r for r in shown if r.get("id") not in named]
        if len(rows) + len(fresh) >= QUEUE_LIMIT:
            return None
        for r in fresh:
            bisect.insort(rows, r, key=lambda x: x["_k"])
        return rows

    def seen(self, actor: Actor, view: str) -> float:
        """When ``actor`` last marked ``view`` read (the first look counts as one)."""
        from app.keys import console_seen  # noqa: PLC0415

        v = self.redis.hget(console_seen(actor.user_id), view)
        if v is None:
            return self.mark_seen(actor, view)
        return float(v)

    def mark_seen(self, actor: Actor, view: str, now: float | None = None) -> float:
        """标为已阅: rows of ``view`` that came in until now are no longer 新. Per user and view
        in Redis, not in the browser: a clerk who changes seats (or browsers) keeps what they
        have seen, and the bench can count the markers (issue 15)."""
        from app.keys import console_seen  # noqa: PLC0415

        ts = time.time() if now is None else now
        self.redis.hset(console_seen(actor.user_id), view, repr(ts))
        return ts

    def controls(self, actor: Actor, inc, hints: dict | None = None) -> Controls:  # noqa: ANN001
        """The panel's controls for ``inc``: the policy's offers (``available_actions``), the
        routing suggestion (``hints``: ``suggest_routing``'s answer) preselected, merge
        candidates named by their titles."""
        svc = self.service
        offers = svc.available_actions(inc, actor)
        titles: dict[str, str] = {}
        for o in offers:
            if o.action == Action.MERGE:
                titles = {c: svc.get(c, actor).title for c in o.choices}
        suggested = [d["center"] for d in (hints or {}).get("departments", [])]
        return controls(self.city, inc, offers, suggested, titles)

    def hints(self, actor: Actor, inc) -> dict:  # noqa: ANN001
        """The routing suggestion for ``inc``: departments (条), similar closed cases nearby."""
        return self.service.suggest_routing(inc.id, actor)

    def assign_targets(self, actor: Actor) -> list[dict]:
        """Whom ``actor`` may give a task (上情下达): the policy's ``assign_targets``."""
        return options(self.city, self.service.policy.assign_targets(actor))

    def cameras(self, lon: float, lat: float) -> list[dict]:
        """Cameras that can see the point (mobile ones where they are now), nearest first."""
        return self.camera_view(lon, lat)[0]

    def camera_view(self, lon: float, lat: float) -> tuple[list[dict], bool]:
        """(cameras, they see the spot): the ones that can see it, else the nearest ones
        (``sensors.cameras.cameras_for``), which the panel labels as not seeing it."""
        return cameras_for(self.ctx.devices, lon, lat, radius_m=CAMERA_RADIUS_M, limit=6,
                           positions=live_positions(self.redis))

    def sensors(self, lon: float, lat: float, inc=None) -> list[dict]:  # noqa: ANN001
        """The devices whose alarms raised ``inc`` (each with the metric that raised it, issue
        15), then the sensors near the point, nearest first; each with its recent readings of
        one metric (``ts``, ``values``, ``metric`` label; empty when it has sent none) and
        ``alarm`` (True: a source of the case)."""
        from sensors.keys import dev_hist  # noqa: PLC0415
        from sensors.kinds import KINDS  # noqa: PLC0415

        frame = self.ctx.devices.sensors
        alarmed = alarm_metrics(inc, frame) if inc is not None else {}
        devs = []
        if alarmed and frame is not None and not frame.empty:
            hit = frame[frame["id"].isin(list(alarmed))]
            devs = [{"id": str(r["id"]), "type": str(r["type"]), "name": str(r["name"]),
                     "lon": float(r["lon"]), "lat": float(r["lat"]),
                     "distance_m": _metres(lon, lat, float(r["lon"]), float(r["lat"]))}
                    for _, r in hit.iterrows()][:3]
        devs += [s for s in sensors_near(frame, lon, lat) if s["id"] not in alarmed][:max(0, 3 - len(devs))]
        out = []
        for s in devs:
            ts, series = readings(self.redis, dev_hist(s["id"]), 60)
            want = alarmed.get(s["id"]) or ""
            if want and want in series:
                metric, vals = want, series[want]
            else:
                metric, vals = next(iter(series.items())) if ts and series else ("", [])
            kind = KINDS.get(s["type"])
            m = next((m for m in kind.metrics if m.name == metric), None) if kind else None
            label = f"{m.label}{f' ({m.unit})' if m.unit else ''}" if m else metric
            out.append(dict(s, ts=ts if vals else [], values=vals, metric=label,
                            alarm=s["id"] in alarmed))
        return out


def alarm_metrics(inc, frame=None) -> dict[str, str]:  # noqa: ANN001
    """Device id → the metric whose alarm raised (or joined) the case: the source's ``metric``
    when the intake kept it, else the metric of the rule named in the alarm episode's key
    (``alarm:<device>:<rule>:<ts>``, ``sensors.kinds``), not the device's first metric."""
    from sensors.kinds import KINDS  # noqa: PLC0415

    types = {}
    if frame is not None and not frame.empty:
        types = dict(zip(frame["id"].astype(str), frame["type"].astype(str), strict=True))
    out: dict[str, str] = {}
    for s in inc.sources:
        if s.get("channel") not in ("iot", "device_fault"):
            continue
        dev = str(s.get("ref") or s.get("device_id") or "")
        if not dev:
            continue
        metric = str(s.get("metric") or "")
        if not metric:
            parts = str(s.get("key") or "").split(":")
            rule = parts[2] if len(parts) >= 4 and parts[0] == "alarm" and parts[1] == dev else ""
            kind = KINDS.get(types.get(dev, ""))
            spec = next((r for r in kind.rules if r.id == rule), None) if kind and rule else None
            metric = spec.metric if spec else ""
        out.setdefault(dev, metric)
    return out


def _metres(lon0: float, lat0: float, lon: float, lat: float) -> float:
    dx = (lon - lon0) * 111_320.0 * math.cos(math.radians(lat0))
    return round(math.hypot(dx, (lat - lat0) * 110_540.0), 1)


def watch_line(redis, center: str, name_of, at: float | None = None) -> str:  # noqa: ANN001
    """值班: who is on watch at ``center`` now, for the header (X34a): ``带班领导 张三 · 值班员 李四``;
    "未排班" when the roster has nobody. ``name_of(user_id)`` gives a person's name."""
    from incidents.duty import DUTY_ROLE_NAMES, Roster  # noqa: PLC0415

    watch = Roster(redis).on_duty(center, at)
    parts = [f"{DUTY_ROLE_NAMES[role]} {'、'.join(name_of(p) for p in people)}"
             for role, people in watch.items() if people]
    return "值班：" + (" · ".join(parts) if parts else "未排班")

