"""Plain HTTP clients of the web process, as a browser would be, without a browser: log in over
the login form, hold ``/events`` open (``Stream``, a thread; ``read_events``, asyncio) and parse
server-sent events. Used by the tests and ``bench/live.py``; nothing in the product imports it."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import http.cookiejar
import json
import logging
import queue
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class Event:
    """One server-sent event, and when it arrived (``time.monotonic``)."""

    kind: str
    id: str
    data: dict
    at: float


def login(base: str, user: str, password: str) -> str:
    """Log in through the form; returns the ``Cookie`` header value of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/login", timeout=30).read()
    csrf = next((c.value for c in jar if c.name == "_csrf_token"), "")
    body = urllib.parse.urlencode({"user": user, "password": password, "csrf_token": csrf,
                                   "next": "/"}).encode()
    opener.open(f"{base}/login", data=body, timeout=30).read()
    cookies = {c.name: c.value for c in jar}
    if "session" not in cookies:
        raise PermissionError(f"login of {user} failed")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def parse(block: str) -> tuple[str, str, str]:
    """(event, id, data) of one event block (the lines between two blank lines)."""
    kind, eid, data = "message", "", []
    for line in block.splitlines():
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            kind = value
        elif name == "id":
            eid = value
        elif name == "data":
            data.append(value)
    return kind, eid, "\n".join(data)


def _event(block: str) -> Event | None:
    kind, eid, data = parse(block)
    if not data and kind == "message":
        return None                                      # a comment (ping) or a retry line
    try:
        payload = json.loads(data) if data else {}
    except json.JSONDecodeError:
        payload = {"text": data}
    return Event(kind, eid, payload, time.monotonic())


class Stream:
    """``GET /events`` held open in a thread; events land in ``events`` (a queue)."""

    def __init__(self, host: str, port: int, cookie: str | None, screen: str = "console",
                 last_event_id: str | None = None) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=120)
        headers = {"Accept": "text/event-stream"}
        if cookie:
            headers["Cookie"] = cookie
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", f"/events?screen={screen}", headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.events: queue.Queue[Event] = queue.Queue()
        self.closed = threading.Event()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.response.read()
            self.closed.set()

    def _read(self) -> None:
        buf = ""
        try:
            while True:
                chunk = self.response.read1(65536)
                if not chunk:
                    break
                buf += chunk.decode().replace("\r\n", "\n")
                while "\n\n" in buf:
                    block, buf = buf.split("\n\n", 1)
                    ev = _event(block)
                    if ev is not None:
                        self.events.put(ev)
        except Exception:  # noqa: BLE001  closed (by us, under http.client's feet, or the server)
            log.debug("stream closed", exc_info=True)
        finally:
            self.closed.set()

    def next(self, kind: str | None = None, timeout: float = 10.0) -> Event:
        """The next event (of ``kind``); raises ``queue.Empty`` after ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            ev = self.events.get(timeout=max(0.0, end - time.monotonic()))
            if kind is None or ev.kind == kind:
                return ev

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.conn.sock:
                self.conn.sock.shutdown(2)
        self.conn.close()


async def read_events(host: str, port: int, cookie: str, screen: str = "console",
                      last_event_id: str | None = None) -> AsyncIterator[Event]:
    """``GET /events`` on one asyncio connection; yields events until the server closes.
    Raises ``PermissionError`` on a refusal (401/403)."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"GET /events?screen={screen} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Accept: text/event-stream\r\nCookie: {cookie}\r\n"
            + (f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else "") + "\r\n")
    writer.write(head.encode())
    await writer.drain()
    try:
        status = await reader.readline()
        if b" 200 " not in status:
            raise PermissionError(status.decode().strip())
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                chunked = True
        buf = ""
        while True:
            if chunked:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    return
                data = await reader.readexactly(size + 2)
                buf += data[:-2].decode()
            else:
                data = await reader.read(65536)
                if not data:
                    return
                buf += data.decode()
            buf = buf.replace("\r\n", "\n")
            while "\n\n" in buf:
                block, buf = buf.split("\n\n", 1)
                ev = _event(block)
                if ev is not None:
                    yield ev
    finally:
        writer.close()
