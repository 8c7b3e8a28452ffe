"""/m/ page and /m/api/* (issue 6, SPEC §4): scope, photos checked by content, idempotent writes."""

from __future__ import annotations

import io
import json

from PIL import Image

from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401


def _jpeg(w: int = 64, h: int = 48, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "JPEG")
    return buf.getvalue()


def _worker(accounts) -> str:  # noqa: F811
    return next(u for u, a in accounts.items() if a["role"] == "grid_worker")


def _workers(accounts) -> list[str]:  # noqa: F811
    return sorted(u for u, a in accounts.items() if a["role"] == "grid_worker")


def test_page_is_light_and_carries_the_bootstrap(web, accounts):  # noqa: F811
    c = web.test_client()
    login(c, _worker(accounts))
    r = c.get("/m/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "_dash" not in page and "plotly" not in page  # no framework on the phone
    boot = json.loads(page.split('id="boot">', 1)[1].split("</script>", 1)[0])
    assert boot["user"]["cell"] == accounts[_worker(accounts)]["cell"]
    assert len(boot["recent"]) >= 4 and boot["map"]["features"]
    assert any(f["properties"]["own"] for f in boot["map"]["features"])
    lon, lat = boot["fallback"]
    minx, miny, maxx, maxy = boot["map"]["bbox"]
    assert minx <= lon <= maxx and miny <= lat <= maxy
    total = len(r.get_data())
    for s in ("outbox.js", "photos.js", "minimap.js", "app.js", "m.css"):
        a = c.get(f"/m/assets/{s}")
        assert a.status_code == 200
        total += len(a.get_data())
    assert total < 150_000, total   # the whole page, uncompressed, on one bar of signal


def test_other_roles_cannot_open_mobile(web, accounts):  # noqa: F811
    c = web.test_client()
    login(c, "chengguan")
    assert c.get("/m/").status_code == 403
    tok = login(c, "chengguan")
    r = c.post("/m/api/patrol", json={"lon": 110.9, "lat": 21.9, "key": "k1"},
               headers={"X-CSRFToken": tok})
    assert r.status_code == 403


def test_photo_upload_checked_by_content_and_idempotent(web, accounts, app_ctx):  # noqa: F811
    c = web.test_client()
    w1, w2 = _workers(accounts)
    tok = login(c, w1)
    jpg = _jpeg()
    r1 = c.post("/m/api/photos", data=jpg, headers={"X-CSRFToken": tok,
                                                    "Content-Type": "image/jpeg"})
    r2 = c.post("/m/api/photos", data=jpg, headers={"X-CSRFToken": tok,
                                                    "Content-Type": "image/jpeg"})
    assert r1.status_code == 200 and r1.json["id"] == r2.json["id"]
    got = c.get(r1.json["url"])
    assert got.status_code == 200 and got.data == jpg and got.mimetype == "image/jpeg"
    # a "JPEG" that is really HTML is refused by content
    bad = c.post("/m/api/photos", data=b"<html><script>alert(1)</script>",
                 headers={"X-CSRFToken": tok, "Content-Type": "image/jpeg"})
    assert bad.status_code == 415
    # without the CSRF token nothing is stored
    assert c.post("/m/api/photos", data=jpg, headers={"Content-Type": "image/jpeg"}).status_code == 403
    # another grid worker may not read it
    c2 = web.test_client()
    login(c2, w2)
    assert c2.get(r1.json["url"]).status_code == 403
    # nor the town's console while it is attached to no case (issue 19: staff see a photo
    # within the scope of its case; tests/app/test_security_findings.py)
    c3 = web.test_client()
    login(c3, "panzhou")
    assert c3.get(r1.json["url"]).status_code == 403


def test_patrol_entries_are_own_and_idempotent(web, accounts):  # noqa: F811
    c = web.test_client()
    w1, w2 = _workers(accounts)
    tok = login(c, w1)
    body = {"lon": 110.9, "lat": 21.9, "note": "河道巡查 正常", "key": "abc123", "photos": []}
    a = c.post("/m/api/patrol", json=body, headers={"X-CSRFToken": tok})
    b = c.post("/m/api/patrol", json=body, headers={"X-CSRFToken": tok})  # network retry
    assert a.status_code == b.status_code == 200
    assert a.json["id"] == b.json["id"] and b.json["duplicate"] is True
    entries = c.get("/m/api/patrol").json["entries"]
    assert [e["note"] for e in entries] == ["河道巡查 正常"]
    c2 = web.test_client()
    login(c2, w2)
    assert c2.get("/m/api/patrol").json["entries"] == []
    missing_key = c.post("/m/api/patrol", json={"lon": 1, "lat": 1}, headers={"X-CSRFToken": tok})
    assert missing_key.status_code == 400


def _inside(accounts, app_ctx, user):  # noqa: F811
    cell = accounts[user]["cell"]
    row = app_ctx.city.cells[app_ctx.city.cells["code"] == cell].iloc[0]
    p = row.geometry.representative_point()
    return p.x, p.y


def test_report_retried_with_same_key_makes_one_incident(web, accounts, app_ctx):  # noqa: F811
    from incidents import keys as ik
    from incidents.actor import SYSTEM

    c = web.test_client()
    w1 = _workers(accounts)[0]
    tok = login(c, w1)
    lon, lat = _inside(accounts, app_ctx, w1)
    pid = c.post("/m/api/photos", data=_jpeg(), headers={"X-CSRFToken": tok,
                                                          "Content-Type": "image/jpeg"}).json["id"]
    body = {"category": "0108", "description": "井盖缺失", "lon": lon, "lat": lat,
            "photos": [pid], "key": "draft0001"}
    first = c.post("/m/api/reports", json=body, headers={"X-CSRFToken": tok,
                                                          "Idempotency-Key": "draft0001"})
    again = c.post("/m/api/reports", json=body, headers={"X-CSRFToken": tok,
                                                          "Idempotency-Key": "draft0001"})
    assert first.status_code == 200, first.get_data(as_text=True)
    assert again.json["id"] == first.json["id"] and again.json["duplicate"] is True
    assert app_ctx.redis.zcard(ik.ALL) == 1
    inc = app_ctx.incidents.get(first.json["id"], SYSTEM)
    assert inc.channel == "grid_worker" and inc.attachments == [f"/media/photo/{pid}"]
    assert inc.center == f"T{inc.town_code}" == accounts[w1]["center"]
    mine = c.get("/m/api/reports").json["reports"]
    assert [(r["id"], r["state_name"]) for r in mine] == [(first.json["id"], "上报")]
    # recent categories: the one just used comes first on the next page load
    page = c.get("/m/").get_data(as_text=True)
    boot = json.loads(page.split('id="boot">', 1)[1].split("</script>", 1)[0])
    assert boot["recent"][0]["code"] == "0108"
    # unknown category and missing location are refused, not stored
    bad = c.post("/m/api/reports", json=dict(body, category="9999", key="k2"),
                 headers={"X-CSRFToken": tok})
    assert bad.status_code == 400 and app_ctx.redis.zcard(ik.ALL) == 1
    assert bad.json["reason"].startswith("未知事件类别") and "unknown category" in bad.json["reason"]
    nowhere = c.post("/m/api/reports", json={k: v for k, v in dict(body, key="k3").items()
                                              if k not in ("lon", "lat")},
                     headers={"X-CSRFToken": tok})
    assert nowhere.status_code == 400 and nowhere.json["reason"] == "缺少位置经纬度 (lon/lat required)"
    assert app_ctx.redis.zcard(ik.ALL) == 1


def test_my_tasks_accept_and_result_with_photo(web, accounts, app_ctx):  # noqa: F811
    from app.users import UserStore

    w1, w2 = _workers(accounts)
    town_op = UserStore(app_ctx.redis).get("panzhou").actor
    target = f"W{accounts[w1]['cell']}"
    task = app_ctx.incidents.assign_task(town_op, target, "巡查河堤", description="雨后巡查")
    c = web.test_client()
    tok = login(c, w1)
    tasks = c.get("/m/api/tasks").json["tasks"]
    assert [t["id"] for t in tasks] == [task.id] and tasks[0]["actions"] == ["accept"]
    # where, by name, and a link the phone's own map app opens (issue 21)
    town = app_ctx.city.town_names[accounts[w1]["cell"][:9]]
    assert tasks[0]["place"].startswith(town) and len(tasks[0]["place"]) > len(town)
    assert tasks[0]["nav"].startswith("geo:") and tasks[0]["reported"]
    c2 = web.test_client()
    tok2 = login(c2, w2)
    assert c2.get("/m/api/tasks").json["tasks"] == []
    # another worker cannot act on it: 403 and an audit entry
    denied = c2.post(f"/m/api/tasks/{task.id}/accept", json={}, headers={"X-CSRFToken": tok2})
    assert denied.status_code == 403
    assert c.post(f"/m/api/tasks/{task.id}/accept", json={},
                  headers={"X-CSRFToken": tok}).json["state"] == "in_progress"
    pid = c.post("/m/api/photos", data=_jpeg(color=(0, 128, 0)),
                 headers={"X-CSRFToken": tok, "Content-Type": "image/jpeg"}).json["id"]
    body = {"note": "已巡查，无异常", "photos": [pid], "key": "res0001", "lon": 1, "lat": 1}
    done = c.post(f"/m/api/tasks/{task.id}/result", json=body, headers={"X-CSRFToken": tok})
    again = c.post(f"/m/api/tasks/{task.id}/result", json=body, headers={"X-CSRFToken": tok})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert again.json["duplicate"] is True
    inc = app_ctx.incidents.get(task.id, town_op)
    assert inc.tasks[0].state == "handled" and f"/media/photo/{pid}" in inc.attachments
    steps = [e["action"] for e in app_ctx.incidents.timeline(task.id, town_op)]
    assert steps.count("handle") == 1


def test_limits_size_count_and_rate(web, accounts, app_ctx, limiter_clock):  # noqa: F811
    from app import security

    c = web.test_client()
    w1 = _workers(accounts)[0]
    tok = login(c, w1)
    h = {"X-CSRFToken": tok, "Content-Type": "image/jpeg"}
    huge = b"\xff\xd8" + b"0" * (3 * 1024 * 1024 + 1)
    assert c.post("/m/api/photos", data=huge, headers=h).status_code == 413
    body = {"category": "0107", "lon": 110.9, "lat": 21.9, "key": "k",
            "photos": [f"p{i}" for i in range(security.MAX_FILES + 1)]}
    assert c.post("/m/api/reports", json=body, headers={"X-CSRFToken": tok}).status_code == 400
    unknown = dict(body, photos=["doesnotexist"], key="k2")
    assert c.post("/m/api/reports", json=unknown, headers={"X-CSRFToken": tok}).status_code == 400
    # the reporting rate limit answers 429 with Retry-After (the phone waits and retries)
    codes = [c.post("/m/api/reports", json=dict(body, photos=[], key=f"r{i}", lon=0, lat=0),
                    headers={"X-CSRFToken": tok}).status_code
             for i in range(security.REPORT_LIMIT.limit + 1)]
    assert codes[-1] == 429 and 429 not in codes[:-3]


def test_city_roles_open_the_phone_page(web, accounts):  # noqa: F811
    c = web.test_client()
    login(c, "commander")
    r = c.get("/m/")
    assert r.status_code == 200
    boot = json.loads(r.get_data(as_text=True).split('id="boot">', 1)[1].split("</script>", 1)[0])
    assert boot["user"]["cell"] is None and len(boot["map"]["features"]) > 10  # the towns


def test_dash_callbacks_check_the_role_too(web, accounts, app_ctx):  # noqa: F811
    """A callback POST of a role without the screen gets 403 and an audit entry, never data."""
    from app import security

    c = web.test_client()
    tok = login(c, _workers(accounts)[0])   # a grid worker: neither /ops nor /analytics
    body = {"output": "ops-body.children", "outputs": {"id": "ops-body", "property": "children"},
            "inputs": [{"id": "ops-tick", "property": "n_intervals", "value": 1}],
            "changedPropIds": ["ops-tick.n_intervals"], "state": []}
    for path in ("/ops/_dash-update-component", "/analytics/_dash-update-component"):
        r = c.post(path, json=body, headers={"X-CSRFToken": tok})
        assert r.status_code == 403 and b"Redis" not in r.data
    events = [e for e in security.audit_entries(app_ctx.redis) if e["event"] == "denied"]
    assert {e["path"] for e in events} >= {"/ops/_dash-update-component",
                                           "/analytics/_dash-update-component"}


def test_task_deadline_in_beijing_time_and_result_needs_a_note(web, accounts, app_ctx,  # noqa: F811
                                                               monkeypatch):
    """The phone shows a task's deadline in Beijing time as the console does, whatever the
    server's zone (servers run on UTC); 处置完成 without a word of what was done is refused."""
    import datetime as dt
    import time

    from app.users import UserStore

    monkeypatch.setenv("TZ", "America/New_York")     # a server zone far from Beijing
    time.tzset()
    try:
        w1 = _workers(accounts)[0]
        town_op = UserStore(app_ctx.redis).get("panzhou").actor
        if accounts[w1]["center"] != town_op.center:
            town_op = next(UserStore(app_ctx.redis).get(u).actor for u, a in accounts.items()
                           if a["role"] == "town_operator" and a["center"] == accounts[w1]["center"])
        task = app_ctx.incidents.assign_task(town_op, f"W{accounts[w1]['cell']}", "巡查河堤",
                                             deadline_s=5 * 3600)
        c = web.test_client()
        tok = login(c, w1)
        view = c.get("/m/api/tasks").json["tasks"][0]
        due = app_ctx.incidents.get(task.id, town_op).due_ts
        cst = dt.timezone(dt.timedelta(hours=8))
        assert view["due"] == dt.datetime.fromtimestamp(due, cst).strftime("%m-%d %H:%M")
        c.post(f"/m/api/tasks/{task.id}/accept", json={}, headers={"X-CSRFToken": tok})
        r = c.post(f"/m/api/tasks/{task.id}/result", json={"note": " ", "key": "res0002"},
                   headers={"X-CSRFToken": tok})
        assert r.status_code == 400 and "处置情况" in r.json["reason"]
        assert app_ctx.incidents.get(task.id, town_op).tasks[0].state == "in_progress"
    finally:
        monkeypatch.undo()
        time.tzset()
