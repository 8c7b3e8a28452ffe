"""Consistency check of the whole incident store (tests, the ops page, after a crash).

Invariants: every open incident (and open sub-task) is in exactly one place (its ``place``),
and no closed one is anywhere; every change has its audit entry (audit length == version);
no closed incident has an open sub-task; deadline events exist exactly for the running stage
(one, the stage's next event; none only at the top tier once its last event has fired); every
open incident is in its owner's overdue index with its due time, and in no other.
"""

from __future__ import annotations

from collections import defaultdict

import redis

from grid.model import CITY_CENTER
from incidents import audit, keys
from incidents.incident import OPEN_STATES, Incident
from incidents.store import PHASES, due_score, work_items


def check(r: redis.Redis) -> list[str]:
    """Violations found (empty list = consistent)."""
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
        p.xlen(keys.audit(i))
        p.xrevrange(keys.audit(i), count=50)
    res = p.execute()
    open_set = set(r.zrange(keys.OPEN, 0, -1))
    seen_items: set[str] = set()
    for n, i in enumerate(ids):
        h, _, last = res[3 * n], res[3 * n + 1], res[3 * n + 2]
        if not h:
            problems.append(f"{i}: indexed but missing")
            continue
        inc = Incident.from_hash(h)
        changes = sum(1 for e in audit.timeline(r, i) if not e.get("action", "").startswith("denied:"))
        if changes != inc.version:
            problems.append(f"{i}: version {inc.version} but {changes} audit entries")
        states = [e for e in (audit.entry(x, f) for x, f in last)
                  if not e.get("action", "").startswith("denied:")]
        if states and states[0].get("state") != inc.state:
            problems.append(f"{i}: state {inc.state} but last audit says {states[0].get('state')}")
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
            if inc.state == "closed" and inc.open_tasks:
                problems.append(f"{i}: closed with open sub-tasks")
            if inc.due_ts:
                problems.append(f"{i}: {inc.state} with a due time")
    for item, pls in where.items():
        if item not in seen_items:
            problems.append(f"{item}: at {pls} but not an open work item")
    return problems
