"""电子邮件 (e-mail) over SMTP (smtplib): one connection per message (notifications are few and
a long-lived connection would go stale). The delivery id is the Message-ID, so a resend after a
killed worker is recognisable as the same message by the mail system and the reader."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from incidents.notify.model import Message, PermanentError, TransientError


class SmtpSender:
    """The e-mail channel. 4xx replies and connection trouble are transient (retried by the
    outbox), 5xx replies are permanent (kept in the failed stream with the server's words)."""

    channel = "email"

    def __init__(self, host: str, port: int = 25, sender: str = "onemap@localhost", *,
                 user: str | None = None, password: str | None = None, starttls: bool = False,
                 timeout: float = 10.0, domain: str = "onemap") -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls
        self.timeout = timeout
        self.domain = domain

    def compose(self, msg: Message) -> EmailMessage:
        m = EmailMessage()
        m["From"] = self.sender
        m["To"] = msg.address
        m["Subject"] = msg.subject
        m["Date"] = formatdate(localtime=False)
        m["Message-ID"] = f"<{msg.did}@{self.domain}>"
        m["X-OneMap-Event"] = msg.chain
        m.set_content(msg.body + ("\n\n（请登录 OneMap 确认收到）" if msg.priority else ""))
        return m

    def send(self, msg: Message) -> str:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as s:
                if self.starttls:
                    s.starttls(context=ssl.create_default_context())
                if self.user:
                    s.login(self.user, self.password or "")
                refused = s.send_message(self.compose(msg))
        except smtplib.SMTPRecipientsRefused as e:
            raise PermanentError(f"收件人被拒绝 (recipient refused): {e.recipients}") from e
        except smtplib.SMTPResponseException as e:
            text = f"SMTP {e.smtp_code}: {e.smtp_error!r}"
            if 500 <= e.smtp_code < 600:
                raise PermanentError(text) from e
            raise TransientError(text) from e
        except (OSError, smtplib.SMTPException) as e:
            raise TransientError(f"SMTP {self.host}:{self.port}: {e}") from e
        if refused:
            raise PermanentError(f"收件人被拒绝 (recipient refused): {refused}")
        return f"<{msg.did}@{self.domain}>"
