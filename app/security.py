"""Web security helpers: CSRF tokens, security headers, rate limits, upload checks, security audit.

Everything here is stateless in the process (tokens live in the signed session, counters in
Redis), so any web worker can serve any request (SPEC §6 scale-out).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from flask import Response, abort, jsonify, request, session

from app import keys

# --- CSRF (double submit: a token in the signed session, echoed by the client) ---------------
CSRF_SESSION_KEY = "_csrf"
CSRF_COOKIE = "_csrf_token"
"""Cookie Dash's renderer reads (``Dash(csrf_token_name=...)`` default) to send the header."""
CSRF_HEADER = "X-CSRFToken"
"""Header Dash's renderer sends on every callback POST (``csrf_header_name`` default)."""
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    tok = session.get(CSRF_SESSION_KEY)
    if not tok:
        tok = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = tok
    return tok


def csrf_ok() -> bool:
    """Does this state-changing request carry the session's token (header or form field)?"""
    expected = session.get(CSRF_SESSION_KEY)
    if not expected:
        return False
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FORM_FIELD, "")
    return hmac.compare_digest(str(sent), str(expected))


def set_csrf_cookie(resp: Response) -> None:
    """Mirror the session token into a JS-readable cookie so Dash's renderer echoes it."""
    tok = session.get(CSRF_SESSION_KEY)
    if tok and request.cookies.get(CSRF_COOKIE) != tok:
        resp.set_cookie(CSRF_COOKIE, tok, httponly=False, samesite="Strict", path="/")


# --- security headers --------------------------------------------------------------------------
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP hashes of the inline scripts of a page (Dash's renderer bootstrap, clientside code)."""
    out = []
    for body in _INLINE_SCRIPT.findall(html):
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return sorted(set(out))


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """Only our own origin. Why each exception:

    - ``script-src``: no 'unsafe-eval' and no 'unsafe-inline' (checked in headless Chromium:
      Dash 4 callbacks, clientside callbacks, dcc.Dropdown and a plotly scattermap all work); the
      inline bootstrap scripts of each page are allowed by their hash. A page that needs more
      (the kepler.gl view) sets its own header, which this function never overrides.
    - ``style-src 'unsafe-inline'``: React and plotly.js write ``style`` attributes and tags.
    - ``worker-src blob:``: MapLibre (inside plotly.js) starts its workers from blob URLs.
    - ``img-src data: blob:``: inline icons of MapLibre/plotly, photo previews on the phone.
    """
    script = " ".join(["'self'", *script_hashes])
    return ("default-src 'self'; "
            f"script-src {script}; "
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; "
            "font-src 'self' data:; "
            "connect-src 'self'; "
            "worker-src 'self' blob:; child-src 'self' blob:; "
            "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'")


def apply_security_headers(resp: Response) -> Response:
    """CSP, X-Frame-Options, nosniff, Referrer-Policy (and no caching of authenticated JSON)."""
    hashes: list[str] = []
    if resp.mimetype == "text/html" and not resp.direct_passthrough:
        hashes = inline_script_hashes(resp.get_data())
    resp.headers.setdefault("Content-Security-Policy", content_security_policy(hashes))
    resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if resp.mimetype == "application/json":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


# --- counters and the security audit ------------------------------------------------------------
def count(r: redis.Redis, name: str, n: int = 1) -> None:
    """Bump a security counter (``keys.COUNTERS``)."""
    r.hincrby(keys.COUNTERS, name, n)


def audit(r: redis.Redis, event: str, *, user: str = "", role: str = "", center: str = "",
          path: str = "", target: str = "", reason: str = "") -> str:
    """安全审计: append one security event (denied, login, account change) to the audit stream."""
    fields = {"event": event, "user": user, "role": role, "center": center, "path": path,
              "target": target, "reason": reason[:500], "ts": str(int(time.time() * 1000))}
    return r.xadd(keys.SECURITY_AUDIT, fields, maxlen=100_000, approximate=True)


def audit_entries(r: redis.Redis, count_: int = 100) -> list[dict]:
    """The latest security events, newest first."""
    return [dict(f, _id=i) for i, f in r.xrevrange(keys.SECURITY_AUDIT, count=count_)]


# --- rate limits (fixed window in Redis) ------------------------------------------------------
@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` requests per ``window_s`` seconds per caller in a bucket."""

    bucket: str
    limit: int
    window_s: int


REPORT_LIMIT = RateLimit("report", 30, 60)
"""Reporting endpoints (new incident, mobile report): 30 per minute per user. Demo default."""
LOGIN_LIMIT = RateLimit("login", 10, 300)
"""Login attempts: 10 per 5 minutes per (address, user id). Demo default."""
CAP_LIMIT = RateLimit("cap", 60, 60)
"""CAP alert intake: 60 per minute per caller. Demo default."""


def hit(r: redis.Redis, rule: RateLimit, who: str, now: float | None = None) -> tuple[bool, int]:
    """Count one request; (allowed, seconds until the window resets). One round trip."""
    now = time.time() if now is None else now
    window = int(now // rule.window_s)
    key = keys.rate(rule.bucket, who, window)
    pipe = r.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, rule.window_s + 1)
    n, _ = pipe.execute()
    retry = int(rule.window_s - (now % rule.window_s)) + 1
    return n <= rule.limit, retry


def forgive(r: redis.Redis, rule: RateLimit, who: str, now: float | None = None) -> None:
    """Forget ``who``'s count in the current window: a login that succeeded resets its failures
    (the limit is there against guessing, not against logging in)."""
    now = time.time() if now is None else now
    r.delete(keys.rate(rule.bucket, who, int(now // rule.window_s)))


def enforce(r: redis.Redis, rule: RateLimit, who: str) -> None:
    """Abort with 429 (+ Retry-After) when ``who`` is over the limit."""
    ok, retry = hit(r, rule, who)
    if not ok:
        count(r, "rate_limited")
        resp = jsonify(error="rate_limited", bucket=rule.bucket, retry_after_s=retry)
        resp.status_code = 429
        resp.headers["Retry-After"] = str(retry)
        abort(resp)


# --- uploads -----------------------------------------------------------------------------------
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
"""Accepted photo formats, recognised by content (never by name or declared type)."""
MAX_FILES = 6
"""Photos per report/request. Demo default."""
MAX_PIXELS = 40_000_000
"""Largest decoded image (pixels): refuses decompression bombs."""


class UploadRejected(ValueError):
    """An upload that is not an accepted image (wrong type by content, too many, too big)."""


def check_image(data: bytes) -> str:
    """The image format of ``data`` checked by content with Pillow; raises UploadRejected."""
    from PIL import Image  # noqa: PLC0415 (Pillow is only needed on upload paths)

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
            if fmt not in IMAGE_FORMATS:
                raise UploadRejected(f"图片格式 {fmt or '未知'} 不受支持，仅限 JPEG、PNG、WEBP "
                                     f"(image type {fmt or 'unknown'} not accepted)")
            if im.width * im.height > MAX_PIXELS:
                raise UploadRejected("图片尺寸过大 (image too large)")
            im.verify()
    except UploadRejected:
        raise
    except Exception as exc:  # Pillow raises many types on garbage
        raise UploadRejected("不是图片 (not an image)") from exc
    return fmt


def check_images(blobs: list[bytes], max_files: int = MAX_FILES) -> list[str]:
    """Check a request's photos: count and type of each; returns their formats."""
    if len(blobs) > max_files:
        raise UploadRejected(f"每次至多 {max_files} 张照片 (at most {max_files} photos per request)")
    return [check_image(b) for b in blobs]


def json_error(status: int, error: str, **extra) -> Response:
    """A JSON error response (the API's one error shape)."""
    resp = jsonify(dict(error=error, **extra))
    resp.status_code = status
    return resp


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
