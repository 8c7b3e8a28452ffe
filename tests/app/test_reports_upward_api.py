"""信息报送 end to end on real Redis (issue 17): a 重大 case reported and accepted through the
IncidentService → the watcher (incident feed) drafts its 首报; over HTTP the watch lists it as
due, edits it; the city's 值班员 (not the 带班领导 on duty) is refused (403), the leader on
duty approves and it lands in the upper-platform outbox."""

from __future__ import annotations

import time

from app.users import UserStore
from incidents import keys as ik
from incidents.duty import Roster, Shift
from incidents.notify import Outbox
from incidents.reports_upward import ReportWatcher, UpwardReports
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401


def test_major_case_first_report_drafted_from_the_feed_and_approved_by_the_leader(  # noqa: F811
        web, accounts, app_ctx):  # noqa: F811
    r = app_ctx.redis
    town = accounts["panzhou"]["center"]
    center = "CITY"             # a 重大 case goes to the city center (1+N routing)
    now = time.time()
    roster = Roster(r)
    roster.add([Shift(f"{center}@t", center, now - 3600, now + 3600,
                      {"leader": ["commander"], "chief": [], "officer": ["ops"]})], by="admin")
    reports = UpwardReports(r, roster, Outbox(r))
    watcher = ReportWatcher(r, reports, app_ctx.incidents.store.load)
    watcher.ensure_group()
    op = UserStore(r).get("ops").actor
    boot = app_ctx.city.towns[app_ctx.city.towns["code"] == town[1:]].iloc[0]
    p = boot.geometry.representative_point()
    inc = app_ctx.incidents.report(op, "0401", p.x, p.y, severity="重大", title="厂房火灾",
                                   channel="hotline")
    assert inc.center == center, inc.center
    app_ctx.incidents.accept(inc.id, op)
    watcher.tick()
    rid = f"{inc.id}:first"
    rec = reports.get(rid)
    assert 1799 <= rec["due_ts"] - app_ctx.incidents.get(inc.id, op).times["accepted"] <= 1801

    c = web.test_client()
    tok = login(c, "ops")
    h = {"X-CSRFToken": tok}
    due = c.get("/api/upreports/due").get_json()["items"]
    assert [x["id"] for x in due] == [rid] and due[0]["kind_name"] == "首报"
    r1 = c.post(f"/api/upreports/{rid}/edit", json={"fields": {"casualties": "1 人轻伤"}},
                headers=h)
    assert r1.status_code == 200 and r1.get_json()["fields"]["casualties"] == "1 人轻伤"
    assert c.post(f"/api/upreports/{rid}/approve", headers=h).status_code == 403
    assert r.xlen(ik.REPORTS_UP_OUTBOX) == 0
    c2 = web.test_client()
    tok2 = login(c2, "commander")
    r2 = c2.post(f"/api/upreports/{rid}/approve", headers={"X-CSRFToken": tok2})
    assert r2.status_code == 200 and r2.get_json()["status"] == "sent"
    assert [x["id"] for x in reports.sent()] == [rid]
    assert c.get("/api/upreports/due").get_json()["items"] == []
    # a 续报 as the case develops; a town cannot read the city's case or its reports
    assert c2.post(f"/api/incidents/{inc.id}/upreports", json={"kind": "update"},
                   headers={"X-CSRFToken": tok2}).status_code == 200
    c3 = web.test_client()
    login(c3, "town")
    assert c3.get(f"/api/incidents/{inc.id}/upreports").status_code == 403
