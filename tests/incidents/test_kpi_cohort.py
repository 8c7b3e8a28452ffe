"""结案率 is a cohort rate (incidents.kpi docstring): of the cases received in a window, the share
closed so far, never above 100 %. Backlog closed inside a window does not push it up; a window's
cases closed later raise it; a case closed, reopened by 回访不满意 and closed again counts once.
Real redis-server (and a real 3-master Cluster: a closure writes another day's bucket), the one
write path (IncidentService), an injected clock."""

from __future__ import annotations

import pytest

from incidents import invariants, keys, kpi
from incidents.actor import SYSTEM
from tests.incidents.loopkit import close_loop

pytestmark = pytest.mark.also_on_cluster

DAY = 86400.0


def _day(svc, center, t):
    """The KPIs of ``center`` over the one day (UTC+8) holding ``t``."""
    return svc.kpis(center, since=t, until=t)


def test_backlog_closed_in_a_window_keeps_its_rate_at_most_100(svc, who, here, clock):
    town = f"T{here.town}"
    day1 = clock()
    old = [svc.report(who.worker, "0108", here.lon + 1e-5 * i, here.lat, description=f"井盖 {i}", correlate=False)
           for i in range(2)]
    clock.advance(DAY)
    day2 = clock()
    assert kpi.day_of(day2) != kpi.day_of(day1)
    svc.report(who.worker, "0108", here.lon, here.lat + 1e-4, description="今天的", correlate=False)
    for inc in old:                                  # yesterday's backlog closes today
        close_loop(svc, who, inc.id, clock)
    k = _day(svc, town, day2)
    assert (k["received"], k["closed"]) == (1, 2)   # the 结案数 (flow) stays: 2 closed today
    # the flow ratio said 200 %; of today's one case none is closed yet
    assert k["closure_rate"] == k["human_closure_rate"] == k["assessed_closure_rate"] == 0.0
    assert k["closure_basis"] == "cohort"
    # the backlog is counted where it was received: yesterday, all closed
    k1 = _day(svc, town, day1)
    assert (k1["received"], k1["closed"], k1["closed_cohort"]) == (2, 0, 2)
    assert k1["closure_rate"] == k1["human_closure_rate"] == k1["assessed_closure_rate"] == 1.0
    whole = svc.kpis(town)
    assert (whole["received"], whole["closed"], whole["closure_rate"]) == (3, 2, pytest.approx(2 / 3, abs=1e-4))
    for sc in (svc.kpis(), *(svc.kpis(c) for c in svc.r.smembers(keys.kpi_centers()))):
        for name in kpi.COHORT_RATES:
            assert sc[name] is None or 0.0 <= sc[name] <= 1.0, (sc["center"], name, sc[name])
    assert invariants.check(svc.r) == []


def test_a_windows_cases_closed_later_raise_its_rate(svc, who, here, clock):
    town = f"T{here.town}"
    day1 = clock()
    a = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖缺失", correlate=False)
    b = svc.report(who.worker, "0108", here.lon + 1e-4, here.lat, description="路灯不亮", correlate=False)
    assert _day(svc, town, day1)["closure_rate"] == 0.0
    clock.advance(DAY)
    close_loop(svc, who, a.id, clock)
    assert _day(svc, town, day1)["closure_rate"] == 0.5      # read later: one of two closed
    clock.advance(3 * DAY)
    close_loop(svc, who, b.id, clock)
    k = _day(svc, town, day1)
    assert (k["received"], k["closed"], k["closure_rate"]) == (2, 0, 1.0)
    assert [_day(svc, town, t)["closure_rate"] for t in (day1 + DAY, day1 + 4 * DAY)] == [None, None]


def test_closed_reopened_by_follow_up_and_closed_again_counts_once(svc, who, here, clock):
    town = f"T{here.town}"
    day1 = clock()
    inc = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖缺失", correlate=False)
    close_loop(svc, who, inc.id, clock)
    assert _day(svc, town, day1)["closure_rate"] == 1.0
    clock.advance(DAY)                               # 回访 the next day: 不满意, done again
    inc = svc.perform(inc.id, who.town, "follow_up", {"satisfaction": 1, "reason": "井盖仍然松动"})
    assert inc.state == "dispatched"
    k = _day(svc, town, day1)
    assert (k["closed"], k["closed_cohort"], k["closure_rate"]) == (1, 0, 0.0)   # open again
    svc.start(inc.id, who.cg)
    svc.handle(inc.id, who.cg, note="重新固定")
    svc.verify(inc.id, who.town_sup, passed=True)
    svc.close(inc.id, who.town)
    k = svc.kpis(town)
    assert (k["received"], k["closed"]) == (1, 2)    # two closures (结案数), one case
    assert k["closed_cohort"] == k["closed_human_cohort"] == k["assessed_closed_cohort"] == 1
    assert k["closure_rate"] == k["human_closure_rate"] == k["assessed_closure_rate"] == 1.0
    assert invariants.check(svc.r) == []


def test_a_machine_case_counts_on_its_acceptance_day(svc, who, here, clock):
    """assessed_closure_rate: a machine case is assessed the day a person accepted it (MACHINE)."""
    town = f"T{here.town}"
    day1 = clock()
    inc = svc.report(SYSTEM, "0306", here.lon, here.lat, channel="iot", correlate=False,
                     description="水位超警")
    clock.advance(DAY)
    day2 = clock()
    svc.accept(inc.id, who.town)
    clock.advance(DAY)
    day3 = clock()
    close_loop(svc, who, inc.id, clock, accept=False)
    k1, k2, k3 = (_day(svc, town, t) for t in (day1, day2, day3))
    assert (k1["received"], k1["closed_cohort"], k1["closure_rate"]) == (1, 1, 1.0)
    assert (k1["assessed"], k1["assessed_closure_rate"]) == (0, None)
    assert (k2["assessed"], k2["assessed_closed_cohort"], k2["assessed_closure_rate"]) == (1, 1, 1.0)
    assert k2["closure_basis"] is None               # no receipts that day, acceptances only
    assert (k3["assessed_closed"], k3["assessed_closure_rate"]) == (1, None)


def test_days_recorded_before_cohort_counting_read_as_capped_flow(svc, who, here, clock):
    """A day's hash without cohort counters (recorded before them) gives its flow closures plus
    its cases' cohort closures since; the window's rate is capped at 100 % and the answer says
    which basis it used."""
    town = f"T{here.town}"
    cohort_fields = ("closed_cohort", "closed_human_cohort", "assessed_closed_cohort", "cohort_base")

    def as_before(*ts: float) -> None:               # as the code before them wrote these days
        for t in ts:
            svc.r.hdel(keys.kpi(town, kpi.day_of(t)), *cohort_fields)

    day1 = clock()
    old = [svc.report(who.worker, "0108", here.lon + 1e-5 * i, here.lat, description=f"井盖 {i}", correlate=False)
           for i in range(2)]
    clock.advance(DAY)
    day2 = clock()
    svc.report(who.worker, "0108", here.lon, here.lat + 1e-4, description="今天的", correlate=False)
    for inc in old:
        close_loop(svc, who, inc.id, clock)
    as_before(day1, day2)
    k2 = _day(svc, town, day2)                       # the flow ratio read 200 %: capped
    assert (k2["received"], k2["closed"], k2["closure_rate"], k2["closure_basis"]) == (1, 2, 1.0, "flow")
    k = svc.kpis(town)
    assert (k["received"], k["closed"], k["closure_rate"]) == (3, 2, pytest.approx(2 / 3, abs=1e-4))
    assert k["closure_basis"] == "flow"              # an old window reads as it did
    # from day 3 on, cohort counting: an old day's case closed now counts on its own day
    clock.advance(DAY)
    day3 = clock()
    late = svc.report(who.worker, "0108", here.lon + 1e-4, here.lat + 1e-4, description="旧案", correlate=False)
    as_before(day3)
    clock.advance(DAY)
    svc.report(who.worker, "0108", here.lon + 2e-4, here.lat, description="新的", correlate=False)
    close_loop(svc, who, late.id, clock)
    k3 = _day(svc, town, day3)
    assert (k3["received"], k3["closed"], k3["closed_cohort"], k3["closure_rate"]) == (1, 0, 1, 1.0)
    k = svc.kpis(town)
    assert (k["received"], k["closed"], k["closure_basis"]) == (5, 3, "mixed")
    assert k["closure_rate"] == pytest.approx(3 / 5, abs=1e-4)
