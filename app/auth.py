"""Login, sessions and the gate in front of every screen and endpoint (S1, S2 分级接入/分级控制).

``install(server, ctx)`` (called by ``app.server.create_server``) adds:

- flask-login sessions; ``/login`` (form) and ``/logout``;
- a ``before_request`` gate: public paths pass; anonymous HTML requests go to ``/login?next=``;
  anonymous ``/api/*`` and Dash callback requests get 401 JSON; a logged-in user reaches only
  the screens of its role (``SCREEN_ROLES``), else 403 + a security-audit entry;
- the wall kiosk token: ``/wall/?kiosk=<settings.kiosk_token>`` opens a wall_viewer session;
- CSRF: every POST/PUT/PATCH/DELETE carries the session token (header ``X-CSRFToken``, which
  Dash's renderer sends from the ``_csrf_token`` cookie, or the form field ``csrf_token``);
- other systems (weather bureau CAP, provincial platform) call the API with
  ``Authorization: Bearer <token>`` (``onemap users token USER``): no cookie, so no CSRF token;
- security headers on every response (``app.security.apply_security_headers``).

Inside any Flask view or Dash callback: ``current_actor()`` is the caller's ``Actor`` (or None);
``require_actor()`` aborts 401 without one; ``deny(...)`` answers 403 and audits;
``with guarded(target):`` maps the incident service's errors to 403/404/409 (403s audited).
"""

from __future__ import annotations

import hmac
import html
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from app import security
from app.users import User, UserStore
from incidents import errors, roles
from incidents.actor import ROLE_NAMES, Actor

SCREEN_ROLES: dict[str, frozenset[str]] = roles.screen_roles()
"""Screen (first path segment) → the roles that may open it (``incidents.roles.ROLE_TABLE``).
/wall: everyone incl. the kiosk; /m: grid workers."""

API_ROLES = roles.API_ROLES
"""Roles that may call /api/* and /open311/* at all (scope is then checked per incident)."""

HOME: dict[str, str] = {r: roles.home(r) for r in roles.ROLES}
"""Where a role lands after login and on the site root ``/`` (``RoleSpec.home``): the grid
worker's phone page, the administrator's ops page, the wall, the assessors' (监督核查员, 考核)
analytics; the city and sub-center operators' console (S2 分级控制)."""

SESSION_IDLE_S = 8 * 3600
"""A login session ends after this long without a request (s): shared office PCs. Demo default;
the wall kiosk is exempt (it runs all day)."""
_SEEN = "_seen"

PUBLIC_PREFIXES = ("/login", "/logout", "/static/", "/healthz", "/_dash-component-suites/",
                   "/favicon.ico", "/_favicon.ico")
_PUBLIC_IN_SCREEN = re.compile(r"^/[^/]+/(_dash-component-suites/|assets/|_favicon\.ico)")
_KIOSK_ID = "~kiosk"


class SessionUser(UserMixin):
    """What flask-login keeps: a user (or the wall kiosk) and its session id ``user:epoch``."""

    def __init__(self, actor: Actor, session_id: str) -> None:
        self.actor = actor
        self._sid = session_id

    def get_id(self) -> str:
        return self._sid


def _ctx():
    return current_app.extensions["onemap"]


def _store() -> UserStore:
    return UserStore(_ctx().redis)


def _session_user(u: User) -> SessionUser:
    return SessionUser(u.actor, f"{u.user_id}:{u.epoch}")


def _kiosk_user(token: str) -> SessionUser:
    tag = security.hashlib.sha256(token.encode()).hexdigest()[:16]
    return SessionUser(Actor(_KIOSK_ID, "wall_viewer", "CITY", "大屏"), f"{_KIOSK_ID}:{tag}")


def current_actor() -> Actor | None:
    """The caller (in a Flask view or a Dash callback), or None when not logged in.

    Outside a request (e.g. Dash building a layout at import) flask-login's ``current_user`` is
    None by itself; an error while loading the session's user (Redis away, a bug) propagates:
    it is not an anonymous caller."""
    user = current_user._get_current_object()   # werkzeug LocalProxy: None outside a request
    if user is not None and user.is_authenticated:
        return user.actor
    return None


def require_actor() -> Actor:
    """The caller, or abort 401 (JSON)."""
    actor = current_actor()
    if actor is None:
        abort(security.json_error(401, "login_required"))
    return actor


def home_for(actor: Actor | None) -> str:
    """The screen a role opens first (``HOME``); /login for nobody."""
    if actor is None:
        return "/login"
    return HOME.get(actor.role, "/console/")


def audit_denied(reason: str, target: str = "", actor: Actor | None = None) -> None:
    """Write the security-audit entry (and counter) of a refused attempt (SEC9)."""
    actor = actor or current_actor()
    r = _ctx().redis
    security.audit(r, "denied", user=actor.user_id if actor else "", role=actor.role if actor else "",
                   center=actor.center if actor else "", path=request.path, target=target,
                   reason=reason)
    security.count(r, "denied")


def deny(reason: str, target: str = "", actor: Actor | None = None, status: int = 403) -> NoReturn:
    """越权: answer 403 (JSON, no data) and write a security-audit entry."""
    audit_denied(reason, target, actor)
    abort(security.json_error(status, "forbidden", reason=reason))


def require_role(*roles: str) -> Actor:
    """The caller if its role is one of ``roles``; else 403 + audit."""
    actor = require_actor()
    if actor.role not in roles:
        deny(f"role {actor.role} may not do this")
    return actor


@contextmanager
def guarded(target: str = "") -> Iterator[None]:
    """Map the incident service's errors: Forbidden → 403 (+audit), NotFound → 404,
    InvalidTransition and Conflict → 409, ValueError → 400. Use around every service call of a view/callback.

    Only these expected refusals are mapped; anything else (a bug) propagates as a 500."""
    try:
        yield
    except errors.Forbidden as exc:
        deny(str(exc), target)
    except errors.NotFound as exc:
        abort(security.json_error(404, "not_found", reason=str(exc)))
    except errors.InvalidTransition as exc:
        abort(security.json_error(409, "invalid_transition", reason=str(exc)))
    except errors.Conflict as exc:
        abort(security.json_error(409, "conflict", reason=str(exc)))
    except ValueError as exc:
        abort(security.json_error(400, "bad_request", reason=str(exc)))


def screen_of(path: str) -> str | None:
    """The screen a path belongs to (first segment), if it is one of ``SCREEN_ROLES``."""
    seg = path.strip("/").split("/", 1)[0]
    return seg if seg in SCREEN_ROLES else None


def may_open(actor: Actor, screen: str) -> bool:
    """Role → screen access (S2 分级控制)."""
    return actor.role in SCREEN_ROLES.get(screen, frozenset())


def _is_machine(path: str) -> bool:
    return (path.startswith(("/api/", "/open311/")) or "/_dash-" in path
            or request.accept_mimetypes.best == "application/json")


def _safe_next(target: str | None, actor: Actor | None = None) -> str:
    default = home_for(actor) if actor else "/console/"
    if not target or target == "/":
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


_LOGIN_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 OneMap</title><link rel="stylesheet" href="/static/login.css"></head>
<body class="login"><main><h1>一网统管 · OneMap</h1>
<form method="post" action="/login" autocomplete="on">
<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label>账号 User <input name="user" id="user" autofocus required autocomplete="username"></label>
<label>密码 Password <input name="password" id="password" type="password" required
 autocomplete="current-password"></label>
<p class="error" role="alert">{error}</p>
<button type="submit" id="login-button">登录 Log in</button></form></main></body></html>"""


def _login_page(error: str = "", status: int = 200):
    body = _LOGIN_PAGE.format(csrf=html.escape(security.csrf_token()),
                              next=html.escape(request.values.get("next", "")),
                              error=html.escape(error))
    return body, status, {"Content-Type": "text/html; charset=utf-8"}


def install(server: Flask, ctx) -> None:
    """Sessions, login/logout, the gate, CSRF and security headers on ``server``."""
    lm = LoginManager()
    lm.init_app(server)
    server.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)

    @lm.user_loader
    def load_user(session_id: str) -> SessionUser | None:
        uid, _, epoch = session_id.rpartition(":")
        if uid == _KIOSK_ID:
            token = ctx.settings.kiosk_token
            if token and _kiosk_user(token).get_id() == session_id:
                return _kiosk_user(token)
            return None
        u = UserStore(ctx.redis).get(uid)
        if u is None or u.disabled or str(u.epoch) != epoch:
            return None  # disabled or password reset since: the session ends
        return _session_user(u)

    @server.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            return _login_page()
        uid = request.form.get("user", "").strip()
        who = f"{request.remote_addr}|{uid}"
        ok, _ = security.hit(ctx.redis, security.LOGIN_LIMIT, who)
        if not ok:
            security.count(ctx.redis, "rate_limited")
            return _login_page("尝试过多，请稍后再试 Too many attempts", 429)
        u = UserStore(ctx.redis).verify(uid, request.form.get("password", ""))
        if u is None:
            security.audit(ctx.redis, "login_failed", user=uid[:64], path="/login")
            return _login_page("账号或密码错误 Wrong user or password", 401)
        security.forgive(ctx.redis, security.LOGIN_LIMIT, who)
        session.clear()  # no session fixation: a fresh session (and CSRF token) per login
        login_user(_session_user(u))
        session[_SEEN] = int(time.time())
        security.csrf_token()
        security.audit(ctx.redis, "login", user=u.user_id, role=u.role, center=u.center,
                       path="/login")
        return redirect(_safe_next(request.form.get("next"), u.actor))

    @server.route("/logout", methods=["GET", "POST"])
    def logout():
        actor = current_actor()
        logout_user()
        session.clear()
        if actor:
            security.audit(ctx.redis, "logout", user=actor.user_id, role=actor.role,
                           center=actor.center, path="/logout")
        return redirect("/login")

    @server.errorhandler(413)
    def too_large(_exc):  # MAX_CONTENT_LENGTH (settings.max_upload_mb): the upload limit
        security.count(ctx.redis, "upload_rejected")
        return security.json_error(413, "too_large",
                                   reason=f"request body over {ctx.settings.max_upload_mb} MiB")

    @server.get("/favicon.ico")
    def favicon():  # browsers ask for it on every plain page (login); no icon, no 404 noise
        return "", 204

    @server.get("/api/me")
    def me():
        actor = require_actor()
        return {"user_id": actor.user_id, "role": actor.role, "role_name": ROLE_NAMES[actor.role],
                "center": actor.center, "name": actor.name, "cell": actor.cell,
                "screens": [s for s in SCREEN_ROLES if may_open(actor, s)]}

    @server.before_request
    def gate():
        path = request.path
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            # A machine client: the token is the credential; cookies are ignored, and a request
            # that carries no cookie cannot be forged cross-site, so no CSRF token is needed.
            u = UserStore(ctx.redis).user_for_token(auth[7:].strip()) if path.startswith(
                ("/api/", "/open311/")) else None
            if u is None:
                security.audit(ctx.redis, "token_rejected", path=path)
                return security.json_error(401, "bad_token")
            g._login_user = _session_user(u)  # flask-login's per-request user (no session write)
            g.onemap_bearer = True
            if path != "/api/me" and u.role not in API_ROLES:
                deny(f"role {u.role} may not use the API")
            return None
        # CSRF first: no state change without the session's token (login form included).
        if request.method not in security.SAFE_METHODS and not security.csrf_ok():
            security.count(ctx.redis, "csrf_rejected")
            actor = current_actor()
            security.audit(ctx.redis, "csrf_rejected", user=actor.user_id if actor else "",
                           path=path)
            return security.json_error(403, "csrf", reason="missing or wrong CSRF token")
        if path.startswith(PUBLIC_PREFIXES) or _PUBLIC_IN_SCREEN.match(path):
            return None
        screen = screen_of(path)
        token = ctx.settings.kiosk_token
        kiosk = request.args.get("kiosk")
        if screen == "wall" and token and kiosk and hmac.compare_digest(kiosk, token):
            if current_actor() is None:
                session.clear()
                login_user(_kiosk_user(token))
                security.csrf_token()
            return None
        actor = current_actor()
        if actor is not None and actor.user_id != _KIOSK_ID:
            now = int(time.time())
            seen = int(session.get(_SEEN, now))
            if now - seen > SESSION_IDLE_S:
                security.audit(ctx.redis, "session_expired", user=actor.user_id, path=path)
                logout_user()
                session.clear()
                actor = None
            elif now - seen > 60 or _SEEN not in session:  # refresh at most once a minute
                session[_SEEN] = now
        if actor is None:
            if _is_machine(path):
                return security.json_error(401, "login_required")
            return redirect(f"/login?next={path}")
        security.csrf_token()  # every session has one, so Dash's callbacks can send it
        if screen is not None and not may_open(actor, screen):
            if _is_machine(path):
                deny(f"role {actor.role} may not open /{screen}/")
            security.audit(ctx.redis, "denied", user=actor.user_id, role=actor.role,
                           center=actor.center, path=path, reason=f"screen /{screen}/")
            security.count(ctx.redis, "denied")
            return (f"<!doctype html><meta charset=utf-8><title>403</title><p>403 · "
                    f"{html.escape(ROLE_NAMES[actor.role])} 无权访问 /{screen}/ "
                    f"<a href='{home_for(actor)}'>返回</a> · "
                    f"<a href='/logout'>退出</a>", 403, {"Content-Type": "text/html; charset=utf-8"})
        if path.startswith(("/api/", "/open311/")) and path != "/api/me" \
                and actor.role not in API_ROLES:
            deny(f"role {actor.role} may not use the API")
        return None

    @server.after_request
    def headers(resp):
        if not g.get("onemap_bearer"):
            security.set_csrf_cookie(resp)
        return security.apply_security_headers(resp)
