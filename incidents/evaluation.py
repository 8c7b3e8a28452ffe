"""好差评: the citizen scores the service of one case through a one-time link (E35, issue 24).

When a case of the public closes, its caller gets a link by SMS (through the notification outbox,
``incidents.notify``: the gateway adapters are the app's) and, for a system that posted it,
in its Open311 status. The link names the case and carries a random token (stored as its
SHA-256 only, beside the case's own copy for re-showing it): it opens a phone page without login
that takes ONE score (好/中/差, or 1–5) and a comment for that case. A second use, an expired
link (``HotlineConfig.evaluation_ttl_s``) or the link on another case is refused with a clear
Chinese message (``Refused``). The claim is atomic (HSETNX): two submits racing score once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import redis

from incidents import keys
from incidents.callback import HotlineConfig
from incidents.incident import Incident

GRADES = {"好": 5, "中": 3, "差": 1}
"""好差评's three grades as scores (1–5): 好 = 5, 中 = 3, 差 = 1."""
SATISFIED_MIN = 4
"""A citizen's score at or above this is 满意 (the satisfied rate): 好, or 4–5."""
COMMENT_MAX = 500
CITIZEN_PREFIX = "citizen:"
"""The outbox's person id of a case's caller (``citizen:<case id>``): no account."""

UNKNOWN = "评价链接无效，请核对短信中的链接。"
USED = "该评价链接已使用，每个链接只能评价一次。感谢您的评价！"
EXPIRED = "该评价链接已过期，如需评价请致电 12345 热线。"
OTHER_CASE = "该评价链接不属于此事件，不能为其他事件评价。"
BAD_SCORE = "请选择评价：好、中、差（或 1–5 分）。"


class Refused(ValueError):
    """A link that cannot score: ``message`` is the Chinese sentence the citizen reads."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.message = message
        self.why = why          # unknown | used | expired | other_case | bad_score


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def score_of(value: Any) -> int:
    """好/中/差 or 1–5 → a score 1–5; Refused otherwise."""
    v = str(value or "").strip()
    if v in GRADES:
        return GRADES[v]
    if v.isdigit() and 1 <= int(v) <= 5:
        return int(v)
    raise Refused(BAD_SCORE, "bad_score")


def caller_phone(inc: Incident) -> str:
    """The caller's number a hotline case carries (its sources' ``phone`` field), else ""."""
    return next((str(s["phone"]) for s in inc.sources if s.get("phone")), "")


class Evaluations:
    """Issue, check and use 好差评 links in Redis."""

    def __init__(self, r: redis.Redis, config: HotlineConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.config = config or HotlineConfig()
        self.clock = clock

    def issue(self, incident_id: str) -> str:
        """A new link's token for the case (the previous link of the case stops working)."""
        now = self.clock()
        old = self.r.hget(keys.evaluation(incident_id), "link")
        token = secrets.token_urlsafe(18)
        h = _hash(token)
        expires = now + self.config.evaluation_ttl_s
        p = self.r.pipeline(transaction=True)
        if old:
            p.delete(keys.evaluation_link(old))
        p.hset(keys.evaluation_link(h), mapping={"case": incident_id, "expires": repr(expires),
                                                 "issued": repr(now)})
        p.expireat(keys.evaluation_link(h), int(expires) + 30 * 86400)   # told "expired" a while
        p.hset(keys.evaluation(incident_id), mapping={"link": h, "token": token,
                                                      "expires": repr(expires), "sent_ts": repr(now)})
        p.execute()
        return token

    def path(self, incident_id: str, token: str) -> str:
        """The page's path: ``/pj/<case>/<token>`` (评价)."""
        return f"/pj/{incident_id}/{token}"

    def url(self, incident_id: str, token: str) -> str:
        return f"{self.config.public_url}{self.path(incident_id, token)}"

    def current_url(self, incident_id: str) -> str:
        """The case's live link (for its Open311 status), "" when none or used or expired."""
        e = self.r.hgetall(keys.evaluation(incident_id))
        if not e.get("token") or e.get("score") or float(e.get("expires") or 0) <= self.clock():
            return ""
        return self.url(incident_id, e["token"])

    def check(self, incident_id: str, token: str) -> dict:
        """The link's record when it may score ``incident_id`` now; Refused otherwise."""
        if not token or len(token) > 100:
            raise Refused(UNKNOWN, "unknown")
        link = self.r.hgetall(keys.evaluation_link(_hash(token)))
        if not link:
            raise Refused(UNKNOWN, "unknown")
        if link["case"] != incident_id:
            raise Refused(OTHER_CASE, "other_case")
        if link.get("used"):
            raise Refused(USED, "used")
        if float(link["expires"]) <= self.clock():
            raise Refused(EXPIRED, "expired")
        return link

    def submit(self, incident_id: str, token: str, score: Any, comment: str = "") -> dict:
        """Score the case once: the link is claimed atomically, then the evaluation kept."""
        s = score_of(score)
        self.check(incident_id, token)
        h = _hash(token)
        now = self.clock()
        if not self.r.hsetnx(keys.evaluation_link(h), "used", repr(now)):
            raise Refused(USED, "used")
        ev = {"score": s, "comment": str(comment or "").strip()[:COMMENT_MAX], "ts": repr(now),
              "satisfied": int(s >= SATISFIED_MIN)}
        self.r.hset(keys.evaluation(incident_id), mapping=ev)
        return ev

    def of(self, incident_id: str) -> dict:
        """The case's evaluation (score, comment, ts) or {} when the citizen has not scored."""
        e = self.r.hgetall(keys.evaluation(incident_id))
        return {k: e[k] for k in ("score", "comment", "ts", "satisfied") if k in e} if e.get("score") else {}

    def many(self, ids: list[str]) -> dict[str, dict]:
        p = self.r.pipeline(transaction=False)
        for i in ids:
            p.hgetall(keys.evaluation(i))
        return {i: e for i, e in zip(ids, p.execute(), strict=True) if e.get("score")}

    def send(self, inc: Incident, outbox: Any, contacts: Any) -> str:
        """Issue a link (shown in the case's Open311 status) and, when the case carries the
        caller's number, queue its SMS (``incidents.notify`` outbox: the gateway's idempotency,
        retries and audit). Returns the token."""
        token = self.issue(inc.id)
        phone = caller_phone(inc)
        if not phone:
            return token
        person = CITIZEN_PREFIX + inc.id
        contacts.set(person, phone=phone)
        url = self.url(inc.id, token)
        days = max(1, round(self.config.evaluation_ttl_s / 86400))
        outbox.enqueue(f"eval:{inc.id}:{token[:8]}", person, "sms", subject="12345 服务评价",
                       body=f"您反映的问题（{inc.id}）已办结，请为本次服务评价（好/中/差）：{url} "
                            f"（{days} 天内有效，仅限一次）",
                       template="evaluation", params={"case": inc.id, "url": url, "days": str(days)},
                       center=inc.center, category=inc.category)
        return token


__all__ = ["GRADES", "Evaluations", "Refused", "caller_phone", "score_of"]
