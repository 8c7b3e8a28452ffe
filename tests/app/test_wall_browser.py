"""/wall in headless Chromium on the demo city at full size (issue 5).

Every layer renders with no console error and no request to another origin; a simulated alarm
written to om:alarms appears within 2 s (we wait on the DOM); a theme changes the layers; the
kiosk token opens the wall without a login form.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from werkzeug.serving import make_server

from app.config import Settings
from app.context import AppContext
from app.server import create_server
from app.services import free_port
from incidents.actor import Actor
from sensors.keys import ALARMS, DEV_SEEN, DEV_STATE
from tests.fixtures import synthetic

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KIOSK = "kiosk-test-token"
EVENT_WAIT_S = 30.0         # how long to wait for a pushed change before calling it lost; the
                            # delay users feel (issue 5: < 2 s) is measured by bench/live.py, not
                            # asserted here (tests never assert wall-clock times)
SAW_HIGHLIGHT = """
window.__sawHighlight = [];
function saw(ids) {
  (ids || []).forEach(function (c) {
    if (window.__sawHighlight.indexOf(c) < 0) window.__sawHighlight.push(c);
  });
}
// the event: the patch wall.js's apply() returns puts the new id into the highlight trace
var ns = window.dash_clientside.wall, apply = ns.apply;
ns.apply = function (delta, n, fig) {
  var out = apply.apply(this, arguments);
  ((out && out.operations) || []).forEach(function (op) {
    var loc = op.location || [], t = fig && fig.data && fig.data[loc[1]];
    if (op.operation === 'Assign' && loc[0] === 'data' && loc[2] === 'customdata' &&
        loc.length === 3 && t && t.meta === 'highlight') { saw(op.params && op.params.value); }
  });
  return out;
};
// and what the map drew
setInterval(function () {
  var gd = document.querySelector('#wall-map .js-plotly-plot');
  var t = gd && gd.data && gd.data.find(function (t) { return t.meta === 'highlight'; });
  saw(t && t.customdata);
}, 20);
"""
"""Records every id the map's brief highlight was given, from the patch that gives it (the event)
and from the drawn map: with the browser starved (``stress --cpu 2``), the highlight's patch and
its fade 3.5 s later can reach Plotly in one render, never drawn in between."""
OVERVIEW_TRACES = {"risk", "hex_devices", "labels", "sensors:all", "cameras:all", "resources:all",
                   "incidents:city", "incidents:town", "incidents:department", "incidents:overdue",
                   "alarms:core", "alarms:halo", "highlight"}


def _alarm(dev: str, lon: float, lat: float, town: str, ep: str, level: str = "red",
           msg: str = "水位 12.3 m 超过警戒水位 12.0 m") -> dict:
    return {"episode": ep, "event": "raise", "source": "iot", "device_id": dev,
            "device_type": "water_level", "category": "0306", "level": level, "severity": "重大",
            "metric": "level", "value": "12.3", "unit": "m", "threshold": "12.0",
            "lon": f"{lon:.6f}", "lat": f"{lat:.6f}", "cell_code": "", "town_code": town,
            "ts": str(int(time.time() * 1000)), "message": msg}


def seed(ctx: AppContext) -> None:
    """Device states, a few active alarms and open incidents, as the other packages write them."""
    reg = ctx.devices
    r = ctx.redis
    ids = np.concatenate([reg.sensors["id"].to_numpy(), reg.cameras["id"].to_numpy()])
    import pandas as pd  # noqa: PLC0415

    r.hset(DEV_STATE, mapping=synthetic.states_for(pd.Series(ids), seed=7))
    # heard from just now (ingest's last-heard index): the online rates are known, not 统计中
    r.zadd(DEV_SEEN, dict.fromkeys(ids.tolist(), time.time() * 1000))
    s = reg.sensors.iloc[::700]
    for i, row in enumerate(s.itertuples(index=False)):
        r.xadd(ALARMS, _alarm(row.id, row.lon, row.lat, row.town_code, f"seed-{i}",
                              ("blue", "yellow", "orange", "red")[i % 4]))
    cells = ctx.city.cells.iloc[::60]
    for i, c in enumerate(cells.itertuples(index=False)):
        p = c.geometry.representative_point()
        who = Actor(f"w{i}", "grid_worker", f"T{c.town_code}", "网格员", cell=c.code)
        ctx.incidents.report(who, ("0101", "0302", "0401", "1001")[i % 4], p.x, p.y,
                             severity=("一般", "较大", "重大", "一般")[i % 4], description="测试")


@pytest.fixture(scope="module")
def wall_url(redis_service, demo_city_dir, demo_city) -> Iterator[tuple[str, AppContext]]:
    ctx = AppContext(Settings(city_dir=demo_city_dir, kiosk_token=KIOSK), redis_service.url)
    ctx.__dict__["city"] = demo_city
    ctx.redis.flushall()
    seed(ctx)
    server = create_server(ctx)
    port = free_port()
    httpd = make_server("127.0.0.1", port, server, threaded=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{port}", ctx
    httpd.shutdown()
    ctx.redis.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    o = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
              "--window-size=1920,1080", "--disable-background-networking",
              "--disable-component-update"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=o)
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    yield drv
    drv.quit()


def wait_for(drv, script: str, timeout: float, *args):  # noqa: ANN001, ANN201
    """Poll a JS expression until it is truthy (raises TimeoutError with the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = drv.execute_script(script, *args)
        if last:
            return last
        time.sleep(0.05)
    raise TimeoutError(f"{script!r} still {last!r} after {timeout}s")


def open_wall(drv, base: str, query: str = "") -> None:  # noqa: ANN001
    """Load the wall and wait until it is settled: map painted, then the charts drawn (they
    follow the first paint), so that a live measurement does not race the page's own start. The browser's log is drained first: what an earlier test's page logged (a
    callback refused once that test dropped the cookies) is not this page's."""
    drv.get_log("browser")
    drv.get(f"{base}/wall/?kiosk={KIOSK}{query}")
    wait_for(drv, "return document.body.dataset.mapReady === '1'", 60)
    wait_for(drv, "return document.querySelectorAll('#wall-cats .main-svg').length > 0", 30)


METAS = ("var gd=document.querySelector('#wall-map .js-plotly-plot');"
         "return gd && gd.data ? gd.data.map(t => t.meta) : null")


def severe_logs(drv) -> list[dict]:  # noqa: ANN001
    return [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def foreign_requests(drv, base: str) -> list[str]:  # noqa: ANN001
    names = drv.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    origin = urlparse(base).netloc
    return [n for n in names if urlparse(n).netloc not in (origin, "")]


def test_wall_renders_every_layer_offline(browser, wall_url):
    base, ctx = wall_url
    browser.get_log("browser")
    open_wall(browser, base)
    metas = set(wait_for(browser, METAS, 10))
    assert metas >= OVERVIEW_TRACES
    n_layers = browser.execute_script(
        "return document.querySelector('#wall-map .js-plotly-plot').layout.map.layers.length")
    assert n_layers >= 3                      # city fill + outline, town lines
    # town and street names: HTML over the map, every one of them shown (issue 15: the urban
    # core's streets are moved beside their anchor where they crowd, never hidden)
    visible = int(wait_for(browser, "return document.getElementById('wall-labels').dataset.visible", 5))
    assert visible == len(ctx.city.towns) >= 20
    # KPI tiles filled from Redis; the legend says what every colour means
    wait_for(browser, "return document.getElementById('wall-kpi-device_online').innerText.includes('%')", 10)
    assert "事件" in browser.find_element("id", "wall-legend").text
    assert browser.find_element("id", "wall-theme-name").text == "总体态势"
    assert severe_logs(browser) == []
    assert foreign_requests(browser, base) == []


def test_a_new_alarm_appears_within_the_limit(browser, wall_url):
    base, ctx = wall_url
    # pinned: a theme rotation (every ROTATE_S) between the alarm and its tick redraws the map
    # with the alarm in it, as a figure, not a delta: nothing new to highlight (under load)
    open_wall(browser, base, "&theme=overview")
    browser.execute_script(SAW_HIGHLIGHT)
    row = ctx.devices.sensors.iloc[123]
    ctx.redis.hset(DEV_STATE, row["id"], "alarm")
    ctx.redis.xadd(ALARMS, _alarm(row["id"], row["lon"], row["lat"], row["town_code"], "live-ep",
                                  msg="LIVE-测试 水位超警"))
    wait_for(browser, "return document.getElementById('wall-ticker').innerText.includes('LIVE-测试')",
             EVENT_WAIT_S)
    wait_for(browser, "var gd=document.querySelector('#wall-map .js-plotly-plot');"
             "var t=gd.data.find(t => t.meta === 'alarms:core');"
             "return t.customdata.includes('live-ep')", EVENT_WAIT_S)
    # highlighted briefly (seen by the watcher, whenever it faded), and the device recoloured
    wait_for(browser, "return window.__sawHighlight.includes('live-ep')", EVENT_WAIT_S)
    color = browser.execute_script(
        "var gd=document.querySelector('#wall-map .js-plotly-plot');"
        "var t=gd.data.find(t => t.meta === 'sensors:all');"
        "return t.marker.color[t.customdata.indexOf(arguments[0])]", row["id"])
    assert color == "#ff2d2d"
    assert int(browser.find_element("id", "wall-kpi-alarm_red").text) >= 1
    # the tick sent a delta, not the figure
    sizes = browser.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update'))"
        ".map(e => e.encodedBodySize)")
    assert max(sizes[-5:]) < 50_000
    assert severe_logs(browser) == []


TIER_SUM = ("return ['city','town','department'].map(k => parseInt(document.getElementById("
            "'wall-kpi-tier_' + k).innerText)).reduce((a, b) => a + b, 0)")


def test_a_new_incident_appears_and_the_tiles_follow(browser, wall_url):
    base, ctx = wall_url
    open_wall(browser, base)
    before = wait_for(browser, TIER_SUM, 5)
    c = ctx.city.cells.iloc[77]
    p = c.geometry.representative_point()
    who = Actor("wlive", "grid_worker", f"T{c['town_code']}", "网格员", cell=c["code"])
    inc = ctx.incidents.report(who, "0105", p.x, p.y, severity="较大", description="live",
                               correlate=False)
    wait_for(browser, "var gd=document.querySelector('#wall-map .js-plotly-plot');"
             "return gd.data.some(t => (t.meta || '').startsWith('incidents:') &&"
             " t.customdata.includes(arguments[0]))", EVENT_WAIT_S, inc.id)
    wait_for(browser, TIER_SUM.replace("return ", "return (") + ") === arguments[0]", 3, before + 1)
    # every per-point array of the patched trace stays aligned (colour, size, stage opacity)
    lens = browser.execute_script(
        "var gd=document.querySelector('#wall-map .js-plotly-plot');"
        "var t=gd.data.find(t => (t.meta || '').startsWith('incidents:') && t.customdata.includes(arguments[0]));"
        "return [t.lon.length, t.customdata.length, t.marker.color.length, t.marker.size.length,"
        " t.marker.opacity.length]", inc.id)
    assert len(set(lens)) == 1, lens
    owner = Actor("op", "town_operator", inc.center, "镇街值班员")     # the owning center voids it
    ctx.incidents.void(inc.id, owner, reason="测试作废")
    wait_for(browser, TIER_SUM.replace("return ", "return (") + ") === arguments[0]", 3, before)
    assert severe_logs(browser) == []


def test_switching_themes_changes_the_layers(browser, wall_url):
    base, _ctx = wall_url
    open_wall(browser, base, "&theme=ecology")
    eco = set(wait_for(browser, METAS, 10))
    assert browser.find_element("id", "wall-theme-name").text == "生态环境"
    open_wall(browser, base, "&theme=城市管理")
    mgmt = set(wait_for(browser, METAS, 10))
    assert browser.find_element("id", "wall-theme-name").text == "城市管理"
    assert "cameras:all" in mgmt and "cameras:all" not in eco
    assert eco != mgmt
    hidden = browser.execute_script(
        "return [...document.querySelectorAll('.kpi-tile.hidden')].map(e => e.id)")
    assert "wall-tile-alarms_by_level" in hidden      # 城市管理 shows no alarm-level tile
    assert severe_logs(browser) == []


def test_grid_boundaries_theme_draws_cells_and_villages(browser, wall_url):
    base, ctx = wall_url
    open_wall(browser, base, "&theme=community")
    n = browser.execute_script(
        "return document.querySelector('#wall-map .js-plotly-plot').layout.map.layers.length")
    assert n >= 5                              # city fill + outline, cells, villages, towns
    sources = browser.execute_script(
        "var m=document.querySelector('#wall-map .js-plotly-plot')._fullLayout.map._subplot.map;"
        "return Object.keys(m.getStyle().sources).length")
    assert sources >= n
    assert severe_logs(browser) == [] and foreign_requests(browser, base) == []


def test_emergency_mode_banner_follows_the_commander(browser, wall_url):
    base, ctx = wall_url
    open_wall(browser, base)
    assert "on" not in browser.find_element("id", "wall-emergency").get_attribute("class").split()
    p = ctx.city.towns.geometry.iloc[0].representative_point()
    area = {"type": "Point", "coordinates": [p.x, p.y], "radius_m": 3000}
    boss = Actor("c1", "city_commander", "CITY", "指挥长")
    try:
        ctx.incidents.emergency_on(area, time.time() + 3600, boss, reason="防汛Ⅳ级应急响应")
    except ValueError:        # another area shape: a polygon around the town
        ctx.incidents.emergency_on(ctx.city.towns.geometry.iloc[0].__geo_interface__,
                                   time.time() + 3600, boss, reason="防汛Ⅳ级应急响应")
    try:
        wait_for(browser, "return document.getElementById('wall-emergency').className"
                 ".split(' ').includes('on')", 5)
        assert "防汛Ⅳ级应急响应" in browser.find_element("id", "wall-emergency").text
    finally:
        ctx.incidents.emergency_off(boss, reason="解除")
    wait_for(browser, "return !document.getElementById('wall-emergency').className"
             ".split(' ').includes('on')", 5)


def test_the_wall_needs_the_kiosk_token(browser, wall_url):
    base, _ctx = wall_url
    browser.delete_all_cookies()
    browser.get(f"{base}/wall/")
    assert "/login" in browser.current_url


def test_a_town_screen_draws_raw_points_and_fields_of_view(browser, wall_url):
    base, ctx = wall_url
    open_wall(browser, base, "&theme=city_safety&town=潘州街道")
    metas = set(wait_for(browser, METAS, 10))
    assert "hex_devices" not in metas and "cameras:all" in metas      # street level: raw points
    kinds = browser.execute_script(
        "return document.querySelector('#wall-map .js-plotly-plot').layout.map.layers"
        ".map(l => l.type + ':' + (l.source.features || []).length)")
    wedges = [k for k in kinds if k.startswith("fill:") and int(k.split(":")[1]) > 20]
    assert wedges, kinds                                            # camera field-of-view wedges
    assert severe_logs(browser) == [] and foreign_requests(browser, base) == []
