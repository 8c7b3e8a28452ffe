"""Redis keys owned by the web app (``app/``). Every key starts with ``om:``."""

from __future__ import annotations

HEARTBEATS = "om:hb"                       # hash "<kind>:<name>" → JSON beat (app.heartbeat)
MOBILE_PHOTO = "om:m:photo:{photo_id}"     # hash: content type, bytes (base64), owner (app.mobile_api)
MOBILE_PATROL = "om:m:patrol:{worker}"     # stream: a grid worker's patrol log (巡查)
MOBILE_RECENT_CATS = "om:m:recent:{worker}"  # zset category → last use (ms): recent first
