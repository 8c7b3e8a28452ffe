"""应急模式 over HTTP: state, switch on/off (city commander), the audited log."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from app.api import (
    int_field,
    json_body,
    text_field,
)
from app.auth import guarded, require_actor
from app.http import svc

bp = Blueprint("api_emergency", __name__)


def minutes_field(value: object) -> float:
    """``minutes`` of a request body as a number; ValueError (→ 400) otherwise. Its range
    (0 < minutes ≤ 7 days) is the service's to check (``EmergencyMode.emergency_on``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("应急时长 minutes 应为分钟数 (minutes: a number)")
    try:
        return float(value)
    except (ValueError, OverflowError):
        raise ValueError("应急时长 minutes 应为分钟数 (minutes: a number)") from None


@bp.get("/api/emergency")
def emergency_state():
    require_actor()
    return jsonify(active=svc().emergency_state())

@bp.post("/api/emergency")
def emergency_on():
    actor = require_actor()
    b = json_body()
    with guarded("emergency"):
        until = time.time() + minutes_field(b.get("minutes", 60)) * 60   # the window: the service's
        state = svc().emergency_on(b.get("area") or {}, until, actor, text_field(b, "reason"))
    return jsonify(active=state)

@bp.get("/api/emergency/log")
def emergency_log():
    actor = require_actor()
    with guarded("emergency_log"):
        return jsonify(entries=svc().emergency_log(actor, limit=int_field(request.args, "limit") or 100))

@bp.post("/api/emergency/off")
def emergency_off():
    actor = require_actor()
    with guarded("emergency"):
        svc().emergency_off(actor, text_field(json_body(), "reason"))
    return jsonify(active=None)
