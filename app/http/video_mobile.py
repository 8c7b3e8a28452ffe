"""The phone's nearby cameras (issue 23; V1 全网共享, V27 全程可控, T25 看得见).

- ``GET /m/api/video/nearby?lat=&lon=`` (``&radius=`` m, at most ``MAX_RADIUS_M``) →
  ``{"cameras": [{"id", "name", "town", "distance_m", "lon", "lat"}], "radius_m", "video",
  "mb_per_min", "notice"}``: the cameras within the radius, nearest first, that the caller may
  watch (``Policy.may_watch``: a responder its center's; a grid worker the public-space cameras
  of its own cell; a department's the ones shared to it), with the data-saving notice
  (流量提示) the phone shows before it plays anything. ``video`` is False while no gateway runs.
- ``POST /m/api/video/play`` ``{"camera", "case"}``: the phone's playback grant. Responders may
  not call ``/api/*`` (the phone's ``/m/api/*`` only), so the phone asks here; the answer is
  ``POST /api/video/play``'s (``app.http.video.play``: the same policy, per-role quota, session
  bound grant and 视频调阅 log).
"""

from __future__ import annotations

import math

from flask import Blueprint, abort, jsonify, request

from app import nearby, security
from app.auth import require_actor
from app.http import ctx
from app.http import video as video_api
from sensors.video import keys as vkeys

bp = Blueprint("api_video_mobile", __name__)

RADIUS_M = 1000.0
"""Cameras offered around the phone (m): a few minutes' walk. Demo default."""
MAX_RADIUS_M = 3000.0
"""The most a phone may ask for (m)."""
MAX_CAMERAS = 12
"""Cameras listed at most (nearest first)."""
PHONE_KBPS = 512
"""The bitrate a phone is told to expect (kbit/s): a camera's sub-stream (H.264 CIF/D1; the demo
cameras send 500 kbit/s). The gateway repackages without transcoding: what the camera sends is
what the phone receives."""


def mb_per_min(kbps: float = PHONE_KBPS) -> float:
    """Megabytes a minute of video costs at ``kbps`` (1 MB = 10^6 bytes), one decimal."""
    return round(kbps * 1000 / 8 * 60 / 1e6, 1)


def _coord(name: str, lo: float, hi: float) -> float:
    try:
        v = float(request.args.get(name, ""))
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or not lo <= v <= hi:
        abort(security.json_error(400, "bad_request", reason=f"位置无效：{name} 应为 {lo:g}…{hi:g} "
                                  f"的数字 (bad {name})"))
    return v


@bp.get("/m/api/video/nearby")
def video_nearby():
    actor = require_actor()
    lat, lon = _coord("lat", -90, 90), _coord("lon", -180, 180)
    radius = RADIUS_M
    if request.args.get("radius"):
        radius = _coord("radius", 1, MAX_RADIUS_M)
    c = ctx()
    policy = c.incidents.policy
    rows = nearby.near(c.devices.cameras, lon, lat, radius, limit=1000,
                       fields=("id", "name", "town_code", "cell_code", "share", "owner"))
    towns = c.city.town_names
    cams = [{"id": str(r["id"]), "name": str(r["name"]),
             "town": towns.get(str(r["town_code"]), ""), "distance_m": r["distance_m"],
             "lon": r["lon"], "lat": r["lat"]}
            for r in rows if policy.may_watch(actor, r) is None][:MAX_CAMERAS]
    mb = mb_per_min()
    return jsonify(cameras=cams, radius_m=radius, video=bool(c.redis.exists(vkeys.GATEWAY)),
                   mb_per_min=mb, notice=f"视频将消耗流量，约 {mb:g} MB/分钟")


@bp.post("/m/api/video/play")
def mobile_play():
    """A phone's grant (see the module's docstring)."""
    return video_api.play()
