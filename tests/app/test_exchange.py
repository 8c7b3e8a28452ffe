"""上报省平台 exchange (issue 18; T30–T36, SEC42–SEC46): the outbox's rules and order
(incidents/exchange.py), delivery to a real local HTTP server acting as the upper platform
(app/exchange_client.py), and the signed inbound endpoint (app/http/exchange.py).

The upper platform here is an ``http.server`` in a thread on a free port: it verifies each
request's signature on its own (hashlib/cryptography, not OneMap's code), deduplicates by the
idempotency key, fails 30 % of requests (seeded: half before storing, half after — the answer
lost, so OneMap retries something already received) and is restarted once mid-run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac

from app import exchange_client as xc
from app import keys as app_keys
from app.config import Settings
from app.context import AppContext
from grid.model import town_center_code
from incidents import keys
from incidents.exchange import DELIVERED, FAILED, Exchange, ExchangeRules, ExchangeWatcher
from tests.app.authkit import KIOSK, login  # noqa: F401

SECRET = b"shared-secret-of-the-exchange-0123456789"
KEY_ID = "gz-onemap"
PZ = "440981001"      # 潘州街道


class Clock:
    """An injected clock the test moves (backoff and leases are in its time)."""

    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# --- the upper platform ---------------------------------------------------------------------
class Upper:
    """What the upper platform keeps across restarts: the items it accepted (once per key)."""

    def __init__(self, alg: str, fail_rate: float = 0.3, seed: int = 18) -> None:
        self.alg = alg
        self.rng = random.Random(seed)
        self.fail_rate = fail_rate
        self.lock = threading.Lock()
        self.accepted: dict[str, dict] = {}
        self.order: list[dict] = []
        self.dups = self.bad_sigs = self.requests = 0

    def check_signature(self, method: str, path: str, headers, body: bytes) -> bool:
        msg_digest = (hashlib.sha256(body).hexdigest() if self.alg == "hmac-sha256"
                      else _sm3(body))
        msg = f"{method}\n{path}\n{headers['X-Timestamp']}\n{headers['X-Nonce']}\n{msg_digest}"
        if self.alg == "hmac-sha256":
            want = hmac.new(SECRET, msg.encode(), hashlib.sha256).hexdigest()
        else:
            m = c_hmac.HMAC(SECRET, hashes.SM3())
            m.update(msg.encode())
            want = m.finalize().hex()
        return (headers["X-Key-Id"] == KEY_ID and headers["X-Sign-Alg"] == xc.ALGS[self.alg]
                and hmac.compare_digest(want, headers["X-Signature"]))

    def handle(self, method: str, path: str, headers, body: bytes) -> int:
        with self.lock:
            self.requests += 1
            if not self.check_signature(method, path, headers, body):
                self.bad_sigs += 1
                return 401
            roll = self.rng.random()
            if roll < self.fail_rate / 2:
                return 503                       # refused before anything is kept
            doc = json.loads(body)
            if doc.get("data", {}).get("incident", {}).get("title") == "坏数据":
                return 400                       # a permanent refusal
            key = headers["Idempotency-Key"]
            assert key == doc["key"]
            if key in self.accepted:
                self.dups += 1
            else:
                self.accepted[key] = doc
                self.order.append(doc)
            return 500 if roll < self.fail_rate else 200   # kept, but the answer is lost


def _sm3(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def serve(upper: Upper, port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            code = upper.handle("POST", self.path, self.headers, body)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a) -> None:  # quiet
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _inc(i: int, state: str, severity: str = "重大", title: str = "火情") -> dict:
    return {"id": f"E20261207{i:06d}", "state": state, "severity": severity, "title": title}


def _feed(r, inc: dict) -> None:
    r.xadd(keys.FEED, {"e": orjson.dumps({k: inc[k] for k in ("id", "state", "severity")})})


# --- outbound -------------------------------------------------------------------------------
def test_rules_order_retries_restart_exactly_once(redis_client):
    """T30–T36, SEC42–SEC45: the rules pick what goes up; every item reaches a flaky, restarted
    upper platform exactly once (by idempotency key), in order per incident."""
    r, clock = redis_client, Clock()
    ex = Exchange(r, ExchangeRules(backoff_s=5, backoff_cap_s=40, max_attempts=200), clock=clock)
    cases: dict[str, dict] = {}
    watcher = ExchangeWatcher(r, ex, lambda i: cases.get(i), consumer="t")
    watcher.ensure_groups()
    # the rules: 重大+ on acceptance and each later state; a note (same state) and 一般 don't go up
    lifecycle = ["reported", "accepted", "dispatched", "dispatched", "handled", "closed"]
    for step in lifecycle:
        for i in range(1, 9):
            cases[_inc(i, step)["id"]] = _inc(i, step, "重大" if i <= 6 else "一般")
            _feed(r, cases[_inc(i, step)["id"]])
        while watcher.tick(block_ms=None):   # the store's state when the entry is read
            pass
    for i in (1, 2):       # approved 首报 (reports_upward's stream): they go up too
        rep = {"id": f"{_inc(i, 'x')['id']}:first", "kind": "first", "incident": _inc(i, "x")["id"]}
        r.xadd(keys.REPORTS_UP_OUTBOX, {"id": rep["id"], "kind": "first",
                                        "incident": rep["incident"], "report": orjson.dumps(rep)})
    while watcher.tick(block_ms=None):
        pass
    ex.push_manual(_inc(3, "closed"), by="commander")          # 人工上报, same outbox
    ex.push_manual(_inc(4, "closed", title="坏数据"), by="commander")
    ex.push_manual(_inc(4, "closed"), by="commander")          # behind the refused one
    assert watcher.stats["errors"] == 0
    items = ex.items(1000)
    # 6 cases × 4 states (accepted, dispatched, handled, closed) + 2 reports + 3 manual
    assert len(items) == 6 * 4 + 2 + 3
    assert not any(it["incident"] in (_inc(7, "")["id"], _inc(8, "")["id"]) for it in items)
    # a change seen twice goes up once (same feed entry → same key)
    assert ex.on_report("x", {"id": f"{_inc(1, '')['id']}:first", "incident": _inc(1, "")["id"]}) == 0
    # never two in flight for one incident: a second claim gets nothing of the leased ones
    first = ex.claim(100)
    assert len(first) == 6 and not ex.claim(100)
    clock.t += ex.rules.lease_s + 1      # a worker died mid-attempt: the lease ends, tried again
    assert sorted(i["key"] for i in ex.claim(100)) == sorted(i["key"] for i in first)
    clock.t += ex.rules.lease_s + 1

    upper = Upper("hmac-sha256")
    srv = serve(upper)
    port = srv.server_address[1]
    d = xc.Deliverer(ex, f"http://127.0.0.1:{port}/exchange/v1/items", KEY_ID, SECRET,
                     source={"city": "高州市", "admin_code": "440981"}, timeout=5, clock=clock)
    rounds = 0
    saw_backoff = False
    while ex.stats()["backlog"] and rounds < 400:
        rounds += 1
        if rounds == 6:          # the upper platform restarts (its store survives)
            srv.shutdown()
            srv.server_close()
            assert d.tick() == 0                  # down: every attempt fails, nothing is lost
            srv = serve(upper, port)
        d.tick()
        waiting = [it for it in ex.items(1000) if it["state"] == FAILED and it["next_ts"]]
        for it in waiting:        # exponential backoff: the wait doubles with the attempts
            saw_backoff |= it["attempts"] >= 2
            assert it["next_ts"] == pytest.approx(clock.t + ex.rules.backoff(it["attempts"]))
        clock.t += 45
    srv.shutdown()
    srv.server_close()
    s = ex.stats()
    assert s["backlog"] == 0 and s["incidents_waiting"] == 0
    assert saw_backoff and s["failures"] > 0 and upper.dups > 0 and upper.bad_sigs == 0
    # exactly once by idempotency key, everything but the refused one
    refused = [it for it in ex.items(1000) if it["state"] == FAILED]
    assert len(refused) == 1 and refused[0]["payload"]["incident"]["title"] == "坏数据"
    assert "HTTP 400" in refused[0]["reason"] and refused[0]["next_ts"] is None
    assert ex.given_up()[0]["key"] == refused[0]["key"]
    delivered = {it["key"] for it in ex.items(1000) if it["state"] == DELIVERED}
    assert set(upper.accepted) == delivered and len(upper.order) == len(delivered) == len(items) - 1
    assert s["delivered"] == len(delivered) and s["gave_up"] == 1
    # in order per incident (seq 1, 2, 3… as queued; the refused one skipped)
    by_inc: dict[str, list[int]] = {}
    for doc in upper.order:
        by_inc.setdefault(doc["incident"], []).append(doc["seq"])
        assert doc["source_system"] == "OneMap" and doc["admin_code"] == "440981"
    for inc_id, seqs in by_inc.items():
        assert seqs == sorted(seqs), inc_id
    states = [d_["data"]["incident"]["state"] for d_ in upper.order
              if d_["incident"] == _inc(5, "")["id"]]
    assert states == ["accepted", "dispatched", "handled", "closed"]
    # /ops (SEC45): volumes, failures, backlog and the given-up item with its reason
    from app.screens.ops.layout import _exchange  # noqa: PLC0415
    from app.screens.ops.model import exchange_health  # noqa: PLC0415

    health = exchange_health(r, now=clock.t)
    assert health["delivered"] == len(delivered) and health["backlog"] == 0
    assert health["failed_items"][0]["reason"].startswith("HTTP 400")
    assert "HTTP 400" in str(_exchange(health))
    # the refused item can be queued again (重新上报)
    assert ex.retry(refused[0]["key"]) and ex.stats()["backlog"] == 1
    assert exchange_health(r, now=clock.t)["next_attempt"] == "现在"


def test_sm3_signing(redis_client):
    """国密: SM3 (GM/T 0004 test vector) and HMAC-SM3 requests the upper platform accepts."""
    assert xc.digest("sm3", b"abc") == ("66c7f0f462eeedd9d1f2d46bdc10e4e2"
                                         "4167c4875cf2f7a2297da02b8f4ba8e0")
    clock = Clock()
    ex = Exchange(redis_client, clock=clock)
    for i in range(3):
        ex.push_manual(_inc(i, "accepted"), by="commander")
    upper = Upper("sm3", fail_rate=0.0)
    srv = serve(upper)
    try:
        d = xc.Deliverer(ex, f"http://127.0.0.1:{srv.server_address[1]}/x?v=1", KEY_ID, SECRET,
                         "sm3", clock=clock)
        assert d.tick() == 3
    finally:
        srv.shutdown()
        srv.server_close()
    assert len(upper.accepted) == 3 and upper.bad_sigs == 0
    # a wrong secret is refused by the upper platform and retried (keys being rotated)
    ex.push_manual(_inc(9, "accepted"), by="commander")
    srv = serve(upper)
    try:
        d = xc.Deliverer(ex, f"http://127.0.0.1:{srv.server_address[1]}/x", KEY_ID, b"wrong",
                         "sm3", clock=clock)
        assert d.tick() == 0
    finally:
        srv.shutdown()
        srv.server_close()
    it = ex.items(1)[0]
    assert it["state"] == FAILED and "401" in it["reason"] and it["next_ts"]


# --- inbound --------------------------------------------------------------------------------
@pytest.fixture
def upper_web(redis_client, redis_service, demo_city, demo_devices, tmp_path):
    from app.server import create_server  # noqa: PLC0415
    from app.users import ensure_demo_users  # noqa: PLC0415

    secret = tmp_path / "upper.secret"
    secret.write_bytes(SECRET + b"\n")
    upper = Upper("hmac-sha256", fail_rate=0.0)
    srv = serve(upper)
    settings = Settings(secret_key="t" * 64, kiosk_token=KIOSK, data_dir=tmp_path,
                        upper_key_id=KEY_ID, upper_secret_file=secret,
                        upper_url=f"http://127.0.0.1:{srv.server_address[1]}/items")
    ctx = AppContext(settings, redis_service.url)
    ctx.__dict__["city"] = demo_city
    ctx.__dict__["devices"] = demo_devices
    ensure_demo_users(ctx.redis, demo_city, "demo-pass-123")
    server = create_server(ctx)
    server.config["TESTING"] = True
    yield ctx, server, upper
    srv.shutdown()
    srv.server_close()


def _post(client, body: dict, *, secret: bytes = SECRET, headers: dict | None = None):
    raw = json.dumps(body, ensure_ascii=False).encode()
    h = headers or xc.signed_headers("hmac-sha256", KEY_ID, secret, "POST",
                                     "/api/exchange/inbound", raw)
    return client.post("/api/exchange/inbound", data=raw, headers=h,
                       content_type="application/json"), h


def test_inbound_instruction_becomes_task_and_bad_ones_are_refused(upper_web):
    """上情下达 (T32, SEC46): a signed instruction becomes a task of the city center; a bad
    signature, a replayed nonce and a stale timestamp are refused (401) and audited (SEC42)."""
    ctx, server, _ = upper_web
    c = server.test_client()           # no session, no CSRF token: the signature is the credential
    ins = {"id": "GD-2026-0042", "type": "instruction", "title": "汛前排查河堤隐患",
           "content": "请于48小时内完成排查并反馈", "target": town_center_code(PZ),
           "deadline_s": 48 * 3600}
    resp, h = _post(c, ins)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    task = ctx.incidents.store.load(resp.json["task"])
    assert task.kind == "task" and task.center == "CITY" and task.route_reason == "上情下达"
    assert task.tasks[0].center == town_center_code(PZ) and "GD-2026-0042" in task.description
    # the same instruction again (a retry, new nonce): one task
    again, _ = _post(c, ins)
    assert again.status_code == 200 and again.json["task"] == task.id

    audit_before = ctx.redis.xlen(app_keys.SECURITY_AUDIT)
    replay, _ = _post(c, ins, headers=h)                       # the same nonce again
    assert replay.status_code == 401 and "replayed" in replay.json["reason"]
    bad, _ = _post(c, ins, secret=b"not-the-secret")
    assert bad.status_code == 401 and "bad signature" in bad.json["reason"]
    raw = json.dumps(ins).encode()
    stale = xc.signed_headers("hmac-sha256", KEY_ID, SECRET, "POST", "/api/exchange/inbound",
                              raw, now=1_000_000_000)
    old = c.post("/api/exchange/inbound", data=raw, headers=stale)
    assert old.status_code == 401 and "window" in old.json["reason"]
    tampered = dict(xc.signed_headers("hmac-sha256", KEY_ID, SECRET, "POST",
                                      "/api/exchange/inbound", raw))
    body2 = json.dumps(dict(ins, target="CITY")).encode()   # body changed after signing
    assert c.post("/api/exchange/inbound", data=body2, headers=tampered).status_code == 401
    audited = [f for _, f in ctx.redis.xrange(app_keys.SECURITY_AUDIT)][audit_before:]
    assert [f["event"] for f in audited] == ["exchange_refused"] * 4
    assert all(f["target"] == KEY_ID for f in audited)
    stats = Exchange(ctx.redis).stats()
    assert stats["inbound"] == 2 and stats["inbound_refused"] == 4
    # a signed but malformed instruction: 400 with the reason, no task
    bad_doc, _ = _post(c, {"id": "x y", "title": ""})
    assert bad_doc.status_code == 400


def test_console_push_is_delivered_by_the_running_exchange(upper_web):
    """上报省平台 from the console (T30, SEC45): the action feeds the outbox and the process's
    exchange threads (as ``onemap notify`` runs them) deliver it to the configured endpoint."""
    from incidents.actor import SYSTEM  # noqa: PLC0415
    from tests.app.test_api import point_in  # noqa: PLC0415

    ctx, server, upper = upper_web
    stop = threading.Event()
    stats, threads = xc.start(ctx, stop, "t")
    try:
        lon, lat = point_in(ctx.city, PZ)
        inc = ctx.incidents.report(SYSTEM, "0401", lon, lat, severity="重大", description="火情")
        c = server.test_client()
        tok = login(c, "commander")
        r = c.post(f"/api/upper/push/{inc.id}", headers={"X-CSRFToken": tok})
        assert r.status_code == 200 and r.json["key"].startswith(f"{inc.id}:manual:")
        deadline = time.monotonic() + 15
        while r.json["key"] not in upper.accepted and time.monotonic() < deadline:
            stop.wait(0.05)
        doc = upper.accepted[r.json["key"]]
        assert doc["type"] == "manual" and doc["data"]["incident"]["id"] == inc.id
        assert doc["admin_code"] == ctx.city.admin_code and doc["data"]["by"] == "commander"
        while c.get("/api/upper/pushed").json["items"][0]["state"] != DELIVERED:
            assert time.monotonic() < deadline
            stop.wait(0.05)
        assert stats()["exchange_delivered"] >= 1
        # 重新上报 is for given-up items only; a town may not
        assert c.post(f"/api/upper/retry/{r.json['key']}",
                      headers={"X-CSRFToken": tok}).status_code == 409
        pz = server.test_client()
        assert pz.post(f"/api/upper/retry/{r.json['key']}",
                       headers={"X-CSRFToken": login(pz, "panzhou")}).status_code == 403
    finally:
        stop.set()
        for t in threads:
            t.join(5)
