"""A case's video clip (issue 23: "a short clip (e.g. 20 s) from the moment the incident opens is
kept with the incident when the camera is reachable"; V27 全程可控). The gateway's
``app.video.ClipWorker`` records it; here it is read, scoped like the live picture:

- ``GET /api/video/clips/<incident_id>`` → the clip record ``{camera, state (recording / stored
  / failed), path, seconds, reason}`` (404 when the case has none);
- ``GET /clips/<camera>/<incident_id>.mp4``: the MP4 (range requests: a player seeks), for whoever
  may watch that camera (``Policy.may_watch``; a refusal is audited as for live video).
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, send_file

from app import security
from app.auth import require_actor
from app.http import check_incident_id, ctx
from app.http.video import _camera, _may_watch, snapshot_dir
from sensors.video.access import clip_record

bp = Blueprint("api_video_clips", __name__)


@bp.get("/api/video/clips/<incident_id>")
def clip(incident_id: str):
    actor = require_actor()
    check_incident_id(incident_id)
    rec = clip_record(ctx().redis, incident_id)
    if rec is None:
        abort(security.json_error(404, "not_found", reason="该事件没有视频片段 (no clip)"))
    _may_watch(actor, _camera(rec.get("camera")), incident_id)
    return jsonify(incident=incident_id, **rec)


@bp.get("/clips/<camera>/<name>")
def clip_file(camera: str, name: str):
    actor = require_actor()
    cam = _camera(camera)
    incident_id = name.removesuffix(".mp4")
    if not name.endswith(".mp4"):
        abort(security.json_error(404, "not_found", reason="无此视频片段 (no such clip)"))
    check_incident_id(incident_id)
    _may_watch(actor, cam, incident_id)
    path = snapshot_dir() / cam["id"] / name
    if not path.is_file():
        abort(security.json_error(404, "not_found", reason="视频片段尚未保存或已清理 (no such clip)"))
    return send_file(path, mimetype="video/mp4", conditional=True, max_age=3600)
