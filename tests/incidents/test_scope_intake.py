"""Scope is total for correlated intake (issue 19, first finding; S1/S2 分级控制).

A report that correlates into a case outside the reporter's scope is linked to it as a source,
and the reporter gets a receipt (已并入已有事件 + their own reference), nothing of the case; the
case's severity and owner stay as they were (its owner is notified and decides); reporting gives
no read, timeline or note access. A grid worker's report joining a case in their own town stays
theirs to follow.
"""

from __future__ import annotations

import json

import pytest

from incidents import keys
from incidents.actor import Actor
from incidents.errors import Forbidden
from incidents.receipt import MERGED, Receipt


@pytest.fixture
def case_b(svc, who, here):
    """Town B's open case (here, in ``who.town``'s town), accepted by its owner."""
    inc = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖缺失 B")
    svc.accept(inc.id, who.town)
    return svc.store.load(inc.id)


def _notices(svc) -> list[dict]:
    return [json.loads(f["e"]) for _, f in svc.r.xrange(keys.NOTICES)]


def test_a_foreign_report_gets_a_receipt_and_changes_nothing(svc, who, here, case_b):
    """The attack of the finding: a town-A operator reports the same category ~10 m from town
    B's case at 特别重大. Before: B's full record came back, B's case went to the city at
    特别重大 and the audit named ``system``."""
    got = svc.report(who.other_town, "0108", here.lon + 1e-4, here.lat, severity="特别重大",
                     description="外镇上报", title="我的标题", idempotency_key="a-1")
    assert isinstance(got, Receipt) and got.intake == MERGED
    d = got.to_dict()
    assert "已并入已有事件" in d["message"] and d["idempotency_key"] == "a-1"
    assert d["receipt"].startswith("R") and d["id"] == d["receipt"]
    assert d["title"] == "我的标题" and d["severity"] == "特别重大"   # only what they sent
    flat = json.dumps(d, ensure_ascii=False)
    for leak in (case_b.id, "井盖缺失 B", who.worker.user_id, case_b.center, "accepted"):
        assert leak not in flat, leak
    after = svc.store.load(case_b.id)
    assert (after.severity, after.center, after.tier, after.state) == (
        case_b.severity, case_b.center, case_b.tier, case_b.state)
    assert after.origin == case_b.origin
    src = after.sources[-1]       # linked as one more source, marked foreign, with the receipt
    assert len(after.sources) == 2 and src["foreign"] and src["receipt"] == d["receipt"]
    assert src["severity"] == "特别重大"      # what was asked, for the owner to decide
    trail = svc.timeline(case_b.id, who.town)
    link = [e for e in trail if e["action"] == "correlate"]
    assert [e["actor"] for e in link] == ["other-town-op"]          # not "system"
    # the owner is told: a queue entry and a notice naming the reporter and what they asked
    q = [f["e"] for _, f in svc.r.xrange(keys.queue(case_b.center))]
    assert any(e.startswith(f"{case_b.id}||correlate|") for e in q)
    note = [n for n in _notices(svc) if n["id"] == case_b.id]
    assert note and note[-1]["reporter"] == "other-town-op" and note[-1]["foreign"]
    assert note[-1]["severity"] == "特别重大"
    # no access gained: read, timeline, note are refused (and audited)
    for call in (lambda: svc.get(case_b.id, who.other_town),
                 lambda: svc.timeline(case_b.id, who.other_town),
                 lambda: svc.note(case_b.id, who.other_town, "我来看看")):
        with pytest.raises(Forbidden):
            call()
    assert case_b.id not in {i.id for i in svc.list_queue(who.other_town, "all", limit=500)}
    # a retry (same key) answers the same receipt again, never the case
    again = svc.report(who.other_town, "0108", here.lon + 1e-4, here.lat, severity="特别重大",
                       description="外镇上报", title="我的标题", idempotency_key="a-1")
    assert isinstance(again, Receipt) and again.id == got.id
    assert len(svc.store.load(case_b.id).sources) == 2


def test_a_grid_worker_of_another_town_gains_no_access(svc, who, here, case_b):
    """Before: a grid worker kept read, timeline and note access through ``sources[].reporter``."""
    got = svc.report(who.other_worker, "0108", here.lon, here.lat + 1e-4, severity="重大")
    assert isinstance(got, Receipt)
    after = svc.store.load(case_b.id)
    assert after.severity == case_b.severity and after.center == case_b.center
    for call in (lambda: svc.get(case_b.id, who.other_worker),
                 lambda: svc.timeline(case_b.id, who.other_worker),
                 lambda: svc.note(case_b.id, who.other_worker, "我也看看")):
        with pytest.raises(Forbidden):
            call()
    assert svc.list_queue(who.other_worker, "mine") == []


def test_a_department_outside_the_case_gets_a_receipt(svc, who, here, case_b):
    got = svc.report(who.zj, "0108", here.lon, here.lat, severity="较大")
    assert isinstance(got, Receipt)
    with pytest.raises(Forbidden):
        svc.get(case_b.id, who.zj)
    # once the owner dispatches to it, the department reads the case (its line, 条), as before
    svc.dispatch(case_b.id, who.town, ["ZJ"])
    assert svc.get(case_b.id, who.zj).id == case_b.id


def test_a_grid_worker_in_their_own_town_still_follows_their_report(svc, who, here, demo_city,
                                                                     case_b):
    neighbour = demo_city.cells[(demo_city.cells["town_code"] == here.town)
                                & (demo_city.cells["code"] != here.cell)].iloc[0]
    second = Actor(str(neighbour["worker_id"]), "grid_worker", f"T{here.town}", "网格员丙",
                   cell=str(neighbour["code"]))
    got = svc.report(second, "0108", here.lon + 1e-4, here.lat, severity="较大",
                     idempotency_key="d-9")
    assert not isinstance(got, Receipt)
    assert (got.id, got.intake) == (case_b.id, "correlated")
    assert got.severity == "较大"                  # within scope: merged, as before
    assert svc.get(case_b.id, second).id == case_b.id
    assert len(svc.timeline(case_b.id, second)) >= 2
    svc.note(case_b.id, second, "补充照片")
    link = [e for e in svc.timeline(case_b.id, who.town) if e["action"] == "correlate"]
    assert [e["actor"] for e in link] == [second.user_id]


def test_within_scope_reports_still_raise_the_case(svc, who, here, case_b):
    """The case's own town (and the city) reporting: linked, severity merged, as before."""
    got = svc.report(who.town, "0108", here.lon, here.lat, severity="较大")
    assert (got.id, got.intake, got.severity) == (case_b.id, "correlated", "较大")
    got = svc.report(who.city, "0108", here.lon, here.lat, severity="重大", channel="hotline")
    assert (got.id, got.center) == (case_b.id, "CITY")
