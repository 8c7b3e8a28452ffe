"""The gateway's own RTSP puller on the real GStreamer RTSP server (issue 23; V1 全时可用, V27,
M3, T25): Digest authentication with the URL's credentials (and a wrong or missing password
told as 认证失败 without ever showing it), a camera that dies mid-play (offline with
视频流中断, its viewers ended, then recovery on the same port), one upstream for five viewers
with either puller and a native stream a real decoder reads without a complaint, the session's
keep-alive on a real TCP connection, and the pull without the ticker (``coalesce_s = 0``)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from app.video import DemoCameras
from sensors.video import ts
from sensors.video.config import VideoConfig
from sensors.video.gateway import Gateway, Refused, Viewer
from sensors.video.rtsp import RtspClient
from tests.sensors.video.camkit import rtsp_cameras  # noqa: F401

USER, PASSWORD = "admin", "Zq7-s3cret-Pw"
WRONG = "Wr0ng-Pw-x9"
SMALL = {"keyint_s": 1.0, "width": 320, "height": 180, "fps": 10, "kbps": 200}
"""The cameras of these tests: a keyframe a second, 320x180 at 10 fps (cheap for the CI host)."""


def _cfg(**kw) -> VideoConfig:
    base = {"idle_stop_s": 0.5, "max_upstreams": 4, "connect_timeout_s": 4.0, "puller": "native"}
    return VideoConfig.from_table(base | kw)


async def _until(cond, timeout: float, what: str) -> None:
    """Wait for ``cond()`` (polled), failing with ``what`` after ``timeout`` seconds: a bound
    for a hung gateway, never a timing under test."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.02)


async def _collect(viewer: Viewer, keyframes: int, timeout: float = 15.0) -> bytes:
    """The viewer's bytes until its stream has shown ``keyframes`` keyframes (the first at its
    start: with a keyframe a second, ``keyframes - 1`` seconds of pictures)."""
    tracker, got, seen = ts.Tracker(), bytearray(), 0

    async def read() -> None:
        nonlocal seen
        async for chunk in viewer.chunks():
            seen += len(tracker.feed(chunk))
            got.extend(chunk)
            if seen >= keyframes:
                return
        raise AssertionError(f"the stream ended after {seen} keyframes ({viewer.ended})")

    await asyncio.wait_for(read(), timeout)
    return bytes(got)


def _starts_at_a_keyframe(data: bytes) -> None:
    """A viewer's first bytes: PAT, PMT, then a keyframe at once (it plays at once: 秒开)."""
    tr = ts.Tracker()
    keys = tr.feed(data)
    assert tr.codec == "h264" and keys and keys[0] <= 188 * 3, (tr.codec, keys[:3])


# --- 1. Digest authentication ---------------------------------------------------------------
@pytest.fixture(scope="module")
def auth_camera() -> Iterator[DemoCameras]:
    """A camera that asks for RTSP Digest authentication (as IP cameras and NVRs do)."""
    cams = DemoCameras(cameras=1, auth=f"{USER}:{PASSWORD}", **SMALL).start()
    yield cams
    cams.stop()


def _with(cams: DemoCameras, userinfo: str) -> str:
    return f"rtsp://{userinfo}{cams.host}:{cams.port}/live/1"


def test_digest_auth_with_the_urls_credentials_plays_and_a_wrong_one_never_leaks(
        auth_camera: DemoCameras, caplog: pytest.LogCaptureFixture) -> None:
    states: list[tuple[str, str, str]] = []
    caplog.set_level(logging.DEBUG)

    async def run() -> dict:
        gw = Gateway(_cfg(), lambda c, s, w: states.append((c, s, w)))
        good = await gw.open("cam-ok", _with(auth_camera, f"{USER}:{PASSWORD}@"))
        assert gw.upstreams["cam-ok"].state == "live"
        first = await asyncio.wait_for(anext(good.chunks()), 10)
        _starts_at_a_keyframe(first)
        gw.close(good)
        for cam, url in (("cam-bad", _with(auth_camera, f"{USER}:{WRONG}@")),
                         ("cam-anon", _with(auth_camera, ""))):
            with pytest.raises(Refused) as refused:
                await gw.open(cam, url)
            assert refused.value.code == "offline" and "认证失败" in refused.value.message
            assert gw.upstreams[cam].state == "offline"
            assert gw.upstreams[cam].reason.startswith("认证失败 (401)"), gw.upstreams[cam].reason
        status = gw.status()
        await gw.stop()
        return status

    status = asyncio.run(run())
    assert ("cam-ok", "live", "") in states
    offline = {c: w for c, s, w in states if s == "offline"}
    assert set(offline) == {"cam-bad", "cam-anon"}
    told = json.dumps(status, ensure_ascii=False) + json.dumps(offline, ensure_ascii=False) \
        + caplog.text
    assert WRONG not in told and PASSWORD not in told        # never in a reason, status or log


# --- 2. a camera that dies mid-play, and its recovery ---------------------------------------
def test_a_camera_killed_mid_play_goes_offline_ends_its_viewer_and_recovers() -> None:
    states: list[tuple[str, str, str]] = []
    cams = DemoCameras(cameras=1, **SMALL).start()
    port = cams.port
    cfg = _cfg(connect_timeout_s=3.0)

    async def run() -> None:
        nonlocal cams
        gw = Gateway(cfg, lambda c, s, w: states.append((c, s, w)))
        viewer = await gw.open("cam-k", cams.url(1))
        await _collect(viewer, 1)                           # watching: the stream flows

        async def watch() -> int:
            n = 0
            async for chunk in viewer.chunks():
                n += len(chunk)
            return n

        watching = asyncio.create_task(watch())
        await asyncio.to_thread(cams.stop)                  # the camera dies under its viewer
        up = gw.upstreams["cam-k"]
        # EOF (or a reset) at once; at worst the stall bound of the gateway's reader
        bound = max(cfg.connect_timeout_s, 2 * cfg.coalesce_s + 1) + 5
        await _until(lambda: up.state == "offline", bound, "the upstream goes offline")
        assert "视频流中断" in up.reason, up.reason
        await asyncio.wait_for(watching, 5)                 # the viewer's stream has ended
        assert viewer.ended == "offline" and gw.viewers("cam-k") == 0
        assert gw.running() == []

        cams = await asyncio.to_thread(DemoCameras(port=port, cameras=1, **SMALL).start)
        assert cams.port == port
        again = await gw.open("cam-k", cams.url(1))         # the same camera, back again
        assert gw.upstreams["cam-k"].state == "live" and gw.pulls["cam-k"] == 2
        _starts_at_a_keyframe(await _collect(again, 1))
        gw.close(again)
        await gw.stop()

    try:
        asyncio.run(run())
    finally:
        cams.stop()
    seq = [s for c, s, _ in states if c == "cam-k"]
    assert seq[:3] == ["live", "offline", "live"], states


# --- 3. one upstream for five viewers, with either puller; the native stream decodes -------
@pytest.mark.parametrize("puller", ["ffmpeg", "native"])
def test_five_viewers_share_one_upstream_with_either_puller(
        rtsp_cameras: DemoCameras, puller: str, tmp_path) -> None:  # noqa: F811
    async def run() -> bytes:
        gw = Gateway(_cfg(puller=puller))
        viewers = [await gw.open("cam-5", rtsp_cameras.url(2)) for _ in range(5)]
        assert gw.pulls["cam-5"] == 1 and gw.viewers("cam-5") == 5
        assert gw.status()["cameras"]["cam-5"]["pulls"] == 1
        firsts = await asyncio.gather(*(_collect(v, 1) for v in viewers[1:]))
        for data in firsts:
            _starts_at_a_keyframe(data)
        kept = await _collect(viewers[0], 3)                # ~2 s of pictures
        _starts_at_a_keyframe(kept)
        for v in viewers:
            gw.close(v)
        await gw.stop()
        return kept

    kept = asyncio.run(run())
    if puller != "native":
        return
    f = tmp_path / "native.ts"
    f.write_bytes(kept)
    dec = subprocess.run(["ffmpeg", "-v", "error", "-i", str(f), "-f", "null", "-"],
                         capture_output=True, text=True, check=True)
    assert dec.stdout.strip() == "" and dec.stderr.strip() == "", dec.stderr[-500:]
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=codec_name,width,height,nb_read_frames",
                            "-of", "json", str(f)], capture_output=True, text=True, check=True)
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 180)
    assert int(stream["nb_read_frames"]) > 5, stream


# --- 4. the session's keep-alive on a real TCP connection ----------------------------------
def _received_before_mark(peer: socket.socket, client: RtspClient) -> bytes:
    """What the client had sent on its connection before now: a marker is sent after it and
    the peer reads up to it (TCP keeps the order; no waiting for an absence)."""
    assert client.sock is not None
    client.sock.send(b"<MARK>")
    got = b""
    while not got.endswith(b"<MARK>"):
        data = peer.recv(4096)
        assert data, "the connection closed"
        got += data
    return got[:-len(b"<MARK>")]


def test_keepalive_sends_get_parameter_with_the_session_once_per_half_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        near = socket.create_connection(("127.0.0.1", port), timeout=5)
        far, _ = listener.accept()
        far.settimeout(5)
        client = RtspClient(f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/live/1", 5.0)
        client.sock = near
        near.setblocking(False)      # as the client's own socket: never waits on a send
        client.session, client.session_timeout = "abc", 2.0
        client.public = {"OPTIONS", "DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER", "TEARDOWN"}
        client.last_request = time.monotonic() - 3600
        try:
            client.keepalive()
            sent = _received_before_mark(far, client).decode()
            head = sent.split("\r\n")
            assert head[0] == f"GET_PARAMETER rtsp://127.0.0.1:{port}/live/1 RTSP/1.0", head
            assert "Session: abc" in head and sent.endswith("\r\n\r\n")
            assert PASSWORD not in sent                      # the URL's credentials stay out
            client.keepalive()                              # again at once: nothing to send
            assert _received_before_mark(far, client) == b""
            client.public = {"OPTIONS"}                      # a camera without GET_PARAMETER
            client.last_request = time.monotonic() - 3600
            client.keepalive()
            assert _received_before_mark(far, client).startswith(
                f"OPTIONS rtsp://127.0.0.1:{port}/live/1 RTSP/1.0\r\n".encode())
        finally:
            client.close()
            far.close()


# --- 5. no ticker: the pull reads as it comes ----------------------------------------------
def test_without_coalescing_the_native_pull_still_plays(rtsp_cameras: DemoCameras) -> None:  # noqa: F811
    async def run() -> None:
        gw = Gateway(_cfg(coalesce_s=0))
        viewer = await gw.open("cam-0", rtsp_cameras.url(3))
        assert gw.upstreams["cam-0"].state == "live"
        data = await _collect(viewer, 3)
        _starts_at_a_keyframe(data)
        assert gw._ticker is None            # noqa: SLF001 (no ticker was started)
        gw.close(viewer)
        await asyncio.wait_for(gw.stop(), 10)
        assert gw.upstreams["cam-0"].state == "stopped"

    asyncio.run(run())


def test_a_pull_stopped_while_it_reads_leaves_nothing_behind_for_the_next_camera(
        rtsp_cameras: DemoCameras) -> None:  # noqa: F811
    """Without the ticker the pull waits on its socket; stopping it (the last viewer left)
    closes that socket under the wait. The next camera's connection (the kernel gives it the
    same descriptor number) must still open and play."""
    async def run() -> None:
        gw = Gateway(_cfg(coalesce_s=0, idle_stop_s=0))
        first = await gw.open("cam-s", rtsp_cameras.url(3))
        gw.close(first)                                     # idle stop at once
        await _until(lambda: not gw.running(), 5, "the idle stop")
        nxt = await gw.open("cam-n", rtsp_cameras.url(4))
        assert gw.upstreams["cam-n"].state == "live"
        _starts_at_a_keyframe(await _collect(nxt, 1))
        gw.close(nxt)
        await asyncio.wait_for(gw.stop(), 10)

    asyncio.run(run())


def test_a_camera_with_b_frames_plays_with_decode_times() -> None:
    """A main-profile camera with B-frames (GStreamer's x264enc bframes=2): RTP carries only
    presentation times, so the native puller finds the reordering, drops the first pictures up
    to the next keyframe once, then writes each picture's DTS; ffprobe sees decode times that
    only grow and never pass a picture's PTS, B-frames among the pictures, and the decoder has
    nothing to say."""
    cams = DemoCameras(cameras=1, bframes=1, **SMALL).start()

    async def run() -> bytes:
        gw = Gateway(_cfg())
        v = await gw.open("cam-bf", cams.url(1, "bframes"))
        data = await _collect(v, 4)
        gw.close(v)
        await gw.stop()
        return data

    try:
        data = asyncio.run(run())
    finally:
        cams.stop()
    import tempfile  # noqa: PLC0415

    with tempfile.NamedTemporaryFile(suffix=".ts") as f:
        f.write(data)
        f.flush()
        pk = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts,dts",
             "-of", "json", f.name], capture_output=True, text=True, check=True).stdout)["packets"]
        frames = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_frames",
                                 "-show_entries", "frame=pict_type", "-of", "csv=p=0", f.name],
                                capture_output=True, text=True, check=True).stdout
        dec = subprocess.run(["ffmpeg", "-v", "error", "-i", f.name, "-f", "null", "-"],
                             capture_output=True, text=True, check=True)
    stamps = [(int(x["pts"]), int(x["dts"])) for x in pk]
    after = stamps[next(i for i, (p, d) in enumerate(stamps) if p != d):]   # from the first DTS ≠ PTS
    assert len(after) > 10 and all(d <= p for p, d in after)
    assert all(b[1] > a[1] for a, b in zip(after, after[1:], strict=False))
    assert "B" in frames.split() and dec.stderr.strip() == ""


def test_pulls_given_up_mid_handshake_leave_the_camera_server_standing() -> None:
    """Three pulls of one shared camera opened and given up at once, again and again, some in
    the middle of their handshake: the camera server stays up. GStreamer's RTSP server (1.22)
    aborted (``gst_rtsp_media_get_rates``) on a PLAY with ``Range: npt=0-`` meeting another
    session's TEARDOWN: the wall's camera that never came back (2 of 3 full runs)."""
    cams = DemoCameras(cameras=1, **SMALL).start()

    async def run() -> None:
        for n in range(40):
            gw = Gateway(_cfg(connect_timeout_s=(0.05, 0.1, 0.2, 0.4)[n % 4], idle_stop_s=0))
            await asyncio.gather(*(gw.open(f"c{k}", cams.url(1), lambda _c: True) for k in range(3)),
                                 return_exceptions=True)
            await gw.stop()
            assert cams.proc.poll() is None, f"the camera server died in round {n}"
        gw = Gateway(_cfg(connect_timeout_s=15.0))      # and it still serves (a bound only)
        v = await gw.open("c-last", cams.url(1))
        assert gw.upstreams["c-last"].state == "live"
        gw.close(v)
        await gw.stop()

    try:
        asyncio.run(run())
    finally:
        cams.stop()
