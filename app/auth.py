"""Login, sessions and the gate in front of every screen and endpoint (S1, S2 分级接入/分级控制).

``install(server, ctx)`` (called by ``app.server.create_server``) adds:

- server-side sessions (``app.sessions``): the signed cookie carries a random session id only;
  every request checks its Redis record (idle ``SESSION_IDLE_S``, absolute
  ``settings.session_max_s``); ``/logout`` deletes it, ``POST /api/users/<id>/revoke`` (admin)
  and ``onemap users revoke`` end every session of a user;
- ``/login`` (form), throttled per account, per source and per pair with growing delays
  (``app.throttle``); the client address behind ``settings.trusted_proxies`` proxies (ProxyFix);
  privileged roles (``RoleSpec.needs_2fa``) enrolled in TOTP give a 6-digit code in a second
  step (SEC11; throttled the same way, each code good once); not enrolled: refused when
  ``settings.require_2fa``, else allowed and audited (the demo; the login page warns);
- a ``before_request`` gate: public paths pass; anonymous HTML requests go to ``/login?next=``;
  anonymous ``/api/*`` and Dash callback requests get 401 JSON; a logged-in user reaches only
  the screens of its role (``SCREEN_ROLES``), else 403 + a security-audit entry;
- the wall kiosk token: ``/wall/?kiosk=<token>`` is exchanged for a kiosk session cookie and
  redirected to the same URL without the token (so it stays out of logs and history); the
  session lasts ``settings.kiosk_session_s``; ``onemap users kiosk-rotate`` replaces the token;
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

import html
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn
from urllib.parse import urlencode, urlsplit

from flask import Flask, abort, current_app, g, has_request_context, redirect, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix

from app import open311, security, throttle
from app.sessions import KIOSK_USER, SessionStore, kiosk_token_ok
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
the wall kiosk is exempt (it runs all day; ``settings.kiosk_session_s`` ends it)."""
CLOCK = "ONEMAP_CLOCK"
"""``server.config[CLOCK]``: a ``() -> epoch s`` replacing ``time.time`` for sessions and the
login throttle (tests move time without sleeping)."""
SESSION_CHECK = "onemap_session_check"
"""``server.extensions[SESSION_CHECK](sid, touch=True)``: the ``SessionUser`` of a live session
id or None. The login gate and the live push stream (``app.live.session``) both use it."""

PUBLIC_PREFIXES = ("/login", "/logout", "/static/", "/healthz", "/favicon.ico", "/_favicon.ico",
                   "/pj/")   # the citizen's 好差评 page: its one-time link is the credential (issue 24)
# Anonymous requests reach a screen's static files only by a path naming a file (a name with an
# extension, no dot segment): a bare ``assets/`` or ``_dash-component-suites/…`` folder used to
# fall through to Dash's catch-all and answer the page shell with its version numbers (issue 19).
_PUBLIC_IN_SCREEN = re.compile(r"^(?:/[^/]+)?/(?:(?:_dash-component-suites|assets)/"
                               r"(?:(?!\.\.?/)[^/]+/)*(?!\.\.?$)[^/]*[^/.]\.[A-Za-z0-9]{1,8}"
                               r"|_favicon\.ico)$")
_KIOSK_ID = KIOSK_USER
_KIOSK_ACTOR = Actor(KIOSK_USER, "wall_viewer", "CITY", "大屏")


class SessionUser(UserMixin):
    """What flask-login keeps: a user (or the wall kiosk) and its server-side session id."""

    def __init__(self, actor: Actor, session_id: str) -> None:
        self.actor = actor
        self._sid = session_id

    def get_id(self) -> str:
        return self._sid


def _ctx():
    return current_app.extensions["onemap"]


def _store() -> UserStore:
    return UserStore(_ctx().redis)


def _bearer_user(u: User) -> SessionUser:
    return SessionUser(u.actor, "")   # a bearer token is its own credential: no session


def clock_of(server: Flask) -> Callable[[], float]:
    """The server's clock (``CLOCK`` in its config, else ``time.time``), read at each call."""
    return lambda: (server.config.get(CLOCK) or time.time)()


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
<label>账号 <input name="user" id="user" autofocus required autocomplete="username"
 autocapitalize="none" autocorrect="off" spellcheck="false"></label>
<label>密码 <input name="password" id="password" type="password" required
 autocomplete="current-password"></label>
<p class="error" role="alert">{error}</p>
<button type="submit" id="login-button">登录</button></form>{notice}</main>
<script src="/static/login.js" defer></script></body></html>"""

_NO_2FA_NOTICE = ('<p class="notice" id="no-2fa-notice">演示模式：未启用双因素认证的特权账号仍可登录；'
                  '请管理员运行 onemap users totp enable 账号 为其启用（生产环境须设置 '
                  'ONEMAP_REQUIRE_2FA=1）</p>')

_CODE_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>双因素认证 OneMap</title><link rel="stylesheet" href="/static/login.css"></head>
<body class="login"><main><h1>一网统管 · OneMap</h1>
<form method="post" action="/login" autocomplete="off">
<input type="hidden" name="csrf_token" value="{csrf}">
<p>{who}：请输入验证器上的 6 位动态码</p>
<label>动态码 <input name="code" id="code" autofocus required inputmode="numeric"
 pattern="[0-9]{{6}}" maxlength="6" autocomplete="one-time-code"></label>
<p class="error" role="alert">{error}</p>
<button type="submit" id="code-button">验证</button></form>
<p><a href="/login">重新登录</a></p></main></body></html>"""
TOTP_PENDING = "_2fa"
"""Session key of a login waiting for its TOTP code (user, epoch, when, next): no session yet."""
TOTP_PENDING_S = 300
"""The code must follow the password within this long (s)."""


def _login_page(error: str = "", status: int = 200):
    notice = "" if _ctx().settings.require_2fa else _NO_2FA_NOTICE
    body = _LOGIN_PAGE.format(csrf=html.escape(security.csrf_token()),
                              next=html.escape(request.values.get("next", "")),
                              error=html.escape(error), notice=notice)
    return body, status, {"Content-Type": "text/html; charset=utf-8"}


def _code_page(user_id: str, error: str = "", status: int = 200):
    """The login's second step (SEC11): the TOTP code of a privileged account."""
    body = _CODE_PAGE.format(csrf=html.escape(security.csrf_token()), who=html.escape(user_id),
                             error=html.escape(error))
    return body, status, {"Content-Type": "text/html; charset=utf-8"}


KIOSK_INVALID = "大屏链接无效或已过期，请联系管理员"
"""What an unattended wall shows for a wrong or rotated kiosk token, or an ended kiosk session
(issue 21): nobody stands at a video wall to fill in a login form."""

_KIOSK_INVALID_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>一网统管 · 大屏</title>
<style>html,body{{margin:0;height:100%;background:#050d18;color:#e8f1ff;font-family:"Noto Sans CJK SC",
"Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif}}
main{{height:100%;display:flex;flex-direction:column;align-items:center;justify-content:center;
text-align:center;gap:3vh}}h1{{margin:0;font-size:6vh;color:#ff8a80}}p{{margin:0;font-size:3vh;
color:#8fb3d9}}</style></head>
<body><main id="kiosk-invalid"><h1>{msg}</h1><p>一网统管 · 指挥大厅大屏</p></main></body></html>"""


def _kiosk_invalid_page():
    """The wall's full-screen message for a kiosk link that does not open it (403)."""
    return (_KIOSK_INVALID_PAGE.format(msg=KIOSK_INVALID), 403,
            {"Content-Type": "text/html; charset=utf-8"})


_LOGOUT_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>退出 OneMap</title><link rel="stylesheet" href="/static/login.css"></head>
<body class="login"><main><h1>一网统管 · OneMap</h1>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{csrf}">
<p>{who}</p><button type="submit" id="logout-button" autofocus>退出登录</button></form>
<p><a href="{back}">返回</a></p></main></body></html>"""


def _logout_page():
    """GET /logout: the form that logs out (POST), or the login page's link when logged out."""
    actor = current_actor()
    if actor is None:
        return redirect("/login")
    body = _LOGOUT_PAGE.format(csrf=html.escape(security.csrf_token()),
                               who=html.escape(f"{actor.name or actor.user_id}（{ROLE_NAMES[actor.role]}）"),
                               back=html.escape(home_for(actor)))
    return body, 200, {"Content-Type": "text/html; charset=utf-8"}


def install(server: Flask, ctx) -> None:
    """Sessions, login/logout, the gate, CSRF and security headers on ``server``."""
    lm = LoginManager()
    lm.init_app(server)
    server.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    server.session_interface = security.TLSSessionInterface()  # Secure cookie over TLS
    if ctx.settings.trusted_proxies:   # the client address is n hops back in X-Forwarded-For
        n = ctx.settings.trusted_proxies
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    clock = clock_of(server)

    def sessions() -> SessionStore:
        return SessionStore(ctx.redis, clock)

    def limits() -> dict[str, tuple[int | None, int]]:
        return {"user": (SESSION_IDLE_S, ctx.settings.session_max_s),
                "kiosk": (None, ctx.settings.kiosk_session_s)}

    def check_session(sid: str, touch: bool = True) -> SessionUser | None:
        """The user of a live session (record present, within its idle and absolute limits,
        account enabled and not reset since), else None."""
        rec, why = sessions().check(sid, limits(), touch=touch)
        if rec is None or why:
            if rec is not None:
                security.audit(ctx.redis, "session_expired", user=rec.user, reason=why,
                               path=request.path if has_request_context() else "")
                if rec.kind == "kiosk" and has_request_context():
                    g.onemap_kiosk_ended = True     # the wall says so (KIOSK_INVALID)
            return None
        if rec.kind == "kiosk":
            return SessionUser(_KIOSK_ACTOR, sid)
        u = UserStore(ctx.redis).get(rec.user)
        if u is None or u.disabled or u.epoch != rec.epoch:
            sessions().end(sid, rec.user)  # disabled or password reset since: the session ends
            return None
        return SessionUser(u.actor, sid)

    server.extensions[SESSION_CHECK] = check_session

    @lm.user_loader
    def load_user(session_id: str) -> SessionUser | None:
        return check_session(session_id)

    def throttled(uid: str, source: str, now: float):
        """The 429 page while ``app.throttle`` makes (source, uid) wait, else None: checked
        before the password and before the TOTP code alike."""
        wait = throttle.wait_s(ctx.redis, source, uid, now)
        if wait <= 0:
            return None
        security.count(ctx.redis, "rate_limited")
        security.audit(ctx.redis, "login_throttled", user=uid, path="/login",
                       reason=f"{source} wait {wait:.0f}s")
        body, status, hdrs = _login_page(f"尝试过多，请 {int(wait) + 1} 秒后再试", 429)
        return body, status, dict(hdrs, **{"Retry-After": str(int(wait) + 1)})

    def logged_in(u: User, target: str | None, how: str = ""):
        """Open the session of a user who passed every step."""
        old = session.get("_user_id")
        if old:
            sessions().end(old)
        session.clear()  # no session fixation: a fresh session (and CSRF token) per login
        sid = sessions().create(u.user_id, u.epoch, "user", idle_s=SESSION_IDLE_S,
                                absolute_s=ctx.settings.session_max_s)
        login_user(SessionUser(u.actor, sid))
        security.csrf_token()
        security.audit(ctx.redis, "login", user=u.user_id, role=u.role, center=u.center,
                       path="/login", reason=how)
        return redirect(_safe_next(target, u.actor))

    def second_step(pending: dict, source: str, now: float):
        """双因素认证 (SEC11): the code after the password, throttled like it; a code is good
        once (``UserStore.check_totp``)."""
        uid = str(pending.get("user", ""))
        if now - float(pending.get("ts", 0)) > TOTP_PENDING_S:
            session.pop(TOTP_PENDING, None)
            return _login_page("动态码超时，请重新登录", 401)
        if (refused := throttled(uid, source, now)) is not None:
            return refused
        store = UserStore(ctx.redis)
        if not store.check_totp(uid, request.form.get("code", "")[:16], now):
            throttle.failed(ctx.redis, source, uid, now)
            security.audit(ctx.redis, "login_2fa_failed", user=uid, path="/login", reason=source)
            return _code_page(uid, "动态码错误或已使用 Wrong or already used code", 401)
        u = store.get(uid)
        if u is None or u.disabled or u.epoch != pending.get("epoch"):
            session.pop(TOTP_PENDING, None)   # disabled or reset between the two steps
            return _login_page("账号或密码错误", 401)
        throttle.succeeded(ctx.redis, source, uid)
        return logged_in(u, pending.get("next"), "totp")

    @server.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            return _login_page()
        source = request.remote_addr or "?"
        now = clock()
        pending = session.get(TOTP_PENDING)
        if pending and "code" in request.form:
            return second_step(pending, source, now)
        uid = request.form.get("user", "").strip()[:64]
        if (refused := throttled(uid, source, now)) is not None:
            return refused  # refused before the password is even checked
        store = UserStore(ctx.redis)
        u = store.verify(uid, request.form.get("password", ""))
        if u is None:
            throttle.failed(ctx.redis, source, uid, now)
            security.audit(ctx.redis, "login_failed", user=uid, path="/login", reason=source)
            return _login_page("账号或密码错误", 401)
        if roles.spec(u.role).needs_2fa:
            if store.totp_enrolled(uid):
                # the password was right: no session yet, the code comes next. The throttle's
                # counters are not cleared until the code is right too (no free code guesses
                # for whoever has the password)
                session.clear()
                session[TOTP_PENDING] = {"user": uid, "epoch": u.epoch, "ts": now,
                                         "next": request.form.get("next", "")}
                return _code_page(uid)
            if ctx.settings.require_2fa:
                security.audit(ctx.redis, "login_refused", user=uid, role=u.role, path="/login",
                               reason="2FA not enrolled")
                return _login_page(f"特权账号须先启用双因素认证：请管理员运行 onemap users totp "
                                   f"enable {uid}", 403)
            how = "without 2FA (not enrolled)"   # the demo: allowed, audited, the page warns
        else:
            how = ""
        throttle.succeeded(ctx.redis, source, uid)
        return logged_in(u, request.form.get("next"), how)

    @server.route("/logout", methods=["GET", "POST"])
    def logout():
        """POST only ends the session (with the CSRF token: no cross-site logout); GET, what an
        old link or a prefetch sends, changes nothing and answers a one-button form."""
        if request.method == "GET":
            return _logout_page()
        actor = current_actor()
        sid = session.get("_user_id")
        if sid:
            sessions().end(sid)   # the server forgets it: a copied cookie is worthless now
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

    @server.post("/api/users/<user_id>/revoke")
    def revoke_sessions(user_id: str):
        """管理员: end every session of a user at once (a lost phone, a leaving clerk)."""
        actor = require_role("admin")
        store = UserStore(ctx.redis)
        if store.get(user_id) is None:
            abort(security.json_error(404, "not_found", reason=f"no user {user_id}"))
        n = store.revoke_sessions(user_id, by=actor.user_id)
        return {"user_id": user_id, "revoked": n}

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
            g._login_user = _bearer_user(u)  # flask-login's per-request user (no session write)
            g.onemap_bearer = True
            if path != "/api/me" and u.role not in API_ROLES:
                deny(f"role {u.role} may not use the API")
            return None
        if path.startswith("/open311/"):
            # Open311 clients (issue 18): a valid ``api_key`` is the credential, like a bearer
            # token (no cookie, no CSRF token); reads without one are public or refused per
            # settings (app.open311.gate); a session goes on below (CSRF on POST).
            o311 = open311.gate(ctx, current_actor() is None)
            if o311.actor is not None:
                g._login_user = SessionUser(o311.actor, "")
                g.onemap_bearer = True
            if o311.done:
                return o311.refusal
        if path == "/api/exchange/inbound":
            return None   # 上情下达 (issue 18): signed by the upper platform, verified by its view
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
        if screen == "wall" and "kiosk" in request.args:
            # The token is exchanged for a session cookie at first use, and the browser is sent
            # to the same page without it: it does not stay in the address bar, history, or the
            # access logs of later requests. A wrong token: a full-screen message (KIOSK_INVALID).
            if kiosk_token_ok(ctx.redis, ctx.settings.kiosk_token, request.args.get("kiosk")):
                if current_actor() is None:
                    session.clear()
                    sid = sessions().create(KIOSK_USER, 0, "kiosk", idle_s=10 ** 9,
                                            absolute_s=ctx.settings.kiosk_session_s)
                    login_user(SessionUser(_KIOSK_ACTOR, sid))
                    session["onemap_kiosk"] = 1     # once it ends: KIOSK_INVALID, not a form
                    security.csrf_token()
                rest = [(k, v) for k, v in request.args.items(multi=True) if k != "kiosk"]
                return redirect(path + (f"?{urlencode(rest)}" if rest else ""))
            security.audit(ctx.redis, "kiosk_rejected", path=path)
            if current_actor() is None and not _is_machine(path):
                return _kiosk_invalid_page()    # an unattended wall: a message, not a form
        actor = current_actor()
        if actor is None:
            if _is_machine(path):
                return security.json_error(401, "login_required")
            if screen == "wall" and (g.get("onemap_kiosk_ended") or session.get("onemap_kiosk")):
                return _kiosk_invalid_page()    # this browser was the wall's kiosk
            return redirect(f"/login?next={path}")
        security.csrf_token()  # every session has one, so Dash's callbacks can send it
        if screen is not None and not may_open(actor, screen):
            if _is_machine(path):
                deny(f"role {actor.role} may not open /{screen}/")
            audit_denied(f"screen /{screen}/", actor=actor)
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
