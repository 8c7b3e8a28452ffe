"""站内消息 (in-app): a notification written to the person's inbox stream in Redis
(``incidents.keys.notify_inbox``), which the console, wall and phone screens read. Written once
per delivery id (a seen-set beside the stream, in the same script), so a resend after a killed
worker never shows twice."""

from __future__ import annotations

import orjson
import redis

from incidents import keys
from incidents.defaults import NOTIFY_DEDUP_DAYS
from incidents.notify.model import Message, TransientError

INBOX_MAXLEN = 500
"""Entries kept per person's inbox (the screens show the latest)."""

SEEN_KEEP_S = (NOTIFY_DEDUP_DAYS + 1) * 86400
"""How long the inbox remembers a delivery id (a resend comes within minutes; the outbox's own
dedup window is NOTIFY_DEDUP_DAYS)."""

_WRITE = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 'dup' end
redis.call('EXPIRE', KEYS[2], ARGV[4])
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'did', ARGV[1], 'e', ARGV[3])
"""


class InAppSender:
    """The in-app channel (站内消息)."""

    channel = "inapp"

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self._write = r.register_script(_WRITE)

    def send(self, msg: Message) -> str:
        entry = orjson.dumps({"did": msg.did, "chain": msg.chain, "event": msg.event,
                              "subject": msg.subject, "body": msg.body, "priority": msg.priority,
                              "params": msg.params, "created_ts": msg.created_ts})
        try:
            got = self._write(keys=[keys.notify_inbox(msg.address), keys.notify_inbox_seen(msg.address)],
                              args=[msg.did, INBOX_MAXLEN, entry, SEEN_KEEP_S])
        except redis.ConnectionError as e:
            raise TransientError(f"redis: {e}") from e
        return got.decode() if isinstance(got, bytes) else str(got)


def inbox(r: redis.Redis, user_id: str, count: int = 50) -> list[dict]:
    """A person's latest in-app notifications, newest first (for the screens)."""
    out = []
    for entry_id, f in r.xrevrange(keys.notify_inbox(user_id), count=count):
        e = f.get("e") or f.get(b"e")
        out.append({"entry": entry_id if isinstance(entry_id, str) else entry_id.decode(),
                    **orjson.loads(e)})
    return out
