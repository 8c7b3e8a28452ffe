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
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.api import act, summary
from app.nearby import CAMERA_RADIUS_M, readings, sensors_near
from app.timefmt import fmt_cst
from grid import centers as cc
from grid.model import CITY_CENTER
from incidents import queries as triage
from incidents.actor import SYSTEM, Actor
from incidents.incident import CHANNELS, STATE_NAMES
from incidents.policy import OFFERED, Offer
from incidents.queries import awaiting_redispatch
from incidents.roles import CONSOLE_ROLES, ROLE_NAMES
from incidents.vocab import EVIDENCE, Action
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
        return f"越权被拒 ({ACTION_NAMES.get(action[7:], '操作')})"
    return ACTION_NAMES.get(action, "操作")


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
        msg += f" · ✗ {len(bad)}: " + "; ".join(f"{r['id']}: {chinese(r['reason'])}"
                                               for r in bad[:shown])
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


# --- the panel's words: names, not codes; Chinese, not English asides (issue 21) --------------
SYSTEM_NAME = "系统"
"""Who did what the platform did by itself (intake, deadlines, automatic dispatch): never the
role the system account happens to carry (市值班员)."""
BEFORE_PHOTO, AFTER_PHOTO, EVIDENCE_PHOTO = "上报照片", "处置后照片", EVIDENCE
"""A case's photos: those of the report (and of later reports joining it), those a handler
attached to 处置反馈 (处置前后对比)."""
_LATIN_ASIDE = re.compile(r"\s*[(（][^()（）\u3400-\u9fff]*[A-Za-z][^()（）\u3400-\u9fff]*[)）]")
"""An English gloss in brackets, "(accept due soon)": for logs and the API, not for clerks."""
_CENTER_CODE = re.compile(r"(?<![A-Za-z0-9])(CITY|T\d{6,}|D[A-Z]{1,8}|W\d{6,})(?![A-Za-z0-9])")


def chinese(text) -> str:  # noqa: ANN001
    """``text`` without its English asides in brackets (a service's refusal, a stored reason)."""
    return _LATIN_ASIDE.sub("", str(text or "")).strip()


def readable(city, text) -> str:  # noqa: ANN001
    """A stored reason (routing, deadlines, the trail) as a clerk reads it: English asides in
    brackets dropped, center codes (T440981101, DCG) replaced by their names (东岸镇, 城管)."""
    out = chinese(text)

    def name(m: re.Match) -> str:
        code = m.group(1)
        known = code == CITY_CENTER or code in city.centers or cc.is_worker(code)
        return short_center(city, code) if known else code
    return _CENTER_CODE.sub(name, out).strip()


def is_system(e: dict) -> bool:
    """An audit entry the platform wrote by itself (``incidents.actor.SYSTEM``)."""
    return str(e.get("actor", "")) == SYSTEM.user_id or not e.get("role")


def who_did(city, e: dict) -> str:  # noqa: ANN001
    """The person of an audit entry: 系统, or "name" (the role once when the
    name is only the role's)."""
    if is_system(e):
        return SYSTEM_NAME
    role = ROLE_NAMES.get(e.get("role", ""), e.get("role", ""))
    where = short_center(city, e.get("center", "")) if e.get("center") else ""
    name = e.get("name") or e.get("actor") or ""
    if name == role or not name:
        return f"{role}@{where}" if where else role
    return f"{name} ({role}@{where})" if where else f"{name} ({role})"


def _tasks_of(v) -> dict[str, str]:  # noqa: ANN001
    """An audit value of ``tasks`` ("n:center:state" each) as n → center."""
    out = {}
    for t in v or ():
        parts = str(t).split(":")
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def new_photos(e: dict) -> list[str]:
    """The photos an audit entry added to the case (its before/after ``attachments``)."""
    before = set((e.get("before") or {}).get("attachments") or ())
    after = (e.get("after") or {}).get("attachments") or ()
    return [u for u in after if u not in before] if isinstance(after, list) else []


def entry_detail(city, e: dict) -> str:  # noqa: ANN001
    """What an audit entry did beyond its action's name: 派遣 to whom, the 回访 score, the new
    owner after 接管/上报/退回, the photos of a 处置反馈."""
    action = e.get("action", "")
    before, after = e.get("before") or {}, e.get("after") or {}
    bits = []
    if "tasks" in after:
        old = _tasks_of(before.get("tasks"))
        sent = [c for n, c in _tasks_of(after["tasks"]).items() if n not in old]
        if sent:
            bits.append("派往 " + "、".join(target_label(city, c).replace("网格员 ", "网格员")
                                         for c in dict.fromkeys(sent)))
    if action == Action.CALLBACK and after.get("satisfaction") not in (None, "", "0", 0):
        bits.append(f"满意度 {after['satisfaction']} 分")
    if action != "report" and after.get("center") and after["center"] != before.get("center"):
        bits.append(f"转至 {short_center(city, str(after['center']))}")
    photos = new_photos(e)
    if photos:
        bits.append(f"{AFTER_PHOTO if action == Action.HANDLE else '照片'} {len(photos)} 张")
    return " · ".join(bits)


def owner_reason(city, inc, trail: list[dict]) -> str:  # noqa: ANN001
    """Why the case sits where it does: the routing reason, unless a person (or the deadline
    watch) moved it since (接管, 上报, 退回): then who moved it, when and why."""
    moved = None
    for e in trail:
        before, after = e.get("before") or {}, e.get("after") or {}
        if (e.get("action") != "report" and after.get("center")
                and after["center"] != before.get("center")):
            moved = e
    if moved is None:
        return readable(city, inc.route_reason)
    why = readable(city, moved.get("reason") or "")
    return (f"{action_name(moved.get('action', ''))}: {who_did(city, moved)} · "
            f"{fmt(float(moved.get('ts') or 0), True)}" + (f" · {why}" if why else ""))


def photo_kinds(inc, trail: list[dict]) -> list[tuple[str, str]]:  # noqa: ANN001
    """The case's own photos (served here: a path), each with what it shows: ``AFTER_PHOTO``
    when a 处置反馈 attached it (the trail says so), ``EVIDENCE_PHOTO`` when a 备注 did (截图取证),
    else ``BEFORE_PHOTO``."""
    after = {u for e in trail if e.get("action") == Action.HANDLE for u in new_photos(e)}
    grabbed = {u for e in trail if e.get("action") == Action.NOTE for u in new_photos(e)}
    return [(str(u), AFTER_PHOTO if u in after else EVIDENCE_PHOTO if u in grabbed else BEFORE_PHOTO)
            for u in inc.attachments if str(u).startswith("/")]


def trail_line(city, e: dict) -> str:  # noqa: ANN001
    """One timeline entry after its time: who · action → state · what it did · why."""
    state = e.get("state")
    detail = entry_detail(city, e)
    reason = readable(city, e.get("reason") or "")
    return (f"{who_did(city, e)} · {action_name(e.get('action', ''))}"
            + (f" → {STATE_NAMES.get(state, state)}" if state else "")
            + (f" · {detail}" if detail else "") + (f" · {reason}" if reason else ""))


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
    photos: tuple[str, ...] = ()          # 处置后照片 (处置反馈 only)


def action_body(action: str, given: Inputs) -> dict:
    """The API body (``app.api.act``) of one panel action, or ValueError when an input the
    action needs is missing (told in the panel, nothing sent)."""
    text = (given.text or "").strip()
    body: dict = {"note": text, "reason": text, "text": text}
    if action == Action.REOPEN and not text:
        raise ValueError("核查不通过须说明原因")
    if action == Action.DISPATCH:
        body["depts"] = list(given.depts)
        if not body["depts"]:
            raise ValueError("请选择派遣单位")
    if action == Action.HANDLE and given.photos:
        body["attachments"] = list(given.photos)      # checked by incidents.actions.photo_urls
    if action == Action.CALLBACK:
        body["satisfaction"] = given.satisfaction or 0
    if action == Action.NOTE and not text:
        raise ValueError("备注内容为空")
    if action == Action.SEVERITY:
        if not given.severity:
            raise ValueError("请选择等级")
        body["severity"] = given.severity
    if action == Action.MERGE:
        if not given.others:
            raise ValueError("请选择要合并的事件")
        body["others"] = list(given.others)
    if action == Action.SPLIT:
        if given.source is None:
            raise ValueError("请选择要拆分出的来源")
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
        return f"✓ 已并入已有事件（回执 {inc.id}），由其承办单位处理"
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

    def person(self, uid: str) -> str:
        """Who a user id (a reporter, a handler) is, by name: 系统 for the platform, a center or
        grid worker by its name, an account by its name; else the id as it is (a device)."""
        if not uid or uid == SYSTEM.user_id:
            return SYSTEM_NAME
        if cc.kind_of(uid):
            return short_center(self.city, uid)
        from app.users import UserStore  # noqa: PLC0415

        u = UserStore(self.redis).get(uid)
        return (u.name or uid) if u else uid

    def add_photos(self, actor: Actor, incident_id: str, files: list[bytes], secret: bytes
                   ) -> tuple[int, list[str]]:
        """处置后照片 uploaded in the panel for the next 处置反馈 of ``incident_id``: each stored
        the way the phone stores one (``app.mobile_api``: the same key, id and URL, linked to the
        case so whoever may read it may see them), kept for that action in
        ``app.keys.console_photos``. (how many wait now, the refusals in Chinese)."""
        import hashlib  # noqa: PLC0415
        import hmac  # noqa: PLC0415

        from app import security  # noqa: PLC0415
        from app.keys import console_photos, mobile_photo  # noqa: PLC0415
        from app.mobile_api import MAX_PHOTO_BYTES, PHOTO_TTL_S, photo_url  # noqa: PLC0415
        from incidents.actions import ATTACHMENTS_MAX  # noqa: PLC0415

        k = console_photos(actor.user_id, incident_id)
        bad, urls = [], []
        for data in files:
            if len(data) > MAX_PHOTO_BYTES:
                bad.append(f"照片过大（超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB）")
                continue
            try:
                kind = security.check_image(data)
            except security.UploadRejected as exc:
                bad.append(chinese(exc))
                continue
            pid = hmac.new(secret, data, hashlib.sha256).hexdigest()[:32]
            pk = mobile_photo(pid)
            if not self.redis.exists(pk):
                self.ctx.redis_bytes.hset(pk, mapping={
                    "owner": actor.user_id, "type": f"image/{kind.lower()}", "data": data,
                    "ts": str(int(time.time() * 1000))})
                self.redis.expire(pk, PHOTO_TTL_S)
            self.redis.hset(pk, "incident", incident_id)
            urls.append(photo_url(pid))
        if bad:
            security.count(self.redis, "upload_rejected")
        have = self.redis.lrange(k, 0, -1)
        new = [u for u in dict.fromkeys(urls) if u not in have][:max(0, ATTACHMENTS_MAX - len(have))]
        if new:
            self.redis.rpush(k, *new)
        self.redis.expire(k, 86400)
        return len(have) + len(new), bad

    def pending_photos(self, actor: Actor, incident_id: str) -> list[str]:
        """The 处置后照片 waiting for the next 处置反馈 of ``incident_id`` (``add_photos``)."""
        from app.keys import console_photos  # noqa: PLC0415

        return self.redis.lrange(console_photos(actor.user_id, incident_id), 0, -1)

    def clear_photos(self, actor: Actor, incident_id: str) -> None:
        """The 处置反馈 took them (or the clerk removed them)."""
        from app.keys import console_photos  # noqa: PLC0415

        self.redis.delete(console_photos(actor.user_id, incident_id))

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

