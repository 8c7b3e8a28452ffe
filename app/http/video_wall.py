"""The wall's video area over HTTP (issue 23; M3 大厅视频系统, V27 全程可控).

- ``GET /api/video/wall/pins`` → ``{"pins": [{"camera_id", "name", "pinned_ts"}], "max"}``;
- ``POST /api/video/wall/pins`` ``{"camera_id": id, "pinned": true|false}``: the hall operator
  puts a camera on the wall (上墙) or takes it off; pinned cameras come first in the wall's
  video area, in the order they were pinned (``app.screens.wall.video``), at most
  ``MAX_PINS``. The city's hall roles only (a city-level role that works the city's queue:
  commander, city operator); anyone else gets 403, written to the security audit. Every pin and
  unpin is audited (``wall_pin`` / ``wall_unpin``). Stored in Redis (``app.keys.WALL_VIDEO_PINS``);
- ``POST /wall/video/play`` ``{"camera", "case"}``: the wall's playback grant. The wall's kiosk
  (大屏, the city's) may not call ``/api/*``, so its tiles ask here, under the wall's own path
  (the login gate lets only the wall's roles in); the answer is ``POST /api/video/play``'s
  (``app.http.video.play``: the same policy, quota, session-bound grant and 视频调阅 log).
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, jsonify, request

from app import keys, security
from app.auth import deny, require_actor
from app.http import ctx, svc
from app.http import video as video_api
from app.screens.wall.video import MAX_PINS
from incidents.actor import Actor

bp = Blueprint("api_video_wall", __name__)

def hall_refusal(actor: Actor) -> str | None:
    """上墙: the one policy's rule (``Policy.may_pin_wall``)."""
    return svc().policy.may_pin_wall(actor)


def _hall() -> Actor:
    actor = require_actor()
    why = hall_refusal(actor)
    if why is not None:
        deny(why, target="wall:video:pins")
    return actor


def _pins() -> list[dict]:
    reg = ctx().devices
    out = []
    for cid, score in ctx().redis.zrange(keys.WALL_VIDEO_PINS, 0, -1, withscores=True):
        cam = reg.camera(cid) or {}
        out.append({"camera_id": cid, "name": str(cam.get("name") or cid),
                    "pinned_ts": int(score)})
    return out


@bp.get("/api/video/wall/pins")
def get_pins():
    _hall()
    return jsonify(pins=_pins(), max=MAX_PINS)


@bp.post("/api/video/wall/pins")
def set_pins():
    actor = _hall()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("pinned"), bool):
        abort(security.json_error(400, "bad_request", reason="应为 {\"camera_id\": 摄像机编号, "
                                  "\"pinned\": true/false} (camera_id and a boolean pinned)"))
    cam = video_api._camera(body.get("camera_id"))     # 400 bad id, 404 no such camera
    r = ctx().redis
    cid = str(cam["id"])
    if body["pinned"]:
        if r.zscore(keys.WALL_VIDEO_PINS, cid) is None and \
                r.zcard(keys.WALL_VIDEO_PINS) >= MAX_PINS:
            abort(security.json_error(409, "too_many", reason=f"上墙画面最多 {MAX_PINS} 路，"
                                      f"请先取下一路 (at most {MAX_PINS} pinned cameras)"))
        r.zadd(keys.WALL_VIDEO_PINS, {cid: int(time.time() * 1000)}, nx=True)   # keeps its place
    else:
        r.zrem(keys.WALL_VIDEO_PINS, cid)
    security.audit(r, "wall_pin" if body["pinned"] else "wall_unpin", user=actor.user_id,
                   role=actor.role, center=actor.center, path=request.path, target=cid)
    return jsonify(pins=_pins(), max=MAX_PINS)


@bp.post("/wall/video/play")
def wall_play():
    """A wall tile's grant (the kiosk's path; see the module's docstring)."""
    return video_api.play()
