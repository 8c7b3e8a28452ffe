"""The HTTP API: intake with idempotency, actions, GeoJSON, Open311, CAP (hostile XML), upper push."""

from __future__ import annotations

import json

from app import keys
from incidents.actor import SYSTEM
from tests.app.authkit import login


def point_in(city, town_code: str, k: int = 0) -> tuple[float, float]:
    """A point inside the k-th grid cell of a town."""
    cells = city.cells[city.cells["town_code"] == town_code].sort_values("code")
    p = cells.geometry.iloc[k].representative_point()
    return float(p.x), float(p.y)


PZ = "440981001"      # 潘州街道
DA = "440981101"      # 东岸镇


def test_hotline_intake_is_idempotent_and_lands_in_the_town_queue(web, app_ctx):
    c = web.test_client()
    tok = login(c, "ops")
    lon, lat = point_in(app_ctx.city, PZ)
    body = {"channel": "12345", "category": "0108", "lon": lon, "lat": lat,
            "description": "市民来电：井盖缺失", "ref": "12345-0001"}
    h = {"X-CSRFToken": tok, "Idempotency-Key": "call-0001"}
    r1 = c.post("/api/incidents", json=body, headers=h)
    assert r1.status_code == 201, r1.json
    r2 = c.post("/api/incidents", json=body, headers=h)
    assert r2.status_code == 200 and r2.json["intake"] == "duplicate"
    assert r2.json["id"] == r1.json["id"] and r1.json["channel"] == "hotline"
    assert r1.json["center"] == f"T{PZ}"
    pz = web.test_client()
    tok_pz = login(pz, "panzhou")
    ids = [i["id"] for i in pz.get("/api/incidents?view=new").json["items"]]
    assert r1.json["id"] in ids
    r = pz.post(f"/api/incidents/{r1.json['id']}/accept", json={}, headers={"X-CSRFToken": tok_pz})
    assert r.status_code == 200 and r.json["state"] == "accepted"
    r = pz.post(f"/api/incidents/{r1.json['id']}/close", json={}, headers={"X-CSRFToken": tok_pz})
    assert r.status_code == 409 and r.json["error"] == "invalid_transition"
    r = pz.post(f"/api/incidents/{r1.json['id']}/void", json={"reason": ""},
                headers={"X-CSRFToken": tok_pz})
    assert r.status_code == 400
    r = pz.post("/api/incidents/E000/accept", json={}, headers={"X-CSRFToken": tok_pz})
    assert r.status_code == 404
    tl = pz.get(f"/api/incidents/{r1.json['id']}/timeline").json["items"]
    assert [e["action"] for e in tl][:2] == ["report", "accept"]


def test_intake_validation_and_rate_limit(web, app_ctx, monkeypatch, limiter_clock):
    from app import security
    monkeypatch.setattr(security, "REPORT_LIMIT", security.RateLimit("report", 3, 60))
    c = web.test_client()
    tok = login(c, "ops")
    lon, lat = point_in(app_ctx.city, PZ)
    h = {"X-CSRFToken": tok}
    assert c.post("/api/incidents", json={"category": "0108"}, headers=h).status_code == 400
    assert c.post("/api/incidents", json={"category": "9999", "lon": lon, "lat": lat},
                  headers=h).status_code == 400
    r = c.post("/api/incidents", json={"category": "0108", "lon": lon, "lat": lat}, headers=h)
    assert r.status_code == 201                          # the 3rd request of the window
    r = c.post("/api/incidents", json={"category": "0108", "lon": lon, "lat": lat}, headers=h)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert int(app_ctx.redis.hget(keys.COUNTERS, "rate_limited")) == 1


def test_geojson_layers_are_scoped(web, app_ctx):
    c = web.test_client()
    login(c, "panzhou")
    towns = c.get("/api/geojson/towns").json
    assert len(towns["features"]) == len(app_ctx.city.towns)
    cells = c.get("/api/geojson/cells").json
    assert cells["features"] and {f["properties"]["town_code"] for f in cells["features"]} == {PZ}
    assert c.get("/api/geojson/nope").status_code == 404
    lon, lat = point_in(app_ctx.city, DA)
    app_ctx.incidents.report(SYSTEM, "0301", lon, lat)
    assert c.get("/api/geojson/incidents").json["features"] == []
    ops = web.test_client()
    login(ops, "ops")
    feats = ops.get("/api/geojson/incidents").json["features"]
    assert len(feats) == 1 and feats[0]["geometry"]["coordinates"] == [lon, lat]


def test_open311_view(web, app_ctx):
    lon, lat = point_in(app_ctx.city, PZ)
    inc = app_ctx.incidents.report(SYSTEM, "0108", lon, lat, description="井盖缺失")
    c = web.test_client()
    login(c, "panzhou")
    services = c.get("/open311/v2/services.json").json
    assert {"service_code": "0108", "service_name": "井盖异常"}.items() <= services[
        [s["service_code"] for s in services].index("0108")].items()
    reqs = c.get("/open311/v2/requests.json").json
    assert [r["service_request_id"] for r in reqs] == [inc.id]
    r = reqs[0]
    assert r["status"] == "open" and r["lat"] == lat and r["long"] == lon
    assert r["agency_responsible"].startswith("潘州街道")
    assert c.get("/open311/v2/requests.json?status=closed").json == []
    other = web.test_client()
    login(other, "town")
    assert other.get("/open311/v2/requests.json").json == []
    assert other.get(f"/open311/v2/requests/{inc.id}.json").status_code == 403


CAP = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>GZQX-2026-0042</identifier><sender>qx@gaozhou.gov.cn</sender>
  <sent>2026-11-22T10:00:00+08:00</sent><status>Actual</status><msgType>Alert</msgType>
  <scope>Public</scope>
  <info><category>Met</category><event>暴雨橙色预警</event><urgency>Immediate</urgency>
    <severity>Severe</severity><certainty>Likely</certainty>
    <headline>高州市气象台发布暴雨橙色预警信号</headline>
    <description>预计未来3小时潘州街道降雨量将达50毫米以上</description>
    <area><areaDesc>潘州街道</areaDesc><circle>{lat},{lon} 2</circle></area></info>
</alert>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""


def test_cap_alert_intake_and_hostile_xml(web, app_ctx):
    c = web.test_client()
    tok = login(c, "ops")
    h = {"X-CSRFToken": tok, "Content-Type": "application/cap+xml"}
    lon, lat = point_in(app_ctx.city, PZ)
    doc = CAP.format(lat=lat, lon=lon).encode()
    r = c.post("/api/cap", data=doc, headers=h)
    assert r.status_code == 201, r.json
    inc = r.json
    assert (inc["channel"], inc["category"], inc["severity"]) == ("external", "0304", "重大")
    assert inc["center"] == "CITY"                       # 重大 → the city center (T3)
    assert c.post("/api/cap", data=doc, headers=h).json["intake"] == "duplicate"
    for hostile in (BILLION_LAUGHS, XXE):
        r = c.post("/api/cap", data=hostile.encode(), headers=h)
        assert r.status_code == 400 and r.json["error"] == "hostile_xml", r.json
        assert "passwd" not in r.get_data(as_text=True)
    r = c.post("/api/cap", data=b"<alert", headers=h)
    assert r.status_code == 400 and r.json["error"] == "malformed_xml"
    r = c.post("/api/cap", data=b"<x/>", headers=h)
    assert r.status_code == 400 and r.json["error"] == "invalid_cap"
    counters = app_ctx.redis.hgetall(keys.COUNTERS)
    assert counters["cap_rejected"] == "4" and counters["cap_rejected_hostile"] == "2"
    r = c.post("/api/cap", data=CAP.format(lat=40.0, lon=116.4).encode(), headers=h)
    assert r.status_code == 422


def test_upper_push(web, app_ctx):
    lon, lat = point_in(app_ctx.city, PZ)
    inc = app_ctx.incidents.report(SYSTEM, "0401", lon, lat, severity="重大", description="火情")
    c = web.test_client()
    tok = login(c, "commander")
    r = c.post(f"/api/upper/push/{inc.id}", headers={"X-CSRFToken": tok})
    assert r.status_code == 200
    items = c.get("/api/upper/pushed").json["items"]
    assert items[0]["id"] == inc.id and items[0]["by"] == "commander"
    assert items[0]["payload"]["admin_code"] == app_ctx.city.admin_code
    pz = web.test_client()
    tok_pz = login(pz, "panzhou")
    assert pz.post(f"/api/upper/push/{inc.id}", headers={"X-CSRFToken": tok_pz}).status_code == 403
    assert len(json.loads(json.dumps(c.get("/api/upper/pushed").json["items"]))) == 1


def test_upload_size_limit(web, app_ctx):
    c = web.test_client()
    tok = login(c, "ops")
    big = b"<" + b"x" * int(app_ctx.settings.max_upload_mb * 1024 * 1024 + 10)
    r = c.post("/api/cap", data=big, headers={"X-CSRFToken": tok, "Content-Type": "application/xml"})
    assert r.status_code == 413 and r.json["error"] == "too_large"
    assert app_ctx.redis.hget(keys.COUNTERS, "upload_rejected") == "1"


def test_open311_post_and_cap_export_round_trip(web, app_ctx):
    from app import cap
    store_tok = __import__("app.users", fromlist=["UserStore"]).UserStore(app_ctx.redis).issue_token("ops")
    c = web.test_client()
    h = {"Authorization": f"Bearer {store_tok}", "Idempotency-Key": "sys-42"}
    lon, lat = point_in(app_ctx.city, PZ, 1)
    form = {"service_code": "0106", "lat": str(lat), "long": str(lon), "description": "违停堵门"}
    r1 = c.post("/open311/v2/requests.json", data=form, headers=h)
    assert r1.status_code == 201, r1.json
    r2 = c.post("/open311/v2/requests.json", data=form, headers=h)
    assert r2.status_code == 200 and r2.json[0]["service_request_id"] == r1.json[0]["service_request_id"]
    inc_id = r1.json[0]["service_request_id"]
    x = c.get(f"/api/incidents/{inc_id}/cap.xml", headers={"Authorization": f"Bearer {store_tok}"})
    assert x.status_code == 200 and x.headers["Content-Type"].startswith("application/cap+xml")
    alert = cap.parse(x.data)                              # our own export parses as CAP 1.2
    assert alert.identifier.endswith(inc_id) and alert.severity == "Minor"
    assert abs(alert.lon - lon) < 1e-5 and abs(alert.lat - lat) < 1e-5
    other = web.test_client()
    login(other, "town")
    assert other.get(f"/api/incidents/{inc_id}/cap.xml").status_code == 403


def test_intake_refusals_read_chinese_first(web, app_ctx):
    c = web.test_client()
    tok = login(c, "ops")
    lon, lat = point_in(app_ctx.city, PZ)
    h = {"X-CSRFToken": tok}
    r = c.post("/api/incidents", json={"channel": "fax", "category": "0108", "lon": lon,
                                       "lat": lat, "description": "来电"}, headers=h)
    assert r.status_code == 400 and r.json["reason"].startswith("渠道 channel 应为 ")
    assert "channel must be one of" in r.json["reason"]
    r = c.post("/api/incidents", json={"channel": "12345", "category": "0108",
                                       "description": "来电"}, headers=h)
    assert r.status_code == 400 and r.json["reason"] == \
        "须提供经纬度 lon、lat（WGS-84，度）(lon and lat (WGS-84 degrees) are required)"
    r = c.post("/api/incidents", data="[1]", content_type="application/json", headers=h)
    assert r.status_code == 400 and r.json["reason"].startswith("请求体应为 JSON 对象")
