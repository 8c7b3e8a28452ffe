"""值班值守 (duty roster, X34a, X1, X3): who is on watch at a center at any moment, and the
handover (交接班) between watches.

A center's roster is a set of shifts (班次); a shift has a start, an end (an overnight shift ends
the next day) and its members by duty role: 带班领导 (leader), 值班长 (chief), 值班员 (officer).
Persons are account ids (``app.users``); this module stores only the ids. Swaps (换班) and leave
(请假) change a shift's members and are recorded with who, when and why, beside every import and
handover in the center's duty log (``keys.duty_log``).

``Roster.on_duty(center, at)`` answers "who is on watch at the 水利 sub-center tonight" across
shift boundaries: every shift with ``start <= at < end`` counts (a boundary instant belongs to
the incoming shift). ``Roster.handover`` writes the outgoing watch's note and carries the open
items (unfinished cases, active alarms, pending reports) automatically; the incoming watch
acknowledges (``acknowledge``). Redis is passed in (HOUSE.md: the domain opens no connection).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum

import orjson
import redis

from grid.centers import CITY_CENTER, CenterCode
from incidents import keys
from incidents.defaults import DUTY_MAX_SHIFT_S, MACHINE_CHANNELS
from incidents.incident import OPEN_STATES

CST = timezone(timedelta(hours=8))
"""Rosters are written in China Standard Time (UTC+8)."""


class DutyRole(StrEnum):
    """值班角色: the duty roles of a watch (not account roles: an account of any role may stand a
    watch)."""

    LEADER = "leader"     # 带班领导
    CHIEF = "chief"       # 值班长
    OFFICER = "officer"   # 值班员

    @property
    def cn(self) -> str:
        return DUTY_ROLE_NAMES[self.value]


DUTY_ROLE_NAMES: dict[str, str] = {"leader": "带班领导", "chief": "值班长", "officer": "值班员"}
_ROLE_BY_NAME: dict[str, str] = {**{v: k for k, v in DUTY_ROLE_NAMES.items()},
                                 **{k: k for k in DUTY_ROLE_NAMES}}

CSV_COLUMNS: tuple[str, ...] = ("center", "date", "start", "end", "role", "person")
"""Required roster CSV columns (docs/notify.md): date ``YYYY-MM-DD``, start/end ``HH:MM``
(UTC+8; an end at or before the start is the next day), role 带班领导/值班长/值班员 (or
leader/chief/officer), person an account id. One row per person per shift."""

_PERSON = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HM = re.compile(r"^\d{1,2}:\d{2}$")


class RosterError(ValueError):
    """A refused roster change; ``problems`` names each row and field (nothing was written)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("；".join(problems))
        self.problems = problems


@dataclass
class Shift:
    """一个班次: one watch of one center."""

    id: str
    center: str
    start: float
    end: float
    members: dict[str, list[str]] = field(default_factory=dict)   # duty role → person ids
    changes: list[dict] = field(default_factory=list)              # swaps and leave, in order

    def persons(self, role: str | None = None) -> list[str]:
        if role is not None:
            return list(self.members.get(role, []))
        return [p for r in DUTY_ROLE_NAMES for p in self.members.get(r, [])]

    def covers(self, at: float) -> bool:
        return self.start <= at < self.end

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Shift:
        return cls(**orjson.loads(raw))


def shift_id(center: str, start: float) -> str:
    """A shift's id: its center and local start (re-importing the same roster replaces, never
    doubles)."""
    return f"{center}@{datetime.fromtimestamp(start, CST).strftime('%Y-%m-%dT%H:%M')}"


def _local(date: str, hm: str) -> float:
    h, m = (int(x) for x in hm.split(":"))
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(hm)
    d = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=CST)
    return (d + timedelta(hours=h, minutes=m)).timestamp()


class Roster:
    """The duty roster of every center, in Redis."""

    def __init__(self, r: redis.Redis, clock: Callable[[], float] = time.time,
                 known_persons: Callable[[str], bool] | None = None) -> None:
        self.r = r
        self.clock = clock
        # the composition root passes "is this an account?" (app.users); None: any well-formed id
        self.known_persons = known_persons

    # --- reading ------------------------------------------------------------------------------
    def shift(self, center: str, sid: str) -> Shift | None:
        raw = self.r.hget(keys.duty_shifts(center), sid)
        return Shift.from_json(raw) if raw else None

    def shifts(self, center: str, since: float, until: float) -> list[Shift]:
        """Shifts of a center that overlap [since, until), by start."""
        ids = self.r.zrangebyscore(keys.duty_starts(center), since - DUTY_MAX_SHIFT_S, until)
        if not ids:
            return []
        out = [Shift.from_json(raw) for raw in self.r.hmget(keys.duty_shifts(center), ids) if raw]
        return [s for s in out if s.end > since and s.start < until]

    def on_duty(self, center: str, at: float | None = None) -> dict[str, list[str]]:
        """在岗: who is on watch at ``center`` at ``at`` (default now), by duty role. Every shift
        covering the instant counts; at a boundary the incoming shift is on watch (X34a)."""
        at = self.clock() if at is None else at
        out: dict[str, list[str]] = {r: [] for r in DUTY_ROLE_NAMES}
        for s in self.shifts(center, at, at + 1e-6):
            if s.covers(at):
                for role in DUTY_ROLE_NAMES:
                    out[role] += [p for p in s.persons(role) if p not in out[role]]
        return out

    def current_shift(self, center: str, at: float | None = None) -> Shift | None:
        """The shift on watch at ``at`` (the latest-starting one if several overlap)."""
        at = self.clock() if at is None else at
        cover = [s for s in self.shifts(center, at, at + 1e-6) if s.covers(at)]
        return max(cover, key=lambda s: s.start) if cover else None

    def log(self, center: str, count: int = 100) -> list[dict]:
        return [orjson.loads(f["e"]) for _, f in self.r.xrevrange(keys.duty_log(center), count=count)]

    # --- writing ------------------------------------------------------------------------------
    def add(self, shifts: Iterable[Shift], by: str, what: str = "import") -> list[Shift]:
        """Store shifts (replacing those with the same id) in one transaction, logged."""
        shifts = list(shifts)
        problems = [p for s in shifts for p in self._check_shift(s)]
        if problems:
            raise RosterError(problems)
        now = self.clock()
        pipe = self.r.pipeline(transaction=True)
        for s in shifts:
            pipe.hset(keys.duty_shifts(s.center), s.id, s.to_json())
            pipe.zadd(keys.duty_starts(s.center), {s.id: s.start})
        for center in sorted({s.center for s in shifts}):
            n = sum(1 for s in shifts if s.center == center)
            self._log(pipe, center, {"what": what, "by": by, "ts": now, "shifts": n})
        pipe.execute()
        return shifts

    def import_csv(self, text: str, by: str) -> list[Shift]:
        """导入排班: every row is checked first; any bad row refuses the whole file with each
        problem named by row and field, and nothing is written (no half-imported roster)."""
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RosterError([f"缺少列 (missing column): {', '.join(missing)}"])
        problems: list[str] = []
        grouped: dict[tuple[str, float, float], dict[str, list[str]]] = {}
        for n, row in enumerate(reader, start=2):   # row 1 is the header
            bad = len(problems)
            vals = {c: (row.get(c) or "").strip() for c in CSV_COLUMNS}

            def refuse(col: str, why: str, n: int = n, vals: dict = vals) -> None:
                problems.append(f"第{n}行 {col}={vals[col]!r}: {why}")

            try:
                CenterCode.parse(vals["center"])
            except (ValueError, KeyError):
                refuse("center", "不是中心代码 (not a center code: CITY, T…, D…)")
            if not _DATE.match(vals["date"]):
                refuse("date", "日期格式应为 YYYY-MM-DD")
            for col in ("start", "end"):
                if not _HM.match(vals[col]):
                    refuse(col, "时间格式应为 HH:MM")
            role = _ROLE_BY_NAME.get(vals["role"])
            if role is None:
                refuse("role", "值班角色应为 带班领导/值班长/值班员")
            if not _PERSON.match(vals["person"]):
                refuse("person", "人员应为账号 id (an account id)")
            elif self.known_persons is not None and not self.known_persons(vals["person"]):
                refuse("person", "无此账号 (no such account)")
            if len(problems) > bad:
                continue
            try:
                start = _local(vals["date"], vals["start"])
                end = _local(vals["date"], vals["end"])
            except ValueError:
                refuse("start", "不是有效的日期时间 (not a valid date/time)")
                continue
            if end <= start:            # overnight (夜班): ends the next day
                end += 86400
            if end - start > DUTY_MAX_SHIFT_S:
                refuse("end", f"班次超过 {DUTY_MAX_SHIFT_S // 3600} 小时")
                continue
            members = grouped.setdefault((vals["center"], start, end), {r: [] for r in DUTY_ROLE_NAMES})
            if vals["person"] in members[role]:  # type: ignore[index]
                refuse("person", "同一班次同一角色重复 (duplicate in this shift)")
                continue
            members[role].append(vals["person"])  # type: ignore[index]
        if not grouped and not problems:
            problems.append("文件没有排班行 (no roster rows)")
        if problems:
            raise RosterError(problems)
        shifts = [Shift(shift_id(c, s), c, s, e, m) for (c, s, e), m in grouped.items()]
        return self.add(shifts, by, what="import")

    def swap(self, center: str, sid: str, role: str, out_person: str, in_person: str,
             by: str, reason: str = "") -> Shift:
        """换班: ``in_person`` stands ``out_person``'s watch in ``role`` (recorded)."""
        return self._change(center, sid, by, {"kind": "swap", "role": role, "out": out_person,
                                              "in": in_person, "reason": reason})

    def leave(self, center: str, sid: str, person: str, by: str, reason: str = "",
              substitute: str | None = None) -> Shift:
        """请假: ``person`` is off this watch (optionally replaced by ``substitute``), recorded."""
        return self._change(center, sid, by, {"kind": "leave", "out": person, "in": substitute,
                                              "reason": reason})

    def _change(self, center: str, sid: str, by: str, change: dict) -> Shift:
        key = keys.duty_shifts(center)
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.hget(key, sid)
                    if not raw:
                        raise RosterError([f"无此班次 (no such shift): {sid}"])
                    s = Shift.from_json(raw)
                    self._apply(s, change)
                    change = {**change, "by": by, "ts": self.clock()}
                    s.changes.append(change)
                    pipe.multi()
                    pipe.hset(key, sid, s.to_json())
                    self._log(pipe, center, {"what": change["kind"], "shift": sid, **change})
                    pipe.execute()
                    return s
                except redis.WatchError:
                    continue

    def _apply(self, s: Shift, change: dict) -> None:
        out, new = change["out"], change.get("in")
        roles = [change["role"]] if change.get("role") else [r for r in DUTY_ROLE_NAMES
                                                              if out in s.members.get(r, [])]
        if change.get("role") and change["role"] not in DUTY_ROLE_NAMES:
            raise RosterError([f"role={change['role']!r}: 值班角色应为 leader/chief/officer"])
        if not roles or out not in s.members.get(roles[0], []):
            raise RosterError([f"{out} 不在此班次 (not on this shift)"])
        if new is not None and (not _PERSON.match(new) or
                                (self.known_persons is not None and not self.known_persons(new))):
            raise RosterError([f"person={new!r}: 无此账号 (no such account)"])
        for role in roles:
            people = s.members[role]
            i = people.index(out)
            if new is None:
                people.pop(i)
            else:
                people[i] = new

    # --- handover (交接班) ------------------------------------------------------------------
    def open_items(self, center: str) -> dict[str, list[dict]]:
        """What a watch hands over: the center's unfinished cases (in its queue, out with its
        handlers, its own sub-tasks), its active alarms (open machine cases) and its pending
        information reports (信息报送, ``keys.duty_reports``)."""
        ids: list[str] = []
        for place in (f"q:{center}", f"x:{center}", f"h:{center}"):
            for m in self.r.zrange(keys.place(place), 0, -1):
                iid = m.split("#", 1)[0]
                if iid not in ids:
                    ids.append(iid)
        pipe = self.r.pipeline(transaction=False)
        wanted = ("id", "title", "state", "severity", "category", "channel", "due_ts")
        for iid in ids:
            pipe.hmget(keys.incident(iid), wanted)
        cases: list[dict] = []
        alarms: list[dict] = []
        for vals in pipe.execute():
            item = dict(zip(wanted, vals, strict=True))
            if not item["id"] or item["state"] not in OPEN_STATES:
                continue
            (alarms if item["channel"] in MACHINE_CHANNELS else cases).append(item)
        reports = [{"id": m, "due_ts": ts} for m, ts in
                   self.r.zrange(keys.duty_reports(center), 0, -1, withscores=True)]
        return {"cases": cases, "alarms": alarms, "reports": reports}

    def handover(self, center: str, sid: str, by: str, note: str) -> dict:
        """交班: the outgoing watch's note; the open items are carried automatically."""
        s = self.shift(center, sid)
        if s is None:
            raise RosterError([f"无此班次 (no such shift): {sid}"])
        if by not in s.persons():
            raise RosterError([f"{by} 不是此班次的值班人员 (not on the outgoing watch)"])
        rec = {"shift": sid, "center": center, "by": by, "note": note, "ts": self.clock(),
               "carried": self.open_items(center), "acked_by": None, "acked_ts": None,
               "incoming": None}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.duty_handover(center), sid, orjson.dumps(rec))
        self._log(pipe, center, {"what": "handover", "shift": sid, "by": by, "ts": rec["ts"],
                                 "carried": {k: len(v) for k, v in rec["carried"].items()}})
        pipe.execute()
        return rec

    def handover_of(self, center: str, sid: str) -> dict | None:
        raw = self.r.hget(keys.duty_handover(center), sid)
        return orjson.loads(raw) if raw else None

    def acknowledge(self, center: str, sid: str, by: str) -> dict:
        """接班: a member of the incoming watch (on duty now, another shift) acknowledges."""
        rec = self.handover_of(center, sid)
        if rec is None:
            raise RosterError([f"此班次尚未交班 (no handover note yet): {sid}"])
        now = self.clock()
        incoming = self.current_shift(center, now)
        if incoming is None or incoming.id == sid or by not in incoming.persons():
            raise RosterError([f"{by} 不是接班人员 (not on the incoming watch)"])
        if rec["acked_by"]:
            return rec
        rec.update(acked_by=by, acked_ts=now, incoming=incoming.id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.duty_handover(center), sid, orjson.dumps(rec))
        self._log(pipe, center, {"what": "handover_ack", "shift": sid, "incoming": incoming.id,
                                 "by": by, "ts": now})
        pipe.execute()
        return rec

    # --- helpers --------------------------------------------------------------------------------
    def _check_shift(self, s: Shift) -> list[str]:
        problems = []
        if not s.end > s.start:
            problems.append(f"{s.id}: 结束应晚于开始 (end before start)")
        if s.end - s.start > DUTY_MAX_SHIFT_S:
            problems.append(f"{s.id}: 班次超过 {DUTY_MAX_SHIFT_S // 3600} 小时")
        for role, people in s.members.items():
            if role not in DUTY_ROLE_NAMES:
                problems.append(f"{s.id}: 值班角色 {role!r} 未知")
            problems += [f"{s.id}: person={p!r} 无此账号" for p in people if not _PERSON.match(p)]
        return problems

    @staticmethod
    def _log(pipe: redis.client.Pipeline, center: str, entry: dict) -> None:
        pipe.xadd(keys.duty_log(center), {"e": orjson.dumps(entry)}, maxlen=10_000, approximate=True)


def may_see_watch(actor_center: str, center: str) -> bool:
    """Who may see a center's watch (在岗人员): city-center accounts every center's; any other
    account its own center's and its upper center's (the city watch it escalates to)."""
    return actor_center == CITY_CENTER or center in (actor_center, CITY_CENTER)


__all__ = ["CSV_COLUMNS", "DUTY_ROLE_NAMES", "DutyRole", "Roster", "RosterError", "Shift", "may_see_watch", "shift_id"]
