"""Login, sessions, the gate, CSRF, security headers, rate limits, uploads (issue 6; S1, S2)."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from dash import Dash, Input, Output, html
from PIL import Image

from app import keys, security
from app.auth import SCREEN_ROLES, current_actor, deny, may_open
from app.users import UserError, UserStore
from incidents.actor import ROLES
from tests.app.authkit import KIOSK, PASSWORD, csrf_of, login


def _audit(r, event: str) -> list[dict]:
    return [e for e in security.audit_entries(r, 1000) if e["event"] == event]


def test_anonymous_html_goes_to_login_and_machines_get_401(web):
    c = web.test_client()
    r = c.get("/console/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/console/")
    for path in ("/api/me", "/api/incidents", "/console/_dash-layout", "/console/_dash-dependencies"):
        r = c.get(path)
        assert r.status_code == 401 and r.json["error"] == "login_required", path
    assert c.get("/login").status_code == 200
    assert c.get("/healthz").status_code == 200
    assert c.get("/static/login.css").status_code == 200


def test_login_logout_and_wrong_password(web, app_ctx):
    c = web.test_client()
    c.get("/login")
    r = c.post("/login", data={"user": "panzhou", "password": "nope-nope",
                               "csrf_token": csrf_of(c)})
    assert r.status_code == 401
    assert _audit(app_ctx.redis, "login_failed")[0]["user"] == "panzhou"
    assert c.get("/api/me").status_code == 401

    login(c, "panzhou")
    me = c.get("/api/me").json
    assert me["role"] == "town_operator" and me["center"].startswith("T440981001")
    assert "console" in me["screens"] and "ops" not in me["screens"]
    r = c.post("/logout", headers={"X-CSRFToken": csrf_of(c)})
    assert r.status_code == 302
    assert c.get("/api/me").status_code == 401


def test_login_redirects_only_inside_the_site(web):
    c = web.test_client()
    c.get("/login")
    r = c.post("/login", data={"user": "ops", "password": PASSWORD, "csrf_token": csrf_of(c),
                               "next": "//evil.example/x"})
    assert r.headers["Location"] == "/console/"
    c2 = web.test_client()
    c2.get("/login")
    r = c2.post("/login", data={"user": "admin", "password": PASSWORD, "csrf_token": csrf_of(c2),
                                "next": "/analytics/"})
    assert r.headers["Location"] == "/analytics/"


def test_csrf_refused_without_the_session_token(web, app_ctx):
    c = web.test_client()
    c.get("/login")
    r = c.post("/login", data={"user": "ops", "password": PASSWORD})  # no token
    assert r.status_code == 403 and r.json["error"] == "csrf"
    tok = login(c, "ops")
    r = c.post("/logout", headers={"X-CSRFToken": "forged"})
    assert r.status_code == 403 and r.json["error"] == "csrf"
    r = c.post("/console/_dash-update-component", json={})
    assert r.status_code == 403 and r.json["error"] == "csrf"
    assert int(app_ctx.redis.hget(keys.COUNTERS, "csrf_rejected")) == 3
    assert c.get("/api/me").status_code == 200          # still logged in
    assert c.post("/logout", headers={"X-CSRFToken": tok}).status_code == 302


def test_screen_access_by_role(web, app_ctx, accounts):
    expected = {"grid_worker": {"wall", "m"}, "wall_viewer": {"wall", "replay"}, "responder": {"m"},
                "admin": {"wall", "analytics", "ops"},
                "town_operator": {"wall", "console", "analytics", "replay"},
                "dept_operator": {"wall", "console", "analytics"},
                "supervisor": {"wall", "console", "analytics", "replay"},
                "city_operator": {"wall", "console", "m", "analytics", "replay"},
                "city_commander": {"wall", "console", "m", "analytics", "ops", "replay"}}
    from incidents.actor import Actor
    for role in ROLES:
        got = {s for s in SCREEN_ROLES if may_open(Actor("x", role, "CITY"), s)}
        assert got == expected[role], role
    worker = next(u for u, a in accounts.items() if a["role"] == "grid_worker")
    c = web.test_client()
    login(c, worker)
    r = c.get("/console/")
    assert r.status_code == 403
    r = c.get("/console/_dash-layout")
    assert r.status_code == 403 and r.json["error"] == "forbidden"
    denied = _audit(app_ctx.redis, "denied")
    assert len(denied) == 2 and denied[0]["user"] == worker and denied[0]["role"] == "grid_worker"


def test_kiosk_token_opens_only_the_wall(web):
    c = web.test_client()
    wrong = c.get("/wall/?kiosk=wrong")           # an unattended wall: a message, not a form
    assert wrong.status_code == 403 and "大屏链接无效或已过期，请联系管理员" in wrong.text
    assert c.get("/api/me").status_code == 401
    c.get(f"/wall/?kiosk={KIOSK}")
    me = c.get("/api/me").json
    # the wall and its read-only 复盘 (issue 20: /replay/?last=3600&speed=10&play=1 on the wall)
    assert me["role"] == "wall_viewer" and me["screens"] == ["replay", "wall"]
    assert c.get("/console/").status_code == 403
    assert c.get("/api/incidents").status_code == 403   # no incident data for the kiosk


def test_disable_and_reset_end_open_sessions(web, app_ctx):
    store = UserStore(app_ctx.redis)
    c = web.test_client()
    login(c, "chengguan")
    assert c.get("/api/me").status_code == 200
    store.set_disabled("chengguan")
    assert c.get("/api/me").status_code == 401
    c.get("/login")
    r = c.post("/login", data={"user": "chengguan", "password": PASSWORD, "csrf_token": csrf_of(c)})
    assert r.status_code == 401                          # disabled: no login
    store.set_disabled("chengguan", False)
    login(c, "chengguan")
    new_pw = store.reset("chengguan")
    assert c.get("/api/me").status_code == 401
    login(c, "chengguan", new_pw)
    assert c.get("/api/me").status_code == 200


def test_security_headers(web):
    c = web.test_client()
    r = c.get("/login")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    cookie = r.headers.getlist("Set-Cookie")
    assert any(h.startswith("session=") and "HttpOnly" in h for h in cookie)


def test_inline_script_hashes():
    page = b'<script id="a" type="application/javascript">var x = 1;</script><script src="/x.js"></script>'
    assert security.inline_script_hashes(page) == ["'sha256-" + __import__("base64").b64encode(
        __import__("hashlib").sha256(b"var x = 1;").digest()).decode() + "'"]


def test_denied_dash_callback_answers_403_and_audits(web, app_ctx):
    """deny() inside a Dash callback: HTTP 403, no data, an audit entry."""
    probe = Dash(__name__, server=web, url_base_pathname="/probe/")
    probe.layout = html.Div([html.Button(id="b"), html.Div(id="o")])

    @probe.callback(Output("o", "children"), Input("b", "n_clicks"))
    def secret(n):
        actor = current_actor()
        if actor is None or actor.role != "city_commander":
            deny("commander only", target="probe")
        return "secret"

    c = web.test_client()
    tok = login(c, "panzhou")
    body = {"output": "o.children", "outputs": {"id": "o", "property": "children"},
            "inputs": [{"id": "b", "property": "n_clicks", "value": 1}], "changedPropIds": ["b.n_clicks"],
            "state": []}
    r = c.post("/probe/_dash-update-component", json=body, headers={"X-CSRFToken": tok})
    assert r.status_code == 403 and "secret" not in r.get_data(as_text=True)
    e = _audit(app_ctx.redis, "denied")[0]
    assert (e["user"], e["target"], e["reason"]) == ("panzhou", "probe", "commander only")
    c2 = web.test_client()
    tok2 = login(c2, "commander")
    r = c2.post("/probe/_dash-update-component", json=body, headers={"X-CSRFToken": tok2})
    assert r.status_code == 200 and "secret" in r.get_data(as_text=True)


def test_login_rate_limit(web, app_ctx):
    """Repeated wrong passwords are throttled (app.throttle: growing delays, issue 19): after
    the free attempts the next one is refused 429 + Retry-After before the password is checked,
    even the right password, until the delay has run (injected clock, no sleeping)."""
    from app import throttle
    from app.auth import CLOCK
    now = [1_000_000.0]
    web.config[CLOCK] = lambda: now[0]
    c = web.test_client()
    c.get("/login")
    codes = [c.post("/login", data={"user": "ops", "password": "wrong-wrong",
                                    "csrf_token": csrf_of(c)}).status_code
             for _ in range(throttle.PAIR.free + 1)]
    assert codes[:-1] == [401] * throttle.PAIR.free and codes[-1] == 429
    r = c.post("/login", data={"user": "ops", "password": PASSWORD, "csrf_token": csrf_of(c)})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= throttle.PAIR.base_s
    now[0] += throttle.PAIR.delay(throttle.PAIR.free) + 1
    r = c.post("/login", data={"user": "ops", "password": PASSWORD, "csrf_token": csrf_of(c)})
    assert r.status_code == 302


def test_fixed_window_rate_limit(redis_client):
    rule = security.RateLimit("t", 3, 60)
    got = [security.hit(redis_client, rule, "u1", now=120.0)[0] for _ in range(4)]
    assert got == [True, True, True, False]
    assert security.hit(redis_client, rule, "u2", now=120.0)[0]          # per caller
    assert security.hit(redis_client, rule, "u1", now=180.0)[0]          # next window


def _img(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, fmt)
    return buf.getvalue()


def test_upload_type_checked_by_content():
    assert security.check_image(_img("JPEG")) == "JPEG"
    assert security.check_image(_img("PNG")) == "PNG"
    for bad in (_img("GIF"), b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"\xff\xd8\xff garbage"):
        with pytest.raises(security.UploadRejected):
            security.check_image(bad)
    with pytest.raises(security.UploadRejected):
        security.check_images([_img("PNG")] * (security.MAX_FILES + 1))


def test_user_store_rules(redis_client):
    store = UserStore(redis_client)
    u = store.add("a1", "password-1", "town_operator", "T440981001", "甲")
    assert u.actor.role == "town_operator" and u.actor.center == "T440981001"
    with pytest.raises(UserError):
        store.add("a1", "password-1", "town_operator", "T440981001")
    for role, center, cell in (("town_operator", "CITY", None), ("dept_operator", "T1", None),
                               ("grid_worker", "T1", None), ("admin", "T1", None),
                               ("nobody", "CITY", None)):
        with pytest.raises(UserError):
            store.add("b", "password-1", role, center, cell=cell)
    with pytest.raises(UserError):
        store.add("c", "short", "admin", "CITY")
    assert store.verify("a1", "password-1") is not None
    assert store.verify("a1", "wrong-password") is None
    assert store.verify("ghost", "password-1") is None
    h = redis_client.hgetall(keys.user("a1"))
    assert h["pw"].startswith("$argon2") and "password-1" not in str(h)
    assert [x.user_id for x in store.list()] == ["a1"]


def test_users_cli(redis_service, redis_client, monkeypatch):
    from app.cli import main
    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    run = CliRunner().invoke
    r = run(main, ["users", "add", "zz", "--role", "city_operator", "--password", "pass-word-1"])
    assert r.exit_code == 0, r.output
    r = run(main, ["users", "list"])
    assert "zz" in r.output and "city_operator" in r.output
    assert run(main, ["users", "disable", "zz"]).exit_code == 0
    assert "(disabled)" in run(main, ["users", "list"]).output
    assert UserStore(redis_client).verify("zz", "pass-word-1") is None
    r = run(main, ["users", "reset", "zz"])
    assert r.exit_code == 0 and "new password" in r.output
    assert run(main, ["users", "disable", "ghost"]).exit_code != 0


def test_api_bearer_tokens_for_other_systems(web, app_ctx):
    from tests.app.test_api import PZ, point_in
    store = UserStore(app_ctx.redis)
    tok = store.issue_token("ops")
    c = web.test_client()                                   # no cookie, no CSRF token
    h = {"Authorization": f"Bearer {tok}"}
    r = c.get("/api/me", headers=h)
    assert r.status_code == 200 and r.json["user_id"] == "ops"
    assert "Set-Cookie" not in r.headers
    lon, lat = point_in(app_ctx.city, PZ)
    r = c.post("/api/incidents", json={"category": "0108", "lon": lon, "lat": lat, "channel": "api"},
               headers=h)
    assert r.status_code == 201 and r.json["reporter"] == "ops"
    assert c.get("/api/me", headers={"Authorization": "Bearer om_forged"}).status_code == 401
    assert c.get("/console/", headers=h).status_code == 401   # tokens open the API only
    store.set_disabled("ops")
    assert c.get("/api/me", headers=h).status_code == 401
    assert app_ctx.redis.get(keys.api_token(__import__("hashlib").sha256(tok.encode()).hexdigest())) is None
    assert _audit(app_ctx.redis, "token_rejected")


def test_idle_session_expires_and_account_changes_are_audited(web, app_ctx):
    from app import auth
    now = [1_000_000.0]
    web.config[auth.CLOCK] = lambda: now[0]
    c = web.test_client()
    login(c, "town")
    assert c.get("/api/me").status_code == 200
    now[0] += auth.SESSION_IDLE_S + 5
    assert c.get("/api/me").status_code == 401
    assert _audit(app_ctx.redis, "session_expired")[0]["user"] == "town"
    store = UserStore(app_ctx.redis)
    store.set_disabled("town")
    store.reset("shuili")
    events = [e["event"] for e in security.audit_entries(app_ctx.redis, 1000)]
    assert {"user_disabled", "password_reset", "user_replaced"} <= set(events)


def test_site_root_opens_each_roles_own_screen(web, accounts):
    """``/`` lands each role on its screen (a grid worker or an admin never on a 403 page);
    an anonymous visitor logs in first and then lands on the right screen too."""
    c = web.test_client()
    r = c.get("/")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/"
    want = {"grid_worker": "/m/", "responder": "/m/", "admin": "/ops/", "supervisor": "/analytics/",
            "wall_viewer": "/wall/",
            "city_commander": "/console/", "city_operator": "/console/",
            "town_operator": "/console/", "dept_operator": "/console/"}
    seen = set()
    for user, a in accounts.items():
        if a["role"] in seen:
            continue
        seen.add(a["role"])
        c = web.test_client()
        c.get("/login")
        r = c.post("/login", data={"user": user, "password": PASSWORD, "next": "/",
                                   "csrf_token": csrf_of(c)})
        assert r.headers["Location"] == want[a["role"]], (user, a["role"])
        r = c.get("/")
        assert r.status_code == 302 and r.headers["Location"] == want[a["role"]]
        assert c.get(want[a["role"]]).status_code == 200, user      # and may open it
    assert seen == set(want)
    kiosk = web.test_client()
    kiosk.get(f"/wall/?kiosk={KIOSK}")
    assert kiosk.get("/").headers["Location"] == "/wall/"


def test_a_successful_login_resets_the_failures(web, app_ctx):
    """The login limit is against guessing: a clerk who logs in (and out) all day is never
    locked out, while failures still count up to the limit."""
    from app import throttle
    from app.auth import CLOCK
    web.config[CLOCK] = lambda: 1_000_000.0
    c = web.test_client()
    c.get("/login")
    for _ in range(throttle.PAIR.free - 1):
        assert c.post("/login", data={"user": "ops", "password": "wrong-wrong",
                                      "csrf_token": csrf_of(c)}).status_code == 401
    for _ in range(throttle.PAIR.free + 2):
        c.get("/logout")
        c.get("/login")
        assert c.post("/login", data={"user": "ops", "password": PASSWORD,
                                      "csrf_token": csrf_of(c)}).status_code == 302


def test_demo_accounts_keep_their_passwords_across_restarts(app_ctx):
    """Restarting `onemap demo` logs nobody out: an account whose remembered password still
    works keeps it; one reset meanwhile (or never printed) gets a new random one."""
    from app.users import demo_accounts, ensure_demo_users

    first = {a["user_id"]: a["password"] for a in ensure_demo_users(app_ctx.redis, app_ctx.city)}
    town = next(a for a in demo_accounts(app_ctx.city) if a["user_id"] == "town")
    UserStore(app_ctx.redis).add("town", "changed-by-admin", "town_operator", town["center"],
                                 town["name"], replace=True)
    again = {a["user_id"]: a["password"] for a in
             ensure_demo_users(app_ctx.redis, app_ctx.city, remembered=first)}
    assert {u: p for u, p in again.items() if u != "town"} == {u: p for u, p in first.items() if u != "town"}
    assert again["town"] not in (first["town"], "changed-by-admin")
    assert UserStore(app_ctx.redis).verify("town", again["town"]) is not None


def test_demo_kiosk_token_is_kept_across_restarts(tmp_path, monkeypatch):
    """Restarting `onemap demo` keeps the wall's kiosk link (a wall screen is not sent to the
    login page): the token is kept in the data dir, owner-only; ONEMAP_KIOSK_TOKEN wins."""
    import stat

    from app.commands.demo import kiosk_token
    from app.config import Settings

    monkeypatch.delenv("ONEMAP_KIOSK_TOKEN", raising=False)
    first = kiosk_token(Settings(data_dir=tmp_path))
    saved = tmp_path / "kiosk-token"
    assert len(first) >= 16 and saved.read_text() == first
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert kiosk_token(Settings(data_dir=tmp_path)) == first            # the next start
    assert kiosk_token(Settings(data_dir=tmp_path / "other")) != first  # another data set
    monkeypatch.setenv("ONEMAP_KIOSK_TOKEN", "set-by-the-operator-123")
    assert kiosk_token(Settings(data_dir=tmp_path)) == "set-by-the-operator-123"
    assert saved.read_text() == first                                   # not overwritten


def test_demo_has_an_emergency_management_account(app_ctx, accounts):
    """追加派遣 to 应急 (DYJ) can be worked with the printed demo accounts."""
    assert "DYJ" in app_ctx.city.centers
    yj = accounts["yingji"]
    assert (yj["role"], yj["center"], yj["name"]) == ("dept_operator", "DYJ", "应急值班员")
    assert UserStore(app_ctx.redis).verify("yingji", PASSWORD) is not None


def test_password_rules(redis_client, redis_service, monkeypatch):
    """口令规则 (issue 19, SEC11): at least 10 characters, not the user id, none of the last 5;
    the same for `onemap users add/reset`, refused with a message and no traceback."""
    from app.cli import main
    from app.users import MIN_PASSWORD, PASSWORD_HISTORY
    store = UserStore(redis_client)
    for bad in ("x" * (MIN_PASSWORD - 1), "LongUserId01", " longuserid01 "):
        with pytest.raises(UserError):
            store.add("longuserid01", bad, "city_operator", "CITY")
    store.add("longuserid01", "first-pass-0", "city_operator", "CITY")
    used = ["first-pass-0"] + [f"next-pass-{i}" for i in range(1, PASSWORD_HISTORY + 1)]
    for pw in used[1:]:
        store.reset("longuserid01", pw)
    for pw in used[-PASSWORD_HISTORY:]:                      # the last five: refused
        with pytest.raises(UserError, match="last 5"):
            store.reset("longuserid01", pw)
    store.reset("longuserid01", used[0])                     # the sixth back: allowed again
    assert store.verify("longuserid01", used[0]) is not None
    with pytest.raises(UserError):
        store.reset("longuserid01", "short")
    assert len(store.reset("longuserid01")) >= MIN_PASSWORD  # a generated one fits the rules

    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    run = CliRunner().invoke
    r = run(main, ["users", "add", "yy", "--role", "city_operator", "--password", "short-pw"])
    assert r.exit_code != 0 and "至少" in r.output and "Traceback" not in r.output
    assert run(main, ["users", "add", "yy", "--role", "city_operator",
                      "--password", "good-pass-1"]).exit_code == 0
    r = run(main, ["users", "reset", "yy", "--password", "good-pass-1"])
    assert r.exit_code != 0 and "last 5" in r.output
