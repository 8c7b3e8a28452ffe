"""短信 (SMS) through an HTTP gateway, in the common shape of Chinese SMS gateway APIs
(docs/notify.md, "The SMS gateway API"):

``POST {url}`` with a JSON object of string parameters ``app_key, timestamp (ms), nonce, phone,
sign_name, template_id, template_params (JSON), out_id`` and ``sign`` = hex HMAC-SHA256, keyed
with the app secret, of the other parameters sorted by name and joined as ``k=v&k=v``. The
answer is JSON ``{"code": "OK", "biz_id": …}`` or an error code. ``out_id`` is the delivery id:
the gateway answers a repeated ``out_id`` with the first message's ``biz_id`` and sends nothing
(its idempotency key), so a retry or a resend after a killed worker never texts twice.

Retries with exponential backoff on a gateway failure (HTTP 5xx/429, a busy code, a broken
connection) with a fresh timestamp and nonce and the same ``out_id``; then ``TransientError``
(the outbox retries later). A refusal (bad number, bad template, bad signature) is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

from incidents.notify.model import Message, PermanentError, TransientError

BUSY_CODES = frozenset({"SYSTEM_BUSY", "THROTTLED", "isv.BUSINESS_LIMIT_CONTROL"})
"""Gateway codes that mean "try again later"."""


def sign(params: dict[str, str], secret: str) -> str:
    """The request signature: HMAC-SHA256(secret, sorted ``k=v`` joined by ``&``), hex."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign")
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class SmsSender:
    """The SMS channel."""

    channel = "sms"

    def __init__(self, url: str, app_key: str, secret: str, *, sign_name: str = "OneMap",
                 templates: dict[str, str] | None = None, default_template: str = "SMS_NOTICE",
                 retries: int = 4, backoff_s: float = 0.5, timeout: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.url, self.app_key, self.secret = url, app_key, secret
        self.sign_name = sign_name
        self.templates = templates or {}
        self.default_template = default_template
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock
        self.attempts = 0           # requests made (the bench and tests read it)

    def request(self, msg: Message) -> dict[str, str]:
        """The signed parameters of one attempt (fresh timestamp and nonce, same out_id)."""
        params = {"app_key": self.app_key, "timestamp": str(int(self.clock() * 1000)),
                  "nonce": uuid.uuid4().hex, "phone": msg.address, "sign_name": self.sign_name,
                  "template_id": self.templates.get(msg.template, self.default_template),
                  "template_params": json.dumps(msg.params, ensure_ascii=False, sort_keys=True),
                  "out_id": msg.did}
        params["sign"] = sign(params, self.secret)
        return params

    def send(self, msg: Message) -> str:
        last = ""
        for attempt in range(self.retries):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            ok, retry, info = self._post(self.request(msg))
            if ok:
                return info
            if not retry:
                raise PermanentError(f"短信网关拒绝 (gateway refused): {info}")
            last = info
        raise TransientError(f"短信网关失败 {self.retries} 次 (gateway failing): {last}")

    def _post(self, params: dict[str, str]) -> tuple[bool, bool, str]:
        """(delivered, worth retrying, biz_id or the reason)."""
        self.attempts += 1
        body = json.dumps(params, ensure_ascii=False).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (configured URL)
                answer = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                answer = json.loads(e.read() or b"{}")
            except ValueError:
                answer = {}
            code = answer.get("code", "")
            retry = e.code >= 500 or e.code == 429 or code in BUSY_CODES
            return False, retry, f"HTTP {e.code} {code} {answer.get('message', '')}".strip()
        except (OSError, ValueError) as e:     # refused, reset, timeout, a garbled answer
            return False, True, f"{type(e).__name__}: {e}"
        code = answer.get("code", "")
        if code == "OK":
            return True, False, str(answer.get("biz_id", ""))
        return False, code in BUSY_CODES, f"{code} {answer.get('message', '')}".strip()
