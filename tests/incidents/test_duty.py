"""值班值守 (X34a, X1): the roster answers who is on watch across shift boundaries (overnight
too), a bad CSV is refused whole with each row/field named, swaps and leave are recorded, and the
handover (交接班) carries the open items and is acknowledged by the incoming watch. Real Redis."""

from __future__ import annotations

from datetime import datetime

import pytest

from incidents import keys
from incidents.actor import SYSTEM
from incidents.duty import CST, Roster, RosterError, shift_id

ROSTER = """center,date,start,end,role,person
T01,2026-11-20,08:00,20:00,带班领导,lead-a
T01,2026-11-20,08:00,20:00,值班长,chief-a
T01,2026-11-20,08:00,20:00,值班员,duty-a
T01,2026-11-20,08:00,20:00,值班员,duty-b
T01,2026-11-20,20:00,08:00,带班领导,lead-b
T01,2026-11-20,20:00,08:00,chief,chief-b
T01,2026-11-20,20:00,08:00,officer,duty-c
T01,2026-11-21,08:00,20:00,值班长,chief-a
T01,2026-11-21,08:00,20:00,值班员,duty-d
"""


def at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=CST).timestamp()


@pytest.fixture
def roster(redis_client, clock) -> Roster:
    r = Roster(redis_client, clock=clock)
    r.import_csv(ROSTER, by="admin")
    return r


def test_on_duty_across_boundaries_and_overnight(roster: Roster) -> None:
    day = roster.on_duty("T01", at("2026-11-20 12:00"))
    assert day == {"leader": ["lead-a"], "chief": ["chief-a"], "officer": ["duty-a", "duty-b"]}
    assert roster.on_duty("T01", at("2026-11-20 19:59"))["chief"] == ["chief-a"]
    # the boundary instant belongs to the incoming (night) watch
    assert roster.on_duty("T01", at("2026-11-20 20:00")) == {
        "leader": ["lead-b"], "chief": ["chief-b"], "officer": ["duty-c"]}
    # past midnight the overnight shift is still on watch, until 08:00 the next day
    assert roster.on_duty("T01", at("2026-11-21 02:30"))["officer"] == ["duty-c"]
    assert roster.on_duty("T01", at("2026-11-21 07:59"))["chief"] == ["chief-b"]
    morning = roster.on_duty("T01", at("2026-11-21 08:00"))
    assert morning == {"leader": [], "chief": ["chief-a"], "officer": ["duty-d"]}
    assert roster.on_duty("T01", at("2026-11-21 20:00")) == {"leader": [], "chief": [], "officer": []}
    assert roster.on_duty("T02", at("2026-11-20 12:00"))["officer"] == []


def test_bad_csv_refused_whole_with_rows_and_fields_named(redis_client, clock) -> None:
    r = Roster(redis_client, clock=clock, known_persons=lambda p: p != "ghost")
    bad = ("center,date,start,end,role,person\n"
           "T01,2026-11-20,08:00,20:00,值班员,duty-a\n"
           "T01,2026-11-20,08:00,20:00,门卫,duty-b\n"
           "X9,2026-13-40,8h,20:00,值班长,ghost\n")
    with pytest.raises(RosterError) as e:
        r.import_csv(bad, by="admin")
    text = "\n".join(e.value.problems)
    assert "第3行 role='门卫'" in text
    assert "第4行 center='X9'" in text and "第4行 start='8h'" in text
    assert "第4行 person='ghost'" in text
    # nothing half-imported: the good row 2 is not there either
    assert redis_client.exists(keys.duty_shifts("T01")) == 0
    with pytest.raises(RosterError, match="缺少列"):
        r.import_csv("center,date,role\nT01,2026-11-20,值班员\n", by="admin")


def test_swap_and_leave_recorded(roster: Roster) -> None:
    sid = shift_id("T01", at("2026-11-20 20:00"))
    roster.swap("T01", sid, "officer", "duty-c", "duty-x", by="chief-b", reason="换班")
    roster.leave("T01", sid, "chief-b", by="lead-b", reason="病假", substitute="chief-a")
    now = roster.on_duty("T01", at("2026-11-21 01:00"))
    assert now == {"leader": ["lead-b"], "chief": ["chief-a"], "officer": ["duty-x"]}
    s = roster.shift("T01", sid)
    assert [c["kind"] for c in s.changes] == ["swap", "leave"]
    assert s.changes[1]["reason"] == "病假" and s.changes[1]["by"] == "lead-b"
    assert [e["what"] for e in roster.log("T01")][:3] == ["leave", "swap", "import"]
    with pytest.raises(RosterError, match="不在此班次"):
        roster.swap("T01", sid, "officer", "nobody", "duty-y", by="chief-b")


def test_handover_carries_open_items_and_incoming_acknowledges(
        redis_client, svc, who, here, clock) -> None:
    center = f"T{here.town}"
    roster = Roster(redis_client, clock=clock)
    roster.import_csv(ROSTER.replace("T01", center), by="admin")
    case = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    alarm = svc.report(SYSTEM, "0306", here.lon + 1e-4, here.lat, channel="iot", correlate=False)
    done = svc.report(who.worker, "0101", here.lon, here.lat + 2e-4, correlate=False)
    svc.void(done.id, who.town, "重复")           # a finished case is not carried
    redis_client.zadd(keys.duty_reports(center), {"首报:" + case.id: at("2026-11-20 21:00")})

    day = shift_id(center, at("2026-11-20 08:00"))
    clock.t = at("2026-11-20 19:50")
    with pytest.raises(RosterError, match="不是此班次"):
        roster.handover(center, day, by="duty-c", note="x")
    rec = roster.handover(center, day, by="chief-a", note="3号泵站待复查")
    carried = rec["carried"]
    assert case.id in [c["id"] for c in carried["cases"]]
    assert [a["id"] for a in carried["alarms"]] == [alarm.id]
    assert alarm.id not in [c["id"] for c in carried["cases"]]
    assert done.id not in [c["id"] for c in carried["cases"]]
    assert carried["reports"][0]["id"] == "首报:" + case.id
    # the incoming (night) watch acknowledges once on duty; the outgoing watch cannot
    clock.t = at("2026-11-20 20:05")
    with pytest.raises(RosterError, match="不是接班人员"):
        roster.acknowledge(center, day, by="chief-a")
    got = roster.acknowledge(center, day, by="chief-b")
    assert got["acked_by"] == "chief-b" and got["incoming"] == shift_id(center, at("2026-11-20 20:00"))
    assert roster.handover_of(center, day)["note"] == "3号泵站待复查"
    assert [e["what"] for e in roster.log(center)][:2] == ["handover_ack", "handover"]
