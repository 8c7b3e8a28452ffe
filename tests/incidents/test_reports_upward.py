"""信息报送 (issue 17 "Done means": 首报 overdue is urged; X1, X3): on real Redis with an injected
clock. A 重大 case accepted → 首报 due in 30 min; overdue → urged once through the notify outbox;
approval by anyone but the leader on duty (or a city commander) refused; approved → in the
upper-platform outbox, once; 终报 at closure."""

from __future__ import annotations

import pytest

from incidents import keys
from incidents.actor import Actor
from incidents.duty import Roster, Shift
from incidents.incident import Incident
from incidents.notify import Outbox
from incidents.reports_upward import ReportError, UpwardReports

T0 = 1_796_000_000.0
CENTER = "T440981001"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _setup(r):
    clock = Clock(T0)
    roster = Roster(r, clock=clock)
    roster.add([Shift(f"{CENTER}@x", CENTER, T0 - 3600, T0 + 86400,
                      {"leader": ["lead1"], "chief": [], "officer": ["off1"]})], by="admin")
    return clock, UpwardReports(r, roster, Outbox(r, clock=clock), clock=clock)


def _case(severity: str = "重大", **kw) -> Incident:
    return Incident(id="E20261207000001", category="0401", severity=severity, center=CENTER,
                    title="仓库火灾", description="两层仓库起火", state="accepted",
                    created_ts=T0 - 120, times={"accepted": T0}, lon=110.9, lat=21.9, **kw)


def test_first_report_due_urged_once_approved_by_the_leader_and_final_at_close(redis_client):
    r = redis_client
    clock, reports = _setup(r)
    inc = _case()
    assert reports.track(inc) == [f"{inc.id}:first"]
    assert reports.track(inc) == []                                   # idempotent
    first = reports.get(f"{inc.id}:first")
    assert first["due_ts"] == T0 + 30 * 60 and first["status"] == "draft"
    assert "30 分钟" in first["due_label"] and "演示默认值" in first["due_label"]
    assert "仓库火灾" in first["fields"]["what"] and first["fields"]["casualties"] == "待核实"
    assert [x["id"] for x in reports.due(CENTER)] == [f"{inc.id}:first"]   # carried at handover
    # not yet due: nobody urged; overdue: urged once, to the watch, through the notify outbox
    clock.t = T0 + 30 * 60 - 1
    assert reports.urge_due() == []
    clock.t = T0 + 30 * 60 + 1
    assert reports.urge_due() == [f"{inc.id}:first"]
    assert reports.urge_due() == []
    queued = [r.hgetall(keys.notify_delivery(f["d"])) for _, f in
              r.xrange(keys.NOTIFY_OUTBOX)]
    assert sorted(d["person"] for d in queued) == ["lead1", "off1"]
    assert all(d["subject"].startswith("催报") for d in queued)
    assert reports.due(CENTER)[0]["overdue"] is True
    # the watch edits; the officer may not approve; the leader on duty may
    reports.edit(f"{inc.id}:first", "off1", {"casualties": "无人员伤亡", "losses": "约 20 万元"})
    with pytest.raises(ReportError):
        reports.edit(f"{inc.id}:first", "off1", {"secret": "x"})
    with pytest.raises(PermissionError):
        reports.approve(f"{inc.id}:first", Actor("off1", "town_operator", CENTER))
    assert reports.sent() == []
    sent = reports.approve(f"{inc.id}:first", Actor("lead1", "town_operator", CENTER))
    assert sent["status"] == "sent" and sent["late"] is True and sent["approved_by"] == "lead1"
    reports.approve(f"{inc.id}:first", Actor("lead1", "town_operator", CENTER))   # once only
    up = reports.sent()
    assert [(x["id"], x["fields"]["casualties"]) for x in up] == [(f"{inc.id}:first", "无人员伤亡")]
    assert reports.due(CENTER) == []
    with pytest.raises(ReportError):
        reports.edit(f"{inc.id}:first", "off1", {"losses": "改"})
    # 续报 as it develops; a city commander may approve it
    rid = reports.follow_up(inc, "off1")
    assert rid.endswith(":update:2")
    reports.approve(rid, Actor("commander", "city_commander", "CITY"))
    # 终报 at closure, not a second 首报
    clock.t = T0 + 7200
    inc.state = "closed"
    inc.times["closed"] = clock.t
    assert reports.track(inc) == [f"{inc.id}:final"]
    assert reports.get(f"{inc.id}:final")["due_ts"] == clock.t + 3600
    assert [x["kind"] for x in reports.of_incident(inc.id)] == ["first", "update", "final"]


def test_below_the_threshold_nothing_is_reported(redis_client):
    _, reports = _setup(redis_client)
    inc = _case("一般")
    assert reports.track(inc) == []
    with pytest.raises(ReportError):
        reports.follow_up(inc, "off1")
    assert reports.due() == []
