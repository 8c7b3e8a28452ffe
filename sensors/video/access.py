"""全程可控 (V27): playback grants bound to a session, and the 视频调阅 log.

A playback URL carries a grant token: issued by the web API after the policy said yes
(``incidents.policy.may_watch``), valid for ``token_ttl_s`` to start a stream, and only for the
login session that asked for it (a copied URL fails from another browser). Every view is logged
with its start and its end (who, which camera, for which case), and every refusal; the
security officer reads the log (``GET /api/video/views``).
"""

from __future__ import annotations

import json
import secrets
import time

import redis

from sensors import keys as skeys
from sensors.video import defaults, keys


def issue(r: redis.Redis, *, user: str, role: str, center: str, sid: str, camera: str,
          case: str = "", ttl_s: float = defaults.TOKEN_TTL_S) -> str:
    """A new grant token for ``camera`` (the URL's secret)."""
    tok = secrets.token_urlsafe(24)
    grant = {"user": user, "role": role, "center": center, "sid": sid, "camera": camera,
             "case": case, "issued": int(time.time() * 1000)}
    r.set(keys.token(tok), json.dumps(grant, ensure_ascii=False), px=int(ttl_s * 1000))
    return tok


def redeem(r: redis.Redis, tok: str, camera: str, sid: str | None) -> tuple[dict | None, str]:
    """(grant, "") when ``tok`` grants ``camera`` to the session ``sid``; else (grant or None,
    why not: ``expired``, ``camera``, ``session``)."""
    raw = r.get(keys.token(tok)) if tok and len(tok) <= 64 else None
    if raw is None:
        return None, "expired"
    grant = json.loads(raw)
    if grant.get("camera") != camera:
        return grant, "camera"
    if not sid or not secrets.compare_digest(str(grant.get("sid", "")), sid):
        return grant, "session"
    return grant, ""


def log_view(r: redis.Redis, event: str, *, user: str = "", role: str = "", center: str = "",
             camera: str = "", case: str = "", view: str = "", reason: str = "",
             seconds: float | None = None) -> str:
    """One line of the 视频调阅 log: ``start``, ``end`` (with ``seconds``) or ``denied``."""
    fields = {"event": event, "user": user, "role": role, "center": center, "camera": camera,
              "case": case, "view": view, "reason": reason[:300], "ts": str(int(time.time() * 1000))}
    if seconds is not None:
        fields["seconds"] = f"{seconds:.1f}"
    return r.xadd(keys.VIEWS, fields, maxlen=defaults.VIEWS_MAXLEN, approximate=True)


def views(r: redis.Redis, count: int = 200, camera: str | None = None) -> list[dict]:
    """The latest log lines, newest first (``camera``: that camera's only)."""
    rows = [dict(f, _id=i) for i, f in r.xrevrange(keys.VIEWS, count=max(1, min(count, 5000)))]
    return [x for x in rows if camera is None or x.get("camera") == camera]


def active(r: redis.Redis, user: str) -> int:
    return int(r.hget(keys.ACTIVE, user) or 0)


def began(r: redis.Redis, user: str) -> None:
    r.hincrby(keys.ACTIVE, user, 1)


def ended(r: redis.Redis, user: str) -> None:
    if r.hincrby(keys.ACTIVE, user, -1) <= 0:
        r.hdel(keys.ACTIVE, user)


def record_state(r: redis.Redis, camera: str, state: str, reason: str = "") -> None:
    """A camera's stream state, as device health reads a status message: ``offline`` marks it
    offline now (a 1102 视频设备离线 fault follows after the grace, ``sensors.health``); ``live``
    marks it heard (online). ``stopped`` (nobody watches) says nothing about the camera."""
    now = int(time.time() * 1000)
    p = r.pipeline(transaction=False)
    p.hset(keys.STATE, camera, json.dumps({"state": state, "reason": reason, "ts": now},
                                          ensure_ascii=False))
    if state == "offline":
        p.hset(skeys.DEV_STATE, camera, "offline")
        p.hset(skeys.dev_last(camera), "online", "0")
        p.hset(skeys.DEV_LWT, camera, now)
    elif state == "live":
        p.zadd(skeys.DEV_SEEN, {camera: now})
        p.hdel(skeys.DEV_LWT, camera)
        p.hset(skeys.dev_last(camera), "online", "1")
    p.execute()
    if state == "live" and r.hget(skeys.DEV_STATE, camera) == "offline":
        r.hset(skeys.DEV_STATE, camera, "normal")


def stream_states(r: redis.Redis) -> dict[str, dict]:
    """Camera id → its last stream state (where a stream was tried)."""
    return {c: json.loads(v) for c, v in r.hgetall(keys.STATE).items()}


def claim_clip(r: redis.Redis, incident: str, camera: str) -> bool:
    """Mark ``incident``'s clip as being recorded; False when the case has one already."""
    rec = {"state": "recording", "camera": camera, "ts": time.time()}
    return bool(r.set(keys.clip(incident), json.dumps(rec), nx=True))


def set_clip(r: redis.Redis, incident: str, rec: dict) -> None:
    r.set(keys.clip(incident), json.dumps(rec, ensure_ascii=False))


def clip_record(r: redis.Redis, incident: str) -> dict | None:
    """The case's clip record (``app.video.ClipWorker``): camera, state (recording / stored /
    failed), path, seconds, reason; or None."""
    raw = r.get(keys.clip(incident))
    return json.loads(raw) if raw else None
