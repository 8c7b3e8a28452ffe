"""A reply lost after the server acted (Redis restarting, a network cut): redis-py's retry policy
sends the call again. The change must land once and be reported as done, not as a conflict or
an invalid transition (every change writes its nonce; the script recognises its own replay)."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

import pytest
import redis

from incidents import keys
from incidents.service import IncidentService


class LoseOneReply:
    """A TCP proxy to redis-server. Armed, it forwards the next script call (EVALSHA) to the
    server, swallows the server's reply and cuts the connection: the server has acted, the
    client never hears of it."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.lost = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.server_port))
            state = {"drop": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict) -> None:
        while data := _recv(client):
            if self.armed.is_set() and b"EVALSHA" in data:
                self.armed.clear()
                state["drop"] = True
            server.sendall(data)
        server.close()

    def _down(self, server: socket.socket, client: socket.socket, state: dict) -> None:
        while data := _recv(server):
            if state["drop"]:            # the server acted: its answer never arrives
                self.lost += 1
                client.shutdown(socket.SHUT_RDWR)
                client.close()
                server.close()
                return
            client.sendall(data)
        client.close()

    def close(self) -> None:
        self.listener.close()


def _recv(s: socket.socket) -> bytes:
    try:
        return s.recv(1 << 16)
    except OSError:
        return b""


@pytest.fixture
def lossy(redis_service, redis_client, demo_city, clock):
    proxy = LoseOneReply(redis_service.port)
    u = urlsplit(redis_service.url)          # the private Redis's users need a password (ACL)
    r = redis.Redis(port=proxy.port, username=u.username, password=u.password,
                    decode_responses=True)
    yield proxy, IncidentService(r, demo_city, clock=clock)
    r.close()
    proxy.close()


def _actions(r: redis.Redis, inc_id: str) -> list[str]:
    from incidents import audit  # noqa: PLC0415

    return [e["action"] for e in audit.timeline(r, inc_id)]


def test_a_step_whose_reply_was_lost_lands_once_and_is_reported_done(lossy, redis_client, who,
                                                                     here):
    proxy, svc = lossy
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    proxy.armed.set()
    got = svc.accept(inc.id, who.town)
    assert proxy.lost == 1
    assert got.state == "accepted"
    assert _actions(redis_client, inc.id) == ["report", "accept"]
    assert redis_client.hget(keys.incident(inc.id), "version") == "2"


@pytest.mark.parametrize("n", [3, 30], ids=["one-round-trip", "sent-in-chunks"])
def test_a_batch_whose_reply_was_lost_lands_once_and_is_reported_done(lossy, redis_client, who,
                                                                      here, n):
    """Also a long batch, sent in chunks while it is prepared: the connection is cut after its
    first chunk has run; everything is sent again, and what had landed answers as done."""
    proxy, svc = lossy
    ids = [svc.report(who.worker, "0107", here.lon, here.lat, correlate=False).id for _ in range(n)]
    proxy.armed.set()
    with svc.batch() as b:
        for i in ids:
            svc.accept(i, who.town)
            svc.dispatch(i, who.town, ["CG"])
    assert proxy.lost == 1
    assert b.errors == []
    for i in ids:
        assert _actions(redis_client, i) == ["report", "accept", "dispatch"]


def test_a_report_whose_reply_was_lost_creates_one_incident(lossy, redis_client, who, here):
    proxy, svc = lossy
    proxy.armed.set()
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    assert proxy.lost == 1
    assert inc.intake == "created"
    assert redis_client.zcard(keys.ALL) == 1
    assert _actions(redis_client, inc.id) == ["report"]
