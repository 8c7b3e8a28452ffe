"""应急资源 and 一键调度 through the HTTP API (issue 16; X15, X18, X19, X23): the city commander
imports a register (a bad file: 400 naming row and field, nothing imported; a town: 403); the
list shows each resource's status with contacts masked for roles without personal data; a
suggestion names the nearest available team; a town dispatches its own team (a retried click
commits once) but not another town's; the steps move the team on the map and release frees it."""

from __future__ import annotations

from incidents.actor import SYSTEM
from layers import resources
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401
from tests.app.test_api import DA, PZ, point_in


def _client(web, user):  # noqa: ANN001, ANN202, F811
    c = web.test_client()
    tok = login(c, user)
    c.environ_base["HTTP_X_CSRFTOKEN"] = tok
    return c


def _csv(city) -> str:
    (a, b), (c, d), (e, f) = point_in(city, PZ, 0), point_in(city, PZ, 8), point_in(city, DA, 0)
    return ("category,id,name,owner,lon,lat,kind,people,contact,item,quantity,unit\n"
            f"team,t-pz-1,潘州一队,T{PZ},{a},{b},防汛抢险队,20,张队长 13812345678,,,\n"
            f"team,t-pz-2,潘州二队,T{PZ},{c},{d},防汛抢险队,20,,,,\n"
            f"team,t-da,东岸队,T{DA},{e},{f},防汛抢险队,20,,,,\n"
            f"material,m-sb,潘州仓库,T{PZ},{a},{b},,,,沙袋,10,个\n")


def test_resources_over_http(web, app_ctx, accounts) -> None:  # noqa: F811
    worker = next(u for u, a in accounts.items() if a["role"] == "grid_worker")
    boss, pz, w = (_client(web, u) for u in ("commander", "panzhou", worker))
    city = app_ctx.city
    demo = boss.get("/api/resources").json["resources"]
    assert demo and all(r["demo"] for r in demo)                   # the demo's, labelled

    # import: the commander's; a bad file names row and field and imports nothing
    text = _csv(city)
    assert pz.post("/api/resources/import", data=text, content_type="text/csv").status_code == 403
    bad = text + f"material,m-x,仓库,T{PZ},{point_in(city, PZ, 0)[0]},{point_in(city, PZ, 0)[1]},,,,沙袋,-3,个\n"
    r = boss.post("/api/resources/import", data=bad, content_type="text/csv")
    assert r.status_code == 400 and r.json["error"] == "invalid_resources"
    assert r.json["problems"] == ["第 6 行 quantity: 应不小于 0 / Input should be greater than or equal to 0"]
    assert len(boss.get("/api/resources").json["resources"]) == len(demo)
    r = boss.post("/api/resources/import", data=text, content_type="text/csv")
    assert r.status_code == 201 and r.json == {"imported": 4, "demo_dropped": len(demo)}

    # the list: statuses, contacts masked for a role without personal data (SEC18)
    teams = {x["id"]: x for x in boss.get("/api/resources?category=team").json["resources"]}
    assert set(teams) == {"t-pz-1", "t-pz-2", "t-da"} and teams["t-pz-1"]["status_name"] == "可用"
    assert teams["t-pz-1"]["contact"] == "张队长 13812345678"
    masked = {x["id"]: x for x in w.get("/api/resources?category=team").json["resources"]}
    assert masked["t-pz-1"]["contact"] == "张队长 138****5678"
    assert boss.get("/api/resources?status=bogus").status_code == 400

    # a case in 潘州: the nearest available team is suggested
    inc = app_ctx.incidents.report(SYSTEM, "0306", *point_in(city, PZ, 1), channel="iot",
                                   idempotency_key="res-api-1")
    got = pz.get(f"/api/resources/suggest/{inc.id}").json
    teams = next(g for g in got["groups"] if g["need"] == "队伍")["resources"]
    assert teams[0]["id"] == "t-pz-1" and teams[0]["may_dispatch"] and not teams[-1]["may_dispatch"]
    assert pz.get("/api/resources/suggest/E1").status_code == 404

    # 一键调度: the town its own team, once per click; not another town's
    body = {"resource": "t-pz-1", "incident": inc.id}
    r1 = pz.post("/api/resources/dispatch", json=body, headers={"Idempotency-Key": "c-1"})
    r2 = pz.post("/api/resources/dispatch", json=body, headers={"Idempotency-Key": "c-1"})
    assert r1.status_code == 201 and r2.json["id"] == r1.json["id"]
    aid = r1.json["id"]
    assert pz.post("/api/resources/dispatch", json=body).status_code == 409      # committed
    r = pz.post("/api/resources/dispatch", json={"resource": "t-da", "incident": inc.id})
    assert r.status_code == 403
    r = pz.post("/api/resources/dispatch", json={"resource": "m-sb", "incident": inc.id, "quantity": 11})
    assert r.status_code == 409 and "库存不足" in r.json["reason"]

    # the steps; the phone's position; the map's status; release
    for step in ("acknowledged", "en_route"):
        assert pz.post(f"/api/resources/assignments/{aid}/{step}", json={}).json["state"] == step
    assert pz.post(f"/api/resources/assignments/{aid}/acknowledged", json={}).status_code == 409
    assert pz.post(f"/api/resources/assignments/{aid}/fly", json={}).status_code == 404
    lon, lat = point_in(city, PZ, 1)
    assert pz.post(f"/api/resources/assignments/{aid}/position", json={"lon": lon, "lat": lat}
                   ).json["pos_lon"] == lon
    assert pz.post(f"/api/resources/assignments/{aid}/position", json={"lon": "x"}).status_code == 400
    frame = app_ctx.resource_register.frame()
    row = frame.set_index("id").loc["t-pz-1"]
    assert (row["status"], row["lon"]) == ("en_route", lon)
    layer = resources.resources_layer(frame)            # the map: the disc's centre says 在途
    core = dict(zip(layer.traces[0]["customdata"], layer.traces[1]["marker"]["color"], strict=True))
    assert core["t-pz-1"] == resources.STATUS_CORES["en_route"]
    assert core["t-da"] == resources.STATUS_CORES["available"]
    assert any(i.label == "在途 1" for i in layer.legend.items)
    one = boss.get(f"/api/resources/assignments/{aid}").json
    assert [e["after"] for e in one["log"]] == ["requested", "acknowledged", "en_route"]
    assert [a["id"] for a in boss.get(f"/api/resources/assignments?incident={inc.id}").json["assignments"]] == [aid]
    assert pz.post(f"/api/resources/assignments/{aid}/release", json={}).json["state"] == "released"
    free = boss.get("/api/resources?status=available&category=team").json["resources"]
    assert {x["id"] for x in free} == {"t-pz-1", "t-pz-2", "t-da"}
    notes = [e["reason"] for e in app_ctx.incidents.timeline(inc.id, SYSTEM) if e["action"] == "note"]
    assert len(notes) == 4 and notes[-1].endswith("已释放")
