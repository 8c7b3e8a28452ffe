"""Channel adapters (渠道): the composition root's side of notifications. One interface
(``incidents.notify.Sender``: ``send(Message) -> receipt``), one adapter per channel: in-app
(a Redis inbox stream per person), e-mail over SMTP, SMS through an HTTP gateway. These open the
connections; the domain (``incidents.notify``) only calls ``send``. Guide: docs/notify.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.channels.inapp import InAppSender, inbox
from app.channels.sms import SmsSender
from app.channels.smtp import SmtpSender
from incidents.notify.model import Sender

if TYPE_CHECKING:
    import redis

    from app.config import Settings


def build_senders(settings: Settings, r: redis.Redis) -> dict[str, Sender]:
    """The channels this deployment has: in-app always; e-mail when ``smtp_host`` is set; SMS
    when ``sms_url`` is set (settings: app/config.py)."""
    out: dict[str, Sender] = {"inapp": InAppSender(r)}
    if settings.smtp_host:
        out["email"] = SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_from,
                                  user=settings.smtp_user, password=settings.smtp_password,
                                  starttls=settings.smtp_starttls)
    if settings.sms_url:
        out["sms"] = SmsSender(settings.sms_url, settings.sms_app_key or "",
                               settings.sms_secret or "", sign_name=settings.sms_sign_name,
                               default_template=settings.sms_template)
    return out


__all__ = ["InAppSender", "Sender", "SmsSender", "SmtpSender", "build_senders", "inbox"]
