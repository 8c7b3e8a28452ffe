"""Video (issue 23; V1, V27 全程可控, V28, M3): playback grants, the 视频调阅 log, camera stream
states and video-AI snapshots. The picture itself comes from the gateway (``app.video``).

- ``POST /api/video/play`` ``{"camera": id, "case": incident id (optional)}`` → ``{"url": the
  gateway's MPEG-TS URL with a short-lived grant, "expires_in": s, "camera": {...}}``: the
  policy says who may watch which camera (``Policy.may_watch``); a refusal is 403, written to
  the security audit and the 视频调阅 log; a user over the role's quota gets 429;
- ``GET /api/video/views`` (the security officer: administrator; and the commander): the
  视频调阅 log, newest first (``?camera=``, ``?count=``);
- ``GET /api/video/states``: each tried camera's stream state (live / offline + reason), scoped;
- ``GET /snapshots/<camera>/<name>.jpg``: a video-AI detection's snapshot, stored by the video
  worker (``app.video.SnapshotWorker``), for whoever may watch that camera.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, abort, jsonify, request, send_file
from flask_login import current_user

from app import security
from app.auth import deny, require_actor, require_role
from app.http import check_incident_id, ctx
from app.http.audit import AUDIT_READERS
from sensors.video import access
from sensors.video import defaults as vdefaults

bp = Blueprint("api_video", __name__)
bp.record_once(lambda state: state.app.extensions.setdefault(
    security.CSP_CONNECT, lambda: [gateway_base()]))   # pages may fetch from the gateway

CAMERA_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SNAP_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}\.jpg")


def _camera(camera_id: object) -> dict:
    if not isinstance(camera_id, str) or not CAMERA_ID.fullmatch(camera_id):
        abort(security.json_error(400, "bad_request", reason="摄像机编号无效 (bad camera id)"))
    cam = ctx().devices.camera(camera_id)
    if cam is None:
        abort(security.json_error(404, "not_found", reason="无此摄像机 (no such camera)"))
    return cam


def _may_watch(actor, cam: dict, case: str = "") -> None:  # noqa: ANN001 (Actor)
    why = ctx().incidents.policy.may_watch(actor, cam)
    if why is not None:
        access.log_view(ctx().redis, "denied", user=actor.user_id, role=actor.role,
                        center=actor.center, camera=cam["id"], case=case, reason=why)
        deny(why, target=cam["id"])


def gateway_base() -> str:
    """The gateway's address for this browser: configured, or this page's host on its port."""
    cfg = ctx().settings.video_config
    if cfg.gateway_url:
        return cfg.gateway_url.rstrip("/")
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return f"{request.scheme}://{host}:{cfg.port}"


@bp.post("/api/video/play")
def play():
    actor = require_actor()
    body = request.get_json(silent=True) or {}
    cam = _camera(body.get("camera"))
    case = body.get("case") or ""
    if case:
        check_incident_id(case)
    _may_watch(actor, cam, case)
    cfg = ctx().settings.video_config
    r = ctx().redis
    if access.active(r, actor.user_id) >= cfg.quota(actor.role):
        access.log_view(r, "denied", user=actor.user_id, role=actor.role, center=actor.center,
                        camera=cam["id"], case=case, reason="quota")
        abort(security.json_error(429, "quota", reason=vdefaults.QUOTA_FULL))
    tok = access.issue(r, user=actor.user_id, role=actor.role, center=actor.center,
                       sid=current_user.get_id() or "", camera=cam["id"], case=case,
                       ttl_s=cfg.token_ttl_s)
    return jsonify(url=f"{gateway_base()}/video/live/{cam['id']}.ts?t={tok}",
                   expires_in=cfg.token_ttl_s, player="/static/video/mpegts.js",
                   camera={"id": cam["id"], "name": cam["name"], "lon": cam["lon"],
                           "lat": cam["lat"]})


@bp.get("/api/video/views")
def views():
    require_role(*AUDIT_READERS)
    items = access.views(ctx().redis, request.args.get("count", 200, type=int),
                         request.args.get("camera") or None)
    return jsonify(items=items)


@bp.get("/api/video/states")
def states():
    actor = require_actor()
    policy = ctx().incidents.policy
    out = {}
    for cid, st in access.stream_states(ctx().redis).items():
        cam = ctx().devices.camera(cid)
        if cam is not None and policy.may_watch(actor, cam) is None:
            out[cid] = st
    return jsonify(cameras=out)


def snapshot_dir() -> Path:
    return Path(ctx().settings.data_dir) / "snapshots"


@bp.get("/snapshots/<camera>/<name>")
def snapshot(camera: str, name: str):
    actor = require_actor()
    cam = _camera(camera)
    if not SNAP_NAME.fullmatch(name):
        abort(security.json_error(404, "not_found", reason="无此截图 (no such snapshot)"))
    _may_watch(actor, cam)
    path = snapshot_dir() / cam["id"] / name
    if not path.is_file():
        abort(security.json_error(404, "not_found", reason="截图尚未保存或已清理 (no such snapshot)"))
    return send_file(path, mimetype="image/jpeg", max_age=3600)
