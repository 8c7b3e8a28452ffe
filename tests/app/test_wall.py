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
    series = next(t for t in wall.trend_figure(redis_client, now=now).data if t.name == "新事件")
    y = list(series.y)
    assert sum(y) == 4 and y[-1] == 1          # all five were written just now, in the feed
    assert y[-6] == 3                          # the hour that ended 5 h ago (created_ts)


def _charts_request(url_base: str = "/wall/") -> tuple[str, dict]:
    """The Dash request of the wall's charts callback (trend + open incidents by category)."""
    outputs = [{"id": "wall-trend", "property": "figure"}, {"id": "wall-cats", "property": "figure"}]
    return f"{url_base}_dash-update-component", {
        "output": "..wall-trend.figure...wall-cats.figure..", "outputs": outputs,
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
