"""考核 on the bad day (issue 15): human-reported and machine-generated cases counted apart; a
machine case counts against a center only from the moment it accepted it (incidents.kpi.MACHINE).
Real redis-server, the one write path (IncidentService), an injected clock."""

from __future__ import annotations

import pytest

from incidents import invariants, kpi
from incidents.actor import SYSTEM
from tests.incidents.loopkit import close_loop


@pytest.mark.parametrize("channel", sorted(kpi.MACHINE))
def test_machine_channels_are_machine(svc, here, channel):
    inc = svc.report(SYSTEM, "0306", here.lon, here.lat, channel=channel, correlate=False)
    assert kpi.is_machine(inc)
    k = svc.kpis(inc.center)
    assert (k["received"], k["received_machine"], k["received_human"], k["assessed"]) == (1, 1, 0, 0)


def test_a_storm_nobody_accepted_does_not_count_against_the_town(svc, who, here, clock):
    town = f"T{here.town}"
    human = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖缺失")
    clock.advance(60)
    close_loop(svc, who, human.id, clock)
    before = svc.kpis(town)
    assert before["assessed_closure_rate"] == before["closure_rate"] == 1.0
    storm = [svc.report(SYSTEM, "1101", here.lon + 1e-5 * i, here.lat, channel="device_fault",
                        correlate=False, description=f"设备离线 {i}") for i in range(20)]
    assert {i.center for i in storm} == {town}
    clock.advance(6 * 3600)                       # far past every accept deadline
    k = svc.kpis(town)
    assert k["received"] == 21 and k["received_human"] == 1 and k["received_machine"] == 20
    # 设备故障 go to their department by the admin-marked automatic rule: no person accepted them
    assert k["closure_rate"] == pytest.approx(1 / 21, abs=1e-4)      # the old measure: a storm
    assert k["assessed"] == 1 and k["assessed_closure_rate"] == 1.0  # the fair one: unaffected
    assert k["accepted_machine"] == 0 and k["human_closure_rate"] == 1.0
    # water-level alarms the town accepts: from then on they are the town's, open until closed
    iot = [svc.report(SYSTEM, "0306", here.lon, here.lat + 1e-5 * i, channel="iot",
                      correlate=False, description=f"水位超警 {i}") for i in range(2)]
    clock.advance(60)
    close_loop(svc, who, iot[0].id, clock)
    svc.accept(iot[1].id, who.town)
    k = svc.kpis(town)
    assert k["accepted_machine"] == 2 and k["assessed"] == 3
    assert k["closed_machine"] == 1 and k["assessed_closed"] == 2
    assert k["assessed_closure_rate"] == pytest.approx(2 / 3, abs=1e-4)
    # accepting a machine case late is not judged; a human report's acceptance is
    assert k["accepted_human"] == 1 and k["accepted_human_on_time"] == 1
    assert k["human_accepted_on_time_rate"] == 1.0
    assert invariants.check(svc.r) == []


def test_a_machine_case_voided_unaccepted_is_nobodys(svc, who, here, clock):
    town = f"T{here.town}"
    inc = svc.report(SYSTEM, "0306", here.lon, here.lat, channel="iot", correlate=False)
    svc.void(inc.id, who.town, reason="误报 (false alarm)")
    k = svc.kpis(town)
    assert k["voided"] == 1 and k["assessed"] == 0 and k["assessed_closed"] == 0
    assert k["assessed_closure_rate"] is None
