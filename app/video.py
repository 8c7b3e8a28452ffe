"""The video gateway process (issue 23; V1, V27, M3): ``onemap video``, or a thread of
``onemap demo`` and the tests. The composition root of ``sensors.video``: it reads the settings,
opens Redis, starts ffmpeg processes and serves the browsers.

``GET /video/live/<camera>.ts?t=<grant>``: an MPEG-TS stream (H.264, no audio) for mpegts.js:

1. the grant (``sensors.video.access``, issued by ``POST /api/video/play`` after the policy) must
   be unexpired, for this camera, and for the session of the request's cookie (the web's own
   signed session cookie, checked as the login gate checks it): else 403 and a ``denied`` line
   in the 视频调阅 log;
2. the gateway gives the camera's shared upstream, from its last keyframe (or a Chinese refusal:
   503 视频通道已满, 504 offline with the reason, 415 H.265);
3. the view's start and end (who, camera, case, seconds) go to the 视频调阅 log; a logout ends
   the stream at the next session check.

The web screens are on another port of the same host: the browser sends the session cookie
(cookies are per host), and the gateway answers CORS with credentials to that host's pages.

``ClipWorker`` (in the gateway's loop): a video-AI detection that opens a case gets ``clip_s``
seconds of its camera kept with the case, from the shared upstream (no second pull): an MP4
under the snapshots dir (``/clips/<camera>/<incident>.mp4``, ``app.http.video_clips``), linked
by ``om:video:clip:<incident>`` and a note on the case's trail; an unreachable camera leaves the
reason there instead.

``GET /internal/frame/<camera>`` (header ``X-OneMap-Frame``: an HMAC of the camera id and the
time, signed with the app's secret key: ``frame_token``): one JPEG frame of the camera from its
shared upstream (``gateway_frame``: no second pull however many watch), for the video-AI snapshots
and the console's 截图取证 of any process of the deployment (``frame_via_gateway``); a bad or
expired HMAC is 403, a refusal (offline, channels full, H.265) its status with the Chinese reason.

``SnapshotWorker``: a video-AI detection (``om:alarms``, ``snapshot_url`` ``/snapshots/<camera>/
<name>.jpg``) gets its picture from the gateway's shared upstream (``camera_frame``; with no
gateway running, one ffmpeg grab of its own) and stored under the data dir, where
``GET /snapshots/…`` (``app.http.video``) serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
from flask import Flask
from itsdangerous import BadSignature, TimestampSigner

from app import auth, heartbeat
from app.context import AppContext
from app.live.session import sid_from_cookie
from grid.contracts import Event, Field, Source
from sensors import keys as skeys
from sensors.video import access, sources, ts
from sensors.video import keys as vkeys
from sensors.video.config import VideoConfig
from sensors.video.gateway import Gateway, Refused, Viewer, record_clip

log = logging.getLogger("onemap.video")
LIVE = "/video/live/"
STATUS_EVERY_S = 1.0
THREADS = 32
DENIED = {"expired": "播放地址已过期，请重新打开画面", "camera": "播放地址与摄像机不符",
          "session": "播放地址与当前登录会话不符（不能转发他人使用）",
          "login": "请先登录"}

FRAME = "/internal/frame/"
FRAME_HEADER = "x-onemap-frame"
FRAME_SALT = "onemap.video.frame"
FRAME_TOKEN_TTL_S = 30.0
"""A frame request's HMAC is good this long (s) after it was made: the web and the gateway run
on one host or one clock; a request seen on the wire cannot be replayed for long."""
FRAME_COLLECT_S = 1.0
"""After the first chunk a frame's viewer gets (PAT+PMT+the kept GOP from its keyframe), bytes
are collected at most this long (s), until the keyframe is whole (the next frame has begun)."""
FRAME_DECODE_S = 10.0
"""ffmpeg's decode of one frame from the collected bytes (a keyframe: well under a second)."""
FRAME_DENIED = "内部截图请求未通过校验（签名无效或已过期）"
FINAL_REFUSALS = ("offline", "channels_full", "source", "not_found", "decode")
"""The gateway's answers a direct grab would only repeat (or that it must not get round: a full
gateway means the platform's channels are taken): the caller reports them and grabs nothing.
Others (no gateway, an older one, H.265, a key mismatch) fall back to a grab of its own."""


def _frame_signer(secret: str) -> TimestampSigner:
    """itsdangerous (Flask's own signing of the session cookie, ``app.live.session``): an HMAC
    over the value and a timestamp, with its own salt so a frame token is no session cookie."""
    return TimestampSigner(secret, salt=FRAME_SALT, digest_method=hashlib.sha256)


def frame_token(secret: str, camera: str) -> str:
    """The ``X-OneMap-Frame`` header of a frame request for ``camera`` (the app's secret key:
    every process of a deployment has it, ``app.secret_files``)."""
    return _frame_signer(secret).sign(camera.encode()).decode()


def frame_token_ok(secret: str, token: str, camera: str, max_age: float = FRAME_TOKEN_TTL_S) -> bool:
    """``token`` was made with ``secret`` for ``camera`` within ``max_age`` seconds."""
    if not token or len(token) > 256:
        return False
    try:
        got = _frame_signer(secret).unsign(token, max_age=max_age)
    except BadSignature:        # forged, another key, another salt, expired
        return False
    return hmac.compare_digest(got, camera.encode())


def session_server(ctx: AppContext) -> Flask:
    """A Flask app with the web's session key and login gate installed, never served: the
    gateway reads the web's signed session cookie and checks its session with it."""
    from app.server import shared_secret_key  # noqa: PLC0415

    server = Flask("onemap-video", static_folder=None)
    server.config.update(SECRET_KEY=shared_secret_key(ctx))
    server.extensions["onemap"] = ctx
    auth.install(server, ctx)
    return server


live_sid = sid_from_cookie  # the one reading of a session cookie: app.live.session


class GatewayServer:
    """The gateway's HTTP server: plain asyncio (no framework on the hot path): a stream's
    chunks are written by the upstream's fan-out straight to each viewer's socket (one
    ``transport.write``, no per-viewer task or queue hop); a socket whose send buffer grows
    past ``SLOW_BYTES`` is a viewer too slow to keep (dropped; its player reconnects)."""

    SLOW_BYTES = 4 * 1024 * 1024

    def __init__(self, ctx: AppContext, cfg: VideoConfig, gateway: Gateway | None = None) -> None:
        self.ctx, self.cfg = ctx, cfg
        self.redis: redis.Redis = ctx.redis
        self.server = session_server(ctx)
        self.cookie = self.server.config.get("SESSION_COOKIE_NAME", "session")
        self.gateway = gateway or Gateway(cfg, self._on_state)
        self.platforms = sources.adapters(cfg)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listener: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.clips: ClipWorker | None = None
        self.frames: Counter[str] = Counter()    # internal frame requests: served, refused, …

    # --- life ----------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        """Listen (``port`` 0: a free one); returns the bound port."""
        self.loop = asyncio.get_running_loop()
        # Redis calls of admissions and the log run in threads: enough of them for a wall's
        # worth of viewers arriving at once (the default is cores + 4)
        self.loop.set_default_executor(ThreadPoolExecutor(THREADS, "video-io"))
        # the camera registry before the first viewer (loading it takes seconds)
        await asyncio.to_thread(lambda: self.ctx.devices.camera(""))
        self.listener = await asyncio.start_server(self._handle, host, port, backlog=2048,
                                                   limit=64 * 1024)
        self._spawn(self._publish_status())
        self._spawn(self._beat())
        if self.cfg.clip_s > 0:
            self.clips = ClipWorker(self)
            # alarms from now on (resolved here: one raised right after start() is not missed)
            last = await asyncio.to_thread(_last_id, self.redis, skeys.ALARMS)
            self._spawn(self.clips.run(last))
        return self.listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for t in list(self._tasks):
            t.cancel()
        await self.gateway.stop()

    def _spawn(self, coro) -> asyncio.Task:  # noqa: ANN001
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # --- hooks ----------------------------------------------------------------------------
    def _on_state(self, camera: str, state: str, reason: str) -> None:
        if state in ("live", "offline"):
            asyncio.get_running_loop().run_in_executor(None, access.record_state, self.redis,
                                                       camera, state, reason)

    def beat_info(self) -> dict:
        """The gateway's heartbeat (``app.heartbeat``, /ops 进程): what runs now, and counters
        that only grow (the ops page shows their rates): views, pulls, refusals, drops, frames."""
        st = self.gateway.stats
        running = self.gateway.running()
        return {"upstreams": f"{len(running)}/{self.cfg.max_upstreams}",
                "viewing": str(sum(self.gateway.viewers(c) for c in running)),
                "views": st["views"], "pulls": st["pulls"], "refused_full": st["refused_full"],
                "idle_stops": st["idle_stops"], "dropped_slow": st["dropped_slow"],
                "pull_errors": st["pull_errors"], "frames_served": self.frames["served"],
                "frames_failed": self.frames["failed"] + self.frames["refused"]}

    async def _beat(self) -> None:
        while True:
            info = self.beat_info()      # read on the loop; written to Redis in a thread
            try:
                await asyncio.to_thread(heartbeat.beat, self.redis, "video", None, info)
            except Exception as exc:   # noqa: BLE001 (Redis away: the next beat says so)
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(heartbeat.BEAT_EVERY_S)

    async def _publish_status(self) -> None:
        while True:
            with contextlib.suppress(redis.RedisError):
                # the internal frame requests' counts beside the pulls': ops sees refusals
                st = json.dumps(self.gateway.status() | {"frames": dict(self.frames)},
                                ensure_ascii=False)
                await asyncio.to_thread(self.redis.set, vkeys.GATEWAY, st, px=10_000)
            await asyncio.sleep(STATUS_EVERY_S)

    # --- HTTP ---------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (ln.partition(":") for ln in lines[1:] if ":" in ln)}
            parts = urlsplit(target)
            path = parts.path
            if method != "GET":
                await _reply(writer, 405, {"error": "method_not_allowed"})
            elif path.startswith(LIVE) and path.endswith(".ts"):
                await self.live(reader, writer, headers, path[len(LIVE):-3], parts.query)
            elif path.startswith(FRAME):
                await self.frame(writer, headers, unquote(path[len(FRAME):]))
            elif path == "/video/healthz":
                await _reply(writer, 200, {"ok": True, "running": len(self.gateway.running())})
            else:
                await _reply(writer, 404, {"error": "not_found"})
        except (OSError, ValueError):
            pass
        finally:
            writer.close()

    def _cors(self, headers: dict) -> list[str]:
        """Credentials from the web pages of the same host (another port) or the configured
        origin; nobody else's pages."""
        origin = headers.get("origin", "")
        host = headers.get("host", "").rsplit(":", 1)[0]
        if origin and (urlsplit(origin).hostname == host or origin == self.cfg.gateway_url):
            return [f"Access-Control-Allow-Origin: {origin}", "Access-Control-Allow-Credentials: true",
                    "Vary: Origin"]
        return []

    def _session_cookie(self, headers: dict) -> str | None:
        c = SimpleCookie()
        with contextlib.suppress(Exception):
            c.load(headers.get("cookie", ""))
        return c[self.cookie].value if self.cookie in c else None

    async def live(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   headers: dict, camera: str, query: str) -> None:
        cors = self._cors(headers)
        tok = parse_qs(query).get("t", [""])[0]
        cookie = self._session_cookie(headers)
        # one thread hop for the session, the grant and (once admitted) the camera's address:
        # a cold start under load pays each hop's queueing (bench/video.py)
        sid, grant, why, url = await asyncio.to_thread(self._admit_source, cookie, tok, camera)
        if why:
            g = grant or {}
            await asyncio.to_thread(access.log_view, self.redis, "denied", user=g.get("user", ""),
                                    role=g.get("role", ""), center=g.get("center", ""),
                                    camera=camera, case=g.get("case", ""), reason=f"url:{why}")
            await _reply(writer, 403, {"error": "forbidden", "reason": DENIED[why]}, cors)
            return
        assert grant is not None and sid is not None
        who = {"user": grant["user"], "role": grant["role"], "center": grant["center"],
               "camera": camera, "case": grant.get("case", "")}
        transport = writer.transport
        done = asyncio.Event()
        pending: list[bytes] | None = []      # the GOP, held until the response head is out

        def sink(chunk: bytes | None) -> bool:
            if chunk is None or transport.is_closing():
                done.set()
                return True
            if pending is not None:
                pending.append(chunk)
                return True
            if transport.get_write_buffer_size() > self.SLOW_BYTES:
                return False
            transport.write(chunk)
            return True

        try:
            if isinstance(url, sources.SourceError):
                raise url
            viewer = await self.gateway.open(camera, url, sink)
        except sources.SourceError as exc:
            await _reply(writer, 502, {"error": "source", "reason": str(exc)}, cors)
            return
        except Refused as exc:
            await _reply(writer, exc.status, {"error": exc.code, "reason": exc.message}, cors)
            return
        view = f"{sid[:8]}-{int(time.time() * 1000)}"
        t0 = time.monotonic()
        try:
            transport.write(_head(200, "video/mp2t", cors) + b"".join(pending))
            pending = None
            await asyncio.to_thread(self._began, view, who)
            await self._hold(reader, viewer, done, cookie, sid)
        finally:
            self.gateway.close(viewer)
            await asyncio.to_thread(self._ended, view, who, time.monotonic() - t0, viewer.ended)

    async def frame(self, writer: asyncio.StreamWriter, headers: dict, camera: str) -> None:
        """``GET /internal/frame/<camera>``: one JPEG frame from the camera's shared upstream
        (issue 23: one pull per camera however many watch; V1, M3). Only for OneMap's own
        processes (the ``X-OneMap-Frame`` HMAC, ``frame_token``): a browser's grant is no use
        here; else 403. Refusals: the gateway's (503 channels full, 504 offline, 415 H.265), 502
        the platform's or a failed decode, 404 no such camera; a JSON body with the reason."""
        secret = str(self.server.config["SECRET_KEY"])
        if not frame_token_ok(secret, headers.get(FRAME_HEADER, ""), camera):
            self.frames["denied"] += 1
            log.warning("frame %s: a request without a valid signature", camera[:64])
            await _reply(writer, 403, {"error": "forbidden", "reason": FRAME_DENIED})
            return
        url = await asyncio.to_thread(self._frame_source, camera)
        if isinstance(url, tuple):
            self.frames["refused"] += 1
            await _reply(writer, url[0], {"error": url[1], "reason": url[2]})
            return
        try:
            data, why = await gateway_frame(self.gateway, camera, url, self.cfg.ffmpeg)
        except Refused as exc:
            self.frames["refused"] += 1
            await _reply(writer, exc.status, {"error": exc.code, "reason": exc.message})
            return
        if why:
            self.frames["failed"] += 1
            await _reply(writer, 502, {"error": "decode", "reason": why})
            return
        self.frames["served"] += 1
        writer.write(_head(200, "image/jpeg", [], len(data)) + data)
        with contextlib.suppress(OSError):
            await writer.drain()

    def _frame_source(self, camera: str) -> str | tuple[int, str, str]:
        """The address to pull for a frame, or (status, code, reason) (blocking)."""
        if self.ctx.devices.camera(camera) is None:
            return 404, "not_found", "无此摄像机"
        try:
            return self._source(camera)
        except sources.SourceError as exc:
            return 502, "source", str(exc)

    async def _hold(self, reader: asyncio.StreamReader, viewer: Viewer, done: asyncio.Event,
                    cookie: str | None, sid: str) -> None:
        """Until the stream ends, the viewer hangs up, or its session does."""
        async def hangup() -> None:
            with contextlib.suppress(OSError):
                while await reader.read(4096):
                    pass
            viewer.ended = viewer.ended or "closed"
            done.set()

        watcher = self._spawn(hangup())
        try:
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), self.cfg.recheck_s)
                if not done.is_set() and \
                        await asyncio.to_thread(live_sid, self.server, cookie) != sid:
                    viewer.ended = "logout"
                    return
        finally:
            watcher.cancel()

    def _admit(self, cookie: str | None, tok: str, camera: str) -> tuple[str | None, dict | None, str]:
        """(session id, grant, why not) for a stream request (blocking: one thread hop)."""
        sid = live_sid(self.server, cookie)
        grant, why = access.redeem(self.redis, tok, camera, sid)
        return sid, grant, why or ("" if sid else "login")

    def _admit_source(self, cookie: str | None, tok: str, camera: str
                      ) -> tuple[str | None, dict | None, str, str | sources.SourceError]:
        """``_admit``, then (admitted only: a platform is never asked for a refused request)
        the address to pull, or why there is none."""
        sid, grant, why = self._admit(cookie, tok, camera)
        if why:
            return sid, grant, why, ""
        try:
            return sid, grant, why, self._source(camera)
        except sources.SourceError as exc:
            return sid, grant, why, exc

    def _source(self, camera: str) -> str:
        """The address to pull for ``camera`` (blocking: a VMS platform is asked over HTTP)."""
        cam = self.ctx.devices.camera(camera) or {}
        return sources.resolve(self.cfg, self.platforms, camera, str(cam.get("stream_url") or ""))

    def _began(self, view: str, who: dict) -> None:
        access.log_view(self.redis, "start", view=view, **who)
        access.began(self.redis, who["user"])

    def _ended(self, view: str, who: dict, secs: float, why: str) -> None:
        access.log_view(self.redis, "end", view=view, seconds=secs, reason=why, **who)
        access.ended(self.redis, who["user"])


async def gateway_frame(gateway: Gateway, camera: str, url: str, ffmpeg: str = "ffmpeg",
                        collect_s: float = FRAME_COLLECT_S) -> tuple[bytes, str]:
    """One JPEG frame of ``camera`` from its shared upstream (started or joined: ``Refused`` as
    for a viewer): a viewer's first chunk (PAT+PMT+the kept GOP from its last keyframe) and what
    follows until the keyframe is whole (a second video frame has begun; at most ``collect_s``),
    then the viewer is closed (the upstream's idle stop as for any viewer) and ffmpeg decodes one
    frame of those bytes, in a thread. (jpeg, "") or (b"", why in Chinese)."""
    buf = bytearray()
    tracker = ts.Tracker()
    frames = 0
    whole = asyncio.Event()

    def sink(chunk: bytes | None) -> bool:
        nonlocal frames
        if chunk is None:               # the stream ended: decode what came
            whole.set()
            return True
        buf.extend(chunk)
        tracker.feed(chunk)
        frames += len(ts.video_pts(tracker, chunk))
        if frames >= 2:
            whole.set()
        return True

    viewer = await gateway.open(camera, url, sink)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(whole.wait(), collect_s)
    finally:
        gateway.close(viewer)
    return await asyncio.to_thread(decode_frame, ffmpeg, bytes(buf))


def decode_frame(ffmpeg: str, data: bytes, timeout_s: float = FRAME_DECODE_S) -> tuple[bytes, str]:
    """The first picture of MPEG-TS ``data`` as a JPEG (blocking): (jpeg, "") or (b"", why)."""
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "mpegts", "-i", "pipe:0",
            "-frames:v", "1", "-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "pipe:1"]
    try:
        p = subprocess.run(args, input=data, capture_output=True, timeout=timeout_s, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return b"", "截图超时"
    except OSError as exc:
        return b"", f"截图失败: {exc}"
    if p.returncode != 0 or not p.stdout.startswith(b"\xff\xd8"):
        return b"", f"截图失败: {p.stderr.decode('utf-8', 'replace').strip()[-200:] or '无画面'}"
    return p.stdout, ""


_REASON = {200: "OK", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           415: "Unsupported Media Type", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


def _head(status: int, ctype: str, extra: list[str], length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASON.get(status, 'Error')}", f"Content-Type: {ctype}",
             "Cache-Control: no-store", "X-Content-Type-Options: nosniff", "Connection: close",
             *extra]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _reply(writer: asyncio.StreamWriter, status: int, body: dict,
                 extra: list[str] | None = None) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    writer.write(_head(status, "application/json; charset=utf-8", extra or [], len(data)) + data)
    with contextlib.suppress(OSError):
        await writer.drain()


class Background:
    """The gateway in a thread of this process (the demo; tests; the bench)."""

    def __init__(self, ctx: AppContext, cfg: VideoConfig | None = None, host: str | None = None,
                 port: int | None = None) -> None:
        self.cfg = cfg or ctx.settings.video_config
        self.app = GatewayServer(ctx, self.cfg)
        self.host = host or self.cfg.host
        self.want = self.cfg.port if port is None else port
        self.port = 0
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: run_loop(self._main()), name="video",
                                       daemon=True)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            self.port = await self.app.start(self.host, self.want)
        except BaseException as exc:    # noqa: BLE001 (told to start(), which raises it)
            log.exception("the video gateway did not start")
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.app.stop()

    @property
    def gateway(self) -> Gateway:
        return self.app.gateway

    def start(self, timeout: float = 60.0) -> Background:
        self.thread.start()
        if not self.ready.wait(timeout) or self.error is not None:
            raise RuntimeError(f"the video gateway did not start: {self.error}")
        return self

    def call(self, fn, *args):  # noqa: ANN001, ANN002, ANN201
        """Run ``fn(*args)`` on the gateway's loop and return its result (tests)."""
        assert self.app.loop is not None
        fut = asyncio.run_coroutine_threadsafe(_call(fn, *args), self.app.loop)
        return fut.result(10)

    def stop(self) -> None:
        if self.app.loop is not None and self._stop is not None and self.thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self.app.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=15)


def run_loop(coro) -> None:  # noqa: ANN001
    """Run ``coro`` on uvloop (install_requires; as the web process runs)."""
    import uvloop  # noqa: PLC0415

    uvloop.run(coro)


async def _call(fn, *args):  # noqa: ANN001, ANN002, ANN202
    return fn(*args)


# --- a case's clip ------------------------------------------------------------------------
CLIP_LINK_WAIT_S = 15.0
"""How long a detection waits for the intake to open (or join) its case before its clip is
given up (the intake takes an alarm in well under a second)."""


def _last_id(r: redis.Redis, stream: str) -> str:
    """The newest entry's id of ``stream`` ("0-0" when empty or missing)."""
    got = r.xrevrange(stream, count=1)
    return got[0][0] if got else "0-0"


class ClipWorker:
    """Keeps a short clip with each case a video-AI detection opens (issue 23: "a short clip
    (e.g. 20 s) from the moment the incident opens is kept with the incident when the camera is
    reachable"): reads ``om:alarms`` ``raise`` entries of the ``clip_sources`` (video-AI: the
    detecting camera; others: the nearest camera that sees the spot), finds the case the intake
    made of the episode, and records ``clip_s`` seconds from the gateway's shared upstream. One
    clip per case (a detection joining an open situation adds none). Stored or not, the outcome
    is linked to the case (``om:video:clip:<incident>``), noted on its trail and in the 视频调阅
    log; a failure never stops the worker."""

    def __init__(self, app: GatewayServer) -> None:
        self.app, self.cfg, self.ctx = app, app.cfg, app.ctx
        self.dir = Path(self.ctx.settings.data_dir) / "snapshots"
        self.stats = {"stored": 0, "failed": 0, "skipped": 0}
        self.source = app._source      # camera → address to pull (blocking)

    async def run(self, last: str = "$") -> None:
        while True:
            try:
                got = await asyncio.to_thread(self.ctx.redis.xread, {skeys.ALARMS: last},
                                              count=100, block=1000)
            except redis.RedisError as exc:
                log.warning("clips: %s", exc)
                await asyncio.sleep(2)
                continue
            for _stream, entries in got or []:
                for entry_id, f in entries:
                    last = entry_id
                    if f.get(Field.EVENT) == Event.RAISE and \
                            f.get(Field.SOURCE) in self.cfg.clip_sources:
                        self.app._spawn(self._guarded(self.for_alarm(f)))

    async def _guarded(self, coro) -> None:  # noqa: ANN001
        try:
            await coro
        except Exception:   # one bad alarm never stops the worker
            log.exception("clip")

    def camera_of(self, f: dict) -> str:
        """The detecting camera, or the nearest camera that sees the alarm's spot."""
        dev = f.get(Field.DEVICE_ID) or ""
        if f.get(Field.SOURCE) == Source.VIDEO_AI and self.ctx.devices.camera(dev):
            return dev
        from sensors.cameras import cameras_seeing  # noqa: PLC0415

        with contextlib.suppress(ValueError, TypeError):
            seeing = cameras_seeing(self.ctx.devices, float(f.get(Field.LON) or 0),
                                    float(f.get(Field.LAT) or 0))
            if seeing:
                return seeing[0]["id"]
        return ""

    async def for_alarm(self, f: dict) -> dict | None:
        """The clip of the case an alarm's episode opened (None: no case, camera or new clip)."""
        from incidents.actor import SYSTEM  # noqa: PLC0415
        from incidents.intake import episode_key  # noqa: PLC0415

        camera = await asyncio.to_thread(self.camera_of, f)
        episode = f.get(Field.EPISODE) or ""
        if not camera or not episode:
            self.stats["skipped"] += 1
            return None
        svc = self.ctx.incidents
        # recording starts now (the moment the case opens); the case is linked when known
        rec = asyncio.get_running_loop().create_task(self._record_pending(camera, episode))
        deadline = time.monotonic() + CLIP_LINK_WAIT_S
        inc = None
        while inc is None and time.monotonic() < deadline:
            inc = await asyncio.to_thread(svc.reported_with, SYSTEM, episode_key(episode))
            if inc is None:
                await asyncio.sleep(0.2)
        if inc is None or not await asyncio.to_thread(self._claim, inc, camera):
            rec.cancel()        # no case, or the case already has its clip
            self.stats["skipped"] += 1
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await rec
            return None
        path, why = await rec
        return await asyncio.to_thread(self._link, inc, camera, path, why)

    async def clip(self, incident: str, camera: str) -> dict | None:
        """Record the clip of ``incident`` from ``camera`` now (None: it has one already)."""
        if not await asyncio.to_thread(self._claim, incident, camera):
            return None
        path, why = await self._record_pending(camera, incident)
        return await asyncio.to_thread(self._link, incident, camera, path, why)

    async def _record_pending(self, camera: str, tag: str) -> tuple[Path | None, str]:
        tmp = self.dir / camera / f".clip-{tag}-{int(time.time() * 1000)}.mp4"
        try:
            url = await asyncio.to_thread(self.source, camera)
        except sources.SourceError as exc:
            return None, str(exc)
        try:
            why = await record_clip(self.app.gateway, camera, url, self.cfg.clip_s, tmp,
                                    self.cfg.ffmpeg)
        except asyncio.CancelledError:
            tmp.unlink(missing_ok=True)
            raise
        return (None, why) if why else (tmp, "")

    def _claim(self, incident: str, camera: str) -> bool:
        return access.claim_clip(self.ctx.redis, incident, camera)

    def _link(self, incident: str, camera: str, tmp: Path | None, why: str) -> dict:
        """Keep the clip under its case's name and link it: the record, the case's trail, the
        视频调阅 log."""
        from incidents.actor import SYSTEM  # noqa: PLC0415

        rec: dict = {"camera": camera, "ts": time.time(), "seconds": self.cfg.clip_s}
        if tmp is not None:
            out = self.dir / camera / f"{incident}.mp4"
            tmp.replace(out)
            rec |= {"state": "stored", "path": f"/clips/{camera}/{incident}.mp4",
                    "bytes": out.stat().st_size, "reason": ""}
            text = f"视频片段已保存（{self.cfg.clip_s:g} 秒，摄像机 {camera}）: {rec['path']}"
        else:
            rec |= {"state": "failed", "path": "", "reason": why}
            text = f"视频片段未能保存（摄像机 {camera}）: {why}"
        self.stats[rec["state"] if rec["state"] == "stored" else "failed"] += 1
        r = self.ctx.redis
        access.set_clip(r, incident, rec)
        access.log_view(r, "clip", user="system", camera=camera, case=incident,
                        seconds=self.cfg.clip_s, reason=why)
        try:
            self.ctx.incidents.note(incident, SYSTEM, text, idempotency_key=f"clip:{incident}")
        except Exception:   # noqa: BLE001 (the clip and its record stay; the note is logged)
            log.exception("clip note on %s", incident)
        log.info("clip %s %s: %s", incident, camera, why or rec["path"])
        return rec


# --- video-AI snapshots and 截图取证: a frame of a camera --------------------------------------
def gateway_address(cfg: VideoConfig) -> str | None:
    """Where this deployment's gateway listens, for OneMap's own processes (``host``:``port`` of
    ``[video]``, as ``onemap video`` and ``onemap demo`` bind it; a wildcard host: loopback);
    None when no port is known (port 0: the gateway's bound port was never told)."""
    if not cfg.port:
        return None
    host = cfg.host if cfg.host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    return f"http://[{host}]:{cfg.port}" if ":" in host else f"http://{host}:{cfg.port}"


def frame_via_gateway(cfg: VideoConfig, secret: str, camera: str,
                      timeout_s: float | None = None) -> tuple[bytes, str] | None:
    """One JPEG frame of ``camera`` from the gateway's shared upstream (``GET /internal/frame/``,
    signed with ``secret``): (jpeg, "") or (b"", the gateway's Chinese refusal); None when no
    gateway answered it (none runs, an older one, H.265, a key mismatch: the caller grabs
    itself, ``FINAL_REFUSALS``)."""
    base = gateway_address(cfg)
    if base is None:
        return None
    timeout_s = timeout_s or cfg.connect_timeout_s + FRAME_COLLECT_S + 5.0
    req = urllib.request.Request(f"{base}{FRAME}{quote(camera, safe='')}",
                                 headers={FRAME_HEADER: frame_token(secret, camera)})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (our own gateway)
            data = resp.read(16 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read(64 * 1024) or b"{}")
        except ValueError:
            body = {}
        if body.get("error") in FINAL_REFUSALS and body.get("reason"):
            return b"", str(body["reason"])
        log.warning("frame %s: the gateway said %s %s; grabbing directly", camera, exc.code,
                    body.get("error", ""))
        return None
    except (OSError, ValueError) as exc:     # refused, unreachable, timed out
        log.info("frame %s: no gateway at %s (%s); grabbing directly", camera, base, exc)
        return None
    return (data, "") if data.startswith(b"\xff\xd8") else (b"", "截图失败: 网关返回的不是图片")


def camera_frame(cfg: VideoConfig, secret: str, camera: str, source: Callable[[], str],
                 timeout_s: float = 10.0) -> tuple[bytes, str, str]:
    """One JPEG frame of ``camera`` (issue 23: one upstream pull per camera however many
    watch): from the gateway's shared upstream when a gateway runs (``frame_via_gateway``),
    else by a pull of its own (``grab_frame`` of ``source()``, the camera's address, resolved
    only then). (jpeg, "" or why not in Chinese, the path taken: ``gateway`` or ``direct``)."""
    got = frame_via_gateway(cfg, secret, camera)
    if got is not None:
        return got[0], got[1], "gateway"
    try:
        url = source()
    except sources.SourceError as exc:
        return b"", str(exc), "direct"
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="frame-") as tmp:
        out = Path(tmp) / "frame.jpg"
        why = grab_frame(cfg, url, out, timeout_s=timeout_s)
        return (b"", why, "direct") if why else (out.read_bytes(), "", "direct")


def grab_frame(cfg: VideoConfig, url: str, out: Path, timeout_s: float = 10.0) -> str:
    """One JPEG frame of ``url`` into ``out`` (atomically) by an ffmpeg pull of its own (a second
    RTSP session to the camera): only when no gateway runs (``camera_frame``); "" or why not."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.jpg")
    args = [cfg.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
    if url.startswith("rtsp"):
        args += ["-rtsp_transport", "tcp", "-timeout", str(int(cfg.connect_timeout_s * 1e6))]
    args += ["-i", url, "-frames:v", "1", "-q:v", "4", "-f", "image2", "-y", str(tmp)]
    try:
        p = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return "截图超时"
    if p.returncode != 0 or not tmp.is_file():
        return f"截图失败: {p.stderr.decode('utf-8', 'replace').strip()[-200:]}"
    tmp.replace(out)
    return ""


class AlarmFollower:
    """A thread that follows the alarm stream (``sensors.keys.ALARMS``) from now on: each entry
    to ``on_alarm``, then ``after_batch`` once per read (at least every second). Redis away: it
    says so and tries again; one bad entry is logged and never stops it. The subclass has
    ``ctx`` (its AppContext)."""

    ctx: AppContext

    def __init__(self, name: str) -> None:
        self.name = name
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def on_alarm(self, fields: dict) -> None:
        raise NotImplementedError

    def after_batch(self) -> None:
        """Once per read of the stream (every second when nothing comes)."""

    def _run(self) -> None:
        r, last = self.ctx.redis, "$"
        while not self.stop_event.is_set():
            try:
                got = r.xread({skeys.ALARMS: last}, count=100, block=1000)
            except redis.RedisError as exc:
                log.warning("%s: %s", self.name, exc)
                self.stop_event.wait(2)
                continue
            for _stream, entries in got or []:
                for entry_id, fields in entries:
                    last = entry_id
                    try:
                        self.on_alarm(fields)
                    except Exception:   # noqa: BLE001 (one bad entry never stops the worker)
                        log.exception("%s: alarm %s", self.name, entry_id)
            try:
                self.after_batch()
            except Exception:   # noqa: BLE001
                log.exception("%s", self.name)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)


class SnapshotWorker(AlarmFollower):
    """Stores a picture for each video-AI detection whose ``snapshot_url`` is OneMap's
    ``/snapshots/<camera>/<name>.jpg`` (the simulator's and a device's that only reports the
    detection): from the gateway's shared upstream when it runs (no second pull of a watched
    camera), else by a grab of its own (``camera_frame``). ``stats``: stored, failed, and the
    path taken (gateway, direct); failures are logged; the alarm itself is never held back."""

    def __init__(self, ctx: AppContext, cfg: VideoConfig | None = None) -> None:
        from app.secret_files import session_key  # noqa: PLC0415

        self.ctx, self.cfg = ctx, cfg or ctx.settings.video_config
        self.dir = Path(ctx.settings.data_dir) / "snapshots"
        self.platforms = sources.adapters(self.cfg)
        self.secret = session_key(ctx.settings)      # the web's and the gateway's key
        self.stats = {"stored": 0, "failed": 0, "gateway": 0, "direct": 0}
        super().__init__("video-snapshots")

    def handle(self, fields: dict) -> str:
        """Store the snapshot an ``om:alarms`` entry names; "" (stored or nothing to do) or why
        it failed."""
        snap = fields.get("snapshot_url") or ""
        cam_id = fields.get("device_id") or ""
        parts = snap.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "snapshots" or parts[1] != cam_id \
                or not parts[2].endswith(".jpg") or "/" in parts[2] or parts[2].startswith("."):
            return ""
        cam = self.ctx.devices.camera(cam_id)
        if cam is None:
            return "无此摄像机"
        out = self.dir / cam_id / parts[2]
        if out.exists():
            return ""
        data, why, path = camera_frame(
            self.cfg, self.secret, cam_id,
            lambda: sources.resolve(self.cfg, self.platforms, cam_id, str(cam.get("stream_url") or "")))
        self.stats[path] += 1
        if not why:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".part.jpg")
            tmp.write_bytes(data)
            tmp.replace(out)        # atomically: /snapshots/… never serves half a picture
        self.stats["failed" if why else "stored"] += 1
        if why:
            log.warning("snapshot %s: %s", snap, why)
        return why

    def on_alarm(self, fields: dict) -> None:
        if fields.get("snapshot_url") and fields.get("event") == "raise":
            self.handle(fields)

    def start(self) -> SnapshotWorker:
        super().start()
        return self


# --- the demo camera server ---------------------------------------------------------------
CAMERA_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "video_cameras.py"
SYSTEM_PYTHON = "/usr/bin/python3"


class DemoCameras:
    """The demo's RTSP camera server (``scripts/video_cameras.py`` under Debian's python3)."""

    def __init__(self, port: int = 0, cameras: int = 8, h265: int = 0, keyint_s: float = 2.0,
                 width: int = 640, height: int = 360, fps: int = 15, kbps: int = 500,
                 host: str = "127.0.0.1", control: Path | None = None, auth: str = "",
                 bframes: int = 0) -> None:
        self.args = [SYSTEM_PYTHON, str(CAMERA_SCRIPT), "--host", host, "--port", str(port),
                     "--cameras", str(cameras), "--h265", str(h265), "--keyint-s", str(keyint_s),
                     "--width", str(width), "--height", str(height), "--fps", str(fps),
                     "--kbps", str(kbps)]
        if auth:                      # "user:password": Digest authentication, as IP cameras ask
            self.args += ["--auth", auth]
        if bframes:                   # H.264 cameras with B-frames at /bframes/N
            self.args += ["--bframes", str(bframes)]
        if control is not None:       # the scene control file (SceneDirector writes it)
            self.args += ["--control", str(control)]
        self.host = host
        self.proc: subprocess.Popen | None = None
        self.port = port

    def start(self, timeout: float = 15.0) -> DemoCameras:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # noqa: S603
                                     text=True, start_new_session=True)
        got: list[str] = []
        t = threading.Thread(target=lambda: got.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        line = got[0] if got else ""
        if not line.startswith("ready"):
            self.stop()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the demo camera server did not start: {line} {err[-500:]}")
        self.port = int(line.split()[1])
        return self

    @property
    def base(self) -> str:
        return f"rtsp://{self.host}:{self.port}/"

    def url(self, n: int, codec: str = "live") -> str:
        return f"{self.base}{codec}/{n}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --- the demo's scenes -----------------------------------------------------------------------
FIRE_CATEGORY = "0401"      # 消防/火灾: the fire sensors' rules and video-AI 烟火 (sensors.kinds)
FIRE_SCENE_S = 300.0
"""A fire scene stays on this long (s) after its episode's last alarm entry without a clear."""
SCENE_RADIUS_M, SCENE_CAMERAS = 500.0, 3    # as the simulator picks a fire's cameras


class SceneDirector(AlarmFollower):
    """The demo's cameras show what the simulator plays (issue 23: "the fire scenario's camera
    shows the scene changing"): a fire alarm (category 0401: the smoke and heat sensors of the
    burning building, a video-AI 烟火 detection) turns the demo pool cameras behind the cameras
    that see its spot to the fire scene, until the episode clears (or ``FIRE_SCENE_S`` pass
    without news). It writes ``scripts/video_cameras.py``'s control file (``{"fire": [n…]}``)."""

    def __init__(self, ctx: AppContext, cfg: VideoConfig, control: Path) -> None:
        self.ctx, self.cfg, self.control = ctx, cfg, control
        self.episodes: dict[str, tuple[set[int], float]] = {}     # episode → pool numbers, until
        self.shown: list[int] | None = None
        super().__init__("video-scenes")

    def pool_cameras(self, f: dict) -> set[int]:
        """The demo pool numbers of the cameras that see an alarm's spot (and the detecting one)."""
        from sensors.cameras import cameras_seeing  # noqa: PLC0415

        ids = []
        if f.get(Field.SOURCE) == Source.VIDEO_AI and f.get(Field.DEVICE_ID):
            ids.append(f[Field.DEVICE_ID])
        with contextlib.suppress(ValueError, TypeError):
            ids += [c["id"] for c in cameras_seeing(
                self.ctx.devices, float(f.get(Field.LON) or 0), float(f.get(Field.LAT) or 0),
                SCENE_RADIUS_M, SCENE_CAMERAS)]
        return {int(sources.demo_url(self.cfg, c).rsplit("/", 1)[1]) for c in ids}

    def handle(self, f: dict, now: float | None = None) -> list[int]:
        """Apply one ``om:alarms`` entry; the pool cameras now on fire."""
        now = time.time() if now is None else now
        ep = f.get(Field.EPISODE) or ""
        if ep and f.get(Field.CATEGORY) == FIRE_CATEGORY:
            if f.get(Field.EVENT) == Event.CLEAR:
                self.episodes.pop(ep, None)
            elif f.get(Field.EVENT) in (Event.RAISE, Event.LEVEL):
                ns = self.episodes.get(ep, (set(), 0.0))[0] or self.pool_cameras(f)
                self.episodes[ep] = (ns, now + FIRE_SCENE_S)
        return self.write(now)

    def write(self, now: float) -> list[int]:
        self.episodes = {e: v for e, v in self.episodes.items() if v[1] > now}
        fire = sorted(set().union(*(ns for ns, _ in self.episodes.values())))
        if fire != self.shown:
            tmp = self.control.with_suffix(".tmp")
            tmp.write_text(json.dumps({"fire": fire}), encoding="utf-8")
            tmp.replace(self.control)       # atomic: the camera server never reads half a file
            self.shown = fire
            log.info("demo scenes: fire on cameras %s", fire)
        return fire

    def on_alarm(self, fields: dict) -> None:
        self.handle(fields)

    def after_batch(self) -> None:
        self.write(time.time())

    def start(self) -> SceneDirector:
        self.control.parent.mkdir(parents=True, exist_ok=True)
        self.write(time.time())
        super().start()
        return self


# --- started by onemap demo / onemap video --------------------------------------------------
def start_demo_video(ctx: AppContext, runtime, say, cameras: int = 8) -> str:  # noqa: ANN001
    """``onemap demo``: the demo camera server (its pool: every registry camera maps onto it),
    the gateway and the snapshot worker, stopped with ``runtime``. Without the system packages
    (ffmpeg, GStreamer's RTSP server) the demo runs on, without video, and says why."""
    import shutil  # noqa: PLC0415

    cfg = ctx.settings.video_config
    if not shutil.which(cfg.ffmpeg) or not Path(SYSTEM_PYTHON).exists():
        say("视频未启用 video is off: ffmpeg or /usr/bin/python3 missing (scripts/install-system.sh)")
        return ""
    try:
        if not cfg.demo_rtsp:
            control = Path(ctx.settings.data_dir) / "video-scenes.json"
            cams = DemoCameras(port=0, cameras=cameras, control=control).start()
            runtime.add("video-cameras", cams.stop)
            ctx.settings.video = {**ctx.settings.video, "demo_rtsp": cams.base,
                                  "demo_pool": cameras}
            cfg = ctx.settings.video_config
            scenes = SceneDirector(ctx, cfg, control).start()   # the fire scenario shows
            runtime.add("video-scenes", scenes.stop)
        gw = Background(ctx, cfg).start()
        runtime.add("video", gw.stop)
        ctx.settings.video = {**ctx.settings.video, "port": gw.port}   # port 0: the bound one
        cfg = ctx.settings.video_config         # the snapshots ask the gateway at that port
        snaps = SnapshotWorker(ctx, cfg).start()
        runtime.add("video-snapshots", snaps.stop)
    except Exception as e:  # noqa: BLE001 (never takes the demo down)
        log.exception("video start failed")
        say(f"视频未启用 video is off: {e}")
        return ""
    say(f"Video gateway: http://{cfg.host}:{gw.port}/video/  (demo cameras {cfg.demo_rtsp})")
    return "video"


def serve(ctx: AppContext, host: str, port: int) -> None:
    """``onemap video``: the gateway in the main thread and the snapshot worker beside it,
    until SIGINT/SIGTERM (a clean stop: every ffmpeg pull ended)."""
    import signal  # noqa: PLC0415

    cfg = ctx.settings.video_config
    # the worker asks this process's gateway for its frames: where it listens (--host/--port)
    snaps = SnapshotWorker(ctx, dataclasses.replace(cfg, host=host, port=port)).start()

    async def main() -> None:
        app = GatewayServer(ctx, cfg)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        bound = await app.start(host, port)
        log.info("video gateway on %s:%s", host, bound)
        try:
            await stop.wait()
        finally:
            await app.stop()

    try:
        run_loop(main())
    finally:
        snaps.stop()
