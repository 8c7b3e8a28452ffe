"""The video gateway (视频网关): one upstream pull per camera, fanned out to every viewer (V1, V27,
M3; the way WVP/ZLMediaKit and go2rtc work).

- ``Gateway.open(camera, source)`` gives a ``Viewer`` whose ``chunks()`` is an MPEG-TS byte
  stream starting at the last keyframe (the kept GOP: 秒开), then live;
- the first viewer of a camera starts its upstream (the gateway's own RTSP client,
  ``sensors.video.rtsp``, or an ``ffmpeg -c copy`` child; no transcoding either way); others
  join it; when the last leaves, the upstream is stopped after ``idle_stop_s`` (无人观看自动断流);
- at most ``max_upstreams`` upstreams run: the next camera is refused with
  ``defaults.CHANNELS_FULL``; an H.265 camera with ``defaults.H265_REFUSED`` (browsers' MSE
  plays H.264), or transcoded to H.264 where ``transcode_h265`` is set (at most
  ``max_transcodes`` at once, then ``defaults.TRANSCODE_FULL``); a camera that sends no picture within ``connect_timeout_s`` (or whose pull
  fails) is offline with ffmpeg's reason, told to ``on_state`` (device health).

asyncio, one process: an open viewer costs a socket (``app.video``'s server hands a ``sink``
that writes each chunk straight to it) or, without a sink, a bounded queue read by
``Viewer.chunks()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sensors.video import defaults, rtp, rtsp, ts
from sensors.video.config import VideoConfig
from sensors.video.rtsp import RtspClient, RtspError

log = logging.getLogger("onemap.video")

StateHook = Callable[[str, str, str], None]
"""``on_state(camera, state, reason)``: ``live``, ``offline`` (with a reason), ``stopped``."""


class Refused(Exception):
    """A stream that cannot be given: ``code`` (channels_full, offline, h265, quota, …), a
    Chinese ``message`` for people, an HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def ffmpeg_args(ffmpeg: str, url: str, timeout_s: float, transcode_width: int = 0) -> list[str]:
    """The upstream pull: RTSP over TCP, video only, repackaged without transcoding into
    MPEG-TS on stdout (``transcode_width``: transcoded to H.264 instead, at most that wide, for
    an H.265 camera where the deployment configured it). PTS are the gateway's arrival wall
    clock (``use_wallclock_as_timestamps``, as Frigate does for RTSP cameras): players get
    monotonic timestamps, and a client can tell a frame's age (bench/video.py's latency)."""
    rtsp = ["-rtsp_transport", "tcp", "-timeout", str(int(timeout_s * 1e6))] \
        if url.startswith("rtsp") else []
    # no stream probing (``probesize 32``, ``analyzeduration 0``): nothing is decoded or
    # transcoded, and the default 5 s analysis would delay every cold start by seconds
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", *rtsp,
            "-probesize", "32", "-analyzeduration", "0",
            "-use_wallclock_as_timestamps", "1", "-fflags", "+genpts+discardcorrupt",
            # the frames before the first keyframe too (ffmpeg drops them by default): the
            # gateway keeps nothing before a keyframe anyway, and its first byte then marks the
            # RTSP handshake's end apart from the keyframe wait (the cold start's two parts)
            "-i", url, "-map", "0:v:0",
            *(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
               "-profile:v", "main", "-pix_fmt", "yuv420p",
               "-vf", f"scale='min({transcode_width},iw)':-2",
               # a keyframe every 2 s: a new viewer starts within one (秒开 from the kept GOP)
               "-force_key_frames", "expr:gte(t,n_forced*2)"]
              if transcode_width else ["-c", "copy", "-copyinkf"]),
            "-copyts", "-muxdelay", "0",
            "-muxpreload", "0", "-flush_packets", "1", "-f", "mpegts", "pipe:1"]


_REASONS = (("connection refused", rtsp.REFUSED), ("timed out", rtsp.TIMED_OUT),
            ("timeout", rtsp.TIMED_OUT), ("404", rtsp.STATUS[404]), ("401", rtsp.STATUS[401]),
            ("403", rtsp.STATUS[403]), ("no route", rtsp.UNREACHABLE),
            ("name or service not known", rtsp.NO_NAME), ("end of file", rtsp.DROPPED),
            ("invalid data", rtsp.BAD_DATA), ("5xx", "摄像机服务错误 (5XX)"),
            ("503", "摄像机服务错误 (503)"))


def reason_cn(stderr_tail: str, fallback: str = "摄像机无响应") -> str:
    """A Chinese reason for an operator from ffmpeg's last words (kept after it, for ops)."""
    low = stderr_tail.lower()
    for needle, cn in _REASONS:
        if needle in low:
            return f"{cn}: {stderr_tail.strip()[-160:]}"
    return f"{fallback}: {stderr_tail.strip()[-160:]}" if stderr_tail.strip() else fallback


_NOISE = ("deprecated", "Non-monotonous", "estimate rate", "probesize")
"""ffmpeg's warnings that say nothing about the camera (kept out of an offline reason)."""


F_SETPIPE_SZ = 1031     # Linux fcntl: a pipe's capacity
PIPE_BYTES = 1 << 20    # /proc/sys/fs/pipe-max-size's default: 1 s of an 8 Mbit/s camera


class Child:
    """An ffmpeg child with asyncio pipes, started by ``subprocess.Popen`` (``vfork``: no copy of
    the gateway's page tables) in a worker thread. ``asyncio.create_subprocess_exec`` on uvloop
    forks on the event loop: with the camera registry loaded each fork copies ~0.5 GB of page
    tables, and 16 cameras opened at once waited up to 2.5 s for their turn on a loaded 2-core
    host (bench/video.py: "ffmpeg spawned" p95)."""

    def __init__(self, popen: subprocess.Popen, stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader, transports: list[asyncio.BaseTransport]) -> None:
        self.popen, self.stdout, self.stderr, self._transports = popen, stdout, stderr, transports

    @classmethod
    async def start(cls, args: list[str], limit: int = 1 << 20) -> Child:
        loop = asyncio.get_running_loop()
        popen = await asyncio.to_thread(
            subprocess.Popen, args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # noqa: S603
            stderr=subprocess.PIPE, bufsize=0)
        with contextlib.suppress(OSError):     # room for a coalesce period of a fast camera
            fcntl.fcntl(popen.stdout.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
        readers, transports = [], []
        for pipe in (popen.stdout, popen.stderr):
            reader = asyncio.StreamReader(limit=limit)
            t, _ = await loop.connect_read_pipe(lambda r=reader: asyncio.StreamReaderProtocol(r), pipe)
            readers.append(reader)
            transports.append(t)
        return cls(popen, readers[0], readers[1], transports)

    def pause(self) -> None:
        """Leave its output in the pipe (read it all at once on ``resume``: one wake-up per
        coalesce period rather than one per frame)."""
        self._transports[0].pause_reading()

    def resume(self) -> None:
        if not self._transports[0].is_closing():
            self._transports[0].resume_reading()

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def terminate(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.terminate()

    def kill(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()

    async def wait(self) -> int:
        """Its exit status (it has closed its stdout or was killed: the wait is short)."""
        while (rc := self.popen.poll()) is None:
            await asyncio.sleep(0.05)
        for t in self._transports:
            t.close()
        return rc


Sink = Callable[[bytes | None], bool]
"""A viewer's writer: takes a chunk (None: the stream ended), False when the viewer is too slow."""


@dataclass(eq=False)
class Viewer:
    """One open view: its ``sink`` (the server writes each chunk straight to the socket), or a
    bounded queue of chunks read by ``chunks()`` (None: the stream ended)."""

    camera: str
    sink: Sink | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(defaults.VIEWER_QUEUE_CHUNKS))
    ended: str = ""         # why the stream ended for this viewer (empty: still open)

    def push(self, chunk: bytes | None) -> bool:
        if self.sink is not None:
            return self.sink(chunk)
        try:
            self.queue.put_nowait(chunk)
            return True
        except asyncio.QueueFull:
            return False

    def end(self, why: str) -> None:
        """The stream ended for this viewer (``why``: slow, stopped, offline, …)."""
        self.ended = self.ended or why
        if not self.push(None):
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.push(None)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes to send, coalesced when the client lags (fewer, larger writes)."""
        while True:
            chunk = await self.queue.get()
            if chunk is None:
                return
            if not self.queue.empty():
                parts = [chunk]
                while not self.queue.empty():
                    nxt = self.queue.get_nowait()
                    if nxt is None:
                        yield b"".join(parts)
                        return
                    parts.append(nxt)
                chunk = b"".join(parts)
            yield chunk


@dataclass(eq=False)
class Upstream:
    """One camera's pull: its ffmpeg, its viewers, its kept GOP and state."""

    camera: str
    url: str
    state: str = "starting"         # starting | live | offline | stopped
    reason: str = ""
    codec: str | None = None
    viewers: set[Viewer] = field(default_factory=set)
    waiting: set[Viewer] = field(default_factory=set)     # opened, not yet given the GOP
    gop: list[bytes] = field(default_factory=list)
    gop_bytes: int = 0
    tracker: ts.Tracker = field(default_factory=ts.Tracker)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    proc: Child | None = None
    client: RtspClient | None = None        # the native pull's RTSP session
    transcode: bool = False                 # an H.265 camera pulled through libx264
    refusal: Refused | None = None          # why a viewer is refused (H.265, transcodes full)
    task: asyncio.Task | None = None
    idle: asyncio.TimerHandle | None = None
    started: float = field(default_factory=time.monotonic)
    bytes_in: int = 0
    # where a cold start's time goes (ms after ``started``): ffmpeg spawned, its first byte
    # (RTSP handshake done, media flowing), the first keyframe (live); bench/video.py prints them
    spawn_ms: float | None = None
    first_byte_ms: float | None = None
    live_ms: float | None = None

    def mark(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 1)

    @property
    def running(self) -> bool:
        return self.state in ("starting", "live")


@dataclass(eq=False)
class Pull:
    """A live native pull's reading state: its session, depacketizer, clock, muxer, the
    incomplete interleaved frame left by the last read, and when data last came."""

    up: Upstream
    client: RtspClient
    depay: rtp.H264Depacketizer
    clock: rtp.Clock
    mux: ts.Muxer
    rem: bytes = b""
    last: float = field(default_factory=time.monotonic)
    decode: rtp.DecodeTimes = field(default_factory=rtp.DecodeTimes)


class Gateway:
    """The upstream pulls of one gateway process (see the module docstring)."""

    def __init__(self, cfg: VideoConfig, on_state: StateHook | None = None) -> None:
        self.cfg = cfg
        self.on_state = on_state or (lambda cam, state, reason: None)
        self.upstreams: dict[str, Upstream] = {}
        self.pulls: Counter[str] = Counter()      # upstream starts per camera (tests, bench)
        self.stats: Counter[str] = Counter()
        self._ticked: dict[str, Pull] = {}        # live native pulls, read by ``_tick``
        self._ticker: asyncio.Task | None = None

    # --- viewers ------------------------------------------------------------------------
    async def open(self, camera: str, url: str, sink: Sink | None = None) -> Viewer:
        """A viewer of ``camera`` (pulled from ``url`` if nobody watches it yet), writing to
        ``sink`` (else read with ``Viewer.chunks()``); ``Refused`` when it cannot be given
        (full, offline, H.265)."""
        up = self.upstreams.get(camera)
        if up is None or not up.running:
            if sum(u.running for u in self.upstreams.values()) >= self.cfg.max_upstreams:
                self.stats["refused_full"] += 1
                raise Refused("channels_full", defaults.CHANNELS_FULL, 503)
            up = self._start(camera, url)
        if up.idle is not None:
            up.idle.cancel()
            up.idle = None
        viewer = Viewer(camera, sink)
        up.waiting.add(viewer)          # counted at once: the idle stop waits for it
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(up.ready.wait(), self.cfg.connect_timeout_s)
            if up.refusal is not None:
                raise up.refusal
            if up.state != "live":
                if up.state == "starting":
                    self._offline(up, f"{rtsp.TIMED_OUT}: 摄像机在 "
                                      f"{self.cfg.connect_timeout_s:g} 秒内没有画面")
                raise Refused("offline", f"摄像机离线: {up.reason}", 504)
        except BaseException:
            self.close(viewer)
            raise
        up.waiting.discard(viewer)
        viewer.push(up.tracker.pat + up.tracker.pmt + b"".join(up.gop))
        up.viewers.add(viewer)
        self.stats["views"] += 1
        return viewer

    def close(self, viewer: Viewer) -> None:
        """The viewer left: when it was the last, the upstream stops after ``idle_stop_s``."""
        up = self.upstreams.get(viewer.camera)
        if up is None or (viewer not in up.viewers and viewer not in up.waiting):
            return
        up.viewers.discard(viewer)
        up.waiting.discard(viewer)
        if not up.viewers and not up.waiting and up.running and up.idle is None:
            loop = asyncio.get_running_loop()
            up.idle = loop.call_later(self.cfg.idle_stop_s, self._idle_stop, up)

    def viewers(self, camera: str) -> int:
        up = self.upstreams.get(camera)
        return len(up.viewers) if up else 0

    def running(self) -> list[str]:
        return [c for c, u in self.upstreams.items() if u.running]

    def status(self) -> dict:
        """Per camera: state, reason, codec, viewers, upstream starts; and the counters."""
        return {"max_upstreams": self.cfg.max_upstreams, "running": len(self.running()),
                "cameras": {c: {"state": u.state, "reason": u.reason, "codec": u.codec,
                                "transcode": u.transcode,
                                "viewers": len(u.viewers), "pulls": self.pulls[c],
                                "bytes_in": u.bytes_in, "spawn_ms": u.spawn_ms,
                                "first_byte_ms": u.first_byte_ms, "live_ms": u.live_ms}
                                for c, u in self.upstreams.items()},
                "stats": dict(self.stats)}

    async def stop(self) -> None:
        """Stop every upstream (the process is stopping)."""
        for up in list(self.upstreams.values()):
            self._stop(up, "stopped", "")
        tasks = [u.task for u in self.upstreams.values() if u.task]
        if self._ticker is not None:
            tasks.append(self._ticker)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- upstreams -----------------------------------------------------------------------
    def _start(self, camera: str, url: str) -> Upstream:
        up = Upstream(camera, url)
        self.upstreams[camera] = up
        self.pulls[camera] += 1
        self.stats["pulls"] += 1
        up.task = asyncio.get_running_loop().create_task(self._pump(up), name=f"video:{camera}")
        return up

    async def _pump(self, up: Upstream) -> None:
        try:
            if self.cfg.puller == "native" and up.url.startswith("rtsp://"):
                await self._pump_rtsp(up)
            else:
                await self._pump_ffmpeg(up)
            if up.running and up.transcode:     # H.265, and the deployment transcodes it
                await self._pump_ffmpeg(up)
        except Exception as exc:   # noqa: BLE001 (one camera's fault never stops the gateway)
            log.exception("camera %s: pull failed", up.camera)
            self.stats["pull_errors"] += 1
            self._offline(up, f"视频网关拉流出错: {type(exc).__name__}: {exc}")

    async def _pump_rtsp(self, up: Upstream) -> None:
        """The gateway's own pull (``sensors.video.rtsp``): RTSP over TCP, the H.264 pictures
        muxed into MPEG-TS here; ``spawn_ms`` marks the handshake's end (PLAY answered). Read
        as it comes until the first keyframe (the cold start), then by the ticker."""
        client = up.client = RtspClient(up.url, self.cfg.connect_timeout_s)
        handed = False
        try:
            track = await client.open()
            up.spawn_ms = up.mark()
            if not up.running:
                return
            if track.codec != "h264":
                if track.codec in ("h265", "hevc"):
                    up.codec = "h265"
                    self._h265(up)
                else:
                    up.codec = track.codec or "unknown"
                    self._offline(up, f"不支持的视频编码: {track.codec or '未知'}（浏览器可播放 H.264）")
                return
            up.codec = "h264"
            pull = Pull(up, client, rtp.H264Depacketizer(track.payload_type), rtp.Clock(track.rate),
                        ts.Muxer(track.params))
            up.tracker.feed(pull.mux.tables())      # a viewer's GOP starts with these
            ticked = self.cfg.coalesce_s > 0
            while up.running and not (ticked and up.state == "live"):
                data = await client.recv(defaults.READ_CHUNK, self._stall_s())
                if not data:
                    raise client.ended()
                self._feed(pull, data, time.time())
            if up.running:
                handed = True
                self._ticked[up.camera] = pull
                if self._ticker is None or self._ticker.done():
                    self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="video:tick")
        except RtspError as exc:
            self._offline(up, exc.reason)
        finally:
            if not handed:
                client.close()

    def _stall_s(self) -> float:
        return max(self.cfg.connect_timeout_s, 2 * self.cfg.coalesce_s + 1)

    def _feed(self, pull: Pull, data: bytes, now: float) -> None:
        """One read of a camera's connection: RTP → pictures → MPEG-TS → every viewer."""
        up = pull.up
        if up.first_byte_ms is None:
            up.first_byte_ms = up.mark()
        up.bytes_in += len(data)
        pull.last = time.monotonic()
        buf = pull.rem + data if pull.rem else data
        frames, used = rtp.interleaved(buf)
        pull.rem = buf[used:]
        units: list[rtp.AccessUnit] = []
        channel, push = pull.client.channel, pull.depay.push
        for ch, pkt in frames:
            if ch == channel:
                push(pkt, units)
        if units:
            mux, clock, decode = pull.mux, pull.clock, pull.decode
            out: list[bytes] = []
            keys: list[int] = []     # the muxer knows its keyframes: no scan of what it wrote
            size = 0
            for u in units:
                pts = clock.pts(u.rtp_ts, now)
                dts = decode.dts(pts, u.key)
                if dts is None:                 # B-frames found: dropped to a keyframe
                    continue
                if u.key:
                    keys.append(size + ts.Muxer.KEY_AT)
                out.append(data := mux.mux(u.nals, pts, u.key, dts))
                size += len(data)
            if out:
                self._chunk(up, b"".join(out), keys)

    async def _tick(self) -> None:
        """Every live native pull, once per ``coalesce_s``: what each camera's socket holds,
        taken in one ``recv`` and written to its viewers in one write each (ZLMediaKit's
        合并写, ``mergeWriteMS``). One timer for every camera instead of a task, a timer and
        two epoll changes per camera per period: the gateway's CPU was per wake-up, not per
        byte (bench/video.py)."""
        stall = self._stall_s()
        while self._ticked:
            await asyncio.sleep(self.cfg.coalesce_s)
            now, mono = time.time(), time.monotonic()
            for cam, pull in list(self._ticked.items()):
                up = pull.up
                if not up.running or up.client is not pull.client:
                    self._ticked.pop(cam, None)
                    continue
                try:
                    data, ended = pull.client.drain()
                    if data:
                        self._feed(pull, data, now)
                    if ended:
                        raise pull.client.ended()
                    if mono - pull.last > stall:
                        raise pull.client.stalled(stall)
                    pull.client.keepalive()
                except RtspError as exc:
                    self._ticked.pop(cam, None)
                    self._offline(up, exc.reason)
                except Exception as exc:   # noqa: BLE001 (one camera's fault never stops the others)
                    log.exception("camera %s: read failed", cam)
                    self.stats["pull_errors"] += 1
                    self._ticked.pop(cam, None)
                    self._offline(up, f"视频网关拉流出错: {type(exc).__name__}: {exc}")

    async def _pump_ffmpeg(self, up: Upstream) -> None:
        tail: list[str] = []
        transcoding = up.transcode
        if transcoding:         # a new stream (H.264 now): its tables and codec read afresh
            up.tracker, up.codec = ts.Tracker(), None
        try:
            up.proc = await Child.start(
                ffmpeg_args(self.cfg.ffmpeg, up.url, self.cfg.connect_timeout_s,
                            self.cfg.transcode_width if transcoding else 0))
        except OSError as exc:
            self._offline(up, f"无法启动 ffmpeg: {exc}")
            return
        up.spawn_ms = up.mark()
        if not up.running:          # stopped while it was being spawned
            up.proc.terminate()
        err_task = asyncio.get_running_loop().create_task(self._stderr(up.proc, tail))
        rem = b""
        coalesce = self.cfg.coalesce_s
        try:
            assert up.proc.stdout is not None
            while True:
                data = await up.proc.stdout.read(defaults.READ_CHUNK)
                if not data:
                    break
                if up.first_byte_ms is None:
                    up.first_byte_ms = up.mark()
                up.bytes_in += len(data)
                buf = rem + data if rem else data
                n = len(buf) - len(buf) % ts.PKT
                rem, chunk = buf[n:], buf[:n]
                if chunk:
                    self._chunk(up, chunk)
                if not up.running or up.transcode != transcoding:
                    break
                if coalesce > 0 and up.state == "live":
                    # what arrives meanwhile waits in the pipe and the next read takes it all:
                    # each viewer gets one write per ``coalesce_s`` rather than one per frame
                    # (the fan-out's Python cost is per chunk × viewer, hardly per byte)
                    up.proc.pause()
                    try:
                        await asyncio.sleep(coalesce)
                    finally:
                        up.proc.resume()
        finally:
            up.proc.kill()
            await up.proc.wait()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(err_task, 2)
            # ffmpeg ended by itself (the camera dropped or never answered), unless this copy
            # was ended for the transcode that follows it
            if up.running and not (up.transcode and not transcoding):
                self._offline(up, reason_cn("\n".join(tail[-3:]), rtsp.DROPPED))

    async def _stderr(self, proc: Child, tail: list[str]) -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            text = line.decode("utf-8", "replace").strip()
            if text and not any(w in text for w in _NOISE):
                tail.append(text)
                del tail[:-10]

    def _chunk(self, up: Upstream, chunk: bytes, keys: list[int] | None = None) -> None:
        """A chunk of whole TS packets for the viewers; ``keys``: where keyframes start in it
        (the native muxer says; ffmpeg's output is scanned for them)."""
        if keys is None:
            keys = up.tracker.feed(chunk)
        if up.codec is None and up.tracker.codec:
            up.codec = up.tracker.codec
            if up.codec == "h265" and not up.transcode:
                self._h265(up)
                if up.transcode and up.proc is not None:
                    up.proc.terminate()     # this copy ends; ``_pump`` starts the transcode
                return
        if keys:
            up.gop, up.gop_bytes = [chunk[keys[-1]:]], len(chunk) - keys[-1]
            if up.state == "starting":
                up.state = "live"
                up.live_ms = up.mark()
                up.ready.set()
                self.on_state(up.camera, "live", "")
        elif up.gop:
            up.gop.append(chunk)
            up.gop_bytes += len(chunk)
            if up.gop_bytes > self.cfg.gop_max_bytes:     # a very long GOP: wait for the next
                up.gop, up.gop_bytes = [], 0
        slow = [v for v in up.viewers if not v.push(chunk)]
        for v in slow:          # too slow: dropped (its player reconnects), never holds us back
            up.viewers.discard(v)
            v.end("slow")
            self.stats["dropped_slow"] += 1
        if slow and not up.viewers and not up.waiting and up.idle is None:
            up.idle = asyncio.get_running_loop().call_later(self.cfg.idle_stop_s, self._idle_stop, up)

    def _h265(self, up: Upstream) -> None:
        """An H.265 camera: transcoded where configured and a transcode is free (``_pump`` then
        runs it), else refused with the message (browsers' MSE plays H.264)."""
        if self.cfg.transcode_h265:
            busy = sum(u.transcode and u.running for u in self.upstreams.values())
            if busy < self.cfg.max_transcodes:
                up.transcode = True
                self.stats["transcodes"] += 1
                return
            up.refusal = Refused("transcode_full", defaults.TRANSCODE_FULL, 503)
            self.stats["refused_transcode"] += 1
            self._stop(up, "offline", defaults.TRANSCODE_FULL)
            return
        up.refusal = Refused("h265", defaults.H265_REFUSED, 415)
        self._stop(up, "offline", defaults.H265_REFUSED)

    def _idle_stop(self, up: Upstream) -> None:
        up.idle = None
        if not up.viewers and not up.waiting and up.running:
            self.stats["idle_stops"] += 1
            self._stop(up, "stopped", "无人观看，已断流")

    def _offline(self, up: Upstream, reason: str) -> None:
        if up.running:
            self._stop(up, "offline", reason)

    def _stop(self, up: Upstream, state: str, reason: str) -> None:
        was = up.state
        up.state, up.reason = state, reason
        up.ready.set()
        if up.idle is not None:
            up.idle.cancel()
            up.idle = None
        for v in list(up.viewers):
            v.end(state)
        up.viewers.clear()
        if up.proc is not None:
            up.proc.terminate()
        if up.client is not None:
            self._ticked.pop(up.camera, None)
            task = up.task
            if task is not None and not task.done() and task is not asyncio.current_task():
                # still in its cold start, awaiting the socket: cancelling takes the socket off
                # the event loop before its ``finally`` closes it (closed under a pending
                # ``sock_recv``, its descriptor number, reused by the next camera's socket,
                # stayed registered and that camera's connect failed at once)
                task.cancel()
            else:
                up.client.close()
        up.gop, up.gop_bytes = [], 0
        if was != state:
            log.info("camera %s: %s %s", up.camera, state, reason)
            self.on_state(up.camera, state, reason)


async def record_clip(gateway: Gateway, camera: str, url: str, seconds: float, out: Path,
                      ffmpeg: str = "ffmpeg") -> str:
    """Keep ``seconds`` of ``camera`` as an MP4 at ``out`` (issue 23: a detection's clip is kept
    with its case): a viewer of the shared upstream (no second pull; it starts at the kept GOP,
    i.e. at the keyframe before the alarm), its MPEG-TS written to a file, then ``ffmpeg -c copy``
    into MP4 (no transcoding; ``+faststart`` so a browser plays it at once). "" when stored, else
    the reason in Chinese (the camera offline, the channels full, the stream ended, …); nothing
    is left behind on failure."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.stem + ".part.ts")
    fh = part.open("wb")
    done = asyncio.Event()

    def sink(chunk: bytes | None) -> bool:
        if chunk is None:
            done.set()
        elif not fh.closed:
            fh.write(chunk)     # a local file: a few kB per coalesced read
        return True

    try:
        try:
            viewer = await gateway.open(camera, url, sink)
        except Refused as exc:
            return exc.message
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), seconds)
        finally:
            gateway.close(viewer)
            fh.close()
        if done.is_set() and viewer.ended not in ("", "closed"):
            log.info("clip %s: the stream ended early (%s)", camera, viewer.ended)
        mp4 = out.with_name(out.stem + ".part.mp4")
        try:     # in a thread (vfork: see ``Child``), off the event loop
            proc = await asyncio.to_thread(
                subprocess.run, [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",  # noqa: S603
                                 "-i", str(part), "-map", "0:v:0", "-c", "copy", "-avoid_negative_ts",
                                 "make_zero", "-movflags",
                                 "+faststart", "-f", "mp4", str(mp4)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            mp4.unlink(missing_ok=True)
            return f"视频片段封装失败: {exc}"
        if proc.returncode != 0 or not mp4.is_file() or mp4.stat().st_size == 0:
            mp4.unlink(missing_ok=True)
            return f"视频片段封装失败: {proc.stderr.decode('utf-8', 'replace').strip()[-160:]}"
        mp4.replace(out)
        return ""
    finally:
        if not fh.closed:
            fh.close()
        part.unlink(missing_ok=True)
