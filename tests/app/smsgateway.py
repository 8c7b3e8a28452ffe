"""A local SMS gateway that speaks the API of docs/notify.md over real HTTP (http.server in a
thread): it checks the app key, the HMAC-SHA256 signature (computed here from the documented
rule, not with the adapter's code), the timestamp window and nonce reuse; it dedups by
``out_id`` (a repeat gets the first ``biz_id`` and sends nothing); and it fails on purpose: the
first ``fail_first`` requests, a ``fail_rate`` share at random, or it holds a request for a
chosen ``out_id`` (recorded as sent, answered only when released) to let a test kill the
sender mid-send. Used by tests/app/test_channels.py, tests/app/test_notify.py, bench/notify.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APP_KEY = "onemap-test"
SECRET = "s3cr3t-测试"


@dataclass
class GatewayState:
    secret: str = SECRET
    app_key: str = APP_KEY
    fail_first: int = 0
    fail_rate: float = 0.0
    hold: set[str] = field(default_factory=set)
    requests: int = 0
    failed_on_purpose: int = 0
    refused: list[str] = field(default_factory=list)
    sent: dict[str, dict] = field(default_factory=dict)        # out_id → the message (sent once)
    repeats: dict[str, int] = field(default_factory=dict)      # out_id → repeated requests
    nonces: set[str] = field(default_factory=set)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(17))


def expected_sign(params: dict[str, str], secret: str) -> str:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign")
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    state: GatewayState

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:            # the sender was killed while we held its request
            pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        st = self.state
        n = int(self.headers.get("Content-Length") or 0)
        try:
            p = json.loads(self.rfile.read(n))
        except ValueError:
            return self._answer(400, {"code": "BAD_REQUEST"})
        with st.lock:
            st.requests += 1
            if p.get("app_key") != st.app_key:
                st.refused.append("app_key")
                return self._answer(403, {"code": "INVALID_APP_KEY"})
            if not hmac.compare_digest(str(p.get("sign", "")), expected_sign(p, st.secret)):
                st.refused.append("sign")
                return self._answer(400, {"code": "SIGN_ERROR", "message": "签名错误"})
            if abs(time.time() * 1000 - int(p.get("timestamp", 0))) > 300_000:
                st.refused.append("timestamp")
                return self._answer(400, {"code": "TIMESTAMP_EXPIRED"})
            if p["nonce"] in st.nonces:
                st.refused.append("nonce")
                return self._answer(400, {"code": "NONCE_REUSED"})
            st.nonces.add(p["nonce"])
            if st.fail_first > 0 or (st.fail_rate and st.rng.random() < st.fail_rate):
                st.fail_first = max(0, st.fail_first - 1)
                st.failed_on_purpose += 1
                return self._answer(503, {"code": "SYSTEM_BUSY", "message": "系统繁忙"})
            out_id = p["out_id"]
            if out_id in st.sent:                  # the idempotency key: sent once, same answer
                st.repeats[out_id] = st.repeats.get(out_id, 0) + 1
                return self._answer(200, {"code": "OK", "biz_id": st.sent[out_id]["biz_id"]})
            st.sent[out_id] = {"biz_id": f"biz-{len(st.sent) + 1}", "phone": p["phone"],
                               "template_id": p["template_id"], "sign_name": p["sign_name"],
                               "params": json.loads(p["template_params"]), "ts": time.time()}
            hold = out_id in st.hold
        if hold:
            st.held.set()
            st.release.wait(30)
        self._answer(200, {"code": "OK", "biz_id": st.sent[out_id]["biz_id"]})


class Gateway:
    """The gateway on 127.0.0.1:<free port>; ``url`` is its send endpoint."""

    def __init__(self, **state: object) -> None:
        self.state = GatewayState(**state)  # type: ignore[arg-type]
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"
        self._t = threading.Thread(target=self.server.serve_forever, name="sms-gateway", daemon=True)

    def __enter__(self) -> Gateway:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.release.set()
        self.server.shutdown()
        self.server.server_close()
