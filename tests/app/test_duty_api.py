"""值班值守 and 通知 over HTTP (issue 17, X34a, T25): the roster import is the admin's and is
refused whole with the rows named; a center's watch is visible to its own center and the city,
not to another sub-center (403, audited); a user reads their own notifications and acknowledges
one that reached them (anyone else: 403); the handover is written by the watch on duty."""

from __future__ import annotations

import time
from datetime import datetime

from app.channels import InAppSender
from incidents.duty import CST
from incidents.notify import NotifyWorker
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401


def test_roster_watch_notifications_and_handover_over_http(web, accounts, app_ctx) -> None:  # noqa: F811
    center = accounts["town"]["center"]
    day = datetime.fromtimestamp(time.time(), CST).strftime("%Y-%m-%d")
    csv = ("center,date,start,end,role,person\n"
           f"{center},{day},00:00,00:00,值班员,town\n"
           f"{center},{day},00:00,00:00,带班领导,commander\n")
    c = web.test_client()
    token = login(c, "admin")
    bad = c.post("/api/duty/import", json={"csv": csv + f"{center},{day},8:00,20:00,门卫,town\n"},
                 headers={"X-CSRFToken": token})
    assert bad.status_code == 400 and "第4行 role='门卫'" in bad.get_json()["problems"][0]
    ok = c.post("/api/duty/import", json={"csv": csv}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    shift = ok.get_json()["shifts"][0]

    op = web.test_client()
    token = login(op, "town")
    assert op.post("/api/duty/import", json={"csv": csv},
                   headers={"X-CSRFToken": token}).status_code == 403
    watch = op.get(f"/api/duty/{center}").get_json()
    assert [p["id"] for p in watch["on_duty"]["officer"]] == ["town"]
    assert watch["on_duty"]["leader"][0]["name"] == "市指挥长" and watch["shift"] == shift
    assert op.get("/api/duty/DCG").status_code == 403            # another sub-center's watch
    city = web.test_client()
    login(city, "ops")
    assert city.get(f"/api/duty/{center}").status_code == 200
    # a grid worker of the town sees its watch masked (SEC18: no personal data for its role)
    worker_id = next(u for u, a in accounts.items()
                     if a["role"] == "grid_worker" and a["center"] == center)
    gw = web.test_client()
    login(gw, worker_id)
    seen = gw.get(f"/api/duty/{center}").get_json()["on_duty"]
    assert seen["leader"][0]["name"] == "市***" and seen["officer"][0]["id"] != "town"

    # a priority case for the center: the watch's notification, acknowledged by the officer
    worker = NotifyWorker(app_ctx.redis, {"inapp": InAppSender(app_ctx.redis)}, watch_feed=False)
    worker.ensure_groups()
    worker.chains.new_work("inc:E1:" + center, center, subject="【较大】新事件：道路积水",
                           body="请处置", category="0302", severity="较大")
    worker.drain()
    items = op.get("/api/notifications").get_json()["items"]
    assert [i["subject"] for i in items] == ["【较大】新事件：道路积水"]
    chain = items[0]["chain"]
    other = web.test_client()
    other_token = login(other, "chengguan")
    assert other.post("/api/notifications/ack", json={"chain": chain},
                      headers={"X-CSRFToken": other_token}).status_code == 403
    got = op.post("/api/notifications/ack", json={"chain": chain}, headers={"X-CSRFToken": token})
    assert got.status_code == 200 and got.get_json()["first"] is True
    assert worker.outbox.chain(chain)["acked_by"] == "town"

    # 交班 by the watch on duty; someone not on it is refused
    rec = op.post(f"/api/duty/{center}/handover", json={"shift": shift, "note": "积水点已设围挡"},
                  headers={"X-CSRFToken": token})
    assert rec.status_code == 200 and rec.get_json()["note"] == "积水点已设围挡"
    assert set(rec.get_json()["carried"]) == {"cases", "alarms", "reports"}
    assert other.post(f"/api/duty/{center}/handover", json={"shift": shift, "note": "x"},
                      headers={"X-CSRFToken": other_token}).status_code == 403


def test_the_console_header_names_the_watch_on_duty(web, accounts, app_ctx) -> None:  # noqa: F811
    """值班 in the console header (issue 17): the center's watch by name, from the roster."""
    from app.screens.console.model import ConsoleData
    from incidents.duty import Roster

    center = accounts["town"]["center"]
    data = ConsoleData(app_ctx)
    assert data.watch(center) == "值班：未排班"
    day = datetime.fromtimestamp(time.time(), CST).strftime("%Y-%m-%d")
    Roster(app_ctx.redis).import_csv("center,date,start,end,role,person\n"
                                     f"{center},{day},00:00,00:00,值班员,town\n"
                                     f"{center},{day},00:00,00:00,带班领导,commander\n", by="test")
    line = data.watch(center)
    assert line.startswith("值班：带班领导 市指挥长") and "值班员" in line
    c = web.test_client()
    login(c, "town")
    assert "带班领导 市指挥长" in c.get("/console/_dash-layout").get_data(as_text=True)
