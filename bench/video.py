"""Video through one gateway (issue 23): 16 simulated cameras (a keyframe every 2 s), 100 viewers
as real HTTP clients spread over them, one `onemap video` process; beside it, in the same run, a
naive gateway (one ffmpeg per viewer) serving the same viewers.

Real parts: a private redis-server; Debian's GStreamer RTSP server with 16 live x264 cameras
(``scripts/video_cameras.py``: 320×180, 15 fps, 300 kbit/s, keyframe every 2 s: small
pictures, so that 16 software encoders leave this 2-core machine to the gateways); `onemap video`
as its own process (its own RTSP puller, ``sensors.video.rtsp``, or ``--puller ffmpeg``; asyncio
fan-out); plain asyncio HTTP clients on loopback that
read the MPEG-TS stream as mpegts.js does (no decoding). Grants and sessions are minted as the
web API and the login form make them (``sensors.video.access.issue``; a signed session cookie
with a server-side session record): the gateway checks them as it checks a browser's.

Measured:

- time to first frame: from the request to the first received keyframe (random access point of
  the video stream) — *cold*: the camera's first viewer (RTSP connect, then up to a keyframe
  interval), *warm*: a viewer joining a running upstream (the kept GOP is sent at once);
- live latency: each frame's PTS is on the gateway's wall clock: the native puller stamps the
  first picture with its arrival and each next one by its RTP timestamp from it
  (``sensors.video.rtp.Clock``); ffmpeg stamps each frame's arrival
  (``-use_wallclock_as_timestamps 1 -copyts``, as Frigate pulls RTSP). The
  client compares it with its own clock when it received that frame (same host, same clock;
  every camera's first viewer and one in four of the others are sampled, the rest only read):
  gateway arrival → viewer, which is repackaging + fan-out + HTTP. Camera-side encoding (x264
  zerolatency, ~1 frame) and the player's own buffer are not in it. Frames of the replayed GOP
  (the first 2.5 s of each connection) are left out: they are old on purpose;
- upstream pulls per camera: from the gateway's own count (``om:video:gw``);
- CPU s/min: the gateway process + its ffmpeg children if any (psutil) over the same steady window,
  then the naive gateway's process + its ffmpeg children over a window of the same length.

    python bench/video.py            # options: --cameras 16 --viewers 100 --seconds 20
                                     #          --coalesce S --puller native|ffmpeg
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HOST = "127.0.0.1"
SECRET = "v" * 64
PASSWORD = "bench-pass-1"
REPLAY_S = 2.5


# --- a viewer: one HTTP/1.1 GET held open, the MPEG-TS parsed as it arrives --------------------
class Client:
    def __init__(self, port: int, path: str, cookie: str, sample: bool = True) -> None:
        self.port, self.path, self.cookie, self.sample = port, path, cookie, sample
        self.first_frame_ms: float | None = None
        self.latencies: list[float] = []
        self.status = 0
        self.error = ""
        self.bytes = 0
        self.measure = False
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        from sensors.video import ts

        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(HOST, self.port)
        except OSError as exc:
            self.error = str(exc)
            return
        writer.write(f"GET {self.path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                     f"Cookie: {self.cookie}\r\nConnection: close\r\n\r\n".encode())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.status = int(head.split(b" ", 2)[1])
            if self.status != 200:
                self.error = (await reader.read(2000)).decode("utf-8", "replace")
                return
            chunked = b"chunked" in head.lower()
            tracker, rem, started = ts.Tracker(), b"", None
            async for data in _body(reader, chunked):
                now = time.time()
                self.bytes += len(data)
                if started and not self.sample:
                    continue        # not a latency sample: just read (keeps this process light)
                buf = rem + data
                n = len(buf) - len(buf) % ts.PKT
                rem, buf = buf[n:], buf[:n]
                keys = tracker.feed(buf)
                if keys and self.first_frame_ms is None:
                    self.first_frame_ms = (time.monotonic() - t0) * 1000
                    started = time.monotonic()
                if self.measure and started and time.monotonic() - started > REPLAY_S:
                    for pts in ts.video_pts(tracker, buf):
                        lat = ((int(now * 90000) - pts) % ts.PTS_WRAP) / 90.0
                        if lat < 60_000:
                            self.latencies.append(lat)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.error = self.error or repr(exc)
        finally:
            writer.close()


async def _body(reader: asyncio.StreamReader, chunked: bool):
    if not chunked:
        while data := await reader.read(65536):
            yield data
        return
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
        if size == 0:
            return
        yield await reader.readexactly(size)
        await reader.readexactly(2)


# --- the RTSP handshake alone (a piece of the cold start) -------------------------------------
async def rtsp_handshake_ms(url: str) -> tuple[float, bool]:
    """Connect, OPTIONS, DESCRIBE until the SDP is in: (ms, whether the SDP carries the H.264
    parameter sets: without them a puller waits for the in-band SPS at the next keyframe)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(u.hostname, u.port or 554)
    try:
        body = ""
        for req in (f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n",
                    f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n"):
            writer.write(req.encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            length = next((int(ln.split(":", 1)[1]) for ln in head.split("\r\n")
                           if ln.lower().startswith("content-length:")), 0)
            body = (await reader.readexactly(length)).decode("latin-1") if length else ""
        return (time.monotonic() - t0) * 1000, "sprop-parameter-sets" in body
    finally:
        writer.close()


# --- the naive gateway: one ffmpeg per viewer ---------------------------------------------------
async def naive_server(port: int, rtsp_base: str, pool: int) -> None:
    from sensors.video.config import VideoConfig
    from sensors.video.gateway import ffmpeg_args
    from sensors.video.sources import demo_url

    cfg = VideoConfig.from_table({"demo_rtsp": rtsp_base, "demo_pool": pool})

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n", 1)[0].decode()
        camera = line.split(" ")[1].rsplit("/", 1)[-1].split(".ts")[0]
        proc = await asyncio.create_subprocess_exec(
            *ffmpeg_args("ffmpeg", demo_url(cfg, camera), 6.0), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n")
        try:
            while data := await proc.stdout.read(188 * 64):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            writer.close()

    server = await asyncio.start_server(handle, HOST, port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# --- measuring ------------------------------------------------------------------------------
def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the process and of its live children (ffmpeg)."""
    import psutil

    own = kids = 0.0
    try:
        p = psutil.Process(pid)
        t = p.cpu_times()
        own = t.user + t.system
        for q in p.children(recursive=True):
            try:
                t = q.cpu_times()
                kids += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return own, kids


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


async def audience(port: int, paths: list[str], cookie: str, cameras: int) -> tuple[list, list]:
    """The first viewer of each camera (cold) together, then the others (warm), spread."""
    cold = [Client(port, p, cookie) for p in paths[:cameras]]   # every camera's first: a sample
    for c in cold:
        c.task = asyncio.create_task(c.run())
    deadline = time.monotonic() + 15
    while any(c.first_frame_ms is None and not c.task.done() for c in cold) \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    warm = [Client(port, p, cookie, sample=k % 4 == 0) for k, p in enumerate(paths[cameras:])]
    for c in warm:
        c.task = asyncio.create_task(c.run())
        await asyncio.sleep(0.02)
    deadline = time.monotonic() + 15
    while any(c.first_frame_ms is None and not c.task.done() for c in warm) \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return cold, warm


async def steady(pid: int, clients: list, seconds: float) -> tuple[float, float, float]:
    """(the process's, its children's) CPU s/min over a steady window of ``seconds``, and the
    MB the viewers received in it (a starved gateway delivers less: CPU per MB compares work)."""
    for c in clients:
        c.measure = True
    (o0, k0), t0, b0 = tree_cpu(pid), time.monotonic(), sum(c.bytes for c in clients)
    await asyncio.sleep(seconds)
    (o1, k1), dt = tree_cpu(pid), time.monotonic() - t0
    mb = (sum(c.bytes for c in clients) - b0) / 1e6
    for c in clients:
        c.measure = False
    return (o1 - o0) / dt * 60, (k1 - k0) / dt * 60, mb


async def hang_up(clients: list) -> None:
    for c in clients:
        if c.task and not c.task.done():
            c.task.cancel()
    await asyncio.gather(*(c.task for c in clients if c.task), return_exceptions=True)


def wait_http(url: str, proc: subprocess.Popen, log: Path) -> None:
    import urllib.request

    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--viewers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0, help="steady window per gateway (s)")
    ap.add_argument("--coalesce", type=float, default=None,
                    help="the gateway's coalesce_s (default: its configured default)")
    ap.add_argument("--puller", choices=("native", "ffmpeg"), default=None,
                    help="the gateway's puller (default: its configured default, native)")
    ap.add_argument("--naive-server", nargs=3, metavar=("PORT", "RTSP", "POOL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.naive_server:
        port, base, pool = args.naive_server
        asyncio.run(naive_server(int(port), base, int(pool)))
        return

    import redis as redis_lib
    from flask import Flask

    from app.config import Settings
    from app.context import AppContext
    from app.services import free_port, start_redis_server
    from app.sessions import SessionStore
    from app.users import UserStore, ensure_demo_users
    from app.video import DemoCameras
    from grid.io import load_or_build_city
    from sensors.video import access
    from sensors.video import keys as vkeys
    from sensors.video.config import VideoConfig
    from sensors.video.sources import demo_url

    tmp = Path(tempfile.mkdtemp(prefix="bench-video-"))
    city_dir = Path(os.environ.get("ONEMAP_BENCH_CITY_DIR") or tmp / "city")
    svc = start_redis_server(tmp / "redis")
    cams = gw = naive = None
    keepers: list[subprocess.Popen] = []
    try:
        cams = DemoCameras(cameras=args.cameras, keyint_s=2.0, width=320, height=180, fps=15,
                           kbps=300).start()
        # a real camera encodes all the time: one always-on puller per camera (as an NVR
        # records) keeps the demo server's encoders running, outside both gateways' CPU
        keepers = [subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "quiet", "-rtsp_transport",
                                     "tcp", "-i", cams.url(k + 1), "-c", "copy", "-f", "null", "-"])
                   for k in range(args.cameras)]
        city = load_or_build_city("高州市", city_dir)
        ctx = AppContext(Settings(secret_key=SECRET, data_dir=tmp, city_dir=city_dir), svc.url)
        ctx.__dict__["city"] = city
        ensure_demo_users(ctx.redis, city, PASSWORD)
        video = {"demo_rtsp": cams.base, "demo_pool": args.cameras, "max_upstreams": 64,
                 "token_ttl_s": 600, "idle_stop_s": 30, "connect_timeout_s": 15}
        if args.coalesce is not None:
            video["coalesce_s"] = args.coalesce
        if args.puller is not None:
            video["puller"] = args.puller
        cfg = VideoConfig.from_table(video)
        # registry cameras, one per pool camera (every registry camera maps onto the pool)
        chosen: dict[str, str] = {}
        for cid in ctx.devices.cameras["id"]:
            chosen.setdefault(demo_url(cfg, cid), cid)
            if len(chosen) == args.cameras:
                break
        cam_ids = list(chosen.values())

        async def handshakes() -> list[tuple[float, bool]]:      # 16 at once, as the cold start
            return await asyncio.gather(*(rtsp_handshake_ms(cams.url(k + 1))
                                          for k in range(args.cameras)))

        shakes = asyncio.run(handshakes())
        gport = free_port()
        env = {**os.environ, "ONEMAP_REDIS_URL": svc.url, "ONEMAP_CITY_DIR": str(city_dir),
               "ONEMAP_SECRET_KEY": SECRET, "ONEMAP_DATA_DIR": str(tmp),
               "ONEMAP_VIDEO": json.dumps(video | {"port": gport})}
        env.pop("ONEMAP_MQTT_URL", None)
        glog = tmp / "video.log"
        gw = subprocess.Popen([sys.executable, "-m", "app.cli", "video"], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(glog, "w"))  # noqa: SIM115
        wait_http(f"http://{HOST}:{gport}/video/healthz", gw, glog)

        # a session as the login form makes it, and grants as POST /api/video/play makes them
        signer = Flask("bench", static_folder=None)
        signer.config["SECRET_KEY"] = SECRET
        ser = signer.session_interface.get_signing_serializer(signer)
        u = UserStore(ctx.redis, city).get("ops")
        sid = SessionStore(ctx.redis).create("ops", u.epoch, idle_s=3600, absolute_s=3600)
        cookie = f"session={ser.dumps({'_user_id': sid, '_fresh': True})}"
        grants = {c: access.issue(ctx.redis, user="ops", role=u.role, center=u.center, sid=sid,
                                  camera=c, ttl_s=600) for c in cam_ids}
        order = [cam_ids[i % len(cam_ids)] for i in range(args.viewers)]
        paths = [f"/video/live/{c}.ts?t={grants[c]}" for c in order]

        async def run_gateway() -> dict:
            cold, warm = await audience(gport, paths, cookie, len(cam_ids))
            own, kids, mb = await steady(gw.pid, cold + warm, args.seconds)
            st = json.loads(redis_lib.Redis.from_url(svc.url).get(vkeys.GATEWAY) or "{}")
            await hang_up(cold + warm)
            return {"cold": cold, "warm": warm, "cpu": own + kids, "own": own, "kids": kids,
                    "mb": mb, "status": st}

        g = asyncio.run(run_gateway())
        gw.terminate()
        gw.wait(10)

        nport = free_port()
        naive = subprocess.Popen([sys.executable, __file__, "--naive-server", str(nport), cams.base,
                                  str(args.cameras)], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        assert naive.stdout.readline().startswith("ready")

        async def run_naive() -> dict:
            cold, warm = await audience(nport, paths, cookie, len(cam_ids))
            own, kids, mb = await steady(naive.pid, cold + warm, args.seconds)
            await hang_up(cold + warm)
            return {"cold": cold, "warm": warm, "cpu": own + kids, "own": own, "kids": kids,
                    "mb": mb}

        n = asyncio.run(run_naive())
    finally:
        for p in (gw, naive, *keepers):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(10)
        if cams is not None:
            cams.stop()
        svc.stop()

    def ff(clients: list) -> list[float]:
        return [c.first_frame_ms for c in clients if c.first_frame_ms is not None]

    clients = g["cold"] + g["warm"]
    failed = [c for c in clients if c.first_frame_ms is None]
    lat = [x for c in clients for x in c.latencies]
    pulls = [v["pulls"] for v in g["status"].get("cameras", {}).values()]
    upc = max(pulls) if pulls else float("nan")
    nlat = [x for c in n["cold"] + n["warm"] for x in c.latencies]
    print(f"cameras {len(cam_ids)} (keyframe every 2 s), viewers {len(clients)} "
          f"({len(failed)} without a frame{': ' + failed[0].error[:200] if failed else ''})")
    print(f"gateway: first frame cold p50 {pct(ff(g['cold']), 50):.0f} ms p95 "
          f"{pct(ff(g['cold']), 95):.0f} ms; warm p50 {pct(ff(g['warm']), 50):.0f} ms p95 "
          f"{pct(ff(g['warm']), 95):.0f} ms")
    # where a cold start's time goes: the gateway's own marks per upstream (ms after the pull
    # started: native: PLAY answered, ffmpeg: spawned; the first byte of media; the first
    # keyframe = live) and
    # the rest of the client's wait (request → pull started: the grant and session checks; live
    # → the client has the keyframe: the HTTP response)
    ups = g["status"].get("cameras", {})
    marks = {k: [v[k] for v in ups.values() if v.get(k) is not None]
             for k in ("spawn_ms", "first_byte_ms", "live_ms")}
    cold_by_cam = {c.path.split("/live/", 1)[1].split(".ts")[0]: c.first_frame_ms for c in g["cold"]
                   if c.first_frame_ms is not None}
    rest = [ms - ups[cam]["live_ms"] for cam, ms in cold_by_cam.items()
            if ups.get(cam, {}).get("live_ms") is not None]
    native = (args.puller or "native") == "native"
    print("gateway cold start, p50/p95 ms after the pull started: "
          f"{'RTSP PLAY answered' if native else 'ffmpeg spawned'} "
          f"{pct(marks['spawn_ms'], 50):.0f}/{pct(marks['spawn_ms'], 95):.0f}, first media byte "
          f"{pct(marks['first_byte_ms'], 50):.0f}/{pct(marks['first_byte_ms'], 95):.0f}, "
          f"first keyframe {pct(marks['live_ms'], 50):.0f}/{pct(marks['live_ms'], 95):.0f}; "
          f"admission + response {pct(rest, 50):.0f}/{pct(rest, 95):.0f}; the RTSP OPTIONS + "
          f"DESCRIBE alone (16 at once, before) {pct([x for x, _ in shakes], 50):.0f}/"
          f"{pct([x for x, _ in shakes], 95):.0f}, parameter sets in the SDP: "
          f"{sum(p for _, p in shakes)}/{len(shakes)}; a keyframe every 2 s")
    print(f"gateway: live latency p50 {pct(lat, 50):.0f} ms p95 {pct(lat, 95):.0f} ms "
          f"({len(lat)} frames); upstream pulls per camera {sorted(set(pulls))}")
    print(f"gateway ({args.puller or 'native'} puller) CPU {g['cpu']:.2f} s/min (process "
          f"{g['own']:.2f} + ffmpeg children {g['kids']:.2f}); naive (one ffmpeg per viewer) {n['cpu']:.1f} s/min (process "
          f"{n['own']:.1f} + ffmpeg {n['kids']:.1f}); naive first frame p50 "
          f"{pct(ff(n['cold'] + n['warm']), 50):.0f} ms p95 {pct(ff(n['cold'] + n['warm']), 95):.0f} "
          f"ms, latency p95 {pct(nlat, 95):.0f} ms")
    per_mb = [x["cpu"] / 60 * args.seconds / x["mb"] if x["mb"] else float("nan") for x in (g, n)]
    print(f"delivered in the window: gateway {g['mb']:.1f} MB, naive {n['mb']:.1f} MB; CPU per "
          f"delivered MB {per_mb[0] * 1000:.0f} ms vs {per_mb[1] * 1000:.0f} ms (ratio "
          f"{per_mb[1] / per_mb[0]:.1f})")
    print(json.dumps({"bench": "video", "cameras": len(cam_ids), "viewers": len(clients),
                      "first_frame_cold_p50_ms": round(pct(ff(g["cold"]), 50)),
                      "first_frame_cold_p95_ms": round(pct(ff(g["cold"]), 95)),
                      "first_frame_warm_p50_ms": round(pct(ff(g["warm"]), 50)),
                      "first_frame_warm_p95_ms": round(pct(ff(g["warm"]), 95)),
                      "latency_p95_ms": round(pct(lat, 95)),
                      "upstream_per_camera": upc,
                      "cpu_s_per_min": round(g["cpu"], 2),
                      "naive_cpu_s_per_min": round(n["cpu"], 2),
                      "ratio": round(n["cpu"] / g["cpu"], 1) if g["cpu"] else None,
                      "ratio_per_mb": round(per_mb[1] / per_mb[0], 1)}))


if __name__ == "__main__":
    main()
