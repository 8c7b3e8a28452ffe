"""Redis keys owned by the web app (``app/``). Every key starts with ``om:``: untagged, the names
below; on a tagged keyspace (Redis Cluster, several cities: ``grid/keyspace.py``) the deployment's
shared keys (accounts, sessions, the security audit, API keys) start with ``om:{g}:`` (one slot:
their scripts and transactions stay in it) and the few that belong to a city's incidents (CAP's
log and references, Open311's requests, the upper-platform push, patrol logs) with
``om:{<city>}:``. No script or transaction mixes the two."""

from __future__ import annotations

from grid import keyspace as _ks

# --- accounts, security, API (app.users, app.auth, app.security, app.api) ---------------
# USERS: shared (``om:users`` untagged).
#   Set of every user id (账号).


def user(user_id: str) -> str:
    """Hash of one account: name, role, center, cell, pw (argon2 hash), disabled, epoch, created."""
    return f"{_ks.shared()}user:{user_id}"


def api_token(token_hash: str) -> str:
    """String: the user id an API token (stored as its SHA-256) belongs to."""
    return f"{_ks.shared()}apitok:{token_hash}"


def user_tokens(user_id: str) -> str:
    """Set of a user's API token hashes (revoked together on disable/reset)."""
    return f"{_ks.shared()}apitoks:{user_id}"


def console_photos(user_id: str, incident_id: str) -> str:
    """List of photo URLs a console user uploaded for the next 处置反馈 of a case (处置后照片,
    issue 21); taken by that action, expires after a day (app.screens.console)."""
    return f"{_ks.shared()}console:photos:{user_id}:{incident_id}"


def console_seen(user_id: str) -> str:
    """Hash view → epoch s: when the user last marked that console view read (标为已阅); rows
    that came in later are marked 新 (app.screens.console, issue 15)."""
    return f"{_ks.shared()}console:seen:{user_id}"


# SECURITY_AUDIT: shared (``om:sec:audit`` untagged).
#   Stream of security events (denied requests, logins, account changes, exports): ``event``,
#   ``user``, ``role``, ``center``, ``path``, ``target``, ``reason``, ``ts``, and the hash chain's
#   ``seq``, ``prev``, ``hash`` (app.security.audit). Never trimmed silently (``onemap audit trim``).
# SECURITY_AUDIT_HEAD: shared (``om:sec:audit:head`` untagged).
#   String ``seq|hash``: the security audit chain's newest entry.
# SECURITY_AUDIT_ANCHOR: shared (``om:sec:audit:anchor`` untagged).
#   String ``seq|hash|entry id``: the last entry archived away; the chain is checked from it.


def rate(bucket: str, who: str, window: int) -> str:
    """Fixed-window counter of one caller in one bucket (e.g. ``report``) for window number n."""
    return f"{_ks.shared()}rate:{bucket}:{who}:{window}"


def idempotency(scope: str, key: str) -> str:
    """Result of an intake request already handled under this Idempotency-Key (per caller)."""
    return f"{_ks.shared()}idem:{scope}:{key}"


# COUNTERS: shared (``om:sec:counters`` untagged).
#   Hash of security counters: ``cap_rejected``, ``csrf_rejected``, ``rate_limited``,
#   ``upload_rejected``, ``denied``.

# UPPER_PUSH: the city (``om:push:upper`` untagged).
#   Stream of incidents pushed to the upper (provincial) platform (mock): ``id``, ``payload``
#   (JSON), ``ts``.

# Emergency mode (应急模式) lives in the incidents package (``incidents.keys.EMERGENCY``, read with
# ``IncidentService.emergency_state()``); screens show its banner via
# ``app.screens.console.emergency_banner(service, city, actor)``.


# --- screens: ops, mobile (owned by the mobile/analytics/ops engineer; please keep) ------------
# HEARTBEATS: shared (``om:hb`` untagged).
#   Hash ``<kind>:<name>`` → JSON of the last heartbeat of a process (``app.heartbeat``).


def mobile_photo(photo_id: str) -> str:
    """Hash of one uploaded photo: ``owner``, ``type`` (image/jpeg…), ``data`` (base64), ``ts``."""
    return f"{_ks.shared()}m:photo:{photo_id}"


def mobile_patrol(worker: str) -> str:
    """Stream of a grid worker's patrol log (巡查): ``note``, ``lon``, ``lat``, ``photos``, ``ts``."""
    return f"{_ks.city()}m:patrol:{worker}"


def mobile_recent_categories(worker: str) -> str:
    """Sorted set category code → last use (epoch ms) of one grid worker: recent first."""
    return f"{_ks.shared()}m:recent:{worker}"


# DEMO_SEEDED: shared (``om:demo:seeded`` untagged).
#   String: set once `onemap demo` has written its history of past incidents (app.demo_data).

# WEB_SECRET: shared (``om:web:secret`` untagged).
#   Legacy (before issue 19): the session signing key once kept here. Never written now; the web
#   app deletes it at start (the key lives in a file or the environment: app.secret_files).


def session_key(sid: str) -> str:
    """Hash of one login session: ``user``, ``epoch``, ``kind`` (user/kiosk), ``created``,
    ``seen`` (epoch s). EXPIREs with its idle/absolute limit; deleted on logout."""
    return f"{_ks.shared()}sess:{sid}"


def user_sessions_key(user_id: str) -> str:
    """Set of a user's session ids (``~kiosk`` for the wall kiosk): revoke-all ends them."""
    return f"{_ks.shared()}sesss:{user_id}"


# KIOSK_TOKEN_KEY: shared (``om:kiosk:token`` untagged).
#   String: SHA-256 of the current wall kiosk token once rotated (``onemap users kiosk-rotate``);
#   while absent, ``settings.kiosk_token`` is the token.


def failures_key(scope: str, who: str) -> str:
    """Hash ``n`` (failures), ``last`` (epoch s) of one scope's login failures; EXPIREs
    ``WINDOW_S`` after the last failure."""
    return f"{_ks.shared()}loginfail:{scope}:{who}"


# --- Open311 GeoReport v2 (app.open311, issue 18) ----------------------------------------
# OPEN311_CLIENTS: shared (``om:o311:clients`` untagged).
#   Hash client name → JSON ``{center, hash, created, revoked}`` of each Open311 API key issued
#   (``onemap open311 keys issue``); the key itself is never stored, only its SHA-256.


def open311_key(key_hash: str) -> str:
    """String: the Open311 client name an api_key (stored as its SHA-256) belongs to."""
    return f"{_ks.shared()}o311:key:{key_hash}"


def open311_request(incident_id: str) -> str:
    """Hash of what an Open311 POST carried beside the incident: ``address``, ``address_id``,
    ``media_url``, ``located`` (point|address|none), ``client``, ``token``, contact fields."""
    return f"{_ks.city()}o311:req:{incident_id}"


def open311_token(token: str) -> str:
    """String: the service_request_id an Open311 POST's token stands for."""
    return f"{_ks.city()}o311:tok:{token}"

# --- CAP 1.2 intake (app.cap, issue 18) -------------------------------------------------------
# CAP_LOG: the city (``om:cap:log`` untagged).
#   List (newest first, capped): every CAP message taken in, as JSON — sender, identifier, status,
#   msgType, outcome (opened/correlated/updated/cancelled/recorded/expired), incident id, reason.
# CAP_REFS: the city (``om:cap:refs`` untagged).
#   Hash ``sender,identifier`` → incident id: what an ``Update``/``Cancel``'s references name;
#   ``opened:<incident id>`` → the sender whose alert opened it (only its Cancel voids it).
# CAP_SENDERS: shared (``om:cap:senders`` untagged).
#   Set of account ids registered as CAP senders (e.g. the weather bureau's API account).

# --- the wall's video area (app.http.video_wall, app.screens.wall.video; issue 23) ----------
# WALL_VIDEO_PINS: the city (``om:wall:video:pins`` untagged).
#   Sorted set camera id → when it was pinned (epoch ms) by the hall operator (上墙): pinned
#   cameras come first in the wall's video area, in the order they were pinned.


_SHARED_NAMES = {
    "OPEN311_CLIENTS": "o311:clients",
    "USERS": "users",
    "SECURITY_AUDIT": "sec:audit",
    "SECURITY_AUDIT_HEAD": "sec:audit:head",
    "SECURITY_AUDIT_ANCHOR": "sec:audit:anchor",
    "COUNTERS": "sec:counters",
    "HEARTBEATS": "hb",
    "DEMO_SEEDED": "demo:seeded",
    "WEB_SECRET": "web:secret",
    "KIOSK_TOKEN_KEY": "kiosk:token",
    "CAP_SENDERS": "cap:senders",
}
_CITY_NAMES = {
    "UPPER_PUSH": "push:upper",
    "CAP_LOG": "cap:log",
    "CAP_REFS": "cap:refs",
    "WALL_VIDEO_PINS": "wall:video:pins",
}
__getattr__ = _ks.lazy_names(globals(), _CITY_NAMES, _SHARED_NAMES)
