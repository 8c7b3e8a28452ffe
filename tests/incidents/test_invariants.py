"""Each business-rule invariant of ``incidents.invariants.check`` CAN fail: a consistent store
passes, then stored data is corrupted directly in the private redis (an audit entry rewritten,
a sub-task's state flipped in the hash's ``tasks`` JSON) and ``check`` must name the incident
and the broken rule: legal, chained transitions (E14), 监管分离 (T11), fan-out, closure (E32)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from incidents import audit, invariants, keys
from incidents.lifecycle import TRANSITIONS


def rewrite_audit(r, inc_id: str, change: Callable[[list[dict]], None]) -> None:
    """Replace the incident's audit stream with its entries as ``change`` edits them in place
    (same layout, one JSON field ``e`` per entry; new stream ids)."""
    entries = audit.timeline(r, inc_id)
    change(entries)
    r.delete(keys.audit(inc_id))
    for e in entries:
        r.xadd(keys.audit(inc_id), {"e": json.dumps({k: v for k, v in e.items() if k != "entry"},
                                                    ensure_ascii=False)})


def edit(of: str, nth: int = -1, **fields) -> Callable[[list[dict]], None]:
    """An audit edit: set ``fields`` on the ``nth`` entry of action ``of`` (default: the last)."""
    def change(entries: list[dict]) -> None:
        [e for e in entries if e["action"] == of][nth].update(fields)
    return change


def set_task(r, inc_id: str, n: int, **fields) -> None:
    """Overwrite fields of sub-task ``n`` in the stored hash (``None`` removes the field)."""
    tasks = json.loads(r.hget(keys.incident(inc_id), "tasks"))
    for t in tasks:
        if t["n"] == n:
            for k, v in fields.items():
                if v is None:
                    t.pop(k, None)
                else:
                    t[k] = v
    r.hset(keys.incident(inc_id), "tasks", json.dumps(tasks, ensure_ascii=False))


def flagged(r, inc_id: str, *words: str, city=None) -> list[str]:
    """The problems ``check`` reports about ``inc_id`` that contain every one of ``words``."""
    return [p for p in invariants.check(r, city=city)
            if p.startswith(inc_id) and all(w in p for w in words)]


def closed_case(svc, who, here) -> str:
    """A town case dispatched to 城管 and 住建 (fan-out), both handled, verified by the town's
    supervisor, closed and called back by the town's operator: consistent."""
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.register(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG", "ZJ"])
    svc.start(inc.id, who.cg)
    svc.handle(inc.id, who.cg)
    svc.handle(inc.id, who.zj)
    svc.verify(inc.id, who.town_sup, passed=True)
    svc.close(inc.id, who.town)
    svc.callback(inc.id, who.town, 5)
    return inc.id


def test_consistent_cases_pass(svc, who, here, demo_city):
    closed_case(svc, who, here)
    assert invariants.check(svc.r) == []
    assert invariants.check(svc.r, city=demo_city) == []


def test_moves_cover_the_transition_table():
    for action, (allowed, _, _) in TRANSITIONS.items():
        assert {f for f, _ in invariants.MOVES[action]} <= set(allowed) | {"reported"}, action
    assert invariants.MOVES["reopen"] == {("handled", "dispatched")}
    assert invariants.MOVES["report"] == {("", "reported")}
    assert ("handled", "verified") in invariants.MOVES["verify"]
    assert ("reported", "voided") in invariants.MOVES["merge"]


# --- 1. legal, chained transitions (E14) -------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (edit("register", action="close"), ["close: illegal transition accepted → registered"]),
    (edit("handle", nth=0, state="verified"), ["handle: illegal transition in_progress → verified"]),
    (edit("callback", action="teleport"), ["teleport: unknown action"]),
    (edit("dispatch", from_state="accepted"), ["dispatch starts from accepted", "left the case registered"]),
    (edit("accept", action="report", from_state=""), ["report starts from (new)", "left the case reported"]),
])
def test_illegal_transitions_are_reported(svc, who, here, change, words):
    inc_id = closed_case(svc, who, here)
    rewrite_audit(svc.r, inc_id, change)
    assert flagged(svc.r, inc_id, *words), invariants.check(svc.r)


def test_dispatch_from_reported_only_in_emergency_or_by_a_rule(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    assert invariants.check(svc.r) == []

    def skip_accept(entries: list[dict]) -> None:   # as if dispatched straight from 上报
        entries[1].update(action="note", state="reported")
        entries[2].update(from_state="reported")
    rewrite_audit(svc.r, inc.id, skip_accept)
    assert flagged(svc.r, inc.id, "dispatched from reported outside 应急模式")
    assert not flagged(svc.r, inc.id, "starts from")


# --- 2. 监管分离 (T11) ---------------------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (edit("close", actor="cg-chief", center="DCG"),
     ["close by cg-chief@DCG breaks 监管分离 (T11)", "DCG handled sub-task 1"]),
    (edit("verify", actor="cg-op", center="CITY"),
     ["verify by cg-op@CITY breaks 监管分离 (T11)", "cg-op handled sub-task 1"]),
    (edit("verify", actor="zj-op", center="DSTHJ"), ["zj-op handled sub-task 2"]),   # handle, no start
    (edit("callback", actor="zj-chief", center="DZJ"),
     ["callback by zj-chief@DZJ breaks 监管分离 (T11)", "DZJ handled sub-task 2"]),
])
def test_a_handler_verifying_closing_or_calling_back_is_reported(svc, who, here, change, words):
    inc_id = closed_case(svc, who, here)
    rewrite_audit(svc.r, inc_id, change)
    assert flagged(svc.r, inc_id, *words), invariants.check(svc.r)


def test_a_handler_reopening_is_reported(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    svc.handle(inc.id, who.cg)
    svc.verify(inc.id, who.town_sup, passed=False)
    assert invariants.check(svc.r) == []
    rewrite_audit(svc.r, inc.id, edit("reopen", center="DCG", actor="cg-chief"))
    assert flagged(svc.r, inc.id, "reopen by cg-chief@DCG breaks 监管分离", "DCG handled sub-task 1")


def test_a_grid_workers_sub_task_counts_for_its_town(svc, who, here, elsewhere, demo_city):
    """On an incident, W<cell> is handled by the cell's town (T24): its supervisor may not
    verify; with the city (cell → town) and without it (a cell's code starts with its town's)."""
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, [f"W{here.cell}"])
    svc.start(inc.id, who.worker)
    svc.handle(inc.id, who.worker)
    svc.verify(inc.id, who.city_sup, passed=True)
    svc.close(inc.id, who.city_sup)
    set_task(svc.r, inc.id, 1, town=None)   # no stored town: derived from the cell
    assert invariants.check(svc.r) == [] and invariants.check(svc.r, city=demo_city) == []
    rewrite_audit(svc.r, inc.id, edit("verify", actor="town-sup", center=f"T{here.town}"))
    for city in (None, demo_city):
        assert flagged(svc.r, inc.id, "verify by town-sup@", "breaks 监管分离 (T11)",
                       f"T{here.town} handled sub-task 1 (W{here.cell})", city=city)
    rewrite_audit(svc.r, inc.id, edit("verify", actor="other-sup", center=f"T{elsewhere.town}"))
    assert invariants.check(svc.r) == [] and invariants.check(svc.r, city=demo_city) == []


def test_a_top_down_task_is_checked_by_its_giver_never_its_handler(svc, who, here):
    """上情下达: the town checks its own grid worker's patrol; the worker never checks it."""
    task = svc.assign_task(who.town, f"W{here.cell}", "巡查辖区内井盖")
    svc.start(task.id, who.worker)
    svc.handle(task.id, who.worker)
    svc.verify(task.id, who.town_sup, passed=True)
    svc.close(task.id, who.town)
    assert invariants.check(svc.r) == []
    rewrite_audit(svc.r, task.id, edit("close", actor=who.worker.user_id))
    assert flagged(svc.r, task.id, f"{who.worker.user_id} handled sub-task 1")


def test_a_task_returned_after_it_was_started_still_counts(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG", "ZJ", "GA"])
    svc.start(inc.id, who.cg)
    svc.return_(inc.id, who.cg, "非本部门职责")       # worked, then returned: counts
    svc.return_(inc.id, who.zj, "不属本单位")          # returned unworked: does not count
    svc.handle(inc.id, who.ga)
    svc.verify(inc.id, who.city_sup, passed=True)
    svc.close(inc.id, who.city_sup)
    assert invariants.check(svc.r) == []
    rewrite_audit(svc.r, inc.id, edit("verify", actor="cg-chief", center="DCG"))
    assert flagged(svc.r, inc.id, "verify by cg-chief@DCG breaks 监管分离", "DCG handled sub-task 1")
    rewrite_audit(svc.r, inc.id, edit("verify", actor="zj-chief", center="DZJ"))
    assert invariants.check(svc.r) == []


def test_a_center_that_verified_before_it_handled_is_not_flagged(svc, who, here):
    """Separation is judged at the time of each entry: the town reopened the case while only
    城管 had handled it; 城管 returned it and the town's own team handled it afterwards."""
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    svc.handle(inc.id, who.cg)
    svc.verify(inc.id, who.town_sup, passed=False)
    svc.return_(inc.id, who.cg, "需镇执法队处置")
    svc.dispatch(inc.id, who.town, [f"T{here.town}"])
    svc.handle(inc.id, who.town)
    svc.verify(inc.id, who.city_sup, passed=True)
    assert invariants.check(svc.r) == []
    rewrite_audit(svc.r, inc.id, edit("verify", actor="town-sup2", center=f"T{here.town}"))
    assert flagged(svc.r, inc.id, f"T{here.town} handled sub-task 2")


# --- 3. fan-out ------------------------------------------------------------------------------
def test_handled_with_an_unfinished_sub_task_is_reported(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG", "ZJ"])
    svc.handle(inc.id, who.cg)
    svc.handle(inc.id, who.zj)
    assert invariants.check(svc.r) == []
    set_task(svc.r, inc.id, 2, state="in_progress", handled_ts=0.0)
    assert flagged(svc.r, inc.id, "handled but sub-task 2 (DZJ) is in_progress")


def test_out_without_an_open_sub_task_is_reported(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    set_task(svc.r, inc.id, 1, state="handled")
    assert flagged(svc.r, inc.id, "dispatched without an open sub-task")


def test_closed_or_voided_with_an_open_sub_task_is_reported(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    svc.return_(inc.id, who.cg, "不属本单位")
    svc.void(inc.id, who.town, "重复上报")
    assert invariants.check(svc.r) == []
    set_task(svc.r, inc.id, 1, state="dispatched")
    assert flagged(svc.r, inc.id, "voided with open sub-tasks 1 (DCG)")
    closed = closed_case(svc, who, here)
    set_task(svc.r, closed, 1, state="returned")
    set_task(svc.r, closed, 2, state="returned")
    assert flagged(svc.r, closed, "closed without a handled sub-task")


# --- 4. closure (E14, E32) -------------------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (edit("close", action="note"), ["closed without a close entry"]),
    (edit("verify", action="note"), ["without a verify after the last handle"]),
])
def test_a_close_without_its_verify_is_reported(svc, who, here, change, words):
    inc_id = closed_case(svc, who, here)
    rewrite_audit(svc.r, inc_id, change)
    assert flagged(svc.r, inc_id, *words), invariants.check(svc.r)


def test_a_verify_before_the_last_handle_does_not_count(svc, who, here):
    inc_id = closed_case(svc, who, here)

    def verify_too_early(entries: list[dict]) -> None:
        k = next(n for n, e in enumerate(entries) if e["action"] == "verify")
        entries.insert(k - 1, entries.pop(k))       # verify before 住建's 反馈
    rewrite_audit(svc.r, inc_id, verify_too_early)
    assert flagged(svc.r, inc_id, "without a verify after the last handle")

