"""Server-side sessions, revocation, login throttling and the kiosk token (issue 19, SEC4/SEC11).

Real redis-server; time moves through the server's injected clock (``app.auth.CLOCK``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app import security, throttle
from app.auth import CLOCK, SESSION_IDLE_S
from app.live.session import actor_from_cookie
from app.sessions import SessionStore, rotate_kiosk
from tests.app.authkit import KIOSK, PASSWORD, csrf_of, login

T0 = 1_000_000.0


@pytest.fixture
def clock(web) -> list[float]:
    """The web server's clock: ``clock[0] += s`` moves time for sessions and the throttle."""
    now = [T0]
    web.config[CLOCK] = lambda: now[0]
    return now


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(web, cookie: str):
    """A fresh client that presents a captured session cookie (an attacker's browser)."""
    c = web.test_client()
    c.set_cookie("session", cookie)
    return c


def _post_login(c, user: str, password: str, ip: str = "10.0.0.1", **headers):
    c.get("/login", environ_base={"REMOTE_ADDR": ip}, headers=headers)
    return c.post("/login", data={"user": user, "password": password, "csrf_token": csrf_of(c)},
                  environ_base={"REMOTE_ADDR": ip}, headers=headers)


def _audit(r, event: str) -> list[dict]:
    return [e for e in security.audit_entries(r, 1000) if e["event"] == event]


# --- sessions ---------------------------------------------------------------------------------
def test_the_cookie_carries_only_a_random_session_id(web, app_ctx, clock):
    c = web.test_client()
    login(c, "ops")
    with c.session_transaction() as sess:
        sid = sess["_user_id"]
    assert "ops" not in sid and len(sid) >= 40
    assert SessionStore(app_ctx.redis).sessions_of("ops") == [sid]


def test_a_cookie_captured_before_logout_is_refused_after_it(web, app_ctx, clock):
    c = web.test_client()
    tok = login(c, "panzhou")
    stolen = _cookie(c)
    assert _replay(web, stolen).get("/api/me").status_code == 200     # it was a credential …
    assert actor_from_cookie(web, stolen).user_id == "panzhou"        # … for the push stream too
    assert c.post("/logout", headers={"X-CSRFToken": tok}).status_code == 302
    thief = _replay(web, stolen)
    assert thief.get("/api/me").status_code == 401                    # … and is not any more
    r = thief.get("/console/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert actor_from_cookie(web, stolen) is None
    assert SessionStore(app_ctx.redis).sessions_of("panzhou") == []


def test_absolute_lifetime_ends_even_an_active_session(web, app_ctx, clock):
    c = web.test_client()
    login(c, "ops")
    max_s = app_ctx.settings.session_max_s
    while clock[0] + 3600 <= T0 + max_s:          # busy all day: a request every hour
        clock[0] += 3600
        assert c.get("/api/me").status_code == 200
    clock[0] = T0 + max_s + 1
    assert c.get("/api/me").status_code == 401
    assert _audit(app_ctx.redis, "session_expired")[0]["reason"] == "expired"
    login(c, "ops")                                # a new login starts a new lifetime
    assert c.get("/api/me").status_code == 200


def test_admin_revokes_every_session_of_a_user(web, app_ctx, clock):
    phone, desk = web.test_client(), web.test_client()
    login(phone, "town")
    login(desk, "town")
    other = web.test_client()
    login(other, "ops")
    stream_cookie = _cookie(desk)
    ops_tok = csrf_of(other)
    r = other.post("/api/users/town/revoke", headers={"X-CSRFToken": ops_tok})
    assert r.status_code == 403                                        # only an admin
    admin = web.test_client()
    tok = login(admin, "admin")
    assert admin.post("/api/users/ghost/revoke", headers={"X-CSRFToken": tok}).status_code == 404
    r = admin.post("/api/users/town/revoke", headers={"X-CSRFToken": tok})
    assert r.status_code == 200 and r.json == {"user_id": "town", "revoked": 2}
    assert phone.get("/api/me").status_code == 401 and desk.get("/api/me").status_code == 401
    assert actor_from_cookie(web, stream_cookie) is None
    assert other.get("/api/me").status_code == 200                     # others untouched
    e = _audit(app_ctx.redis, "sessions_revoked")[0]
    assert (e["user"], e["target"]) == ("admin", "town")
    login(phone, "town")                                               # the account still works
    assert phone.get("/api/me").status_code == 200


def test_users_revoke_command(web, app_ctx, redis_service, monkeypatch, clock):
    from app.cli import main
    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    c = web.test_client()
    login(c, "shuili")
    r = CliRunner().invoke(main, ["users", "revoke", "shuili"])
    assert r.exit_code == 0 and "revoked 1 session" in r.output, r.output
    assert c.get("/api/me").status_code == 401
    assert CliRunner().invoke(main, ["users", "revoke", "ghost"]).exit_code != 0


def test_disable_deletes_the_session_records(web, app_ctx, clock):
    from app.users import UserStore
    c = web.test_client()
    login(c, "chengguan")
    UserStore(app_ctx.redis).set_disabled("chengguan")
    assert SessionStore(app_ctx.redis).sessions_of("chengguan") == []
    assert c.get("/api/me").status_code == 401


# --- login throttling -------------------------------------------------------------------------
def test_spraying_many_accounts_from_one_address_is_throttled(web, app_ctx, accounts, clock):
    ids = [f"W4409810010{i:02d}" for i in range(40)]             # predictable grid-worker ids
    c = web.test_client()
    codes = [_post_login(c, uid, "Password123", ip="203.0.113.9").status_code for uid in ids]
    assert codes[:throttle.SOURCE.free] == [401] * throttle.SOURCE.free
    assert set(codes[throttle.SOURCE.free:]) == {429}
    assert len(_audit(app_ctx.redis, "login_failed")) == throttle.SOURCE.free  # no more checked
    # a real user at another address is not affected
    assert _post_login(web.test_client(), "ops", PASSWORD, ip="198.51.100.7").status_code == 302


def test_ten_bad_attempts_from_one_address_do_not_lock_the_user_out(web, app_ctx, clock):
    attacker = web.test_client()
    failures = 0
    while failures < 10:
        r = _post_login(attacker, "ops", "wrong-wrong", ip="203.0.113.9")
        if r.status_code == 429:                      # wait as told, then guess again
            clock[0] += int(r.headers["Retry-After"])
            continue
        assert r.status_code == 401
        failures += 1
    assert _post_login(attacker, "ops", PASSWORD, ip="203.0.113.9").status_code == 429
    assert _post_login(web.test_client(), "ops", PASSWORD, ip="198.51.100.7").status_code == 302


def test_growing_delays_and_a_success_resets_the_accounts_delay(web, app_ctx, clock):
    assert [throttle.PAIR.delay(n) for n in range(2, 7)] == [0, 2, 4, 8, 16]
    assert throttle.ACCOUNT.delay(10_000) == throttle.ACCOUNT.cap_s          # never a lockout
    c = web.test_client()
    for i in range(throttle.ACCOUNT.free):                # a botnet: one guess per address
        assert _post_login(c, "ops", "wrong-wrong", ip=f"192.0.2.{i + 1}").status_code == 401
    r = _post_login(c, "ops", PASSWORD, ip="198.51.100.7")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) <= throttle.ACCOUNT.cap_s + 1
    clock[0] += throttle.ACCOUNT.delay(throttle.ACCOUNT.free) + 1
    assert _post_login(c, "ops", PASSWORD, ip="198.51.100.7").status_code == 302
    # the account's count is gone: the next failure is a plain 401, not a wait
    assert _post_login(web.test_client(), "ops", "wrong-wrong", ip="192.0.2.200").status_code == 401
    assert _post_login(web.test_client(), "ops", PASSWORD, ip="192.0.2.201").status_code == 302


@pytest.mark.parametrize("trusted", [0, 1])
def test_trusted_proxies_decide_the_client_address(app_ctx, accounts, trusted):
    """Behind one load balancer every request comes from its address: with
    ``trusted_proxies=1`` the X-Forwarded-For hop is the source, so users are not throttled
    together; with 0 a client-set header is ignored (it cannot dodge the source limit)."""
    from app.server import create_server
    app_ctx.settings.trusted_proxies = trusted
    web = create_server(app_ctx)
    web.config["TESTING"] = True
    web.config[CLOCK] = lambda: T0
    codes = [_post_login(web.test_client(), f"nobody{i}", "wrong-wrong", ip="10.9.9.9",
                         **{"X-Forwarded-For": f"198.51.100.{i + 1}"}).status_code
             for i in range(throttle.SOURCE.free + 5)]
    assert (429 in codes) is (trusted == 0)
    sources = {e["reason"] for e in _audit(app_ctx.redis, "login_failed")}
    assert sources == ({"10.9.9.9"} if trusted == 0 else
                       {f"198.51.100.{i + 1}" for i in range(throttle.SOURCE.free + 5)})


# --- the wall kiosk -----------------------------------------------------------------------------
def test_the_kiosk_token_is_exchanged_for_a_cookie(web, app_ctx, clock):
    c = web.test_client()
    r = c.get(f"/wall/?kiosk={KIOSK}&theme=ecology")
    assert r.status_code == 302 and r.headers["Location"] == "/wall/?theme=ecology"
    assert KIOSK not in r.headers["Location"]
    assert c.get("/api/me").json["role"] == "wall_viewer"
    assert c.get("/wall/").status_code == 200                      # no token needed any more
    clock[0] += SESSION_IDLE_S + 60                                # no idle limit on the wall
    assert c.get("/api/me").status_code == 200
    clock[0] = T0 + app_ctx.settings.kiosk_session_s + 1           # but an absolute one
    assert c.get("/api/me").status_code == 401
    r = c.get("/wall/")                                            # the wall says so (issue 21)
    assert r.status_code == 403 and "大屏链接无效或已过期" in r.get_data(as_text=True)


def test_rotating_the_kiosk_token(web, app_ctx, redis_service, monkeypatch, clock):
    from app.cli import main
    wall = web.test_client()
    wall.get(f"/wall/?kiosk={KIOSK}")
    cookie = _cookie(wall)
    assert actor_from_cookie(web, cookie).role == "wall_viewer"
    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    r = CliRunner().invoke(main, ["users", "kiosk-rotate"])
    assert r.exit_code == 0, r.output
    new = r.output.strip()
    assert new and new != KIOSK
    assert wall.get("/api/me").status_code == 401                  # open kiosk sessions end
    assert actor_from_cookie(web, cookie) is None
    old = web.test_client()
    r = old.get(f"/wall/?kiosk={KIOSK}")                           # the old link is dead
    assert r.status_code == 403 and "大屏链接无效或已过期" in r.text   # the wall says so
    assert old.get("/api/me").status_code == 401
    assert _audit(app_ctx.redis, "kiosk_rejected")
    fresh = web.test_client()
    assert fresh.get(f"/wall/?kiosk={new}").headers["Location"] == "/wall/"
    assert fresh.get("/api/me").json["role"] == "wall_viewer"
    again = rotate_kiosk(app_ctx.redis)                            # and it rotates again
    assert fresh.get("/api/me").status_code == 401
    assert web.test_client().get(f"/wall/?kiosk={new}").status_code == 403
    assert again != new
