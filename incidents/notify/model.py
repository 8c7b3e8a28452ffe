"""The notification's shapes: a delivery (one event to one person on one channel), the message a
channel sends, and the one interface every channel implements (``Sender``; adapters in
``app/channels/``, which open the connections: T25 "联得通、呼得应")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

CHANNEL_NAMES: dict[str, str] = {"inapp": "站内消息", "email": "电子邮件", "sms": "短信"}
"""Channels of the outbox (their adapters: app/channels)."""

STATUS_NAMES: dict[str, str] = {
    "queued": "待发送", "sending": "发送中", "sent": "已送达", "deferred": "延后发送",
    "retry": "待重试", "failed": "发送失败", "skipped": "无联系方式",
}
"""A delivery's status. ``sending`` is recorded before the send, ``sent`` after (at-least-once,
resent on restart with the same idempotency key)."""


class TransientError(Exception):
    """The channel failed this time (gateway 5xx, connection refused): retry later."""


class PermanentError(Exception):
    """The channel refused the message for good (bad number, rejected template): give up."""


def delivery_id(event: str, person: str, channel: str) -> str:
    """The delivery's id, which is also its idempotency key at the gateway (``out_id``), its
    e-mail Message-ID and its in-app entry id: one per (event, person, channel)."""
    return hashlib.sha1(f"{event}|{person}|{channel}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Message:
    """What a channel sends. ``did`` is the idempotency key: the same delivery sent twice (a
    worker killed after the send, before recording it) carries the same ``did``."""

    did: str
    event: str
    chain: str
    person: str
    channel: str
    address: str
    subject: str
    body: str
    template: str = "notice"
    params: dict[str, str] = field(default_factory=dict)
    priority: bool = False
    created_ts: float = 0.0


class Sender(Protocol):
    """One channel. ``send`` returns a receipt (the gateway's id, the SMTP reply, the inbox
    entry id); raises ``TransientError`` to be retried, ``PermanentError`` to give up. It must
    not send twice for one ``msg.did`` where the far side allows it (SMS ``out_id``, in-app)."""

    channel: str

    def send(self, msg: Message) -> str: ...


__all__ = ["CHANNEL_NAMES", "STATUS_NAMES", "Message", "PermanentError", "Sender",
           "TransientError", "delivery_id"]
