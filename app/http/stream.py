"""``/events`` when the Flask app is served by a plain WSGI server (werkzeug in tests, a dev
server): 204, "no push here". The browser's EventSource then stops for good and the screens
poll as they did before push (assets/*/live.js). Under ``onemap web`` and ``onemap demo`` the
ASGI app (``app.live.asgi``) answers ``/events`` before the request reaches Flask."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("stream", __name__)


@bp.get("/events", endpoint="events_unavailable")
def events_unavailable():
    return "", 204, {"Cache-Control": "no-store"}
