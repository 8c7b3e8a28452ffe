"""Headers (issue 19): Permissions-Policy everywhere; HSTS and ``Secure`` cookies over TLS
(directly, or behind ``trusted_proxies`` reverse proxies); no caching of /api/*; POST-only
logout (GET changes nothing); CSV cells escaped against formulas."""

from __future__ import annotations

import pytest

from app import security
from app.config import Settings
from app.context import AppContext
from tests.app.authkit import KIOSK, accounts, app_ctx, csrf_of, login, web  # noqa: F401
from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401


def _set_cookies(resp) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in resp.headers.getlist("Set-Cookie")}


def test_permissions_policy_and_no_hsts_over_plain_http(web):  # noqa: F811
    c = web.test_client()
    r = c.get("/login")
    assert r.headers["Permissions-Policy"] == security.PERMISSIONS_POLICY
    assert "camera=()" in r.headers["Permissions-Policy"]
    assert "geolocation=(self)" in r.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in r.headers
    login(c, "commander")
    r = c.get("/api/me")
    assert r.headers["Permissions-Policy"] == security.PERMISSIONS_POLICY
    assert "Strict-Transport-Security" not in r.headers


def test_tls_sends_hsts_and_secure_cookies(web):  # noqa: F811
    c = web.test_client()
    r = c.get("/login", base_url="https://onemap.example")
    assert r.headers["Strict-Transport-Security"] == security.HSTS
    cookies = _set_cookies(r)
    assert "Secure" in cookies["_csrf_token"] and "Secure" in cookies["session"]
    plain = web.test_client().get("/login")
    assert all("Secure" not in v for v in _set_cookies(plain).values())


@pytest.fixture
def proxied(app_ctx, redis_service, tmp_path):  # noqa: F811
    from app.server import create_server

    def make(trusted: int):
        ctx = AppContext(Settings(secret_key="t" * 64, kiosk_token=KIOSK, data_dir=tmp_path,
                                  trusted_proxies=trusted), redis_service.url)
        ctx.__dict__.update(city=app_ctx.city, devices=app_ctx.devices)
        server = create_server(ctx)
        server.config["TESTING"] = True
        return server.test_client()
    return make


def test_tls_behind_a_trusted_proxy_only(proxied, accounts):  # noqa: F811
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"}
    r = proxied(1).get("/login", headers=fwd)
    assert r.headers["Strict-Transport-Security"] == security.HSTS
    assert "Secure" in _set_cookies(r)["session"]
    r = proxied(0).get("/login", headers=fwd)   # nobody trusted: a client's header is ignored
    assert "Strict-Transport-Security" not in r.headers
    assert "Secure" not in _set_cookies(r)["session"]


def test_api_responses_are_never_cached(web):  # noqa: F811
    c = web.test_client()
    assert c.get("/api/me").headers["Cache-Control"] == "no-store"   # 401 too
    login(c, "commander")
    assert c.get("/api/me").headers["Cache-Control"] == "no-store"
    assert c.get("/api/incidents/none-such").headers["Cache-Control"] == "no-store"


def test_logout_is_post_only(web):  # noqa: F811
    c = web.test_client()
    tok = login(c, "commander")
    r = c.get("/logout")                      # an old link, a prefetch, an <img src=/logout>
    assert r.status_code == 200 and 'method="post" action="/logout"' in r.get_data(as_text=True)
    assert f'value="{tok}"' in r.get_data(as_text=True)
    assert c.get("/api/me").status_code == 200       # still logged in: GET changed nothing
    assert c.post("/logout").status_code == 403      # no CSRF token: a cross-site logout
    assert c.get("/api/me").status_code == 200
    r = c.post("/logout", data={"csrf_token": tok})  # the form's own submit
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert c.get("/api/me").status_code == 401
    assert c.get("/logout").status_code == 302       # logged out: GET just goes to the login


@pytest.mark.parametrize(("cell", "out"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=x", "'\t=x"), ("\r=x", "'\r=x"), ("违停", "违停"), ("a=b", "a=b"), ("", ""),
    (-2.5, -2.5), (3, 3), (None, None)])
def test_csv_cell(cell, out):
    assert security.csv_cell(cell) == out


@pytest.mark.browser
def test_a_screens_logout_link_logs_out_through_the_form(live):  # noqa: F811
    """The screens' 退出 links are plain GETs: in Chromium (under the CSP) they open the form,
    and its button ends the session."""
    from selenium.webdriver.common.by import By

    base = live
    d = chrome(1100, 800)
    try:
        browser_login(d, base, "admin", "/ops/")
        link = wait(lambda: d.find_element(By.LINK_TEXT, "退出"), 60, "the 退出 link")
        link.click()
        button = wait(lambda: d.find_element(By.ID, "logout-button"), 30, "the logout form")
        d.get(f"{base}/api/me")
        assert '"user_id":"admin"' in d.page_source.replace(" ", "")   # GET changed nothing
        d.back()
        button = wait(lambda: d.find_element(By.ID, "logout-button"), 30, "the logout form")
        button.click()
        wait(lambda: "/login" in d.current_url, 30, "the login page")
        d.get(f"{base}/api/me")
        assert "login_required" in d.page_source
    finally:
        d.quit()
