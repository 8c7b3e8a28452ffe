"""An RTSP client (RFC 2326) for the gateway's upstream pulls: one TCP connection per camera,
RTP interleaved on it (no UDP ports to open through a government network's firewalls), Basic
or Digest authentication (RFC 2617, as IP cameras and NVRs ask), keep-alives, and the SDP's
video track (codec, payload type, parameter sets). The stream is read in large reads
(``sensors.video.rtp``); credentials stay here, never in a log line or a browser.

Errors are ``RtspError`` with an operator's reason in Chinese (the English detail after it),
which the gateway shows as the camera's offline reason and feeds to device health.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import socket
import time
import urllib.parse
from dataclasses import dataclass, field

USER_AGENT = "OneMap-video-gateway"
RCVBUF = 1 << 20
"""The socket's receive buffer: a coalesce period of a high-bitrate camera waits in the kernel
(8 Mbit/s × 0.2 s = 200 kB) and the next read takes it in one call."""


class RtspError(Exception):
    """A camera that cannot be pulled: ``reason`` for an operator (Chinese, with the detail)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes = b""
    auth: list[str] = field(default_factory=list)     # every WWW-Authenticate challenge


@dataclass
class Track:
    """The SDP's first video track."""

    control: str            # the absolute URL to SETUP
    payload_type: int
    codec: str              # h264, h265, … (lower case; "" if the SDP names none)
    rate: int
    params: list[bytes]     # H.264 SPS/PPS from sprop-parameter-sets (no start codes)


REFUSED, TIMED_OUT, UNREACHABLE, NO_NAME, DROPPED, BAD_DATA = (
    "连接被拒绝", "连接超时", "网络不可达", "地址无法解析", "视频流中断", "视频流数据无效")
"""An offline camera's reason, first words (the operator's; the detail follows): one vocabulary
for this client and for ffmpeg's words (``gateway.reason_cn``)."""
STATUS = {401: "认证失败 (401)", 403: "拒绝访问 (403)", 404: "无此通道 (404)",
          454: "会话不存在 (454)", 461: "摄像机不支持 RTP over TCP (461)"}


def status_reason(status: int, text: str) -> str:
    cn = STATUS.get(status) or (f"摄像机服务错误 ({status})" if status >= 500 else f"摄像机拒绝 ({status})")
    return f"{cn}: RTSP/1.0 {status} {text}"


def parse_sdp(sdp: str, base: str) -> Track | None:
    """The first ``m=video`` track of an SDP (RFC 4566), its control resolved against ``base``."""
    track: dict | None = None
    session_control = ""
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if track is not None:
                break
            parts = line[2:].split()
            if parts and parts[0] == "video" and len(parts) >= 4:
                track = {"pt": int(parts[3]), "control": "", "codec": "", "rate": 90000,
                         "params": []}
            continue
        if track is None:
            if line.startswith("a=control:"):
                session_control = line[10:].strip()
            continue
        if line.startswith("a=control:"):
            track["control"] = line[10:].strip()
        elif line.startswith("a=rtpmap:"):
            pt, _, enc = line[9:].partition(" ")
            if pt.strip() == str(track["pt"]):
                name, _, rate = enc.partition("/")
                track["codec"] = name.strip().lower()
                track["rate"] = int(rate.split("/")[0] or 90000)
        elif line.startswith("a=fmtp:"):
            m = re.search(r"sprop-parameter-sets=([^;\s]+)", line)
            if m:
                with contextlib.suppress(ValueError):
                    track["params"] = [base64.b64decode(p + "=" * (-len(p) % 4))
                                       for p in m.group(1).split(",") if p]
    if track is None:
        return None
    if not track["codec"] and track["pt"] < 96:
        track["codec"] = {26: "jpeg", 32: "mpv", 34: "h263"}.get(track["pt"], "")
    ctrl = track["control"] or session_control or ""
    if ctrl in ("", "*"):
        url = base
    elif ctrl.startswith("rtsp://") or ctrl.startswith("rtsps://"):
        url = ctrl
    else:
        url = base.rstrip("/") + "/" + ctrl if not base.endswith("/") else base + ctrl
    return Track(url, track["pt"], track["codec"], track["rate"], track["params"])


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    params = {k.lower(): v1 if v1 else v2 for k, v1, v2 in
              re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))', rest)}
    return scheme.lower(), params


class RtspClient:
    """One camera's RTSP session on a plain non-blocking socket. ``await open()`` does OPTIONS,
    DESCRIBE, SETUP (TCP interleaved) and PLAY; then ``await recv()`` waits for the stream's
    bytes, or ``drain()`` takes what the kernel holds without waiting (the gateway's ticker reads
    every live camera so, once per coalesce period: the socket is never registered with the
    event loop, so a read costs one ``recv`` and nothing else); ``keepalive()`` is called by the
    reader; ``close()`` sends TEARDOWN and closes."""

    def __init__(self, url: str, timeout_s: float) -> None:
        u = urllib.parse.urlsplit(url)
        self.user = urllib.parse.unquote(u.username or "")
        self.password = urllib.parse.unquote(u.password or "")
        self.host, self.port = u.hostname or "", u.port or 554
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        if u.port:
            netloc += f":{u.port}"
        self.url = urllib.parse.urlunsplit((u.scheme, netloc, u.path or "/", u.query, ""))
        self.where = f"{self.host}:{self.port}"   # for reasons: never the credentials
        self.timeout = timeout_s
        self.cseq = 0
        self.session = ""
        self.session_timeout = 60.0
        self.public: set[str] = set()
        self.track: Track | None = None
        self.channel = 0
        self._auth: tuple[str, dict[str, str]] | None = None
        self.sock: socket.socket | None = None
        self.buf = bytearray()      # read, not yet parsed (the handshake)
        self.last_request = 0.0
        self.early = bytearray()    # interleaved frames that came before an RTSP answer
        self.playing = False        # PLAY answered: a TEARDOWN ends the session at the end

    # --- the handshake --------------------------------------------------------------------
    async def open(self) -> Track:
        """Connect and start the stream; the video track (whatever its codec: the caller
        decides). ``RtspError`` with the reason otherwise."""
        await self._connect()
        resp = await self.request("OPTIONS", self.url)
        self.public = {m.strip().upper() for m in resp.headers.get("public", "").split(",")}
        resp = await self.request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = resp.headers.get("content-base") or resp.headers.get("content-location") or self.url
        track = parse_sdp(resp.body.decode("utf-8", "replace"), base)
        if track is None:
            raise RtspError(f"该通道没有视频: {self.where} 的 SDP 无 m=video")
        self.track = track
        if track.codec not in ("h264",):
            return track        # not pulled further: the gateway refuses it with its message
        resp = await self.request("SETUP", track.control,
                                  {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        sess = resp.headers.get("session", "")
        self.session = sess.split(";")[0].strip()
        m = re.search(r"timeout=(\d+)", sess)
        if m:
            self.session_timeout = max(5.0, float(m.group(1)))
        m = re.search(r"interleaved=(\d+)", resp.headers.get("transport", ""))
        if "transport" in resp.headers and "TCP" not in resp.headers["transport"].upper():
            raise RtspError(status_reason(461, "no TCP transport"))
        self.channel = int(m.group(1)) if m else 0
        # no Range: a live camera plays from now. GStreamer's RTSP server (1.22) aborts
        # (``gst_rtsp_media_get_rates: assertion failed``) when a PLAY with ``Range: npt=0-``
        # of a shared media meets another session's TEARDOWN: 2 of 6 runs of 30 rounds of three
        # pulls given up mid-handshake died, 0 of 9 without it
        await self.request("PLAY", base)
        self.playing = True
        return track

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM), self.timeout)
        except (socket.gaierror, TimeoutError) as exc:
            raise RtspError(f"{NO_NAME}: {self.host} ({exc})") from exc
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, addr), self.timeout)
        except ConnectionRefusedError as exc:
            sock.close()
            raise RtspError(f"{REFUSED}: {self.where} (Connection refused)") from exc
        except TimeoutError as exc:
            sock.close()
            raise RtspError(f"{TIMED_OUT}: {self.where} 在 {self.timeout:g} 秒内没有应答") from exc
        except OSError as exc:
            sock.close()
            raise RtspError(f"{UNREACHABLE}: {self.where} ({exc.strerror or exc})") from exc
        self.sock = sock

    def _authorization(self, method: str, uri: str) -> dict[str, str]:
        if self._auth is None:
            return {}
        scheme, ch = self._auth
        if scheme == "basic":
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        realm, nonce = ch.get("realm", ""), ch.get("nonce", "")
        ha1 = hashlib.md5(f"{self.user}:{realm}:{self.password}".encode()).hexdigest()  # noqa: S324 (RFC 2617)
        ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()  # noqa: S324
        parts = [f'username="{self.user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        if "auth" in ch.get("qop", "").split(","):
            self._nc = getattr(self, "_nc", 0) + 1
            cnonce = os.urandom(8).hex()
            resp = hashlib.md5(f"{ha1}:{nonce}:{self._nc:08x}:{cnonce}:auth:{ha2}".encode()).hexdigest()  # noqa: S324
            parts += ["qop=auth", f"nc={self._nc:08x}", f'cnonce="{cnonce}"']
        else:
            resp = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()  # noqa: S324
        parts.append(f'response="{resp}"')
        if "opaque" in ch:
            parts.append(f'opaque="{ch["opaque"]}"')
        return {"Authorization": "Digest " + ", ".join(parts)}

    async def request(self, method: str, uri: str, headers: dict[str, str] | None = None) -> Response:
        """Send a request and read its answer (before PLAY's media flows); a 401 is answered
        once with the URL's credentials. ``RtspError`` on any other failure."""
        for attempt in (0, 1):
            try:
                await asyncio.wait_for(asyncio.get_running_loop().sock_sendall(
                    self.sock, self._message(method, uri, headers)), self.timeout)
            except (OSError, TimeoutError) as exc:
                raise RtspError(f"{DROPPED}: {self.where} ({exc or 'timed out'})") from exc
            resp = await self._response()
            if resp.status == 401 and attempt == 0 and self.user and resp.auth:
                chals = [_challenge(a) for a in resp.auth]
                self._auth = next((c for c in chals if c[0] == "digest"), chals[0])
                if resp.headers.get("connection", "").lower() == "close":
                    # some cameras hang up after the challenge: ask again on a new connection
                    self.sock.close()
                    self.buf.clear()
                    await self._connect()
                continue
            if resp.status != 200:
                raise RtspError(status_reason(resp.status, resp.reason) + f" ({method} {self.where})")
            return resp
        raise AssertionError("unreachable")

    def _message(self, method: str, uri: str, headers: dict[str, str] | None = None) -> bytes:
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        if self.session:
            lines.append(f"Session: {self.session}")
        hdrs = {**self._authorization(method, uri), **(headers or {})}
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        self.last_request = time.monotonic()
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def _fill(self) -> None:
        data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        if not data:
            raise EOFError
        self.buf += data

    async def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            await self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def _response(self) -> Response:
        try:
            head = await asyncio.wait_for(self._next_message(), self.timeout)
            lines = head.decode("utf-8", "replace").split("\r\n")
            first = lines[0].split(" ", 2)
            if len(first) < 2 or not first[0].startswith("RTSP/") or not first[1].isdigit():
                raise RtspError(f"{BAD_DATA}: {self.where} 的应答不是 RTSP ({lines[0][:60]!r})")
            headers: dict[str, str] = {}
            auth = []
            for line in lines[1:]:
                name, _, value = line.partition(":")
                key = name.strip().lower()
                if key == "www-authenticate":
                    auth.append(value.strip())
                elif key:
                    headers[key] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            body = await asyncio.wait_for(self._take(length), self.timeout) if length else b""
        except TimeoutError as exc:
            raise RtspError(f"{TIMED_OUT}: {self.where} 在 {self.timeout:g} 秒内没有应答 RTSP 请求") from exc
        except (EOFError, OSError) as exc:
            raise self.ended() from exc
        except ValueError as exc:
            raise RtspError(f"{BAD_DATA}: {self.where} ({exc})") from exc
        return Response(int(first[1]), first[2] if len(first) > 2 else "", headers, body, auth)

    async def _next_message(self) -> bytes:
        """The next RTSP message's head. Interleaved frames may come first (RFC 2326 §10.12:
        any time after SETUP; a shared GStreamer media sends its RTCP before PLAY's answer):
        they are kept, in order, for the first read of the stream."""
        while True:
            if self.buf[:1] == b"$":
                if len(self.buf) >= 4:
                    end = 4 + ((self.buf[2] << 8) | self.buf[3])
                    if len(self.buf) >= end:
                        self.early += self.buf[:end]
                        del self.buf[:end]
                        continue
            elif self.buf:
                end = self.buf.find(b"\r\n\r\n")
                if end >= 0:
                    head = bytes(self.buf[:end + 4])
                    del self.buf[:end + 4]
                    return head
                if len(self.buf) > 65536:
                    raise ValueError("an RTSP answer longer than 64 kB")
            await self._fill()

    # --- the stream -----------------------------------------------------------------------
    def ended(self) -> RtspError:
        """The camera closed the connection."""
        return RtspError(f"{DROPPED}: {self.where} 关闭了连接 (end of file)")

    def stalled(self, seconds: float) -> RtspError:
        """Nothing came for ``seconds`` (a camera that hangs without closing)."""
        return RtspError(f"{DROPPED}: {self.where} 在 {seconds:g} 秒内没有数据 (timed out)")

    def _early(self) -> bytes:
        early = bytes(self.early + self.buf)
        self.early, self.buf = bytearray(), bytearray()
        return early

    async def recv(self, n: int, stall_s: float) -> bytes:
        """Wait for the stream's next bytes (up to ``n``); b"" at its end. ``RtspError`` when
        nothing came for ``stall_s`` (a camera that hangs without closing)."""
        if self.early or self.buf:
            return self._early()
        try:
            return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, n), stall_s)
        except TimeoutError as exc:
            raise self.stalled(stall_s) from exc
        except OSError as exc:
            raise RtspError(f"{DROPPED}: {self.where} ({exc})") from exc

    def drain(self, n: int = 1 << 20) -> tuple[bytes, bool]:
        """What the kernel holds, without waiting: ``(data, ended)``; ``ended`` when the camera
        closed the connection (after ``data``). ``RtspError`` on a socket error."""
        parts = [self._early()] if self.early or self.buf else []
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(n)
            except (BlockingIOError, InterruptedError):
                return b"".join(parts), False
            except OSError as exc:
                raise RtspError(f"{DROPPED}: {self.where} ({exc})") from exc
            if not data:
                return b"".join(parts), True
            parts.append(data)
            if len(data) < n:       # the kernel had less than asked: it is empty now
                return b"".join(parts), False

    def keepalive(self) -> None:
        """Keep the session alive (every half of its timeout): GET_PARAMETER where the camera
        offers it, else OPTIONS. The answer arrives between media frames and is skipped there
        (``rtp.interleaved``). A few dozen bytes: the send buffer always has room."""
        if time.monotonic() - self.last_request < self.session_timeout / 2 or self.sock is None:
            return
        with contextlib.suppress(OSError):
            self.sock.send(self._message(
                "GET_PARAMETER" if "GET_PARAMETER" in self.public else "OPTIONS", self.url))

    def close(self) -> None:
        """TEARDOWN (best effort, not waited for; once PLAY was answered) and close the
        connection: the connection's end ends an interleaved session still in its handshake."""
        sock, self.sock = self.sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            if self.session and self.playing:
                sock.send(self._message("TEARDOWN", self.url))
        sock.close()
