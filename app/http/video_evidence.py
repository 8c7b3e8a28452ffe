"""截图取证 (issue 23; V27 全程可控, T25 看得见, E32 处置留痕): a frame grabbed from a camera's live
stream on the server and attached to a case as evidence.

``POST /api/incidents/<incident_id>/video/evidence`` ``{"camera": id}`` → ``{"url":
"/media/photo/<id>", "camera": {...}, "incident": id, "ts": ms}``:

1. the case: the caller must be allowed to add to its trail (``Policy.check`` of 备注, the rule
   for "may act on this case"; read scope S1/S2 first): else 403 and a security-audit entry;
2. the camera: the caller must be allowed to watch it (``Policy.may_watch``, through
   ``app.http.video``): else 403, in the security audit and the 视频调阅 log;
3. one frame of the camera, taken from the video gateway's shared upstream when a gateway runs
   (``app.video.camera_frame``, as the video-AI snapshots: no second RTSP pull of a camera the
   hall already watches, issue 23 "one upstream pull per camera"), else by an ffmpeg grab of its
   own (``app.video.grab_frame``), stored as the case's photos are stored (``app.keys.mobile_photo``,
   served by ``GET /media/photo/<id>`` to whoever may read the case) and appended to the case's
   attachments through the incident service's one write path: the audit entry (备注, reason
   ``截图取证 · 摄像机 …``) says who, which camera and when, and the panel's timeline shows it.

A frame that cannot be grabbed (camera offline, channels full, platform refusal) is 502 with the
reason in Chinese, counted (``video_evidence_failed``) and logged; nothing is attached. The path
each frame took is counted too (``video_evidence_gateway``, ``video_evidence_direct``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from flask import Blueprint, abort, current_app, jsonify, request

from app import security
from app.auth import guarded, require_actor
from app.http import ctx, guard_incident_ids, svc
from app.http.video import _camera, _may_watch
from app.keys import mobile_photo
from app.mobile_api import PHOTO_TTL_S, photo_url
from incidents.actor import Actor
from incidents.vocab import EVIDENCE, Action
from sensors.video import sources

log = logging.getLogger("onemap.video")
bp = Blueprint("api_video_evidence", __name__)
guard_incident_ids(bp)

GRAB_TIMEOUT_S = 12.0
"""ffmpeg's whole grab without a gateway (connect + the next keyframe): a camera sends one every
~2 s."""


def evidence_reason(cam: dict) -> str:
    """The audit entry's reason: the evidence word, the camera's name and id."""
    return f"{EVIDENCE} · 摄像机 {cam.get('name') or cam['id']}（{cam['id']}）"


def grab(cam: dict) -> tuple[bytes, str]:
    """One JPEG frame of ``cam``'s live stream (bytes, "") or (b"", why not, in Chinese): from
    the gateway's shared upstream when it runs, else a grab of its own; the path is counted."""
    from app.video import camera_frame  # noqa: PLC0415 (the gateway's client, ffmpeg)

    cfg = ctx().settings.video_config
    data, why, path = camera_frame(
        cfg, str(current_app.config["SECRET_KEY"]), cam["id"],
        lambda: sources.resolve(cfg, sources.adapters(cfg), cam["id"], str(cam.get("stream_url") or "")),
        timeout_s=GRAB_TIMEOUT_S)
    security.count(ctx().redis, f"video_evidence_{path}")
    return data, why


def store_photo(actor: Actor, incident_id: str, camera: str, data: bytes) -> str:
    """The frame stored as the case's photos are (``app.mobile_api``: the same key and URL,
    linked to the case so whoever may read the case may see it); its URL."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    pid = hmac.new(secret, data, hashlib.sha256).hexdigest()[:32]
    k = mobile_photo(pid)
    r = ctx().redis
    if not r.exists(k):
        ctx().redis_bytes.hset(k, mapping={"owner": actor.user_id, "type": "image/jpeg", "data": data,
                                           "ts": str(int(time.time() * 1000))})
        r.expire(k, PHOTO_TTL_S)
    r.hset(k, mapping={"incident": incident_id, "camera": camera})
    return photo_url(pid)


@bp.post("/api/incidents/<incident_id>/video/evidence")
def evidence(incident_id: str):
    actor = require_actor()
    body = request.get_json(silent=True) or {}
    with guarded(incident_id):
        inc = svc().get(incident_id, actor)             # read scope (403 audited / 404)
        svc().policy.check(Action.NOTE, actor, inc)      # may act on the case (403 audited)
    cam = _camera(body.get("camera"))
    _may_watch(actor, cam, incident_id)                 # may watch the camera (403 audited)
    data, why = grab(cam)
    if why:
        security.count(ctx().redis, "video_evidence_failed")
        log.warning("evidence %s %s: %s", incident_id, cam["id"], why)
        abort(security.json_error(502, "grab_failed", reason=f"{EVIDENCE}失败：{why}"))
    url = store_photo(actor, incident_id, cam["id"], data)
    with guarded(incident_id):
        svc().attach_evidence(incident_id, actor, url, evidence_reason(cam))
    return jsonify(url=url, incident=incident_id, ts=int(time.time() * 1000),
                   camera={"id": cam["id"], "name": cam["name"]})
