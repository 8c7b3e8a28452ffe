"""Who is on the other end of a stream: the Flask session cookie, verified as Flask does.

The stream is served outside Flask (an asyncio route), so it reads the same signed cookie with
Flask's own serializer (itsdangerous, the app's SECRET_KEY, Flask's salt and max age) and loads
the user with the login gate's own loader (``app.auth``: disabled accounts and password resets
end the session). The idle limit of the gate applies (the wall kiosk exempt), so a stream never
outlives the session it was opened with.
"""

from __future__ import annotations

import time

from flask import Flask
from itsdangerous import BadSignature

from app.auth import _KIOSK_ID, SESSION_IDLE_S
from incidents.actor import Actor


def actor_from_cookie(server: Flask, cookie: str | None) -> Actor | None:
    """The Actor of a session cookie's value, or None (absent, forged, expired, idle, disabled).

    Blocking (the user is read from Redis): call it from a worker thread."""
    if not cookie:
        return None
    serializer = server.session_interface.get_signing_serializer(server)
    if serializer is None:          # no SECRET_KEY: Flask itself would refuse every session
        return None
    try:
        data = serializer.loads(cookie, max_age=int(server.permanent_session_lifetime.total_seconds()))
    except BadSignature:
        return None
    sid = data.get("_user_id")
    loader = server.login_manager.user_callback      # app.auth's load_user
    user = loader(sid) if sid and loader else None
    if user is None:
        return None
    actor: Actor = user.actor
    seen = data.get("_seen")
    if actor.user_id != _KIOSK_ID and seen is not None and time.time() - int(seen) > SESSION_IDLE_S:
        return None
    return actor
