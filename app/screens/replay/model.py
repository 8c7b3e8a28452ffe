"""复盘 (after-action review, E18, M37–M39; issue 20): the map, the alarm/incident feed and the
queue as they were over a time window, replayed at 1×/10×/60×. Dash-free (unit-tested).

Sources, merged and de-duplicated (an event the record and Redis both hold is one):

- the record (``incidents/record``): every case open at some moment of the window, its archived
  audit trail (each entry: the action, the state after it, when) and the alarm episodes that
  overlap the window (raise at ``started_at``, clear at ``cleared_at``);
- the live store: the cases of the incident feed's tail and the open ones, with their audit
  streams, and the ``om:alarms`` events of the window (raise, level, clear) — what the archiver
  has not copied yet, or everything when the record is off.

Scope through the one policy: a case is replayed only if ``Policy.can_read`` lets the viewer read
it now; an alarm only if ``policy.visible_devices`` would show its device (a town sees its own).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import psycopg
import redis
from psycopg.rows import dict_row

from grid.categories import CATEGORIES
from grid.contracts import ALARMS_STREAM, LEVEL_CN, Field
from grid.contracts import Event as AlarmEvent
from incidents import keys
from incidents.actor import Actor
from incidents.audit import entry as audit_entry
from incidents.feed import fields as feed_fields
from incidents.incident import FINAL_STATES, Incident
from incidents.policy import Policy, visible_devices
from incidents.record import scope as record_scope
from incidents.record.rows import incident_of
from incidents.vocab import Action, State

SPEEDS = (1, 10, 60)
"""回放倍速 (1×, 10×, 60×)."""
MAX_CASES = 3000
"""At most this many cases in one replay (a window that holds more is cut to its first ones:
the message says so)."""
MAX_ALARM_EVENTS = 20_000
MAX_EVENTS = 5000
"""At most this many events in one replay (the page keeps them and sends them with each redraw):
a busier window is cut to its first ones, and the message says so."""
FEED_SHOWN = 200
"""The feed shows the newest this many events at the replayed moment."""
LEAD_S = 3.0
"""Playback starts this long (replayed seconds) before the window's first event: an empty
stretch at the window's start is skipped, not waited through."""
FEED_TAIL = 5000
"""How far back the live store's incident feed is read for cases changed in the window."""
MAX_WINDOW_S = 7 * 86400


@dataclass(frozen=True)
class Event:
    """One thing that happened: a case's audit entry or an alarm's raise/level/clear."""

    ts: float
    kind: str           # "incident" | "alarm"
    key: str            # unique and stable: "i|<case>|<stream id>", "a|<episode>|<event>|…"
    ref: str            # the case id or the alarm episode
    action: str         # the audit action, or the alarm event (raise/level/clear)
    state: str          # the case's state after it, or the alarm's level
    label: str          # the feed's line (Chinese)
    lon: float
    lat: float
    town_code: str
    order: int = 0      # tie-break at one instant: the trail's order, alarms after cases


@dataclass
class Frame:
    """What the screens show at one replayed moment."""

    t: float
    feed: list[Event]               # newest first (at most FEED_SHOWN)
    incidents: list[dict]           # on the map: the cases open at ``t``
    alarms: list[dict]              # on the map: the alarms active at ``t``
    queue: list[dict]               # 待办: the open cases, oldest first
    shown: int                      # events at or before ``t`` inside the window


# --- the window's events ------------------------------------------------------------------------
def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _cat(code: str) -> str:
    c = CATEGORIES.get(code)
    return c.name if c else code


def incident_events(inc: Incident, trail: Iterable[dict]) -> list[Event]:
    """A case's trail as events (refusals, ``denied:*``, are not replayed: they changed nothing)."""
    out = []
    for k, e in enumerate(trail):
        action = str(e.get("action") or "")
        if not action or action.startswith("denied"):
            continue
        state = str(e.get("state") or inc.state)
        a = Action.names().get(action) or {"report": "上报", "correlate": "关联"}.get(action, "处理")
        s = State.names().get(state, "")
        out.append(Event(float(e.get("ts") or 0), "incident", f"i|{inc.id}|{e.get('entry', k)}",
                         inc.id, action, state, f"事件 {_cat(inc.category)} · {a}" + (f"（{s}）" if s else ""),
                         _num(inc.lon), _num(inc.lat), str(inc.town_code or ""), k))
    return out


def alarm_event(stream_id: str, f: dict) -> Event | None:
    """One ``om:alarms`` entry as an event (None: not an episode event)."""
    ep, what = str(f.get(Field.EPISODE) or ""), str(f.get(Field.EVENT) or "")
    if not ep or what not in tuple(AlarmEvent):
        return None
    ts = _num(f.get(Field.TS)) / 1000 or int(stream_id.split("-")[0]) / 1000
    level = str(f.get(Field.LEVEL) or "")
    # a raise and a clear are one per episode (the record's episode row gives the same keys);
    # a level change is keyed by its stream entry
    key = f"a|{ep}|{what}" + (f"|{stream_id}" if what == AlarmEvent.LEVEL else "")
    return Event(ts, "alarm", key, ep, what, level, _alarm_label(what, level, f), _num(f.get(Field.LON)),
                 _num(f.get(Field.LAT)), str(f.get(Field.TOWN_CODE) or ""), 1_000_000)


def _alarm_label(what: str, level: str, f: dict) -> str:
    verb = {"raise": "告警", "level": "告警升降级", "clear": "告警解除"}.get(what, "告警")
    lv = LEVEL_CN.get(level, "") if level else ""
    msg = str(f.get(Field.MESSAGE) or _cat(str(f.get(Field.CATEGORY) or "")))
    return f"{verb}{'（' + lv + '）' if lv else ''} · {msg}"


def episode_events(row: dict) -> list[Event]:
    """An archived alarm episode (``alarm_episodes``: its first event's record, start, clear)
    as its raise and, if cleared, its clear."""
    f = dict(row["record"])
    f[Field.LEVEL] = row.get("level") or f.get(Field.LEVEL, "")
    f[Field.EPISODE] = row["id"]
    out = []
    raised = alarm_event(str(f.get("stream_id") or "0-0"), {**f, Field.EVENT: "raise",
                                                            Field.TS: row["started_ms"]})
    if raised:
        out.append(raised)
    if row.get("cleared_ms"):
        cleared = alarm_event("0-0", {**f, Field.EVENT: "clear", Field.TS: row["cleared_ms"]})
        if cleared:
            out.append(cleared)
    return out


# --- reading the record and the live store -------------------------------------------------------
_CASES_SQL = """
SELECT record FROM incidents
WHERE created_at <= %(until)s AND (closed_at IS NULL OR closed_at >= %(since)s)
  AND (voided_at IS NULL OR voided_at >= %(since)s) AND {city}
ORDER BY created_at LIMIT %(limit)s
"""
_TRAILS_SQL = """
SELECT incident_id, entry FROM incident_audit
WHERE incident_id = ANY(%(ids)s) AND ts <= %(until)s AND {city} ORDER BY incident_id, seq
"""
_EPISODES_SQL = """
SELECT id, level, record, extract(epoch FROM started_at) * 1000 AS started_ms,
       extract(epoch FROM cleared_at) * 1000 AS cleared_ms
FROM alarm_episodes
WHERE started_at <= %(until)s AND (cleared_at IS NULL OR cleared_at >= %(since)s) AND {city}
ORDER BY started_at LIMIT %(limit)s
"""
# the reader's city (issue 20, several cities: incidents.record.scope; the prefecture: all)
_CASES_SQL, _TRAILS_SQL, _EPISODES_SQL = (
    q.format(city=record_scope.where()) for q in (_CASES_SQL, _TRAILS_SQL, _EPISODES_SQL))


@dataclass
class Loaded:
    """What a window holds: cases (newest snapshot) with their trails, alarm events, notes."""

    cases: dict[str, Incident]
    trails: dict[str, dict[str, dict]]      # case → stream id → entry
    alarms: dict[str, Event]
    notes: list[str]


def from_record(conn: psycopg.Connection, since: float, until: float) -> Loaded:
    """The window as the record holds it."""
    p = {"since": dt.datetime.fromtimestamp(since, dt.UTC),
         "until": dt.datetime.fromtimestamp(until, dt.UTC), "limit": MAX_CASES,
         "city": record_scope.city()}
    cases = {}
    for (rec,) in conn.execute(_CASES_SQL, p):
        inc = incident_of(rec)
        cases[inc.id] = inc
    trails: dict[str, dict[str, dict]] = {i: {} for i in cases}
    for iid, e in conn.execute(_TRAILS_SQL, {**p, "ids": list(cases)}):
        trails[iid][str(e.get("entry"))] = e
    alarms: dict[str, Event] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(_EPISODES_SQL, {**p, "limit": MAX_ALARM_EVENTS}):
            for ev in episode_events(row):
                alarms[ev.key] = ev
    notes = [f"窗口内事件超过 {MAX_CASES} 件，只回放前 {MAX_CASES} 件"] if len(cases) >= MAX_CASES else []
    return Loaded(cases, trails, alarms, notes)


def from_live(r: redis.Redis, load_many: Callable[[list[str]], list[Incident]], since: float,
              until: float) -> Loaded:
    """The window as the live store holds it: the cases named by the feed's tail and the open
    ones (what the record may not have yet), their audit streams, the alarm stream's events."""
    ids = dict.fromkeys(r.zrange(keys.OPEN, 0, -1))
    for _, f in r.xrevrange(keys.FEED, count=FEED_TAIL):
        try:
            iid = feed_fields(f).get("id")
        except (ValueError, TypeError):
            continue
        if iid:
            ids[str(iid)] = None
    cases = {inc.id: inc for inc in load_many(list(ids)) if inc.created_ts <= until}
    p = r.pipeline(transaction=False)
    for i in cases:
        p.xrange(keys.audit(i))
    trails = {i: {eid: audit_entry(eid, f) for eid, f in got}
              for i, got in zip(cases, p.execute(), strict=True)}
    alarms: dict[str, Event] = {}
    for eid, f in r.xrevrange(ALARMS_STREAM, count=MAX_ALARM_EVENTS):
        ev = alarm_event(eid, f)
        if ev is None:
            continue
        if ev.ts < since - 86400:       # older than the window (and a day): stop reading
            break
        if ev.ts <= until:
            alarms.setdefault(ev.key, ev)
    return Loaded(cases, trails, alarms, [])


def merge(parts: Iterable[Loaded]) -> Loaded:
    """One view: the newest snapshot of each case, the union of its trail entries (by stream
    id), of the alarm events (by key; the earliest raise kept)."""
    out = Loaded({}, {}, {}, [])
    for part in parts:
        for i, inc in part.cases.items():
            old = out.cases.get(i)
            if old is None or inc.version > old.version:
                out.cases[i] = inc
            out.trails.setdefault(i, {}).update(part.trails.get(i, {}))
        for k, ev in part.alarms.items():
            if k not in out.alarms or ev.ts < out.alarms[k].ts:
                out.alarms[k] = ev
        out.notes += part.notes
    return out


def visible_alarms(viewer: Actor, events: list[Event]) -> list[Event]:
    """The alarm events the viewer may see (``policy.visible_devices`` on their devices' town)."""
    if not events:
        return []
    frame = pd.DataFrame({"n": range(len(events)), "town_code": [e.town_code for e in events],
                          "cell_code": [""] * len(events)})
    keep = set(visible_devices(viewer, frame, None)["n"])
    return [e for n, e in enumerate(events) if n in keep]


def events_of(loaded: Loaded, viewer: Actor, since: float, until: float) -> list[Event]:
    """Every event up to ``until`` of the cases the viewer may read (those before ``since`` set
    the scene), and the alarm events of the window it may see, in their original order."""
    out: list[Event] = []
    for i, inc in loaded.cases.items():
        if not Policy.can_read(viewer, inc):
            continue
        trail = sorted(loaded.trails.get(i, {}).values(), key=lambda e: (float(e.get("ts") or 0),
                                                                      _sid(str(e.get("entry")))))
        evs = [e for e in incident_events(inc, trail) if e.ts <= until]
        # a case closed before the window opened is not part of it
        if evs and not any(e.ts >= since for e in evs) and evs[-1].state in FINAL_STATES:
            continue
        out += evs
    out += visible_alarms(viewer, [e for e in loaded.alarms.values() if e.ts <= until])
    out.sort(key=lambda e: (e.ts, e.order, e.key))
    if len(out) > MAX_EVENTS:
        loaded.notes.append(f"窗口内动态超过 {MAX_EVENTS} 条，只回放前 {MAX_EVENTS} 条")
        del out[MAX_EVENTS:]
    return out


def _sid(s: str) -> tuple[int, int]:
    ms, _, seq = s.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


# --- playing ------------------------------------------------------------------------------------
def window(last_s: float | None, start: str | None, end: str | None, now: float) -> tuple[float, float]:
    """[since, until] epoch seconds: the last ``last_s`` seconds, or ``start``..``end`` given as
    ``YYYY-MM-DD HH:MM`` in China Standard Time. ValueError with a Chinese reason."""
    if last_s:
        if not 0 < last_s <= MAX_WINDOW_S:
            raise ValueError("回放时长应在 1 秒到 7 天之间")
        return now - last_s, now
    try:
        cst = dt.timezone(dt.timedelta(hours=8))
        t0 = dt.datetime.strptime((start or "").strip(), "%Y-%m-%d %H:%M").replace(tzinfo=cst)
        t1 = dt.datetime.strptime((end or "").strip(), "%Y-%m-%d %H:%M").replace(tzinfo=cst)
    except ValueError:
        raise ValueError("时间格式应为 年-月-日 时:分，例如 2026-12-07 08:00") from None
    if t1 <= t0:
        raise ValueError("结束时间应晚于开始时间")
    if (t1 - t0).total_seconds() > MAX_WINDOW_S:
        raise ValueError("回放窗口最长 7 天")
    return t0.timestamp(), t1.timestamp()


def start_of(events: list[Event], since: float, until: float) -> float:
    """Where playback starts: the window's start, or just before its first event."""
    first = next((e.ts for e in events if e.ts >= since), None)
    return since if first is None else min(until, max(since, first - LEAD_S))


def position(start: float, until: float, speed: float, wall0: float, now: float) -> float:
    """The replayed moment: ``speed`` replayed seconds per second of wall time since ``wall0``
    (when playback began at ``start``), stopped at ``until``."""
    if speed not in SPEEDS:
        raise ValueError(f"倍速只能是 {'、'.join(f'{s}×' for s in SPEEDS)}")
    return min(until, start + max(0.0, now - wall0) * speed)


def frame(events: list[Event], since: float, t: float) -> Frame:
    """The scene at ``t``: each case's last state, the alarms raised and not cleared, the feed
    of the window's events so far (newest first), the open cases as the queue."""
    cases: dict[str, Event] = {}
    created: dict[str, float] = {}
    alarms: dict[str, Event] = {}
    feed: list[Event] = []
    for e in events:
        if e.ts > t:
            break
        if e.ts >= since:
            feed.append(e)
        if e.kind == "incident":
            cases[e.ref] = e
            created.setdefault(e.ref, e.ts)
        elif e.action == AlarmEvent.CLEAR:
            alarms.pop(e.ref, None)
        elif e.action == AlarmEvent.RAISE or e.ref in alarms:
            alarms[e.ref] = e
    open_ = [e for e in cases.values() if e.state not in FINAL_STATES]
    return Frame(
        t, feed[::-1][:FEED_SHOWN],
        [{"id": e.ref, "state": e.state, "lon": e.lon, "lat": e.lat, "label": e.label}
         for e in open_ if e.lon or e.lat],
        [{"id": e.ref, "level": e.state, "lon": e.lon, "lat": e.lat, "label": e.label}
         for e in alarms.values() if e.lon or e.lat],
        [{"id": e.ref, "state": e.state, "state_name": State.names().get(e.state, ""),
          "since": created[e.ref], "label": e.label}
         for e in sorted(open_, key=lambda e: created[e.ref])],
        len(feed))


def to_json(events: list[Event]) -> list[dict]:
    return [asdict(e) for e in events]


def from_json(rows: list[dict] | None) -> list[Event]:
    return [Event(**r) for r in rows or ()]


__all__ = ["SPEEDS", "Event", "Frame", "Loaded", "alarm_event", "episode_events", "events_of",
           "frame", "from_json", "from_live", "from_record", "incident_events", "merge",
           "position", "start_of", "to_json", "visible_alarms", "window"]
