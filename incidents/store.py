"""Store: turns one change of an incident into one atomic Lua call (scripts/apply.lua).

A change is (old incident, new incident, who, what, why). ``Store.commit`` derives every Redis
command it implies: the hash fields, the move between places (queue zsets), the queue-stream
notification, the open/town/geo indexes, the deadline events, the KPIs, the audit entry and the
feed entry, and runs them all in one script guarded by the incident's version (optimistic
concurrency: a concurrent change makes the caller re-read and re-check). Nothing is kept in
process memory that another worker needs: the cache only saves a read before a guarded write.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import fields
from itertools import chain, compress
from operator import ne
from pathlib import Path

import msgpack
import redis

from grid.model import town_center_code
from incidents import audit, correlation, keys, kpi
from incidents.actor import Actor
from incidents.config import IncidentConfig
from incidents.errors import Conflict
from incidents.incident import (
    ENCODERS,
    OPEN_STATES,
    STAGE_OF_STATE,
    Incident,
    Task,
    encode,
    float_text,
    to_json_bytes,
)
from incidents.script import Script, exchange

FIELD_NAMES = tuple(f.name for f in fields(Incident) if f.name != "intake")

SCRIPT = (Path(__file__).parent / "scripts" / "apply.lua").read_text()

# Change nonces: a random prefix per process (a new one in a forked child) and a counter shared
# by every store of the process (no getrandom syscall per change)
_TOKEN_PREFIX = [os.urandom(6).hex()]
os.register_at_fork(after_in_child=lambda: _TOKEN_PREFIX.__setitem__(0, os.urandom(6).hex()))
_TOKENS = itertools.count(1)


def new_token() -> str:
    """A nonce unique to one change (the ``_tok`` field it writes)."""
    return f"{_TOKEN_PREFIX[0]}{next(_TOKENS):x}"


PHASES = ("warn", "urge", "escalate")
_AUDIT_SKIP = {"version", "updated_ts", "times", "stage_ts"}
# fields whose audit value is not their encoded hash value (lists/dicts shown as JSON values)
_AUDIT_OBJECTS = {"tasks", "sources", "links", "attachments", "centers", "origin",
                  "suggested_depts", "times", "intake"}
_CREATE_FIELDS = ("state", "center", "place", "category", "severity", "channel", "town_code",
                  "cell_code", "priority", "due_ts")


def work_items(inc: Incident | None) -> dict[str, str]:
    """Work item → place: the incident itself and each open sub-task (``id#n``)."""
    if inc is None or inc.state not in OPEN_STATES:
        return {}
    items = {inc.id: inc.place}
    if inc.tasks:
        for t in inc.tasks:
            if t.open:
                items[f"{inc.id}#{t.n}"] = t.place
    return items


def due_members(inc_id: str, stage: str) -> list[str]:
    return [f"{inc_id}|{stage}|{p}" for p in PHASES]


def score(inc: Incident) -> str:
    """Queue order: priority first (emergency/major), then oldest first (ties: the lower case
    number, as members of equal score sort by name)."""
    return str(int(inc.created_ts) - inc.priority * 10**10)


# Zset scores are whole seconds. A small zset (≤ 128 members: a center's queue, a town's open
# cases) is a listpack that ZADD scans, decoding every member's score on the way: an integer
# decodes at once, a fraction goes through strtod. Whole seconds made ZADD ~4x cheaper here.
def _ts(t: float) -> str:
    """When something happened, as a score (floor)."""
    return str(int(t))


def due_score(t: float) -> str:
    """When something falls due (a deadline event, an overdue entry), as a score: rounded up,
    so it is never due early."""
    return str(math.ceil(t))


def phase_times(inc: Incident, config: IncidentConfig) -> dict[str, float]:
    """When each deadline event of the running stage fires: warn (预警) before the stage
    deadline, urge (督办) at it, escalate (上报) past it by a further fraction of the stage time."""
    limit = inc.due_ts - inc.stage_ts
    return {"warn": warn_time(inc, config), "urge": inc.due_ts,
            "escalate": inc.due_ts + limit * config.escalate_after_fraction}


def stage_limit(inc: Incident, stage: str, config: IncidentConfig) -> float:
    """How long ``inc`` may spend in ``stage`` (s): a top-down task's own handle deadline
    (上情下达), else the configured stage × category × severity limit."""
    if stage == "handle" and inc.handle_limit_s > 0:
        return inc.handle_limit_s
    return config.stage_limit(stage, inc.category, inc.severity, inc.channel)


def warn_time(inc: Incident, config: IncidentConfig) -> float:
    """When the running stage's first event (预警 warn) fires: what every stage change arms."""
    return inc.due_ts - (inc.due_ts - inc.stage_ts) * config.warn_before_fraction


class Commit:
    """Outcome of a commit: ``ok``, or ``dup`` (idempotency key seen) / ``claimed`` / ``match``
    (an open incident nearby: its id) / ``guard`` (the guarded value changed: its new value)."""

    __slots__ = ("status", "value")

    def __init__(self, status: str, value: str) -> None:
        self.status, self.value = status, value


class Change:
    """One prepared change: the script's key, its header arguments and its commands.

    ``token``/``after_token`` chain the changes of one batch on one incident: when two chained
    changes travel in one script call they need neither (the call is atomic); when they travel
    apart, the first writes its token and the second runs only if it finds it."""

    __slots__ = ("new", "key", "head", "cmds", "token", "after_token", "due_add", "due_rm",
                 "left_stage", "over_add", "over_keys", "action", "feed")

    def __init__(self, new: Incident, key: str, head: list[str], cmds: list[Sequence[str]],
                 token: str | None, after_token: str | None, *, due_add: int = -1,
                 due_rm: int = -1, left_stage: str = "", over_add: int = -1,
                 over_keys: tuple[str, ...] = (), action: str = "",
                 feed: tuple[tuple[str, ...], dict] | None = None) -> None:
        self.new, self.key, self.head, self.cmds = new, key, head, cmds
        self.token, self.after_token = token, after_token
        # where its deadline writes sit in ``cmds`` (-1 = none), for ``_joined``: the ZADD of
        # the entered stage's warn event, the ZREM of the stage it left (``left_stage``), the
        # ZADD of the overdue index, and every overdue key it writes (ZADD or ZREM)
        self.due_add, self.due_rm, self.left_stage = due_add, due_rm, left_stage
        self.over_add, self.over_keys = over_add, over_keys
        # the step (``action``) and its feed entry (the XADD's words, the entry), not yet in
        # ``cmds``: a call that carries several steps writes one, the last one's (``_joined``)
        self.action, self.feed = action, feed

    def commands(self) -> list[Sequence[str]]:
        """Every command of this change alone: ``cmds`` and its feed entry."""
        return [*self.cmds, self.feed_command()] if self.feed else self.cmds

    def feed_command(self, steps: list[str] | None = None) -> tuple:
        head, entry = self.feed  # type: ignore[misc]
        return (*head, to_json_bytes({**entry, "steps": steps} if steps else entry))

    @property
    def joinable(self) -> bool:
        """May ride in its predecessor's call: chained to it, and nothing of its own to check
        first (idempotency key, deadline claim, correlation, guard)."""
        h = self.head
        return self.after_token is not None and not (h[1] or h[2] or h[4] or h[5])


class Store:
    """Reads incidents and commits changes atomically."""

    def __init__(self, r: redis.Redis, config: IncidentConfig, cache_size: int = 4096) -> None:
        self.r = r
        self.config = config
        self._script = Script(r, SCRIPT)
        self._cache: OrderedDict[str, Incident] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()      # one service object serves many web threads
        self._feed_head = ("XADD", keys.FEED, "MAXLEN", "~", str(config.feed_maxlen), "*", "e")
        self._digest = config.audit_digest   # the audit hash chain (SEC21): sha256 | sm3

    # --- reads ----------------------------------------------------------------------------
    def load(self, incident_id: str) -> Incident | None:
        h = self.r.hgetall(keys.incident(incident_id))
        return _from_hash(h) if h else None

    def load_many(self, ids: list[str]) -> list[Incident]:
        if not ids:
            return []
        out = []
        for h in exchange(self.r, [("HGETALL", keys.incident(i)) for i in ids]):
            if isinstance(h, Exception):
                raise h
            if h:   # a flat [field, value, ...] list on RESP2, a dict on RESP3
                out.append(_from_hash(h if isinstance(h, dict) else _pairs(h)))
        return out

    def for_update(self, incident_id: str, fresh: bool = False) -> tuple[Incident | None, bool]:
        """(incident, from_cache): the state to validate an action against. Read-only: callers
        change a ``clone``. A cached copy may be old; the commit's version check catches that and
        the caller re-reads."""
        if not fresh:
            with self._lock:
                inc = self._cache.get(incident_id)
            if inc is not None:
                return inc, True
        inc = self.load(incident_id)
        if inc is not None:
            self._remember(inc)
            return inc, False
        self.forget(incident_id)
        return None, False

    def prefetch(self, wanted: dict[str, int]) -> int:
        """Read in ONE round trip the incidents of ``wanted`` (id → version announced, e.g. by a
        queue entry) whose cached copy is missing or older; returns how many were read. Only
        saves the one-by-one reads a batch would otherwise do: commits still check versions."""
        with self._lock:
            # the cache holds at least two batches: a batch larger than it (a backlog after an
            # outage) would evict its own incidents before they are worked, one read each
            self._cache_size = max(self._cache_size, 2 * len(wanted))
            need = [i for i, v in wanted.items()
                    if (c := self._cache.get(i)) is None or c.version < v]
        for inc in self.load_many(need):
            self._remember(inc)
        return len(need)

    def forget(self, incident_id: str) -> None:
        with self._lock:
            self._cache.pop(incident_id, None)

    def _remember(self, inc: Incident) -> None:
        with self._lock:
            self._cache[inc.id] = inc
            self._cache.move_to_end(inc.id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    # --- the one write path -------------------------------------------------------------------
    def commit(self, old: Incident | None, new: Incident, actor: Actor, action: str, now: float,
               **kw) -> Commit:
        """Apply ``old`` → ``new`` atomically (see ``prepare`` for the options). Returns
        Commit('ok'|'dup'|'claimed'|'match'|'guard'); raises ``Stale`` on a version conflict."""
        ch = self.prepare(old, new, actor, action, now, **kw)
        return self.finish(new, self._script(ch.key, [*ch.head, _pack(ch.commands()), ch.token]))

    def commit_many(self, changes: list[Change]) -> list[Commit | Exception]:
        """Send many prepared changes in ONE round trip. Each runs atomically on its own, except
        that consecutive chained changes of one incident (accept then dispatch, verify then
        close) share one script call: they land together or not at all. A result per change: a
        Commit, or the exception (``Stale`` on a version conflict)."""
        if not changes:
            return []
        groups = _groups(changes)
        return self._finished(groups, self._script.run_many([_call(g) for g in groups]))

    def stream(self) -> CommitStream:
        """Changes sent in chunks while the caller prepares more (``CommitStream``)."""
        return CommitStream(self)

    def _finished(self, groups: list[list[Change]], replies: list) -> list[Commit | Exception]:
        out: list[Commit | Exception] = []
        for g, res in zip(groups, replies, strict=True):
            for k, ch in enumerate(g):
                if isinstance(res, Exception):
                    out.append(res)
                    continue
                try:
                    out.append(self.finish(ch.new, res, remember=k == len(g) - 1))
                except Stale as exc:
                    out.append(exc)
        return out

    def finish(self, new: Incident, res: list, remember: bool = True) -> Commit:
        status, value = res[0], res[1]
        if status == "conflict":
            self.forget(new.id)
            raise Stale(new.id)
        if status == "ok" and remember:
            # the incident itself, not a copy: callers treat what the service returns as
            # read-only (changes go through the service, which clones before changing)
            self._remember(new)
        return Commit(status, value)

    def prepare(self, old: Incident | None, new: Incident, actor: Actor, action: str, now: float, *,
                reason: str = "", task_n: int | None = None, idem: str | None = None,
                claim: str | None = None, reset_stage: bool = False,
                extra: list[Sequence[str]] | None = None, notify: bool = True,
                correlate: bool = False, after_token: str | None = None,
                token: str | None = None, guard: tuple[str, str] | None = None) -> Change:
        """The script call for ``old`` → ``new``; sets new.version/updated_ts/stage/due.

        ``correlate`` (creations only): the script answers 'match' (value = the open incident's
        id) when an open incident of a related category is near. ``token``: a nonce this change
        writes; ``after_token``: apply only if the incident carries that nonce (chains the changes
        of one batch: a later change never lands on a state its predecessor failed to make).
        ``guard`` (key, value): apply only while the string at key is still value ('' = absent);
        else the script answers 'guard' with the value it found."""
        cfg = self.config
        new.version = (old.version if old else 0) + 1
        new.updated_ts = now
        if new.state not in new.times:
            new.times[new.state] = now
        # deadline stage: restart the clock when the stage changes (or on escalation/reopen)
        if new.state in OPEN_STATES:
            stage = STAGE_OF_STATE[new.state]
            if old is None or reset_stage or stage != old.stage:
                new.stage, new.stage_ts = stage, now
                new.due_ts = now + stage_limit(new, stage, cfg)
            elif old.severity != new.severity:
                # 定级: the running stage keeps its start, its deadline follows the new severity
                new.due_ts = new.stage_ts + stage_limit(new, stage, cfg)
        else:
            new.stage, new.due_ts = "", 0.0
        k = keys.incident(new.id)
        cmds: list[Sequence[str]] = []
        if old is None:
            changed = new.to_hash(lean=True)
        else:  # compare values first (in C: map/compress), encode only what changed
            nd, od = new.__dict__, old.__dict__
            changed = {f: ENCODERS[f](nd[f]) for f in compress(
                FIELD_NAMES, map(ne, map(nd.__getitem__, FIELD_NAMES), map(od.__getitem__, FIELD_NAMES)))}
        token = token or new_token()
        hset = ["HSET", k]
        hset.extend(chain.from_iterable(changed.items()))
        # the change's nonce: a later change chained to it checks it, and a call sent again
        # after its reply was lost finds it and answers 'ok' instead of 'conflict' (apply.lua)
        hset += ("_tok", token)
        cmds.append(hset)

        # places: every open work item sits in exactly one place zset
        before, after = work_items(old), work_items(new)
        sc = score(new)
        ts_ms = ""        # the queue entry's time, written only when an entry is
        for item, pl in before.items():
            if after.get(item) != pl:
                cmds.append(("ZREM", keys.place(pl), item))
        for item, pl in after.items():
            if before.get(item) != pl:
                cmds.append(("ZADD", keys.place(pl), sc, item))
                who = pl[2:]   # "q:", "x:", "h:" + the center
                # the stream says what arrived for a center to act on or to know of: not a case
                # the center itself sent out to its handlers (its own dispatch into ``x:``)
                if notify and not (pl[0] == "x" and who == actor.center):
                    task = item.split("#", 1)[1] if "#" in item else ""
                    ts_ms = ts_ms or float_text(round(now * 1000, 3))
                    cmds.append(("XADD", keys.queue(who), "MAXLEN", "~", str(cfg.queue_maxlen), "*",
                                 "e", f"{new.id}|{task}|{action}|{new.version}|{ts_ms}"))

        # indexes of open incidents
        was_open = old is not None and old.state in OPEN_STATES
        is_open = new.state in OPEN_STATES
        if old is None:
            cmds.append(("ZADD", keys.ALL, _ts(new.created_ts), new.id))
            cmds.append(("GEOADD", keys.GEO_HIST, *_point_text(new, changed), new.id))
            if new.reporter:
                cmds.append(("ZADD", keys.by_user(new.reporter), _ts(new.created_ts), new.id))
            territory = town_center_code(new.town_code) if new.town_code else ""
            if territory and territory not in new.centers:
                # 块: the town keeps, in its "all" view, what happened on its ground even when
                # another center owned it from the start (a fire goes straight to the city)
                cmds.append(("ZADD", keys.involved(territory), _ts(now), new.id))
        if is_open and not was_open:
            cmds.append(("ZADD", keys.OPEN, sc, new.id))
            cmds.append(("GEOADD", keys.GEO, *_point_text(new, changed), new.id))
            if new.town_code:
                cmds.append(("ZADD", keys.town(new.town_code), sc, new.id))
        elif is_open and old is not None and old.priority != new.priority:  # queue order changed
            cmds.append(("ZADD", keys.OPEN, sc, new.id))
            if new.town_code:
                cmds.append(("ZADD", keys.town(new.town_code), sc, new.id))
        if was_open and not is_open:
            cmds.append(("ZREM", keys.OPEN, new.id))
            cmds.append(("ZREM", keys.GEO, new.id))
            if old.town_code:
                cmds.append(("ZREM", keys.town(old.town_code), new.id))
        if is_open and old is not None and (old.lon, old.lat) != (new.lon, new.lat):
            cmds.append(("GEOADD", keys.GEO, *_point_text(new, changed), new.id))
        old_centers = old.centers if old else ()     # a few: a list scan beats a set
        for c in new.centers:
            if c not in old_centers:
                cmds.append(("ZADD", keys.involved(c), _ts(now), new.id))

        # deadlines: the running stage's next event (warn first; firing one arms the next, see
        # IncidentService.fire_deadline), and the per-center overdue index
        due_add = due_rm = over_add = -1
        left_stage = ""
        over_keys: tuple[str, ...] = ()
        # the same stage with another deadline (定级): its events are armed afresh
        rearm = is_open and old is not None and old.due_ts != new.due_ts and old.stage == new.stage
        if old is not None and old.stage and (old.stage != new.stage or reset_stage or not is_open
                                              or rearm):
            due_rm, left_stage = len(cmds), old.stage
            cmds.append(("ZREM", keys.DUE, *due_members(new.id, old.stage)))
        if is_open and (old is None or new.stage != old.stage or reset_stage or rearm):
            due_add = len(cmds)
            cmds.append(("ZADD", keys.DUE, due_score(warn_time(new, cfg)), f"{new.id}|{new.stage}|warn"))
        if old is not None and was_open and (not is_open or old.center != new.center):
            over_keys = (keys.overdue(old.center),)
            cmds.append(("ZREM", over_keys[0], new.id))
        if is_open and (not was_open or old.center != new.center or old.due_ts != new.due_ts):
            over_add = len(cmds)
            ok = keys.overdue(new.center)
            over_keys += (ok,)
            cmds.append(("ZADD", ok, due_score(new.due_ts), new.id))

        cmds += kpi.plan(old, new, action, now, task_n)
        if extra:
            cmds += extra

        # audit (append-only, E32) and feed
        if old is None:  # creation: the essentials, the rest is in the incident itself
            b, a = {}, {f: changed[f] for f in _CREATE_FIELDS if f in changed}
        else:
            shown = [f for f in changed if f not in _AUDIT_SKIP]
            od = old.__dict__
            b = {f: _AUDIT_VALUE[f](od[f]) for f in shown}
            # a scalar's audit value is its encoded hash value, already in ``changed``
            nd = new.__dict__
            a = {f: _AUDIT_VALUE[f](nd[f]) if f in _AUDIT_OBJECTS else changed[f] for f in shown}
        # the whole entry as one JSON field: a 13-field XADD costs the server ~3x a 1-field one
        e = to_json_bytes({
            "ts": now, "actor": actor.user_id, "name": actor.name, "role": actor.role,
            "center": actor.center, "action": action, "reason": reason,
            "task": "" if task_n is None else str(task_n), "state": new.state,
            "from_state": old.state if old else "", "v": str(new.version), "before": b, "after": a})
        # the hash chain (SEC21): hashed here, onto the head read with ``old``; the version guard
        # makes that head the current one when the call lands, and the head moves in the same HSET
        head = "" if old is None else old.__dict__.get(audit.CHANGE_HEAD)
        if head is None:   # an incident read outside the store: its head, read now
            head = self.r.hget(k, audit.CHANGE_HEAD) or ""
        head = audit.next_link(head, e, self._digest)
        new.__dict__[audit.CHANGE_HEAD] = head
        hset += (audit.CHANGE_HEAD, head)
        cmds.append(("XADD", keys.audit(new.id), "*", "e", e, audit.CHANGE, head))
        feed = (self._feed_head, {
            "id": new.id, "state": new.state, "action": action, "center": new.center,
            "category": new.category, "severity": new.severity, "lon": new.lon, "lat": new.lat,
            "town_code": new.town_code, "ts": int(now * 1000)})
        if idem:
            cmds.append(("SET", keys.idem(idem), new.id, "EX", str(cfg.idempotency_ttl_s)))
        if claim:
            cmds.append(("ZREM", keys.DUE, claim))

        expected = "" if old is None else str(old.version)
        if after_token and old is not None:
            expected += "|" + after_token
        head = [expected, keys.idem(idem) if idem else "", keys.DUE if claim else "", claim or "",
                correlation.lua_spec(self.config, new, now) if correlate else "",
                f"{guard[0]}|{guard[1]}" if guard else ""]
        return Change(new, k, head, cmds, token, after_token if old is not None else None,
                      due_add=due_add, due_rm=due_rm, left_stage=left_stage, over_add=over_add,
                      over_keys=over_keys, action=action, feed=feed)

    def audit_denied(self, actor: Actor, action: str, reason: str, incident_id: str | None,
                     now: float) -> None:
        """A refused attempt is recorded too (监督留痕), without changing the incident: on the
        trail's refusal chain (SEC21), or in ``keys.DENIED`` when there is no such incident."""
        e = to_json_bytes({
            "ts": now, "actor": actor.user_id, "name": actor.name, "role": actor.role,
            "center": actor.center, "action": f"denied:{action}", "reason": reason, "task": "",
            "state": "", "from_state": "", "v": "", "before": {}, "after": {},
            "id": incident_id or ""})
        if incident_id is None or not audit.append_denial(self.r, incident_id, e, self._digest):
            self.r.xadd(keys.DENIED, {"e": e})


class Stale(Conflict):  # noqa: N818
    """The incident changed since it was read: re-read, re-check, retry."""


class CommitStream:
    """``Store.commit_many`` for a caller that prepares changes one by one (a batch working
    through a queue read): ``send`` sends what is ready while the caller prepares the rest, so
    the server works in parallel with it; ``results`` reads every reply at the end. Chained
    changes share a script call only when they are sent together: a caller sends a prefix that
    ends where the next change is of another incident."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._groups: list[list[Change]] = []
        self._script = store._script.stream()

    def send(self, changes: list[Change]) -> None:
        if changes:
            groups = _groups(changes)
            self._groups += groups
            self._script.send([_call(g) for g in groups])

    def results(self) -> list[Commit | Exception]:
        """One result per change sent, in order, as ``Store.commit_many`` gives them."""
        if not self._groups:
            return []
        groups, self._groups = self._groups, []
        return self.store._finished(groups, self._script.results())


def _groups(changes: list[Change]) -> list[list[Change]]:
    """Consecutive chained changes of one incident, which share one script call."""
    groups: list[list[Change]] = []
    for ch in changes:
        last = groups[-1][-1] if groups else None
        if last is not None and ch.joinable and ch.after_token == last.token:
            groups[-1].append(ch)
        else:
            groups.append([ch])
    return groups


def _call(g: list[Change]) -> tuple[str, list]:
    """The script call of a group: its first change's key and checks; the call's nonce is its
    last change's, the one its HSET leaves in ``_tok``."""
    cmds = _joined(g) if len(g) > 1 else g[0].commands()
    return g[0].key, [*g[0].head, _pack(cmds), g[-1].token]


def _audit_shower(field: str):
    """How the audit trail shows a field's value (sub-tasks as ``n:center:state``, sources
    counted, lists and dicts as JSON values, scalars as their hash value)."""
    if field == "tasks":
        return lambda v: [f"{t.n}:{t.center}:{t.state}" for t in v]
    if field == "sources":
        return len
    if field in _AUDIT_OBJECTS:
        return lambda v: v
    return ENCODERS[field]


_AUDIT_VALUE = {f: _audit_shower(f) for f in FIELD_NAMES}


def _joined(g: list[Change]) -> list[Sequence[str]]:
    """The commands of chained changes of one incident that share one script call, writing the
    net state once (accept+dispatch, verify+close: 10 commands fewer per cycle). Every step keeps
    its own audit entry and KPIs; what a later step overwrites in the same atomic call is not
    written first:

    - one HSET: each step's fields in order (a later value of a field wins), at the last step;
    - a stage entered and left inside the call: neither its warn event (ZADD) nor its removal
      (ZREM). A stage is left with every event removed (``prepare``), so on entry the only
      event it can hold is the one this call would add;
    - an overdue entry that a later step rewrites or removes: only the later write;
    - one feed entry, the last step's, with ``steps`` naming every step of the call: the feed
      says what changed on the map, and the map sees the call's net change at once.
    """
    drop: list[set[int]] = [set() for _ in g]
    hset = list(g[0].cmds[0])
    for j in range(1, len(g)):
        a, b = g[j - 1], g[j]
        drop[j - 1].add(0)                      # its HSET rides in the next step's
        hset += b.cmds[0][2:]
        if a.due_add >= 0 and b.due_rm >= 0 and b.left_stage == a.new.stage:
            drop[j - 1].add(a.due_add)
            drop[j].add(b.due_rm)
        if a.over_add >= 0 and keys.overdue(a.new.center) in b.over_keys:
            drop[j - 1].add(a.over_add)
    out: list[Sequence[str]] = []
    last = len(g) - 1
    for j, ch in enumerate(g):
        d = drop[j]
        for i, c in enumerate(ch.cmds):
            if i == 0 and j == last:
                out.append(hset)
            elif i not in d:
                out.append(c)
    if g[last].feed:
        out.append(g[last].feed_command([x.action for x in g]))
    return out


def _point_text(inc: Incident, changed: dict[str, str]) -> tuple[str, str]:
    """(lon, lat) as text for GEOADD: as the hash write has them when it writes them."""
    if "lon" in changed and "lat" in changed:
        return changed["lon"], changed["lat"]
    return float_text(inc.lon), float_text(inc.lat)


def _from_hash(h: dict) -> Incident:
    """An incident read by the store, with its audit chain head (``audit.CHANGE_HEAD``, not a
    field of the case: it rides in the instance dict through the cache and ``clone``)."""
    inc = Incident.from_hash(h)
    inc.__dict__[audit.CHANGE_HEAD] = h.get(audit.CHANGE_HEAD, "")
    return inc


def _pairs(flat: list) -> dict:
    """A RESP2 HGETALL reply ([field, value, ...]) as a dict."""
    it = iter(flat)
    return dict(zip(it, it, strict=True))


_packers = threading.local()


def _pack(cmds: list[Sequence[str]]) -> bytes:
    """The commands as apply.lua's one MessagePack argument (an array of arrays of words).
    One packer per thread (a shared one is not safe across web threads), kept: ``packb``
    makes a new one per call, whose 256 KiB buffer cost more than the packing."""
    p = getattr(_packers, "p", None)
    if p is None:
        # use_bin_type=False: bytes as the old raw type; the cmsgpack in Redis knows no bin types
        p = _packers.p = msgpack.Packer(use_bin_type=False)
    return p.pack(cmds)


def clone(inc: Incident) -> Incident:
    """A copy deep enough to mutate (lists and sub-tasks copied). Copies the instance dicts
    (no __post_init__ or validation to re-run): several times faster than
    ``dataclasses.replace``, and it runs twice per change."""
    c = object.__new__(Incident)
    d = c.__dict__
    d.update(inc.__dict__)
    d["tasks"] = [_copy_task(t) for t in inc.tasks]
    for f in _LIST_FIELDS:
        d[f] = list(d[f])
    d["times"] = dict(inc.times)
    d["intake"] = ""            # transient: says how a report was taken, not this copy
    return c


_LIST_FIELDS = ("sources", "links", "attachments", "centers", "origin", "suggested_depts")


def _copy_task(t: Task) -> Task:
    c = object.__new__(Task)
    c.__dict__.update(t.__dict__)
    return c


__all__ = ["Store", "Stale", "Commit", "Change", "CommitStream", "phase_times", "stage_limit",
           "due_score", "work_items", "due_members", "clone", "encode"]
