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
from flask import Flask, Response, abort, current_app, has_request_context, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface

from app import keys
from incidents import chain

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
        resp.set_cookie(CSRF_COOKIE, tok, httponly=False, samesite="Strict", path="/",
                        secure=request.is_secure)


# --- security headers --------------------------------------------------------------------------
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP hashes of the inline scripts of a page (Dash's renderer bootstrap, clientside code)."""
    out = []
    for body in _INLINE_SCRIPT.findall(html):
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return sorted(set(out))


CSP_CONNECT = "onemap_csp_connect"
"""``server.extensions[CSP_CONNECT]``: a ``() -> list of sources`` added to ``connect-src`` for
this request (the video gateway's origin, ``app.http.video``: another port of the same host)."""


def content_security_policy(script_hashes: Iterable[str] = (), connect: Iterable[str] = ()) -> str:
    """Only our own origin. Why each exception:

    - ``script-src``: no 'unsafe-eval' and no 'unsafe-inline' (checked in headless Chromium:
      Dash 4 callbacks, clientside callbacks, dcc.Dropdown and a plotly scattermap all work); the
      inline bootstrap scripts of each page are allowed by their hash. A page that needs more
      (the kepler.gl view) sets its own header, which this function never overrides.
    - ``style-src 'unsafe-inline'``: React and plotly.js write ``style`` attributes and tags.
    - ``worker-src blob:``: MapLibre (inside plotly.js) starts its workers from blob URLs.
    - ``img-src data: blob:``: inline icons of MapLibre/plotly, photo previews on the phone.
    - ``media-src blob:``: live video plays from a MediaSource (mpegts.js); ``connect``: the video
      gateway's origin, which the player fetches the stream from (issue 23).
    """
    script = " ".join(["'self'", *script_hashes])
    connect_src = " ".join(["'self'", *connect])
    return ("default-src 'self'; "
            f"script-src {script}; "
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; "
            "font-src 'self' data:; "
            f"connect-src {connect_src}; "
            "media-src 'self' blob:; "
            "worker-src 'self' blob:; child-src 'self' blob:; "
            "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'")


PERMISSIONS_POLICY = ("accelerometer=(), autoplay=(), camera=(), display-capture=(), "
                      "fullscreen=(self), geolocation=(self), gyroscope=(), magnetometer=(), "
                      "microphone=(), midi=(), payment=(), usb=()")
"""Browser features a page may use: geolocation for the grid worker's phone page (its own
origin only), fullscreen for the wall; nothing else (photos come from the file picker, which
needs no camera permission)."""
HSTS = "max-age=31536000"
"""Sent only over TLS (a browser ignores it over plain HTTP). No ``includeSubDomains``: other
hosts of a government domain may still be plain HTTP (docs/security.md)."""


def is_tls() -> bool:
    """Was this request served over TLS? Behind ``settings.trusted_proxies`` reverse proxies the
    scheme is theirs (``X-Forwarded-Proto``, werkzeug ProxyFix); otherwise the socket's."""
    return has_request_context() and request.is_secure


class TLSSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the ``Secure`` flag whenever the request came over
    TLS (or ``SESSION_COOKIE_SECURE`` is set): the cookie never travels over plain HTTP once a
    deployment serves HTTPS, and the plain-HTTP demo keeps working."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app)) or is_tls()


def apply_security_headers(resp: Response) -> Response:
    """CSP, X-Frame-Options, nosniff, Referrer-Policy, Permissions-Policy; HSTS over TLS; no
    caching of authenticated data (any JSON, anything under /api/)."""
    hashes: list[str] = []
    if resp.mimetype == "text/html" and not resp.direct_passthrough:
        hashes = inline_script_hashes(resp.get_data())
    extra = current_app.extensions.get(CSP_CONNECT) if has_request_context() else None
    resp.headers.setdefault("Content-Security-Policy",
                            content_security_policy(hashes, extra() if extra else ()))
    resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    resp.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    if is_tls():
        resp.headers.setdefault("Strict-Transport-Security", HSTS)
    if resp.mimetype == "application/json" or (has_request_context()
                                                and request.path.startswith("/api/")):
        resp.headers["Cache-Control"] = "no-store"
    return resp


# --- counters and the security audit ------------------------------------------------------------
def count(r: redis.Redis, name: str, n: int = 1) -> None:
    """Bump a security counter (``keys.COUNTERS``)."""
    r.hincrby(keys.COUNTERS, name, n)


# keys.SECURITY_AUDIT_HEAD: ``seq|hash`` of the chain's newest entry (moved only by ``_APPEND_LUA``).
# keys.SECURITY_AUDIT_ANCHOR: ``seq|hash|entry id`` of the last entry archived away (``onemap audit
# trim``): the chain then starts from it instead of from the genesis (seq 0, hash '').
# (Read at each use: shared keys are ``om:{g}:…`` on a tagged keyspace, grid/keyspace.py.)
CHAIN_FIELDS = ("seq", "prev", "hash")
"""Fields the chain adds to each entry (everything else is the entry's content)."""

# Append one entry if the head is still the one its hash was computed from; else answer the
# current head (the caller re-hashes and retries). One small script, so several web workers
# appending at once never fork the chain. KEYS: stream, head. ARGV: expected head, new head,
# then field/value pairs.
_APPEND_LUA = """
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return {0, head} end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[2])
return {1, id}
"""
_APPEND_SHA = hashlib.sha1(_APPEND_LUA.encode()).hexdigest()
_APPEND_TRIES = 100


AUDIT_DIGEST = "sha256"
"""The digest new security-audit entries are chained with: the incident trails' setting
(``[incidents] audit_digest``, sha256 | sm3 国密), set by ``set_audit_digest`` when the
process's context is built. Each hash names its algorithm (``sm3:<hex>``), so verifying needs
no setting and a chain whose setting changed still verifies."""


def set_audit_digest(name: str) -> None:
    """Chain new security-audit entries with ``name`` (``incidents.chain.DIGESTS``)."""
    global AUDIT_DIGEST  # noqa: PLW0603 (one process-wide setting, like the incident store's)
    AUDIT_DIGEST = chain.check_digest(name)


def canonical(fields: dict) -> bytes:
    """The entry's content and ``seq`` as canonical JSON (``incidents.chain.canonical``): what
    is hashed after the previous hash."""
    return chain.canonical(fields, ("prev", "hash", "_id"))


def chain_hash(prev: str, fields: dict, digest: str | None = None) -> str:
    """H(previous entry's hash ‖ this entry's canonical JSON) (SEC21); SHA-256 unless ``digest``
    (or ``AUDIT_DIGEST``) says SM3."""
    return chain.chain_hash(prev, canonical(fields), digest or AUDIT_DIGEST)


def _run_append(r: redis.Redis, expected: str, new_head: str, flat: list[str]):
    args = [keys.SECURITY_AUDIT, keys.SECURITY_AUDIT_HEAD, expected, new_head, *flat]
    try:
        return r.evalsha(_APPEND_SHA, 2, *args)
    except redis.exceptions.NoScriptError:
        return r.eval(_APPEND_LUA, 2, *args)


def audit(r: redis.Redis, event: str, *, user: str = "", role: str = "", center: str = "",
          path: str = "", target: str = "", reason: str = "") -> str:
    """安全审计: append one security event (denied, login, account change, export) to the audit
    stream, hash-chained (SEC9, SEC21): each entry carries ``seq``, ``prev`` (the previous
    entry's hash) and ``hash`` (``chain_hash``). Never trimmed here: the stream is archived only
    by ``onemap audit trim``, which leaves an anchor (docs/security.md)."""
    fields = {"event": event, "user": user, "role": role, "center": center, "path": path,
              "target": target, "reason": reason[:500], "ts": str(int(time.time() * 1000))}
    head = r.get(keys.SECURITY_AUDIT_HEAD) or ""
    for _ in range(_APPEND_TRIES):
        seq, prev = chain.parse_head(head)
        entry = {**fields, "seq": str(seq + 1)}
        h = chain_hash(prev, entry)
        entry |= {"prev": prev, "hash": h}
        flat = [x for kv in entry.items() for x in kv]
        ok, val = _run_append(r, head, f"{seq + 1}|{h}", flat)
        if ok:
            return val
        head = val or ""   # another worker appended first: chain onto its entry
    raise RuntimeError("security audit: the chain head kept moving (too much contention)")


def audit_entries(r: redis.Redis, count_: int = 100) -> list[dict]:
    """The latest security events, newest first."""
    return [dict(f, _id=i) for i, f in r.xrevrange(keys.SECURITY_AUDIT, count=count_)]


@dataclass(frozen=True)
class ChainReport:
    """What ``verify_chain`` found: entries checked, unchained (older) entries, the problems
    (entry id, what is wrong) in stream order, and the head it ended on."""

    checked: int
    legacy: int
    problems: list[tuple[str, str]]
    head: str

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(r: redis.Redis, page: int = 1000) -> ChainReport:
    """Walk the security-audit stream from its anchor (or the genesis) and check every link:
    an entry whose content no longer matches its hash was altered; an entry whose ``prev`` is
    not its predecessor's hash, or whose ``seq`` skips, follows removed entries; a head ahead of
    the last entry means the newest entries were removed."""
    anchor = (r.get(keys.SECURITY_AUDIT_ANCHOR) or "").split("|")
    seq, prev = (int(anchor[0]), anchor[1]) if len(anchor) >= 2 and anchor[0] else (0, "")
    after = anchor[2] if len(anchor) >= 3 else ""
    walk = chain.Walk(seq=seq, prev=prev, last_id=after or "(start)")
    start = f"({after}" if after else "-"
    while True:
        rows = r.xrange(keys.SECURITY_AUDIT, min=start, count=page)
        for entry_id, f in rows:
            if "hash" not in f:
                walk.unchained(entry_id, before_any=walk.seq == 0)
                continue
            # each hash names its digest (bare hex: SHA-256), so a changed setting still verifies
            matches = chain_hash(f.get("prev", ""), f, chain.digest_of(f["hash"])) == f["hash"]
            walk.step(entry_id, f.get("seq", ""), f["hash"], matches,
                      prev_ok=f.get("prev", "") == walk.prev)
        if len(rows) < page:
            break
        start = f"({rows[-1][0]}"
    head = r.get(keys.SECURITY_AUDIT_HEAD) or ""
    walk.finish(head)
    return ChainReport(walk.checked, walk.legacy, walk.problems, head)


def trim_chain(r: redis.Redis, keep: int) -> int:
    """Archive away all but the newest ``keep`` entries, leaving an anchor (the last removed
    entry's seq, hash and id) so ``verify_chain`` still checks what is left. Returns how many
    were removed. Run after exporting them (``onemap audit export``); never automatic."""
    total = r.xlen(keys.SECURITY_AUDIT)
    drop = total - keep
    if drop <= 0:
        return 0
    rows = r.xrange(keys.SECURITY_AUDIT, count=drop)
    last_id, f = rows[-1]
    if "hash" in f:
        r.set(keys.SECURITY_AUDIT_ANCHOR, f"{f['seq']}|{f['hash']}|{last_id}")
    r.xtrim(keys.SECURITY_AUDIT, minid=_next_id(last_id), approximate=False)
    return drop


def _next_id(entry_id: str) -> str:
    ms, _, n = entry_id.partition("-")
    return f"{ms}-{int(n or 0) + 1}"


# --- rate limits (fixed window in Redis) ------------------------------------------------------
@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` requests per ``window_s`` seconds per caller in a bucket."""

    bucket: str
    limit: int
    window_s: int


REPORT_LIMIT = RateLimit("report", 30, 60)
"""Reporting endpoints (new incident, mobile report): 30 per minute per user. Demo default."""
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


# --- exports -----------------------------------------------------------------------------------
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (OWASP CSV injection)."""


def csv_cell(value):  # noqa: ANN001, ANN201 (any cell value)
    """A text cell a spreadsheet would run as a formula, prefixed with ``'`` (OWASP); numbers
    and other values unchanged (a number written by the exporter is never a formula)."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return value


def no_store(resp: Response) -> Response:
    """Exports and data: never kept by a browser or a shared proxy cache."""
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


def json_error(status: int, error: str, **extra) -> Response:
    """A JSON error response (the API's one error shape)."""
    resp = jsonify(dict(error=error, **extra))
    resp.status_code = status
    return resp


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
