"""Inputs bounded and checked (issue 19, the "Low" findings): ids naming other Redis keys answer
404/400, never 500; task deadlines and emergency windows within sane ranges; 处置反馈 attachments
only OneMap's own photo URLs. Real Redis, through the HTTP API (as tests/app/test_api.py)."""

from __future__ import annotations

import pytest

from incidents.actor import SYSTEM
from tests.app.authkit import login
from tests.app.test_api import PZ, point_in

HOSTILE_IDS = [
    "om:inc:feed",            # another key of the incident store (a stream: WRONGTYPE)
    "feed", "seq",            # om:inc:<these> are other keys
    "E%2A",                   # a glob, URL-encoded
    "E*",
    "E2026%00",               # a NUL
    "E" + "9" * 5000,         # very long
    "../../om:inc:feed",
    "E20260101000001 ",       # trailing space
    "e20260101000001",        # lower case
    "R20260101ABCDEF01",      # a receipt id is not an incident
    "%E4%BA%8B%E4%BB%B6",     # 事件
]
"""Ids an attacker aims at other Redis keys with (208 of 476 probes answered 500)."""

GETS = ["/api/incidents/{id}", "/api/incidents/{id}/timeline", "/api/incidents/{id}/suggestions",
        "/api/incidents/{id}/cap.xml", "/open311/v2/requests/{id}.json"]
POSTS = ["/api/incidents/{id}/accept", "/api/incidents/{id}/note", "/api/incidents/{id}/handle",
         "/api/incidents/{id}/merge", "/api/upper/push/{id}"]


@pytest.fixture
def commander(web):
    c = web.test_client()
    return c, {"X-CSRFToken": login(c, "commander")}


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_hostile_ids_answer_404_never_500(web, app_ctx, commander, bad):
    c, h = commander
    for path in GETS:
        r = c.get(path.format(id=bad))
        assert r.status_code in (400, 404), (path, bad, r.status_code)
    for path in POSTS:
        r = c.post(path.format(id=bad), json={"note": "已处理完毕"}, headers=h)
        assert r.status_code in (400, 404), (path, bad, r.status_code)
    # and in bodies: 合并's others, a bulk action's ids and target
    inc = app_ctx.incidents.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, 3), description="井盖缺失")
    r = c.post(f"/api/incidents/{inc.id}/merge", json={"others": [bad]}, headers=h)
    assert r.status_code == 400, (bad, r.status_code)
    r = c.post("/api/incidents/bulk/accept", json={"ids": [inc.id, bad]}, headers=h)
    assert r.status_code == 400 and "ids" in r.json["reason"], (bad, r.status_code)
    r = c.post("/api/incidents/bulk/merge", json={"ids": [inc.id], "target": bad}, headers=h)
    assert r.status_code == 400, (bad, r.status_code)
    assert app_ctx.redis.type("om:inc:feed") in ("stream", "none")   # nothing written over it


def test_well_formed_unknown_id_is_404_and_anonymous_still_401(web, commander):
    c, h = commander
    r = c.get("/api/incidents/E20260101999999")
    assert r.status_code == 404 and r.json["error"] == "not_found"
    assert web.test_client().get("/api/incidents/om:inc:feed").status_code == 401


def test_task_deadline_must_be_sane(web, accounts):
    c = web.test_client()
    h = {"X-CSRFToken": login(c, "panzhou")}
    worker = next(a for a in accounts.values()
                  if a["role"] == "grid_worker" and a["center"] == f"T{PZ}")
    body = {"target": f"W{worker['cell']}", "title": "巡查井盖"}
    for bad in (0, -3600, 30 * 86400 + 1, 1e308, "nan", "inf", "tomorrow", [1], 10**400):
        r = c.post("/api/tasks", json=dict(body, deadline_s=bad), headers=h)
        assert r.status_code == 400, (bad, r.status_code)
        assert r.json["reason"].startswith("任务期限"), r.json          # Chinese first
    r = c.post("/api/tasks", json=dict(body, deadline_s=7200), headers=h)
    assert r.status_code == 201, r.json
    assert r.json["handle_limit_s"] == 7200
    r = c.post("/api/tasks", json=dict(body, title="巡查路灯", deadline_s=30 * 86400), headers=h)
    assert r.status_code == 201, r.json


def test_emergency_window_must_be_sane(web, app_ctx, commander):
    c, h = commander
    area = {"type": "Point", "coordinates": list(point_in(app_ctx.city, PZ, 1))}
    for bad in (0, -5, 7 * 24 * 60 + 1, 1e12, "nan", "inf", "soon", [60], 10**400):
        r = c.post("/api/emergency", json={"area": area, "minutes": bad, "reason": "演练"}, headers=h)
        assert r.status_code == 400, (bad, r.status_code)
        assert "\u4e00" <= r.json["reason"][0] <= "\u9fff", r.json     # Chinese first
        assert c.get("/api/emergency").json["active"] is None
    r = c.post("/api/emergency", json={"area": area, "minutes": 7 * 24 * 60, "reason": "防汛"},
               headers=h)
    assert r.status_code == 200 and r.json["active"], r.json


def test_handle_attachments_are_onemap_photos_only(web, app_ctx, accounts):
    from app.mobile_api import photo_url
    from app.users import UserStore

    svc = app_ctx.incidents
    pz_op = UserStore(app_ctx.redis).get("panzhou").actor
    inc = svc.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, 10), description="井盖缺失")
    svc.accept(inc.id, pz_op)
    svc.dispatch(inc.id, pz_op, ["CG"])
    c = web.test_client()
    h = {"X-CSRFToken": login(c, "chengguan")}
    assert c.post(f"/api/incidents/{inc.id}/start", json={}, headers=h).status_code == 200
    good = photo_url("0123456789abcdef0123456789abcdef")
    for bad in (["https://evil.example/a.jpg"], ["javascript:alert(1)"], ["/media/photo/../x"],
                ["/media/photo/abc"], [good + "?x=1"], "/media/photo/x", [{"url": good}],
                [good] * 21):
        r = c.post(f"/api/incidents/{inc.id}/handle", json={"note": "已更换井盖", "attachments": bad},
                   headers=h)
        assert r.status_code == 400, (bad, r.status_code)
        assert r.json["reason"].startswith("附件"), r.json
    assert svc.get(inc.id, pz_op).state == "in_progress" and not svc.get(inc.id, pz_op).attachments
    r = c.post(f"/api/incidents/{inc.id}/handle", json={"note": "已更换井盖", "attachments": [good]},
               headers=h)
    assert r.status_code == 200 and r.json["state"] == "handled", r.json
    assert good in svc.get(inc.id, pz_op).attachments
