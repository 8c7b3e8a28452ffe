"""Server-side login sessions (会话): a random id in the signed cookie, the record in Redis.

The cookie alone is no longer a credential: every request (``app.auth``'s user loader, and the
live push stream through it) looks the id up here, so logout, "revoke all sessions of a user"
(``onemap users revoke``, ``POST /api/users/<id>/revoke``), a disabled account or a reset
password end a session at once, and a copied cookie is worthless afterwards (issue 19; SEC4,
SEC11 等保 会话管理).

A record: ``user``, ``epoch`` (the account's epoch at login: reset/disable bump it), ``kind``
(``user`` or ``kiosk``), ``created``, ``seen`` (epoch s). Two limits: ``idle_s`` since the last
request, ``absolute_s`` since login, whatever the activity. Redis EXPIRE follows the nearer of
the two so abandoned records clean themselves up; the check itself never trusts the TTL alone
(the clock is injectable for tests).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from app import keys as _keys
from app.keys import session_key, user_sessions_key

TOUCH_EVERY_S = 60
"""``seen`` is written at most once a minute per session: one HGETALL per request, rarely a write."""


@dataclass(frozen=True)
class SessionRecord:
    """One live session."""

    sid: str
    user: str
    epoch: int
    kind: str
    created: float
    seen: float


class SessionStore:
    """Create, check, end and revoke sessions in Redis."""

    def __init__(self, r: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.clock = clock

    def create(self, user: str, epoch: int = 0, kind: str = "user", *, idle_s: int,
               absolute_s: int) -> str:
        """A new session of ``user``; returns its id (256 random bits)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(session_key(sid), mapping={"user": user, "epoch": str(epoch), "kind": kind,
                                               "created": repr(now), "seen": repr(now)})
        pipe.expire(session_key(sid), int(min(idle_s, absolute_s)) + 1)
        pipe.sadd(user_sessions_key(user), sid)
        pipe.expire(user_sessions_key(user), int(absolute_s) + 1)
        pipe.execute()
        return sid

    def check(self, sid: str, limits: dict[str, tuple[int | None, int]],
              touch: bool = True) -> tuple[SessionRecord | None, str]:
        """(the record, "") when the session is live; else why not: (None, ``missing``) (never
        existed, logged out, revoked) or (the ended record, ``idle`` | ``expired`` (absolute
        lifetime)). ``limits``:
        kind → (idle_s, absolute_s); idle_s None: no idle limit (the wall kiosk runs all day).
        A live session's ``seen`` is refreshed when ``touch`` (at most every ``TOUCH_EVERY_S``)."""
        if not sid or len(sid) > 100:
            return None, "missing"
        h = self.r.hgetall(session_key(sid))
        if not h:
            return None, "missing"
        now = self.clock()
        kind = h.get("kind", "user")
        if kind not in limits:
            return None, "missing"
        idle_s, absolute_s = limits[kind]
        rec = SessionRecord(sid, h["user"], int(h.get("epoch", 0)), h.get("kind", "user"),
                            float(h["created"]), float(h["seen"]))
        why = ("expired" if now - rec.created > absolute_s
               else "idle" if idle_s is not None and now - rec.seen > idle_s else "")
        if why:
            self.end(sid, rec.user)
            return rec, why
        if touch and now - rec.seen >= TOUCH_EVERY_S:
            left = absolute_s - (now - rec.created)
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(session_key(sid), "seen", repr(now))
            pipe.expire(session_key(sid), int(min(idle_s or left, left)) + 1)
            pipe.execute()
        return rec, ""

    def end(self, sid: str, user: str | None = None) -> None:
        """Delete one session (logout)."""
        if user is None:
            user = self.r.hget(session_key(sid), "user")
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(session_key(sid))
        if user:
            pipe.srem(user_sessions_key(user), sid)
        pipe.execute()

    def sessions_of(self, user: str) -> list[str]:
        """The ids of a user's live sessions (dead index entries are dropped on the way)."""
        sids = sorted(self.r.smembers(user_sessions_key(user)))
        live = [s for s in sids if self.r.exists(session_key(s))]
        dead = set(sids) - set(live)
        if dead:
            self.r.srem(user_sessions_key(user), *dead)
        return live

    def revoke_user(self, user: str) -> int:
        """End every session of ``user``; returns how many were live."""
        sids = self.r.smembers(user_sessions_key(user))
        pipe = self.r.pipeline(transaction=True)
        for s in sids:
            pipe.delete(session_key(s))
        pipe.delete(user_sessions_key(user))
        return sum(pipe.execute()[:-1]) if sids else 0


# --- the wall kiosk token ----------------------------------------------------------------------
KIOSK_USER = "~kiosk"
"""The session user of the wall kiosk (not an account: no login form, no password)."""


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def kiosk_token_ok(r: redis.Redis, configured: str | None, offered: str | None) -> bool:
    """Is ``offered`` the current kiosk token? Once rotated, only the rotated one (its hash is
    in Redis); before that, ``settings.kiosk_token``."""
    if not offered or len(offered) > 200:
        return False
    rotated = r.get(_keys.KIOSK_TOKEN_KEY)
    if rotated:
        return hmac.compare_digest(_sha(offered), rotated)
    return bool(configured) and hmac.compare_digest(offered, configured or "")


def rotate_kiosk(r: redis.Redis) -> str:
    """A new kiosk token (returned once, only its hash stored); the old one stops opening the
    wall and every kiosk session ends."""
    token = secrets.token_urlsafe(24)
    r.set(_keys.KIOSK_TOKEN_KEY, _sha(token))
    SessionStore(r).revoke_user(KIOSK_USER)
    return token
