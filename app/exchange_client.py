"""上报省平台 delivery and signing (issue 18; T30–T36, SEC42–SEC46; docs/exchange.md).

The outbox (``incidents.exchange.Exchange``) says what goes up and in which order; this module,
in the composition root, delivers it: an HTTP(S) POST of each item to the configured endpoint
(``Settings.upper_url``), signed, with its idempotency key in a header, retried with exponential
backoff, each item's status kept in the outbox. The same signing checks the inbound requests of
the upper platform (``app/http/exchange.py``): a bad signature, a timestamp outside the window
or a nonce seen before is refused.

Signing (both ways): ``HMAC(secret, METHOD \\n path \\n timestamp \\n nonce \\n hex(digest(body)))``
in hex, where the HMAC's hash and the body digest are SHA-256 (``hmac-sha256``) or SM3
(``sm3``, 国密 GM/T 0004, through ``cryptography``'s OpenSSL SM3).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import orjson
import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac

from incidents import keys
from incidents.exchange import Exchange

log = logging.getLogger(__name__)

ALGS: dict[str, str] = {"hmac-sha256": "HMAC-SHA256", "sm3": "HMAC-SM3"}
"""Setting value → the algorithm's name in the ``X-Sign-Alg`` header."""
H_KEY_ID, H_TS, H_NONCE, H_ALG, H_SIG = ("X-Key-Id", "X-Timestamp", "X-Nonce", "X-Sign-Alg",
                                         "X-Signature")
H_IDEM = "Idempotency-Key"
WINDOW_S = 300.0
"""Inbound: a request's timestamp may be this far from our clock (and its nonce is kept as long)."""
USER_AGENT = "OneMap-exchange/1"


def digest(alg: str, data: bytes) -> str:
    """The body digest (hex): SHA-256, or SM3 for 国密."""
    if alg == "sm3":
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize().hex()
    return hashlib.sha256(data).hexdigest()


def string_to_sign(method: str, path: str, ts: str, nonce: str, body: bytes, alg: str) -> bytes:
    """What is signed: method, path (with its query), timestamp, nonce and body digest, one a line."""
    return "\n".join((method.upper(), path, ts, nonce, digest(alg, body))).encode()


def sign(alg: str, secret: bytes, method: str, path: str, ts: str, nonce: str,
         body: bytes) -> str:
    """The request's signature (hex): HMAC-SHA256, or HMAC-SM3 (``alg == "sm3"``)."""
    msg = string_to_sign(method, path, ts, nonce, body, alg)
    if alg == "sm3":
        m = c_hmac.HMAC(secret, hashes.SM3())
        m.update(msg)
        return m.finalize().hex()
    if alg != "hmac-sha256":
        raise ValueError(f"未知的签名算法 {alg!r} (unknown signing algorithm)")
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def signed_headers(alg: str, key_id: str, secret: bytes, method: str, path: str, body: bytes,
                   *, now: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """The signing headers of one request (the caller adds content type and idempotency key)."""
    ts = str(int(time.time() if now is None else now))
    nonce = nonce or uuid.uuid4().hex
    return {H_KEY_ID: key_id, H_TS: ts, H_NONCE: nonce, H_ALG: ALGS[alg],
            H_SIG: sign(alg, secret, method, path, ts, nonce, body)}


def read_secret(path: Path | None) -> bytes:
    """The shared secret from its file (a deployment's secret, never in Redis)."""
    if path is None:
        return b""
    return Path(path).read_bytes().strip()


class Refused(Exception):
    """An inbound request refused: the reason (Chinese first), audited by the caller."""


def verify(r: redis.Redis, secrets: Mapping[str, bytes], method: str, path: str, body: bytes,
           headers: Mapping[str, str], *, now: float | None = None,
           window_s: float = WINDOW_S) -> str:
    """Check an inbound request (SEC42–SEC46): known key id, allowed algorithm, timestamp within
    ``window_s``, signature, then the nonce unseen (kept ``2 × window_s``: a replay is refused).
    Returns the key id; raises ``Refused``."""
    now = time.time() if now is None else now
    key_id = headers.get(H_KEY_ID, "")
    secret = secrets.get(key_id)
    if not secret:
        raise Refused(f"未知的密钥编号 {key_id[:40]!r} (unknown key id)")
    alg = {v: k for k, v in ALGS.items()}.get(headers.get(H_ALG, "HMAC-SHA256"))
    if alg is None:
        raise Refused("不支持的签名算法 (unsupported signing algorithm)")
    ts, nonce, sig = headers.get(H_TS, ""), headers.get(H_NONCE, ""), headers.get(H_SIG, "")
    try:
        skew = abs(now - float(ts))
    except ValueError:
        raise Refused("时间戳无效 (bad timestamp)") from None
    if skew > window_s:
        raise Refused(f"时间戳超出允许范围 {window_s:.0f} 秒 (timestamp outside the window)")
    if not 8 <= len(nonce) <= 64 or not nonce.isascii() or not nonce.isalnum():
        raise Refused("随机数无效 (bad nonce)")
    if not hmac.compare_digest(sign(alg, secret, method, path, ts, nonce, body), sig.lower()):
        raise Refused("签名错误 (bad signature)")
    if not r.set(keys.exchange_nonce(key_id, nonce), int(now), nx=True, ex=int(2 * window_s)):
        raise Refused("重复的请求（随机数已使用）(replayed nonce)")
    return key_id


class Deliverer:
    """The delivery worker: claims due items from the outbox, POSTs each (signed, with its
    idempotency key) and records the outcome. 2xx, or 409 (the key was seen: already there),
    is delivered; other 4xx but 408/425/429 are permanent (given up, kept with the answer);
    5xx, 401/403 (keys being rotated), timeouts and network errors are retried with backoff."""

    def __init__(self, exchange: Exchange, url: str, key_id: str, secret: bytes,
                 alg: str = "hmac-sha256", *, source: Mapping[str, str] | None = None,
                 timeout: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        if alg not in ALGS:
            raise ValueError(f"未知的签名算法 {alg!r} (unknown signing algorithm)")
        self.exchange = exchange
        self.url = url
        self.path = urllib.parse.urlsplit(url).path or "/"
        q = urllib.parse.urlsplit(url).query
        self.path += f"?{q}" if q else ""
        self.key_id, self.secret, self.alg = key_id, secret, alg
        self.source = dict(source or {})
        self.timeout = timeout
        self.clock = clock
        self.stats = {"sent": 0, "delivered": 0, "failed": 0}

    def envelope(self, item: dict) -> bytes:
        """The request body of one item (docs/exchange.md)."""
        return orjson.dumps({"source_system": "OneMap", **self.source, "key": item["key"],
                             "incident": item["incident"], "seq": item["seq"],
                             "type": item["kind"], "created_ts": item["created_ts"],
                             "attempt": item["attempts"], "data": item["payload"]})

    def send(self, item: dict) -> tuple[bool, str, bool]:
        """POST one item: (delivered, reason, permanent)."""
        body = self.envelope(item)
        headers = signed_headers(self.alg, self.key_id, self.secret, "POST", self.path, body,
                                 now=self.clock())
        headers |= {"Content-Type": "application/json; charset=utf-8", H_IDEM: item["key"],
                    "User-Agent": USER_AGENT}
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        self.stats["sent"] += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (configured URL)
                resp.read()
                return True, "", False
        except urllib.error.HTTPError as e:
            if e.code == 409:
                return True, "", False
            text = e.read()[:200].decode("utf-8", "replace")
            permanent = 400 <= e.code < 500 and e.code not in (401, 403, 408, 425, 429)
            return False, f"HTTP {e.code} {text}".strip(), permanent
        except (OSError, ValueError) as e:       # refused, reset, timeout, bad URL
            return False, f"{type(e).__name__}: {e}"[:300], False

    def tick(self, count: int = 50) -> int:
        """Attempt every due item once; returns how many were delivered."""
        n = 0
        for item in self.exchange.claim(count):
            ok, reason, permanent = self.send(item)
            if ok:
                self.exchange.delivered(item)
                self.stats["delivered"] += 1
                n += 1
            else:
                self.exchange.failed(item, reason, permanent=permanent)
                self.stats["failed"] += 1
                log.warning("exchange: %s not delivered: %s", item["key"], reason)
        return n

    def run(self, stop: threading.Event, idle_s: float = 1.0) -> None:
        """Deliver until ``stop``; an idle round waits ``idle_s``. Never stops on an error."""
        while not stop.is_set():
            try:
                busy = self.tick()
            except redis.ConnectionError:
                busy = 0                 # Redis restarting (supervised): try again
            except Exception:  # noqa: BLE001 (a bad item must not stop the worker)
                log.exception("exchange delivery")
                busy = 0
            if not busy:
                stop.wait(idle_s)


def from_settings(r: redis.Redis, settings, city) -> tuple[Exchange, Deliverer | None]:  # noqa: ANN001
    """The outbox with the configured rules, and its deliverer (None without ``upper_url``)."""
    from incidents.exchange import ExchangeRules, severities  # noqa: PLC0415

    ex = Exchange(r, ExchangeRules(severities=severities(settings.upper_severities)))
    if not settings.upper_url:
        return ex, None
    return ex, Deliverer(ex, settings.upper_url, settings.upper_key_id,
                         read_secret(settings.upper_secret_file), settings.upper_sign_alg,
                         source={"city": city.name, "admin_code": city.admin_code},
                         timeout=settings.upper_timeout_s)


def start(ctx, stop: threading.Event,  # noqa: ANN001 (AppContext)
          name: str) -> tuple[Callable[[], dict], list[threading.Thread]]:
    """Run the exchange's rules (``ExchangeWatcher``) and, with ``upper_url`` set, its delivery
    (``Deliverer``) as background threads of this process until ``stop``; returns their stats
    (for the heartbeat, /ops) and the threads (to join on the way out)."""
    from incidents.exchange import ExchangeWatcher  # noqa: PLC0415

    def describe(incident_id: str) -> dict | None:
        inc = ctx.incidents.store.load(incident_id)
        return inc.to_dict() if inc is not None else None

    ex, deliverer = from_settings(ctx.redis, ctx.settings, ctx.city)
    watcher = ExchangeWatcher(ctx.redis, ex, describe, consumer=f"{name}-exchange")
    threads = [threading.Thread(target=watcher.run, args=(stop,), name="exchange-rules",
                                daemon=True)]
    if deliverer is not None:
        threads.append(threading.Thread(target=deliverer.run, args=(stop,), name="exchange-send",
                                        daemon=True))
    for t in threads:
        t.start()
    return (lambda: {f"exchange_{k}": v for k, v in {
        **watcher.stats, **(deliverer.stats if deliverer else {})}.items()}), threads


__all__ = ["ALGS", "Deliverer", "Refused", "digest", "from_settings", "read_secret", "sign",
           "signed_headers", "start", "string_to_sign", "verify"]
