"""预案 and 应急响应 through the HTTP API (issue 16): the demo plans are listed; an import is the
city commander's and a bad plan answers 400 naming the field; a situation's suggestion; a town
activates for its own territory only, the city takes over, changes the level and ends it with a
summary (audited); an exercise creates no case; the policy answers every refusal."""

from __future__ import annotations

from incidents import keys
from incidents.actor import SYSTEM
from incidents.emergency.plans import read_demo
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401
from tests.app.test_api import DA, PZ, point_in


def _client(web, user):  # noqa: ANN001, ANN202, F811
    c = web.test_client()
    tok = login(c, user)
    c.environ_base["HTTP_X_CSRFTOKEN"] = tok
    return c


def test_plans_and_responses_over_http(web, app_ctx, accounts) -> None:  # noqa: F811
    boss, pz, da, sl, cg = (_client(web, u) for u in ("commander", "panzhou", "town", "shuili",
                                                         "chengguan"))
    r = boss.get("/api/emergency/plans")
    assert r.status_code == 200
    assert {p["id"]: p["demo"] for p in r.json["plans"]} == {
        "flood-typhoon": True, "urban-waterlogging": True, "power-outage": True}
    assert boss.get("/api/emergency/plans/flood-typhoon").json["plan"]["hazard"] == "防汛防台"
    assert boss.get("/api/emergency/plans/nope").status_code == 404

    # import: the city commander's; a bad plan is refused naming its field, nothing stored
    text = read_demo()["flood-typhoon.yaml"]
    assert pz.post("/api/emergency/plans", json={"yaml": text}).status_code == 403
    bad = text.replace("deadline_min: 60}", "deadline_min: 0}", 1)
    r = boss.post("/api/emergency/plans", json={"yaml": bad})
    assert r.status_code == 400 and r.json["error"] == "invalid_plan"
    assert "levels[0].tasks[0].items[0].deadline_min: 应为正整数 / Input should be greater than 0" \
        in r.json["problems"]
    r = boss.post("/api/emergency/plans?note=改时限", data=text.replace("deadline_min: 120}",
                                                                    "deadline_min: 90}", 1).encode(),
                  content_type="application/yaml")
    assert r.status_code == 201 and r.json["version"] == 2
    assert r.json["changes"] == ["levels[0].tasks[0].items[1].deadline_min"]
    assert boss.post("/api/emergency/plans", json={"yaml": text}).status_code == 201   # v3
    assert boss.post("/api/emergency/plans", json={"yaml": text}).json["changed"] is False
    exported = boss.get("/api/emergency/plans/flood-typhoon?format=yaml&version=2")
    assert exported.mimetype == "application/yaml" and "deadline_min: 90" in exported.get_data(as_text=True)
    r = boss.post("/api/emergency/plans", data=exported.get_data(), content_type="application/yaml")
    assert r.status_code == 201 and r.json["version"] == 4      # an export imports again
    hist = boss.get("/api/emergency/plans/flood-typhoon/history").json["versions"]
    assert [(h["version"], h["actor"]) for h in hist] == [(4, "commander"), (3, "commander"),
                                                         (2, "commander"), (1, "system")]

    # a flood situation in 潘州 suggests 防汛防台 IV (a suggestion: nothing starts)
    svc = app_ctx.incidents
    for i in range(3):
        inc = svc.report(SYSTEM, "0306", *point_in(app_ctx.city, PZ, 3), channel="iot",
                         idempotency_key=f"wl-ep-{i}")
    got = pz.get(f"/api/emergency/suggestions/{inc.id}").json["suggestions"]
    assert [(s["plan"], s["level"], s["town"]) for s in got] == [("flood-typhoon", "IV", PZ)]
    assert da.get(f"/api/emergency/suggestions/{inc.id}").status_code == 403
    assert boss.get("/api/emergency/responses").json["responses"] == []

    # a town activates for its own territory only (T5)
    body = {"plan": "flood-typhoon", "level": "IV", "town": DA, "incident": inc.id}
    assert pz.post("/api/emergency/responses", json=body).status_code == 403
    assert pz.post("/api/emergency/responses", json=body | {"town": PZ, "level": "II"}).status_code == 403
    before = svc.r.zcard(keys.ALL)
    r = pz.post("/api/emergency/responses", json=body | {"town": PZ},
                headers={"Idempotency-Key": "act-1"})
    assert r.status_code == 201 and r.json["owner"] == f"T{PZ}", r.json
    aid = r.json["id"]
    again = pz.post("/api/emergency/responses", json=body | {"town": PZ},
                    headers={"Idempotency-Key": "act-1"})
    assert again.json["id"] == aid                               # a retried click: one response
    board = pz.get(f"/api/emergency/responses/{aid}").json
    assert board["totals"]["tasks"] == 5 and svc.r.zcard(keys.ALL) == before + 5
    assert sl.get(f"/api/emergency/responses/{aid}").status_code == 200     # a member unit
    assert cg.get(f"/api/emergency/responses/{aid}").status_code == 403     # not a member
    assert da.get(f"/api/emergency/responses/{aid}").status_code == 403     # another town
    assert [x["id"] for x in da.get("/api/emergency/responses").json["responses"]] == []

    # the city takes over, raises the level, ends it with a summary: every step audited
    assert pz.post(f"/api/emergency/responses/{aid}/take_over", json={}).status_code == 403
    r = boss.post(f"/api/emergency/responses/{aid}/take_over", json={"reason": "市级统一指挥"})
    assert r.status_code == 200 and r.json["owner"] == "CITY" and r.json["emergency"] is True
    assert pz.post(f"/api/emergency/responses/{aid}/level", json={"level": "IV"}).status_code == 403
    assert boss.post(f"/api/emergency/responses/{aid}/level",
                     json={"level": "III", "reason": "雨势加大"}).json["level"] == "III"
    assert boss.post(f"/api/emergency/responses/{aid}/end", json={}).status_code == 400
    r = boss.post(f"/api/emergency/responses/{aid}/end", json={"summary": "转移 120 人，无伤亡"})
    assert r.status_code == 200 and r.json["state"] == "ended"
    log = boss.get(f"/api/emergency/responses/{aid}/log").json["entries"]
    assert [(e["action"], e["actor"]) for e in log] == [
        ("activate", "panzhou"), ("take_over", "commander"), ("level", "commander"),
        ("end", "commander")]
    assert log[-1]["reason"] == "转移 120 人，无伤亡"
    assert boss.post(f"/api/emergency/responses/{aid}/level", json={"level": "II"}).status_code == 409

    # 推演: its own ids and namespace, no case
    n = svc.r.zcard(keys.ALL)
    r = boss.post("/api/emergency/responses", json={"plan": "power-outage", "level": "III",
                                                    "exercise": True, "reason": "停电推演"})
    assert r.status_code == 201 and r.json["id"].startswith("X") and r.json["exercise"] is True
    xid = r.json["id"]
    b = boss.get(f"/api/emergency/responses/{xid}").json
    assert b["totals"]["tasks"] == 3 and svc.r.zcard(keys.ALL) == n
    key = b["units"][0]["tasks"][0]["key"]
    unit = b["units"][0]["unit"]
    assert boss.post(f"/api/emergency/responses/{xid}/tasks/{key}/start").status_code == 200, unit
    assert boss.post(f"/api/emergency/responses/{aid}/tasks/{key}/start").status_code == 404
    assert [x["id"] for x in boss.get("/api/emergency/responses?exercise=1").json["responses"]] == [xid]
    assert boss.get("/api/emergency/responses/R1/log").status_code == 404
