"""Issue 19 "What broke": one regression test per finding that had none, each reproducing the
attack against real services (redis-server, the web process served by uvicorn on loopback,
``/events``) and seeing it refused.

One web process and one Redis state for the module (``site``); each test makes its own cases.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import redis
import requests

from app.live.client import Stream
from app.live.client import login as stream_login
from tests.app.authkit import KIOSK, PASSWORD
from tests.app.dashkit import DashPage, response_of
from tests.app.test_api import DA, PZ, point_in


@pytest.fixture(scope="module")
def site(redis_service, demo_city, demo_devices, tmp_path_factory):
    """The web process (uvicorn: Flask + ``/events``) on a free port over a flushed Redis, the
    demo accounts, for the whole module."""
    from app.config import Settings  # noqa: PLC0415
    from app.context import AppContext  # noqa: PLC0415
    from app.live.serve import Background  # noqa: PLC0415
    from app.server import create_server  # noqa: PLC0415
    from app.users import ensure_demo_users  # noqa: PLC0415

    redis.Redis.from_url(redis_service.url).flushall()
    ctx = AppContext(Settings(secret_key="f" * 64, kiosk_token=KIOSK,
                              data_dir=tmp_path_factory.mktemp("findings")), redis_service.url)
    ctx.__dict__["city"] = demo_city
    ctx.__dict__["devices"] = demo_devices
    accounts = {a["user_id"]: a for a in ensure_demo_users(ctx.redis, demo_city, PASSWORD)}
    server = create_server(ctx)
    bg = Background(server, ctx, "127.0.0.1", 0, threads=8, access_log=False).start()
    yield SimpleNamespace(ctx=ctx, accounts=accounts, server=server, bg=bg,
                          base=f"http://127.0.0.1:{bg.port}")
    bg.stop()


def session_of(site, user: str) -> tuple[requests.Session, str]:
    """A browser-like session of ``user`` over HTTP (the kiosk: its token), and its CSRF token."""
    s = requests.Session()
    if site.accounts[user]["role"] == "wall_viewer":
        s.get(f"{site.base}/wall/?kiosk={KIOSK}", timeout=30)
    else:
        s.get(f"{site.base}/login", timeout=30)
        r = s.post(f"{site.base}/login", timeout=30, allow_redirects=False,
                   data={"user": user, "password": PASSWORD,
                         "csrf_token": s.cookies.get("_csrf_token", "")})
        assert r.status_code == 302, r.text[:200]
    return s, s.cookies.get("_csrf_token", "")


class Http:
    """``requests.Session`` with the base URL (DashPage posts paths)."""

    def __init__(self, site, user: str) -> None:
        self.s, self.csrf = session_of(site, user)
        self.base = site.base

    def get(self, path: str, **kw):
        return self.s.get(self.base + path, timeout=30, **kw)

    def post(self, path: str, **kw):
        return self.s.post(self.base + path, timeout=30, **kw)


def _user(site, role: str, center_prefix: str = "") -> str:
    return next(u for u, a in site.accounts.items()
                if a["role"] == role and a["center"].startswith(center_prefix))


# --- the wall is for the hall; other roles get their own scoped map -----------------------------
WALL_RENDER = {"wall-screen.data": {"w": 1920, "h": 1080}, "wall-rotate.n_intervals": 0,
               "wall-url.search": "?theme=overview"}


def _wall_render(page: DashPage):
    return page.call("wall-legend.children", WALL_RENDER, ["wall-screen.data"])


def _wall_tick(page: DashPage, cursor: dict):
    return page.call("wall-delta.data", {"wall-push.data": 1, "wall-poll.n_intervals": 0,
                                         "wall-cursor.data": cursor,
                                         "wall-theme.data": {"code": "overview"}},
                     ["wall-push.data"])


def test_the_wall_shows_the_hall_everything_and_every_other_role_its_own_scope(site):
    """Finding: "the wall's live feed gives every role the id, category and coordinates of every
    incident to aim at". Now the hall (the kiosk, the city's roles) sees every case on the wall;
    a town operator, a department, a grid worker and an admin see only what the policy lets
    them read, in the page's map and ticker, in the live tick's delta and in the charts."""
    svc, city = site.ctx.incidents, site.ctx.city
    from incidents.actor import SYSTEM  # noqa: PLC0415

    own = svc.report(SYSTEM, "0101", *point_in(city, DA, 31), correlate=False).id
    foreign = svc.report(SYSTEM, "0101", *point_in(city, PZ, 31), correlate=False).id
    pages, cursors = {}, {}
    kiosk = _user(site, "wall_viewer")
    for user in ("town", kiosk, "panzhou", "chengguan", _user(site, "grid_worker", f"T{DA}"),
                 "admin"):
        page = pages[user] = DashPage(Http(site, user), "wall", "")
        page.csrf = page.client.csrf
        r = _wall_render(page)
        assert r.status_code == 200, (user, r.status_code, r.text[:300])
        text = r.text
        cursors[user] = response_of(r)["wall-cursor"]["data"]
        hall = user == kiosk
        assert (own in text, foreign in text) == (hall or user == "town",
                                                  hall or user == "panzhou"), user
    # the live tick: what came after the page's cursor, each its own
    cursor, cursor_hall = cursors["town"], cursors[kiosk]
    own2 = svc.report(SYSTEM, "0108", *point_in(city, DA, 32), correlate=False).id
    foreign2 = svc.report(SYSTEM, "0108", *point_in(city, PZ, 32), correlate=False).id
    delta = response_of(_wall_tick(pages["town"], cursor))["wall-delta"]["data"]
    got = {i["id"] for i in delta["incidents"]}
    assert own2 in got and foreign2 not in got
    hall = {i["id"] for i in
            response_of(_wall_tick(pages[kiosk], cursor_hall))["wall-delta"]["data"]["incidents"]}
    assert {own2, foreign2} <= hall
    # a crafted cursor reads nothing and is no 500
    for bad in ({"a": "0-0); DEL", "f": "0-0"}, {"a": "0-0", "f": "0-0", "hres": "x"}, [1, 2], "x"):
        assert _wall_tick(pages["town"], bad).status_code in (200, 204), bad
    # the charts: open incidents by category, the town's own only
    cats = pages["town"].call("wall-cats.figure", {"wall-slow.n_intervals": 1, "wall-ready.data": True,
                                                   "wall-theme.data": {"code": "overview",
                                                                       "screen": {"h": "huge"}}},
                              ["wall-slow.n_intervals"])
    assert cats.status_code == 200
    frame = svc.open_incidents_frame()
    bars = response_of(cats)["wall-cats"]["figure"]["data"][0]["x"]
    assert sum(bars) == int((frame["town_code"] == DA).sum()) < len(frame)


def test_the_wall_refuses_a_role_not_allowed_it_everywhere(site, monkeypatch):
    """A role without the wall in ``ROLE_TABLE`` (simulated: the gate's table without the town
    operator's wall row) is refused the page, every wall callback, and the ``/events`` wall
    channel (403, audited), not only the page; the role's own screens still open."""
    from app import auth  # noqa: PLC0415

    town = Http(site, "town")
    page = DashPage(town, "wall", town.csrf)
    assert _wall_render(page).status_code == 200
    monkeypatch.setitem(auth.SCREEN_ROLES, "wall", auth.SCREEN_ROLES["wall"] - {"town_operator"})
    assert town.get("/wall/", allow_redirects=False).status_code == 403
    assert _wall_render(page).status_code == 403
    assert _wall_tick(page, {"a": "0-0", "f": "0-0"}).status_code == 403
    cookie = stream_login(site.base, "town", PASSWORD)
    s = Stream("127.0.0.1", site.bg.port, cookie, "wall")
    try:
        assert s.status == 403
    finally:
        s.close()
    assert town.get("/console/", allow_redirects=False).status_code == 200


def test_the_wall_stream_tells_each_role_only_its_own_ids(site):
    """``/events?screen=wall`` over real SSE: the kiosk is told of both towns' new cases; the
    town operator of one town only of its own (never the other's id)."""
    svc, city = site.ctx.incidents, site.ctx.city
    from incidents.actor import SYSTEM  # noqa: PLC0415

    town = Stream("127.0.0.1", site.bg.port, stream_login(site.base, "town", PASSWORD), "wall")
    kiosk_s = requests.Session()
    kiosk_s.get(f"{site.base}/wall/?kiosk={KIOSK}", timeout=30)
    kiosk = Stream("127.0.0.1", site.bg.port,
                   "; ".join(f"{k}={v}" for k, v in kiosk_s.cookies.items()), "wall")
    try:
        assert (town.status, kiosk.status) == (200, 200)
        town.next("hello")
        kiosk.next("hello")
        foreign = svc.report(SYSTEM, "0101", *point_in(city, PZ, 33), correlate=False).id
        own = svc.report(SYSTEM, "0101", *point_in(city, DA, 33), correlate=False).id
        seen: set[str] = set()
        while own not in seen:
            ev = town.next("change", timeout=10)
            assert foreign not in json.dumps(ev.data)
            seen |= set(ev.data["ids"])
        heard: set[str] = set()
        while not {own, foreign} <= heard:
            heard |= set(kiosk.next("change", timeout=10).data["ids"])
    finally:
        town.close()
        kiosk.close()


def test_geojson_maps_are_scoped_through_the_policy(site):
    """``/api/geojson/<layer>``: a town's map lists its own cases and devices only, a
    department its line's, the city all; an admin no devices (403)."""
    svc, city = site.ctx.incidents, site.ctx.city
    from incidents.actor import SYSTEM  # noqa: PLC0415

    own = svc.report(SYSTEM, "0101", *point_in(city, DA, 34), correlate=False).id
    foreign = svc.report(SYSTEM, "0101", *point_in(city, PZ, 34), correlate=False).id
    for user, sees in (("town", {own}), ("panzhou", {foreign}), ("ops", {own, foreign})):
        c = Http(site, user)
        ids = {f["id"] for f in c.get("/api/geojson/incidents?view=open").json()["features"]}
        assert ids & {own, foreign} == sees, user
    town = Http(site, "town")
    towns = {f["properties"]["town_code"] for f in town.get("/api/geojson/sensors").json()["features"]}
    assert towns == {DA}
    assert Http(site, "admin").get("/api/geojson/sensors").status_code == 403



# --- staff fetch a photo only within the scope of its case -----------------------------------
def test_a_photo_is_served_only_within_its_cases_scope(site):
    """Finding: "staff fetch any photo regardless of scope". A grid worker's photo of a report in
    潘州: the worker, 潘州's operator and the city read it; another town's operator and a
    department that has nothing to do with the case get 403 (audited); nobody anonymous."""
    from tests.app.test_mobile_api import _jpeg  # noqa: PLC0415

    worker = _user(site, "grid_worker", f"T{PZ}")
    w = Http(site, worker)
    up = w.post("/m/api/photos", data=_jpeg(color=(10, 200, 30)),
                headers={"X-CSRFToken": w.csrf, "Content-Type": "image/jpeg"})
    assert up.status_code == 200, up.text
    lon, lat = point_in(site.ctx.city, PZ, 0)
    rep = w.post("/m/api/reports", json={"category": "0101", "lon": lon, "lat": lat,
                                         "description": "路面破损（照片）", "photos": [up.json()["id"]]},
                 headers={"X-CSRFToken": w.csrf, "Idempotency-Key": "photo-scope-1"})
    assert rep.status_code == 200, rep.text
    url = up.json()["url"]
    for user, status in ((worker, 200), ("panzhou", 200), ("ops", 200), ("town", 403),
                         ("chengguan", 403), (_user(site, "grid_worker", f"T{DA}"), 403)):
        assert Http(site, user).get(url).status_code == status, user
    assert requests.get(site.base + url, timeout=30, allow_redirects=False).status_code in (302, 401)


# --- Plotly hover labels never render markup from a title ---------------------------------------
def test_an_incident_title_is_text_in_the_console_maps_hover(site):
    """Finding: "Plotly hover labels render links from incident titles". A case titled with a
    link and markup: the console map's hover text carries it escaped (``&lt;a``), never as a
    tag Plotly would draw as a link."""
    from incidents.actor import SYSTEM  # noqa: PLC0415

    evil = '<a href="https://evil.example/">点此领取</a><b>x</b>'
    inc = site.ctx.incidents.report(SYSTEM, "0101", *point_in(site.ctx.city, PZ, 35),
                                    title=evil, description=evil, correlate=False)
    pz = Http(site, "panzhou")
    page = DashPage(pz, "console", pz.csrf)
    q = page.call("counts.children", {"feed-last.data": "0", "view.value": "open", "rev.data": 0,
                                      "queue.selected_rows": [], "queue.data": None},
                  ["view.value"])
    rows = response_of(q)["queue"]["data"]
    assert any(r["id"] == inc.id for r in rows)
    fig = page.call("map.figure", {"queue.data": rows, "sel.data": inc.id, "pick.data": None},
                    ["sel.data"])
    assert fig.status_code == 200
    texts = [t for tr in json.dumps(response_of(fig)).split('"text"')[1:] for t in [tr[:4000]]]
    blob = "".join(texts)
    assert inc.id in blob and "&lt;a href" in blob
    assert "<a href" not in blob and "<b>x" not in blob


# --- CAP alerts are bounded -------------------------------------------------------------------
def test_a_huge_cap_alert_is_refused_and_texts_are_bounded(site):
    """Finding: "CAP intake ... text unbounded: two 6 MiB alerts grew one incident to 12.6 MB".
    A 1 MiB alert is refused (413) before parsing and nothing is stored; an alert within the
    bound has its headline and description cut to the product's text bounds."""
    from tests.app.test_api import CAP  # noqa: PLC0415

    ops = Http(site, "ops")
    h = {"X-CSRFToken": ops.csrf, "Content-Type": "application/xml"}
    n0 = site.ctx.redis.zcard("om:inc:all")
    lon, lat = point_in(site.ctx.city, PZ, 5)
    cap_xml = CAP.format(lon=lon, lat=lat)
    big = cap_xml.replace("<description>", "<description>" + "洪" * (1 << 19), 1)
    r = ops.post("/api/cap", data=big.encode(), headers=h)
    assert r.status_code == 413, r.text[:200]
    assert site.ctx.redis.zcard("om:inc:all") == n0
    ok = cap_xml.replace("<description>", "<description>" + "水" * 20000, 1).replace(
        "<identifier>", "<identifier>bounded-", 1)
    r = ops.post("/api/cap", data=ok.encode(), headers=h)
    assert r.status_code in (200, 201), r.text[:200]
    inc = site.ctx.incidents.store.load(r.json()["id"])
    assert len(inc.description) <= 2000 and len(inc.title) <= 200


# --- hostile ids and inputs through the Dash callbacks: 404/400, never 500 ------------------------
@pytest.mark.parametrize("bad", ["om:users:admin", "E1:x", "../x", "E" + "9" * 300, "", "*"])
def test_hostile_ids_through_console_callbacks_never_500(site, bad):
    """Finding: "ids naming other Redis keys give HTTP 500" (fixed at the API's edge): the same
    ids selected in the console (the panel, the map, an action button) answer 4xx or an empty
    panel, never a 500 and never another key's data."""
    ops = Http(site, "commander")
    page = DashPage(ops, "console", ops.csrf)
    r = page.call("map.figure", {"queue.data": [], "sel.data": bad, "pick.data": None}, ["sel.data"])
    assert r.status_code < 500 and "password" not in r.text
    key, clicks = wild_act("note")
    r = page.call("act-msg.children", {key: clicks, "sel.data": bad, "act-reason.value": "x",
                                       "rev.data": 0},
                  ['{"action":"note","type":"act"}.n_clicks'])
    assert r.status_code < 500 and "password" not in r.text


def wild_act(action: str):
    from app.screens.console import BUTTONS  # noqa: PLC0415
    from tests.app.dashkit import wild  # noqa: PLC0415

    return wild({"action": ["ALL"], "type": "act"}, "n_clicks",
                [({"action": a, "type": "act"}, 1 if a == action else None) for a, *_ in BUTTONS])


def test_crafted_form_inputs_never_500(site):
    """The console's forms with values no browser sends (a landmark that is no point, a picked
    location that is no object, an unknown town for 应急模式, absurd hours, a radius that is no
    number): told why or ignored, never a 500; nothing is created."""
    cmd = Http(site, "commander")
    page = DashPage(cmd, "console", cmd.csrf)
    n0 = site.ctx.redis.zcard("om:inc:all")
    calls = [
        ("in:new-landmark.value", {"new-landmark.value": "abc"}, ["new-landmark.value"]),
        ("new-where.children", {"pick.data": {"lon": "x", "lat": None}, "new-landmark.value": None},
         ["pick.data"]),
        ("new-where.children", {"pick.data": None, "new-landmark.value": "1,2,3"},
         ["new-landmark.value"]),
        ("in:new-submit.n_clicks", {"new-submit.n_clicks": 1, "new-desc.value": "x",
                                    "new-category.value": "0101", "pick.data": [1, 2]},
         ["new-submit.n_clicks"]),
        ("in:task-submit.n_clicks", {"task-submit.n_clicks": 1, "task-target.value": "DCG",
                                     "task-title.value": "t", "task-hours.value": "nan",
                                     "pick.data": "x"}, ["task-submit.n_clicks"]),
        ("in:em-on.n_clicks", {"em-on.n_clicks": 1, "em-town.value": "nowhere",
                               "em-minutes.value": 60}, ["em-on.n_clicks"]),
        ("in:em-on.n_clicks", {"em-on.n_clicks": 1, "em-radius.value": "x", "em-minutes.value": 60,
                               "pick.data": {"lon": 110.9, "lat": 21.9}}, ["em-on.n_clicks"]),
        ("in:em-on.n_clicks", {"em-on.n_clicks": 1, "em-minutes.value": 60,
                               "pick.data": {"lon": "x"}}, ["em-on.n_clicks"]),
    ]
    bad = []
    for needle, values, changed in calls:
        r = page.call(needle, values, changed)
        if r.status_code >= 500:
            bad.append((needle, values))
    assert not bad, bad
    assert site.ctx.redis.zcard("om:inc:all") == n0
    assert not site.ctx.incidents.emergency_state()


# --- no Dash shell or version banners to anonymous users (low) ---------------------------------

def test_anonymous_gets_static_files_but_never_the_dash_shell(site):
    """Issue 19 (low): anonymous ``GET /<screen>/assets/`` (and a component-suites folder) used to
    answer 200 with the Dash page shell, its ``_dash-config`` and the libraries' version numbers.
    The gate now lets anonymous requests through only to a path naming a static file (a file
    name with an extension under ``assets/`` or ``_dash-component-suites/``); a folder or any
    other path is the login's (a redirect for a page, 401 for Dash's machine paths)."""
    anon = requests.Session()
    # what a logged-in page loads: real files, served to anyone (the login page needs them too)
    op = Http(site, _user(site, "city_operator"))
    shell = op.get("/console/").text
    suite = next(m for m in re.findall(r'src="(/console/_dash-component-suites/[^"]+)"', shell))
    for path in ("/console/assets/console.css", "/wall/assets/wall.js", suite.split("?")[0]):
        r = anon.get(site.base + path, timeout=30, allow_redirects=False)
        assert r.status_code == 200, (path, r.status_code)
        assert "_dash-config" not in r.text
    # folders and non-file paths: never the shell, never a version banner
    for path in ("/wall/assets/", "/console/assets/", "/console/assets", "/wall/assets/x",
                 "/console/_dash-component-suites/", "/console/_dash-component-suites/dash",
                 "/console/_dash-component-suites/dash/", "/_dash-component-suites/",
                 "/_dash-component-suites/dash", "/wall/assets/../", "/console/assets/a.b/",
                 "/wall/_dash-component-suites/dash/deps/"):
        r = anon.get(site.base + path, timeout=30, allow_redirects=False)
        assert r.status_code in (301, 302, 308, 401, 404), (path, r.status_code)
        if r.status_code in (302, 401):
            assert r.status_code == 401 or "/login" in r.headers["Location"], (path, r.headers)
        body = r.text
        assert "_dash-config" not in body and "dash_version" not in body.lower(), path
        assert not re.search(r"\bv\d+_\d+_\d+", body), (path, body[:200])
