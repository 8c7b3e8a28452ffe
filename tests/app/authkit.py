"""Test helpers for anything behind the login (import the fixtures into a test module:
``from tests.app.authkit import app_ctx, web, accounts, login  # noqa: F401``).

``app_ctx``: an AppContext on the private redis-server with the demo city and a kiosk token;
``accounts``: the demo accounts (password ``PASSWORD``) keyed by user id;
``web``: the Flask server from ``create_server``; ``login(client, user)`` → the CSRF token.
"""

from __future__ import annotations

import pytest

from app.config import Settings
from app.context import AppContext

PASSWORD = "demo-pass-123"
KIOSK = "kiosk-token-for-tests"


@pytest.fixture
def app_ctx(redis_client, redis_service, demo_city, demo_devices, tmp_path) -> AppContext:
    settings = Settings(secret_key="t" * 64, kiosk_token=KIOSK, data_dir=tmp_path)
    ctx = AppContext(settings, redis_service.url)
    ctx.__dict__["city"] = demo_city  # cached_property: reuse the session's city …
    ctx.__dict__["devices"] = demo_devices  # … and its device registry (made once: ~3 s)
    return ctx


@pytest.fixture
def accounts(app_ctx) -> dict[str, dict]:
    from app.users import ensure_demo_users  # noqa: PLC0415

    return {a["user_id"]: a for a in ensure_demo_users(app_ctx.redis, app_ctx.city, PASSWORD)}


@pytest.fixture
def web(app_ctx, accounts):
    from app.server import create_server  # noqa: PLC0415

    server = create_server(app_ctx)
    server.config["TESTING"] = True
    return server


def csrf_of(client) -> str:
    c = client.get_cookie("_csrf_token")
    return c.value if c else ""


def login(client, user: str, password: str = PASSWORD) -> str:
    """Log ``client`` in through the form; returns the session's CSRF token (for X-CSRFToken)."""
    client.get("/login")
    r = client.post("/login", data={"user": user, "password": password,
                                     "csrf_token": csrf_of(client)})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return csrf_of(client)


def client_as(web, user: str):  # noqa: ANN001, ANN201 (Flask, FlaskClient)
    """A test client of ``web`` logged in as ``user``, sending its CSRF token on every request."""
    c = web.test_client()
    c.environ_base["HTTP_X_CSRFTOKEN"] = login(c, user)
    return c
