"""TOTP second factor for privileged roles (SEC11; ``RoleSpec.needs_2fa``), over real HTTP: the
real server in a thread (``e2ekit.live``), ``requests`` as the browser, pyotp as the phone."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import requests
from click.testing import CliRunner

from app import security
from app.auth import CLOCK
from tests.app.authkit import PASSWORD
from tests.app.e2ekit import live  # noqa: F401


@pytest.fixture
def now(web) -> list[float]:
    """The server's clock, held (codes are made for it): ``now[0] += 30`` is the next step."""
    t = [float(int(time.time()))]
    web.config[CLOCK] = lambda: t[0]
    return t


@pytest.fixture
def secret(redis_service, monkeypatch, accounts) -> str:
    """``onemap users totp enable admin``: the secret of the otpauth URI it prints."""
    from app.cli import main

    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    out = CliRunner().invoke(main, ["users", "totp", "enable", "admin"])
    assert out.exit_code == 0, out.output
    uri = next(line for line in out.output.splitlines() if line.startswith("otpauth://"))
    assert "admin" in uri and "issuer=OneMap" in uri
    assert "█" in out.output                      # the QR code to scan, as text
    return pyotp.parse_uri(uri).secret


def _password(base: str, user: str, s: requests.Session | None = None):
    s = s or requests.Session()
    s.get(f"{base}/login", timeout=10)
    r = s.post(f"{base}/login", data={"user": user, "password": PASSWORD, "next": "/ops/",
                                      "csrf_token": s.cookies.get("_csrf_token")},
               allow_redirects=False, timeout=10)
    return s, r


def _code(base: str, s: requests.Session, code: str):
    return s.post(f"{base}/login", data={"code": code, "csrf_token": s.cookies.get("_csrf_token")},
                  allow_redirects=False, timeout=10)


def _events(r, event: str) -> list[dict]:
    return [e for e in security.audit_entries(r, 1000) if e["event"] == event]


def test_enrolled_admin_needs_a_fresh_code(live, app_ctx, secret, now):  # noqa: F811
    totp = pyotp.TOTP(secret)
    s, r = _password(live, "admin")
    assert r.status_code == 200 and 'name="code"' in r.text       # step 2, no session yet
    assert s.get(f"{live}/api/me", timeout=10).status_code == 401
    wrong = f"{(int(totp.at(now[0])) + 1) % 1_000_000:06d}"
    r = _code(live, s, wrong)
    assert r.status_code == 401 and "动态码错误" in r.text
    assert _events(app_ctx.redis, "login_2fa_failed")[0]["user"] == "admin"
    good = totp.at(now[0])
    r = _code(live, s, good)
    assert r.status_code == 302 and r.headers["Location"].endswith("/ops/")
    assert s.get(f"{live}/api/me", timeout=10).json()["user_id"] == "admin"
    assert _events(app_ctx.redis, "login")[0]["reason"] == "totp"
    # the same code again, within its 30 s (a shoulder-surfer, a logged request): refused
    s2, r = _password(live, "admin")
    assert r.status_code == 200
    r = _code(live, s2, good)
    assert r.status_code == 401 and s2.get(f"{live}/api/me", timeout=10).status_code == 401
    now[0] += 30                                             # the next step's code works
    assert _code(live, s2, totp.at(now[0])).status_code == 302


def test_codes_are_throttled_like_passwords(live, secret, now):  # noqa: F811
    """The right password does not reset the counters: no free code guesses with it."""
    s, _ = _password(live, "admin")
    for _ in range(3):
        assert _code(live, s, "000000").status_code in (401,)
    r = _code(live, s, pyotp.TOTP(secret).at(now[0]))        # even the right code waits
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    s, r = _password(live, "admin")
    assert r.status_code == 429


def test_a_privileged_account_without_enrolment(live, app_ctx, accounts, now):  # noqa: F811
    # the demo (require_2fa off): allowed, audited, and the login page says so
    assert "no-2fa-notice" in requests.get(f"{live}/login", timeout=10).text
    _, r = _password(live, "commander")
    assert r.status_code == 302
    assert "without 2FA" in _events(app_ctx.redis, "login")[0]["reason"]
    # production: refused, naming the command that enrols the account
    app_ctx.settings.require_2fa = True
    assert "no-2fa-notice" not in requests.get(f"{live}/login", timeout=10).text
    _, r = _password(live, "commander")
    assert r.status_code == 403
    assert re.search(r"onemap users totp enable commander", r.text)
    _, r = _password(live, "panzhou")                        # not a privileged role
    assert r.status_code == 302
