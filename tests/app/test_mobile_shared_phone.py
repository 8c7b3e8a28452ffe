"""The phone on a shared handset and its notifications (issue 17, G21, T25): a queued item is
sent only under its author's login (the server's half: 409 ``author_mismatch``), and the
in-app notifications (站内消息) are listed on the phone and acknowledged there (知道了)."""

from __future__ import annotations

import io

from PIL import Image

from app.channels import InAppSender
from incidents import keys as ik
from incidents.actor import Actor
from incidents.notify import Message
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401


def _workers(accounts) -> list[str]:  # noqa: F811
    return sorted(u for u, a in accounts.items() if a["role"] == "grid_worker")


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 60)).save(buf, "JPEG")
    return buf.getvalue()


def test_an_item_of_another_author_is_refused_and_changes_nothing(web, accounts, app_ctx):  # noqa: F811
    a, b = _workers(accounts)
    c = web.test_client()
    tok = login(c, b)                    # B is logged in on the phone; A wrote the items
    h = {"X-CSRFToken": tok}
    report = {"category": "0107", "lon": 110.9, "lat": 21.9, "description": "A 的上报",
              "key": "kA1", "author": a}
    r = c.post("/m/api/reports", json=report, headers=h)
    assert r.status_code == 409, r.get_data(as_text=True)
    body = r.get_json()
    assert body["error"] == "author_mismatch" and body["author"] == a
    assert "不能以当前账号" in body["reason"] and body["reason"][0] >= "\u4e00"   # Chinese first
    assert app_ctx.redis.zcard(ik.ALL) == 0                                       # nothing made
    r = c.post("/m/api/patrol", json={"lon": 110.9, "lat": 21.9, "key": "kA2", "author": a},
               headers=h)
    assert r.status_code == 409
    assert c.get("/m/api/patrol").get_json()["entries"] == []
    r = c.post("/m/api/photos", data=_jpeg(), headers={**h, "Content-Type": "image/jpeg",
                                                        "X-Author": a})
    assert r.status_code == 409
    r = c.post("/m/api/tasks/E000/result", json={"note": "已处置", "key": "kA3", "author": a},
               headers=h)
    assert r.status_code == 409
    # the same report with B as its author (or none: an older page) goes through
    r = c.post("/m/api/reports", json={**report, "key": "kB1", "author": b}, headers=h)
    assert r.status_code == 200, r.get_data(as_text=True)
    r = c.post("/m/api/reports", json={**report, "key": "kB2", "author": ""}, headers=h)
    assert r.status_code == 200
    assert app_ctx.redis.zcard(ik.ALL) >= 1
    # A logs in again: A's item goes out under A's name
    c2 = web.test_client()
    tok2 = login(c2, a)
    r = c2.post("/m/api/reports", json=report, headers={"X-CSRFToken": tok2})
    assert r.status_code == 200
    assert app_ctx.incidents.reported_with(Actor(a, "grid_worker", ""), "m:kA1")
    assert not app_ctx.incidents.reported_with(Actor(b, "grid_worker", ""), "m:kA1")


def test_notifications_on_the_phone_and_acknowledged_there(web, accounts, app_ctx):  # noqa: F811
    a, b = _workers(accounts)
    sender = InAppSender(app_ctx.redis)
    for chain, subject in (("E9001", "新任务：井盖缺失"), ("E9002", "新任务：道路积水")):
        sender.send(Message(did=f"d-{chain}", event=chain, chain=chain, person=a, channel="inapp",
                            address=a, subject=subject, body="请尽快处置", priority=True))
    app_ctx.redis.hset(ik.notify_chain("E9002"), mapping={"notified": "someone_else"})
    c = web.test_client()
    tok = login(c, a)
    out = c.get("/m/api/notifications").get_json()
    assert [i["subject"] for i in out["items"]] == ["新任务：道路积水", "新任务：井盖缺失"]
    assert out["unacked"] == 2
    r = c.post("/m/api/notifications/ack", json={"chain": "E9001"}, headers={"X-CSRFToken": tok})
    assert r.status_code == 200 and r.get_json()["first"] is True
    out = c.get("/m/api/notifications").get_json()
    assert out["unacked"] == 1
    assert {i["chain"]: i["acked_by"] for i in out["items"]}["E9001"] == a
    # a chain that never reached this worker cannot be stopped by it (403, audited)
    r = c.post("/m/api/notifications/ack", json={"chain": "E9002"}, headers={"X-CSRFToken": tok})
    assert r.status_code == 403
    assert not app_ctx.redis.hget(ik.notify_chain("E9002"), "acked_by")
    # B sees none of A's notifications
    c2 = web.test_client()
    login(c2, b)
    assert c2.get("/m/api/notifications").get_json()["items"] == []
