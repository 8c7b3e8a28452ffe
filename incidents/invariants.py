"""Consistency check of the whole incident store (tests, the ops page, after a crash).

Invariants: every open incident (and open sub-task) is in exactly one place (its ``place``),
and no closed one is anywhere; every change has its audit entry (audit length == version);
deadline events exist exactly for the running stage (one, the stage's next event; none only at
the top tier once its last event has fired); every open incident is in its owner's overdue
index with its due time, and in no other.

Business rules, from the stored incident and its audit trail (E14 the lifecycle, E32 留痕):

- every change is a legal transition of ``lifecycle.TRANSITIONS`` (``MOVES``), and the trail
  chains: each entry starts from the state the previous one left;
- 监管分离 (T11): no verify / reopen / close / callback by an actor who handled the case;
- fan-out: handled/verified/closed only when every active sub-task is handled, out
  (dispatched/in_progress) only with an open sub-task, none open before dispatch or when final;
- a closed case was verified after its last 反馈 and closed by a ``close`` entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import redis

from grid.model import CITY_CENTER, City
from incidents import audit, keys
from incidents.actor import SYSTEM
from incidents.incident import OPEN_STATES, STATES, TASK_OPEN, Incident, Task
from incidents.lifecycle import OUT, PRE_DISPATCH, TRANSITIONS
from incidents.store import PHASES, due_score, work_items

SEPARATED = frozenset({"verify", "reopen", "close", "callback"})
"""Actions the handler of a case never does (监管分离, T11)."""

_WORKED = frozenset({"start", "handle"})
_DONE = frozenset({"handled", "verified", "closed"})


def _moves() -> dict[str, frozenset[tuple[str, str]]]:
    """(from_state, state) pairs each audited action may make: ``lifecycle.TRANSITIONS`` with
    its ``"*"`` targets resolved as docs/incidents.md's table says, plus what the service
    audits under other names (creation, ``reopen``, the merged case voided by ``merge``)."""
    star: dict[str, dict[str, set[str]]] = {
        # 派遣: out; on a case already out (追加派遣/改派) it stays out (fan-out state)
        "dispatch": {"reported": {"dispatched"}, "accepted": {"dispatched"},
                     "registered": {"dispatched"}, **{s: set(OUT) for s in OUT}},
        # 反馈: handled when every active sub-task is, else in_progress
        "handle": {s: {"in_progress", "handled"} for s in OUT},
        # 核查: verified, or (passed=False, audited as reopen) back to its handlers
        "verify": {"handled": {"verified", "dispatched"}},
        # 退回: down to the sender (reported); a sub-task back: registered when none is left,
        # else the state the remaining sub-tasks give (fan-out)
        "return": {**{s: {"reported"} for s in PRE_DISPATCH},
                   **{s: {"registered", "dispatched", "in_progress", "handled"} for s in OUT}},
    }
    out: dict[str, set[tuple[str, str]]] = {}
    for action, (allowed, to, _) in TRANSITIONS.items():
        if to == "=":
            out[action] = {(s, s) for s in allowed}
        elif to == "*" and action in star:
            out[action] = {(s, t) for s in allowed for t in star[action].get(s, ())}
        elif to == "*":     # a "*" action this module does not know yet: any target
            out[action] = {(s, t) for s in allowed for t in STATES}
        else:
            out[action] = {(s, to) for s in allowed}
    out["report"] = {("", "reported")}
    out["assign_task"] = {("", "dispatched")}                 # 上情下达: out at once
    out["reopen"] = {("handled", "dispatched")}               # 核查不通过
    out["dispatch"].add(("reported", "dispatched"))           # 应急模式 / automatic rule only
    out["merge"] |= {(s, "voided") for s in PRE_DISPATCH}     # the merged (duplicate) case
    return {a: frozenset(v) for a, v in out.items()}


MOVES: dict[str, frozenset[tuple[str, str]]] = _moves()
"""Audited action → the (from_state, state) pairs it may make (E14)."""


def check(r: redis.Redis, city: City | None = None) -> list[str]:
    """Violations found (empty list = consistent). ``city`` maps a grid worker's cell to its
    town for 监管分离; without it a cell belongs to the town whose code it starts with."""
    problems: list[str] = []
    where: dict[str, list[str]] = defaultdict(list)
    for k in r.scan_iter(match=keys.place("*"), count=1000):
        pl = k.removeprefix(keys.place(""))
        for m in r.zrange(k, 0, -1):
            where[m].append(pl)
    due: dict[str, set[str]] = defaultdict(set)
    for m in r.zrange(keys.DUE, 0, -1):
        i, stage, phase = m.split("|")
        due[i].add(f"{stage}|{phase}")
    overdue: dict[str, dict[str, float]] = defaultdict(dict)     # id → {center: score}
    for k in r.scan_iter(match=keys.overdue("*"), count=1000):
        c = k.removeprefix(keys.overdue(""))
        for m, sc in r.zrange(k, 0, -1, withscores=True):
            overdue[m][c] = sc
    ids = r.zrange(keys.ALL, 0, -1)
    p = r.pipeline(transaction=False)
    for i in ids:
        p.hgetall(keys.incident(i))
        p.xrange(keys.audit(i))
    res = p.execute()
    open_set = set(r.zrange(keys.OPEN, 0, -1))
    seen_items: set[str] = set()
    handled_by = _handled_by(city)
    for n, i in enumerate(ids):
        h, raw = res[2 * n], res[2 * n + 1]
        if not h:
            problems.append(f"{i}: indexed but missing")
            continue
        inc = Incident.from_hash(h)
        trail = [e for e in (audit.entry(x, f) for x, f in raw)
                 if not e.get("action", "").startswith("denied:")]
        if len(trail) != inc.version:
            problems.append(f"{i}: version {inc.version} but {len(trail)} audit entries")
        if trail and trail[-1].get("state") != inc.state:
            problems.append(f"{i}: state {inc.state} but last audit says {trail[-1].get('state')}")
        problems += transitions(inc, trail)
        problems += separation(inc, trail, handled_by)
        problems += fan_out(inc)
        problems += closure(inc, trail)
        items = work_items(inc)
        seen_items |= set(items)
        for item, pl in items.items():
            if where.get(item, []) != [pl]:
                problems.append(f"{item}: should be at {pl}, is at {where.get(item, [])}")
        if inc.state in OPEN_STATES:
            if i not in open_set:
                problems.append(f"{i}: open but not in the open index")
            want = {f"{inc.stage}|{ph}" for ph in PHASES}
            events = len(due[i]) if inc.center == CITY_CENTER else len(due[i]) or -1
            if not due[i] <= want or not inc.stage or inc.due_ts <= 0 or events not in (0, 1):
                problems.append(f"{i}: deadlines {sorted(due[i])} for stage {inc.stage!r}")
            if overdue.get(i) != {inc.center: float(due_score(inc.due_ts))}:
                problems.append(f"{i}: overdue index {overdue.get(i)}, owner {inc.center} "
                                f"due {due_score(inc.due_ts)}")
        else:
            if i in open_set:
                problems.append(f"{i}: {inc.state} but still in the open index")
            if due.get(i):
                problems.append(f"{i}: {inc.state} but has deadlines {sorted(due[i])}")
            if overdue.get(i):
                problems.append(f"{i}: {inc.state} but in the overdue index {overdue[i]}")
            if inc.due_ts:
                problems.append(f"{i}: {inc.state} with a due time")
    for item, pls in where.items():
        if item not in seen_items:
            problems.append(f"{item}: at {pls} but not an open work item")
    return problems


def transitions(inc: Incident, trail: list[dict]) -> list[str]:
    """Every change (non-denied audit entry, oldest first) is a legal move of its action
    (``MOVES``, E14) and starts where the previous one left the case; 派遣 straight from 上报
    only in 应急模式 or by an automatic rule (the system actor)."""
    out: list[str] = []
    prev = ""
    for e in trail:
        action, to = e.get("action", ""), e.get("state", "")
        if "from_state" not in e:       # an entry of a layout without it: nothing to chain
            prev = to
            continue
        frm = e["from_state"]
        at = f"{inc.id}: audit {e.get('entry')} {action}"
        if frm != prev:
            out.append(f"{at} starts from {frm or '(new)'} but the trail left the case "
                       f"{prev or '(new)'}")
        moves = MOVES.get(action)
        if moves is None:
            out.append(f"{at}: unknown action")
        elif (frm, to) not in moves:
            out.append(f"{at}: illegal transition {frm or '(new)'} → {to}")
        elif action == "dispatch" and frm == "reported" and not (
                inc.emergency or e.get("actor") == SYSTEM.user_id):
            out.append(f"{at}: dispatched from reported outside 应急模式/an automatic rule")
        prev = to
    return out


def separation(inc: Incident, trail: list[dict],
               handled_by: Callable[[str, Task], bool] | None = None) -> list[str]:
    """监管分离 (T11): no verify / reopen / close / callback entry by an actor who handled the
    case before it: the user who started or reported back a sub-task (its ``handler``), or the
    center of a sub-task that was started (even if returned later) or is not returned. On an
    incident a grid worker's sub-task ``W<cell>`` counts for its town ``T<town>`` too (T24); a
    top-down task (上情下达, kind ``task``) is checked by whoever gave it, the giving town of its
    own grid worker's patrol included (docs/incidents.md). A sub-task returned before anyone
    started it does not count. ``handled_by(center, task)``: see ``_handled_by``."""
    handled_by = handled_by or _handled_by(None)
    town_too = inc.kind != "task"
    first = _first_seen(trail)
    worked: dict[int, int] = {}               # sub-task n → index of its first start/handle
    users: dict[str, tuple[int, int]] = {}    # user id → (first index, sub-task n)
    for k, e in enumerate(trail):
        if e.get("action") in _WORKED and str(e.get("task", "")).isdigit():
            n = int(e["task"])
            worked.setdefault(n, k)
            users.setdefault(e.get("actor", ""), (k, n))
    for t in inc.tasks:     # started, by the stored incident, yet no entry says when: always
        if (t.started_ts > 0 or t.handler) and t.n not in worked:
            worked[t.n] = -1
        if t.handler and t.n in worked:
            users.setdefault(t.handler, (worked[t.n], t.n))
    out: list[str] = []
    for k, e in enumerate(trail):
        if e.get("action") not in SEPARATED:
            continue
        user, center = e.get("actor", ""), e.get("center", "")
        why = ""
        if user in users and users[user][0] < k:
            why = f"{user} handled sub-task {users[user][1]}"
        else:
            for t in inc.tasks:
                counts = worked.get(t.n, k) < k or (t.state != "returned" and first.get(t.n, -1) < k)
                if counts and (center == t.center or town_too and handled_by(center, t)):
                    why = f"{center} handled sub-task {t.n} ({t.center})"
                    break
        if why:
            out.append(f"{inc.id}: audit {e.get('entry')} {e.get('action')} by "
                       f"{user}@{center} breaks 监管分离 (T11): {why}")
    return out


def fan_out(inc: Incident) -> list[str]:
    """Parent state from its sub-tasks (一处发现、多项联动, E14): handled / verified / closed only
    when every active (not returned) sub-task is handled; dispatched / in_progress only with an
    open sub-task; no open sub-task before dispatch nor once closed or voided."""
    out: list[str] = []
    open_tasks = [t for t in inc.tasks if t.state in TASK_OPEN]
    if inc.state in _DONE:
        active = inc.active_tasks
        if not active:
            out.append(f"{inc.id}: {inc.state} without a handled sub-task")
        for t in active:
            if t.state != "handled":
                out.append(f"{inc.id}: {inc.state} but sub-task {t.n} ({t.center}) is {t.state}")
    elif inc.state in OUT:
        if not open_tasks:
            out.append(f"{inc.id}: {inc.state} without an open sub-task")
    elif open_tasks:     # before dispatch, or closed / voided
        n = ", ".join(f"{t.n} ({t.center})" for t in open_tasks)
        out.append(f"{inc.id}: {inc.state} with open sub-tasks {n}")
    return out


def closure(inc: Incident, trail: list[dict]) -> list[str]:
    """A closed case has a ``close`` entry, and its last one follows a ``verify`` made after the
    last 反馈 (``handle``): closed only once verified by the supervising side (E14, T11, E32)."""
    if inc.state != "closed":
        return []
    actions = [e.get("action") for e in trail]
    if "close" not in actions:
        return [f"{inc.id}: closed without a close entry"]
    c = len(actions) - 1 - actions[::-1].index("close")
    h = max((k for k in range(c) if actions[k] == "handle"), default=-1)
    if "verify" not in actions[h + 1:c]:
        return [f"{inc.id}: closed (audit {trail[c].get('entry')}) without a verify after the "
                f"last handle"]
    return []


def _first_seen(trail: list[dict]) -> dict[int, int]:
    """Sub-task n → index of the entry that created it (from the audited ``tasks`` lists,
    ``n:center:state``); a sub-task the trail shows before any change made it (e.g. a task of
    上情下达, created with the case) → -1."""
    seen: dict[int, int] = {}
    for k, e in enumerate(trail):
        after = (e.get("after") or {}).get("tasks")
        if not isinstance(after, list):
            continue
        before = (e.get("before") or {}).get("tasks") or []
        had = {_task_n(x) for x in before} if isinstance(before, list) else set()
        for x in after:
            n = _task_n(x)
            if n is not None and n not in seen:
                seen[n] = -1 if n in had or k == 0 else k
    return seen


def _task_n(shown: object) -> int | None:
    head = str(shown).split(":", 1)[0]
    return int(head) if head.isdigit() else None


def _handled_by(city: City | None) -> Callable[[str, Task], bool]:
    """``f(center, task)``: does a sub-task count as handled by ``center`` (T11)? Its own
    center, or for a grid worker's task ``W<cell>`` the town ``T<town>`` of the cell: the
    task's ``town`` when stored, else from ``city`` when given, else by the code (a cell's code
    starts with its town's, grid.model)."""
    towns: dict[str, str | None] = {}

    def town_of(cell: str) -> str | None:
        if cell not in towns:
            hit = city.cells.loc[city.cells["code"] == cell, "town_code"] if city is not None else ()
            towns[cell] = str(hit.iloc[0]) if len(hit) else None
        return towns[cell]

    def handled_by(center: str, task: Task) -> bool:
        if center == task.center:
            return True
        if not (task.center.startswith("W") and center.startswith("T") and len(center) > 1):
            return False
        cell, town = task.center[1:], center[1:]
        stored = getattr(task, "town", "")
        if stored:
            return stored == town
        if city is not None:
            return town_of(cell) == town
        return cell.startswith(town)

    return handled_by
