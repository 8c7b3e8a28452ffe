"""The Flask server that carries every screen: one Dash app per screen, mounted side by side.

``create_server(ctx)`` installs auth (login, sessions, CSRF, scope: ``app.auth``), the HTTP API
(``app.api``, ``app.mobile_api``), static assets, then mounts each screen module in
``app/screens/`` that defines ``mount(server, ctx)``. Workers hold no state: everything lives in
Redis.

Fail closed (issue 14): the gate, the API and the phone API are plain imports. If ``app.auth``
is missing, renamed or broken, importing this module raises and the process does not start; it
never serves the screens without the login gate.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

from flask import Flask, redirect, send_from_directory

import app.auth as auth  # the gate: if it cannot be imported, neither can the server
from app import citizen, cti, hotline, http, keys, mobile_api, screens, secret_files
from app.config import ASSETS_DIR
from app.context import AppContext, scope_requests

SCREEN_ORDER = ("wall", "console", "mobile", "analytics", "ops")


def shared_secret_key(ctx: AppContext) -> str:
    """The session key every web worker of this deployment shares: from the environment, a file
    or the data dir (``app.secret_files``), never from Redis (issue 19: a Redis reader forged a
    commander's session with it). A key an older version left in Redis is deleted: it was
    readable, so sessions it signed end."""
    if ctx.redis.delete(keys.WEB_SECRET):
        logging.getLogger("onemap").warning("removed the old session key from Redis "
                                            "(om:web:secret); users log in again")
    return secret_files.session_key(ctx.settings)


def create_server(ctx: AppContext) -> Flask:
    """Build the WSGI app for the given context."""
    server = Flask("onemap", static_folder=None)
    server.config.update(SECRET_KEY=shared_secret_key(ctx),
                         MAX_CONTENT_LENGTH=int(ctx.settings.max_upload_mb * 1024 * 1024),
                         SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    server.extensions["onemap"] = ctx

    auth.install(server, ctx)          # first: the gate stands before any route is served
    scope_requests(server, ctx)        # several cities: each request its user's (issue 20)
    http.install(server)
    server.register_blueprint(mobile_api.bp)
    for bp in (cti.bp, hotline.bp, citizen.bp):   # 12345: CTI hook, 回访, 好差评 page (issue 24)
        server.register_blueprint(bp)
    from app.reports import bp as reports_bp  # noqa: PLC0415 (leaders' reports, issue 24)

    server.register_blueprint(reports_bp)

    @server.get("/static/<path:path>")
    def static_asset(path: str):  # served by OneMap itself: offline (non-negotiable 3)
        return send_from_directory(ASSETS_DIR / "static", path, max_age=3600)

    @server.get("/healthz")
    def healthz():
        ctx.redis.ping()
        return {"ok": True}

    @server.get("/")
    def index():
        """The site root opens the caller's own screen (by role, ``app.auth.HOME``); the gate
        sends an anonymous visitor to /login first, and the login back here."""
        return redirect(auth.home_for(auth.current_actor()))

    names = {m.name for m in pkgutil.iter_modules(screens.__path__)}
    for name in [n for n in SCREEN_ORDER if n in names] + sorted(names - set(SCREEN_ORDER)):
        module = importlib.import_module(f"app.screens.{name}")
        if hasattr(module, "mount"):
            module.mount(server, ctx)
    return server
