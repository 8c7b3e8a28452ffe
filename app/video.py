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

``SnapshotWorker``: a video-AI detection (``om:alarms``, ``snapshot_url`` ``/snapshots/<camera>/
<name>.jpg``) gets its picture grabbed from the camera's stream and stored under the data dir,
where ``GET /snapshots/…`` (``app.http.video``) serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import redis
import uvicorn
from flask import Flask
from itsdangerous import BadSignature

from app import auth
from app.context import AppContext
from sensors import keys as skeys
from sensors.video import access, sources
from sensors.video import keys as vkeys
from sensors.video.config import VideoConfig
from sensors.video.gateway import Gateway, Refused, Viewer

log = logging.getLogger("onemap.video")
LIVE = "/video/live/"
STATUS_EVERY_S = 1.0
THREADS = 32
STREAM_HEADERS = [(b"content-type", b"video/mp2t"), (b"cache-control", b"no-store"),
                  (b"x-content-type-options", b"nosniff")]
DENIED = {"expired": "播放地址已过期，请重新打开画面", "camera": "播放地址与摄像机不符",
          "session": "播放地址与当前登录会话不符（不能转发他人使用）",
          "login": "请先登录"}


def session_server(ctx: AppContext) -> Flask:
    """A Flask app with the web's session key and login gate installed, never served: the
    gateway reads the web's signed session cookie and checks its session with it."""
    from app.server import shared_secret_key  # noqa: PLC0415

    server = Flask("onemap-video", static_folder=None)
    server.config.update(SECRET_KEY=shared_secret_key(ctx))
    server.extensions["onemap"] = ctx
    auth.install(server, ctx)
    return server


def live_sid(server: Flask, cookie: str | None) -> str | None:
    """The session id of a signed session cookie when the session is live, else None
    (blocking: Redis)."""
    if not cookie:
        return None
    serializer = server.session_interface.get_signing_serializer(server)
    if serializer is None:
        return None
    try:
        data = serializer.loads(cookie, max_age=int(server.permanent_session_lifetime.total_seconds()))
    except BadSignature:
        return None
    sid = data.get("_user_id")
    check = server.extensions.get(auth.SESSION_CHECK)
    return sid if sid and check and check(sid, touch=False) is not None else None


class GatewayApp:
    """The gateway's ASGI app (plain ASGI: the stream path is the hot one)."""

    def __init__(self, ctx: AppContext, cfg: VideoConfig, gateway: Gateway | None = None) -> None:
        self.ctx, self.cfg = ctx, cfg
        self.redis: redis.Redis = ctx.redis
        self.server = session_server(ctx)
        self.cookie = self.server.config.get("SESSION_COOKIE_NAME", "session")
        self.gateway = gateway or Gateway(cfg, self._on_state)
        self.platforms = sources.adapters(cfg)
        self._status_task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- hooks ----------------------------------------------------------------------------
    def _on_state(self, camera: str, state: str, reason: str) -> None:
        if state in ("live", "offline"):
            asyncio.get_running_loop().run_in_executor(None, access.record_state, self.redis,
                                                       camera, state, reason)

    async def _publish_status(self) -> None:
        while True:
            with contextlib.suppress(redis.RedisError):
                st = json.dumps(self.gateway.status(), ensure_ascii=False)
                await asyncio.to_thread(self.redis.set, vkeys.GATEWAY, st, px=10_000)
            await asyncio.sleep(STATUS_EVERY_S)

    # --- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.startswith(LIVE) and path.endswith(".ts"):
            await self.live(scope, receive, send, path[len(LIVE):-3])
        elif path == "/video/healthz":
            await _json(send, 200, {"ok": True, "running": len(self.gateway.running())})
        else:
            await _json(send, 404, {"error": "not_found"})

    async def _lifespan(self, receive, send) -> None:  # noqa: ANN001
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self.loop = asyncio.get_running_loop()
                # Redis calls of admissions and the log run in threads: enough of them for a
                # wall's worth of viewers arriving at once (the default is cores + 4)
                self.loop.set_default_executor(ThreadPoolExecutor(THREADS, "video-io"))
                # the camera registry before the first viewer (loading it takes seconds)
                await asyncio.to_thread(lambda: self.ctx.devices.camera(""))
                self._status_task = self.loop.create_task(self._publish_status())
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if self._status_task:
                    self._status_task.cancel()
                await self.gateway.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _cors(self, scope) -> list[tuple[bytes, bytes]]:  # noqa: ANN001
        """Credentials from the web pages of the same host (another port) or the configured
        origin; nobody else's pages."""
        hdrs = dict(scope["headers"])
        origin = hdrs.get(b"origin", b"").decode("latin-1")
        host = hdrs.get(b"host", b"").decode("latin-1").rsplit(":", 1)[0]
        if origin and (urlsplit(origin).hostname == host or origin == self.cfg.gateway_url):
            return [(b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-credentials", b"true"), (b"vary", b"Origin")]
        return []

    def _session_cookie(self, scope) -> str | None:  # noqa: ANN001
        raw = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        c = SimpleCookie()
        with contextlib.suppress(Exception):
            c.load(raw)
        return c[self.cookie].value if self.cookie in c else None

    async def live(self, scope, receive, send, camera: str) -> None:  # noqa: ANN001
        cors = self._cors(scope)
        tok = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("t", [""])[0]
        cookie = self._session_cookie(scope)
        sid, grant, why = await asyncio.to_thread(self._admit, cookie, tok, camera)
        if why:
            g = grant or {}
            await asyncio.to_thread(access.log_view, self.redis, "denied", user=g.get("user", ""),
                                    role=g.get("role", ""), center=g.get("center", ""),
                                    camera=camera, case=g.get("case", ""), reason=f"url:{why}")
            await _json(send, 403, {"error": "forbidden", "reason": DENIED[why]}, cors)
            return
        assert grant is not None
        who = {"user": grant["user"], "role": grant["role"], "center": grant["center"],
               "camera": camera, "case": grant.get("case", "")}
        try:
            url = await asyncio.to_thread(self._source, camera)
            viewer = await self.gateway.open(camera, url)
        except sources.SourceError as exc:
            await _json(send, 502, {"error": "source", "reason": str(exc)}, cors)
            return
        except Refused as exc:
            await _json(send, exc.status, {"error": exc.code, "reason": exc.message}, cors)
            return
        view = f"{sid[:8]}-{int(time.time() * 1000)}"
        t0 = time.monotonic()
        await asyncio.to_thread(self._began, view, who)
        try:
            await self._stream(scope, receive, send, viewer, cookie, sid, cors)
        finally:
            self.gateway.close(viewer)
            secs = time.monotonic() - t0
            await asyncio.to_thread(self._ended, view, who, secs, viewer.ended)

    def _admit(self, cookie: str | None, tok: str, camera: str) -> tuple[str | None, dict | None, str]:
        """(session id, grant, why not) for a stream request (blocking: one thread hop)."""
        sid = live_sid(self.server, cookie)
        grant, why = access.redeem(self.redis, tok, camera, sid)
        return sid, grant, why or ("" if sid else "login")

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

    async def _stream(self, scope, receive, send, viewer: Viewer, cookie: str | None,  # noqa: ANN001
                      sid: str, cors: list) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": STREAM_HEADERS + cors})

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            viewer.ended = viewer.ended or "closed"
            with contextlib.suppress(asyncio.QueueFull):
                viewer.queue.put_nowait(None)

        watcher = asyncio.get_running_loop().create_task(watch_disconnect())
        recheck = time.monotonic() + self.cfg.recheck_s
        try:
            async for chunk in viewer.chunks():
                if viewer.ended == "closed":
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if time.monotonic() > recheck:
                    recheck = time.monotonic() + self.cfg.recheck_s
                    if await asyncio.to_thread(live_sid, self.server, cookie) != sid:
                        viewer.ended = "logout"
                        break
            if viewer.ended != "closed":
                with contextlib.suppress(Exception):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()


async def _json(send, status: int, body: dict, extra: list | None = None) -> None:  # noqa: ANN001
    data = json.dumps(body, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"cache-control", b"no-store"), *(extra or [])]})
    await send({"type": "http.response.body", "body": data})


def uvicorn_config(app: GatewayApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=False,
                          server_header=False, proxy_headers=False, backlog=2048,
                          timeout_graceful_shutdown=2, log_level="warning")


class Background:
    """The gateway in a thread of this process (the demo; tests; the bench)."""

    def __init__(self, ctx: AppContext, cfg: VideoConfig | None = None, host: str | None = None,
                 port: int | None = None) -> None:
        self.cfg = cfg or ctx.settings.video_config
        self.app = GatewayApp(ctx, self.cfg)
        self.server = uvicorn.Server(uvicorn_config(self.app, host or self.cfg.host,
                                                    self.cfg.port if port is None else port))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()),
                                       name="video", daemon=True)

    @property
    def gateway(self) -> Gateway:
        return self.app.gateway

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    def start(self, timeout: float = 20.0) -> Background:
        self.thread.start()
        end = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self.server.started:
                return self
            if not self.thread.is_alive():
                break
            end.wait(0.02)
        raise RuntimeError("the video gateway did not start")

    def call(self, fn, *args):  # noqa: ANN001, ANN002, ANN201
        """Run ``fn(*args)`` on the gateway's loop and return its result (tests)."""
        assert self.app.loop is not None
        fut = asyncio.run_coroutine_threadsafe(_call(fn, *args), self.app.loop)
        return fut.result(10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


async def _call(fn, *args):  # noqa: ANN001, ANN002, ANN202
    return fn(*args)


# --- video-AI snapshots -------------------------------------------------------------------
def grab_frame(cfg: VideoConfig, url: str, out: Path, timeout_s: float = 10.0) -> str:
    """One JPEG frame of ``url`` into ``out`` (atomically); "" or why not."""
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


class SnapshotWorker:
    """Stores a picture for each video-AI detection whose ``snapshot_url`` is OneMap's
    ``/snapshots/<camera>/<name>.jpg`` (the simulator's and a device's that only reports the
    detection). Failures are counted (``om:video:snapfail`` in the gateway's counters) and
    logged; the alarm itself is never held back."""

    def __init__(self, ctx: AppContext, cfg: VideoConfig | None = None) -> None:
        self.ctx, self.cfg = ctx, cfg or ctx.settings.video_config
        self.dir = Path(ctx.settings.data_dir) / "snapshots"
        self.platforms = sources.adapters(self.cfg)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="video-snapshots", daemon=True)
        self.stats = {"stored": 0, "failed": 0}

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
        try:
            url = sources.resolve(self.cfg, self.platforms, cam_id, str(cam.get("stream_url") or ""))
        except sources.SourceError as exc:
            why = str(exc)
        else:
            why = grab_frame(self.cfg, url, out)
        self.stats["failed" if why else "stored"] += 1
        if why:
            log.warning("snapshot %s: %s", snap, why)
        return why

    def _run(self) -> None:
        r = self.ctx.redis
        last = "$"
        while not self.stop_event.is_set():
            try:
                got = r.xread({skeys.ALARMS: last}, count=100, block=1000)
            except redis.RedisError as exc:
                log.warning("snapshots: %s", exc)
                self.stop_event.wait(2)
                continue
            for _stream, entries in got or []:
                for entry_id, fields in entries:
                    last = entry_id
                    if fields.get("snapshot_url") and fields.get("event") == "raise":
                        try:
                            self.handle(fields)
                        except Exception:   # one bad entry never stops the worker
                            log.exception("snapshot %s", fields.get("snapshot_url"))

    def start(self) -> SnapshotWorker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)


# --- the demo camera server ---------------------------------------------------------------
CAMERA_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "video_cameras.py"
SYSTEM_PYTHON = "/usr/bin/python3"


class DemoCameras:
    """The demo's RTSP camera server (``scripts/video_cameras.py`` under Debian's python3)."""

    def __init__(self, port: int = 0, cameras: int = 8, h265: int = 0, keyint_s: float = 2.0,
                 width: int = 640, height: int = 360, fps: int = 15, kbps: int = 500,
                 host: str = "127.0.0.1") -> None:
        self.args = [SYSTEM_PYTHON, str(CAMERA_SCRIPT), "--host", host, "--port", str(port),
                     "--cameras", str(cameras), "--h265", str(h265), "--keyint-s", str(keyint_s),
                     "--width", str(width), "--height", str(height), "--fps", str(fps),
                     "--kbps", str(kbps)]
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
            cams = DemoCameras(port=0, cameras=cameras).start()
            runtime.add("video-cameras", cams.stop)
            ctx.settings.video = {**ctx.settings.video, "demo_rtsp": cams.base,
                                  "demo_pool": cameras}
            cfg = ctx.settings.video_config
        gw = Background(ctx, cfg).start()
        runtime.add("video", gw.stop)
        ctx.settings.video = {**ctx.settings.video, "port": gw.port}   # port 0: the bound one
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
    until SIGINT/SIGTERM."""
    cfg = ctx.settings.video_config
    snaps = SnapshotWorker(ctx, cfg).start()
    try:
        uvicorn.Server(uvicorn_config(GatewayApp(ctx, cfg), host, port)).run()
    finally:
        snaps.stop()
