"""Who is on the other end of a stream: the Flask session cookie, verified as Flask does.

The stream is served outside Flask (an asyncio route), so it reads the same signed cookie with
Flask's own serializer (itsdangerous, the app's SECRET_KEY, Flask's salt and max age) and checks
the session id with the login gate's own check (``app.auth.SESSION_CHECK``: the server-side
record must exist — logout and revoke-all delete it — within its idle and absolute limits, the
account enabled and not reset), so a stream never outlives the session it was opened with.
"""

from __future__ import annotations

from flask import Flask
from itsdangerous import BadSignature

from app.auth import SESSION_CHECK
from incidents.actor import Actor


def _checked(server: Flask, cookie: str | None):  # noqa: ANN202 (the session check's user)
    """(session id, the server-side session's user) of a signed cookie, or (None, None)."""
    if not cookie:
        return None, None
    serializer = server.session_interface.get_signing_serializer(server)
    if serializer is None:          # no SECRET_KEY: Flask itself would refuse every session
        return None, None
    try:
        data = serializer.loads(cookie, max_age=int(server.permanent_session_lifetime.total_seconds()))
    except BadSignature:
        return None, None
    sid = data.get("_user_id")
    check = server.extensions.get(SESSION_CHECK)
    # touch=False: an open stream re-checks its session, but only requests keep it alive
    user = check(sid, touch=False) if sid and check else None
    return (sid, user) if user is not None else (None, None)


def actor_from_cookie(server: Flask, cookie: str | None) -> Actor | None:
    """The Actor of a session cookie's value, or None (absent, forged, logged out, revoked,
    expired, idle, disabled).

    Blocking (the user is read from Redis): call it from a worker thread."""
    user = _checked(server, cookie)[1]
    return user.actor if user is not None else None


def sid_from_cookie(server: Flask, cookie: str | None) -> str | None:
    """The session id of a signed session cookie when the session is live, else None (blocking:
    Redis); a video grant is bound to it."""
    return _checked(server, cookie)[0]
