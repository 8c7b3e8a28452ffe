"""The video gateway on a real RTSP server and ffmpeg (issue 23, V1 全时可用, V27, M3):
one upstream per camera for five viewers, the kept GOP, the idle stop, the cap with its
message, an unreachable camera offline with a reason, H.265 refused with a message."""

from __future__ import annotations

import asyncio
import socket
import subprocess

import pytest

from sensors.video import defaults, ts
from sensors.video.config import VideoConfig
from sensors.video.gateway import Gateway, Refused
from tests.sensors.video.camkit import rtsp_cameras  # noqa: F401


def _cfg(**kw) -> VideoConfig:
    base = {"idle_stop_s": 0.5, "max_upstreams": 2, "connect_timeout_s": 4.0}
    return VideoConfig.from_table(base | kw)


async def _first(viewer, need: int = 188 * 20) -> bytes:
    got = b""
    async for chunk in viewer.chunks():
        got += chunk
        if len(got) >= need:
            return got
    return got


def test_five_viewers_share_one_upstream_and_it_stops_when_idle(rtsp_cameras) -> None:  # noqa: F811
    states: list[tuple[str, str]] = []

    async def run() -> None:
        gw = Gateway(_cfg(), lambda cam, st, why: states.append((cam, st)))
        viewers = [await gw.open("cam-a", rtsp_cameras.url(1)) for _ in range(5)]
        assert gw.pulls["cam-a"] == 1 and gw.viewers("cam-a") == 5
        for v in viewers:             # each starts at a keyframe with PAT/PMT: plays at once
            data = await asyncio.wait_for(_first(v), 10)
            tr = ts.Tracker()
            keys = tr.feed(data)
            assert tr.codec == "h264" and keys and keys[0] <= 188 * 3
        for v in viewers:
            gw.close(v)
        assert gw.running() == ["cam-a"]      # kept through the idle period …
        while gw.running():                    # … then stopped (无人观看自动断流)
            await asyncio.sleep(0.05)
        assert gw.upstreams["cam-a"].state == "stopped" and gw.stats["idle_stops"] == 1
        v = await gw.open("cam-a", rtsp_cameras.url(1))   # a new viewer: a new pull
        assert gw.pulls["cam-a"] == 2
        gw.close(v)
        await gw.stop()

    asyncio.run(run())
    assert ("cam-a", "live") in states


def test_the_cap_refuses_the_next_camera_with_the_message(rtsp_cameras) -> None:  # noqa: F811
    async def run() -> None:
        gw = Gateway(_cfg(max_upstreams=2))
        a = await gw.open("cam-a", rtsp_cameras.url(1))
        b = await gw.open("cam-b", rtsp_cameras.url(2))
        try:
            await gw.open("cam-c", rtsp_cameras.url(3))
            raise AssertionError("a third upstream was started")
        except Refused as exc:
            assert exc.code == "channels_full" and exc.message == defaults.CHANNELS_FULL
            assert "视频通道已满" in exc.message and exc.status == 503
        again = await gw.open("cam-a", rtsp_cameras.url(1))   # a running camera still joins
        assert gw.pulls["cam-a"] == 1
        for v in (a, b, again):
            gw.close(v)
        await gw.stop()

    asyncio.run(run())


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_an_unreachable_camera_is_offline_with_a_reason_and_h265_is_refused(rtsp_cameras) -> None:  # noqa: F811
    states: list[tuple[str, str, str]] = []

    async def run() -> None:
        gw = Gateway(_cfg(connect_timeout_s=3.0), lambda c, s, w: states.append((c, s, w)))
        for cam, url in (("cam-x", f"rtsp://127.0.0.1:{_closed_port()}/live/1"),
                         ("cam-y", rtsp_cameras.url(99))):
            try:
                await gw.open(cam, url)
                raise AssertionError("an unreachable camera played")
            except Refused as exc:
                assert exc.code == "offline" and "摄像机离线" in exc.message
        assert "连接被拒绝" in gw.upstreams["cam-x"].reason
        assert gw.upstreams["cam-y"].reason        # 404: no such path (ffmpeg's words kept)
        try:
            await gw.open("cam-h", rtsp_cameras.url(1, "h265"))
            raise AssertionError("an H.265 camera was given to a browser")
        except Refused as exc:
            assert exc.code == "h265" and "H.265" in exc.message
        assert gw.running() == []
        await gw.stop()

    asyncio.run(run())
    offline = {c: w for c, s, w in states if s == "offline"}
    assert set(offline) == {"cam-x", "cam-y", "cam-h"} and all(offline.values())


@pytest.mark.parametrize("puller", ["native", "ffmpeg"])
def test_an_h265_camera_is_transcoded_where_configured_up_to_the_cap(
        rtsp_cameras, puller, tmp_path) -> None:  # noqa: F811
    """transcode_h265 (a deployment of H.265 cameras): the camera plays as H.264 that a real
    decoder reads, starting at a keyframe; the next H.265 camera past max_transcodes is refused
    with the message; an H.264 camera beside it is still repackaged, not transcoded."""
    async def run() -> None:
        gw = Gateway(_cfg(puller=puller, transcode_h265=True, max_transcodes=1,
                          connect_timeout_s=8.0, max_upstreams=4))
        v = await gw.open("cam-h", rtsp_cameras.url(1, "h265"))
        data = await asyncio.wait_for(_first(v, 188 * 400), 20)
        tr = ts.Tracker()
        keys = tr.feed(data[:len(data) - len(data) % ts.PKT])
        assert tr.codec == "h264" and keys and keys[0] <= 188 * 3
        assert gw.upstreams["cam-h"].transcode and gw.stats["transcodes"] == 1
        f = tmp_path / "h265-as-h264.ts"
        f.write_bytes(data)
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                "-show_entries", "stream=codec_name,nb_read_frames", "-of",
                                "default=nw=1", str(f)], capture_output=True, text=True, check=True)
        assert "codec_name=h264" in probe.stdout and "nb_read_frames=0" not in probe.stdout
        try:
            await gw.open("cam-h2", rtsp_cameras.url(1, "h265"))
            raise AssertionError("a second transcode past the cap")
        except Refused as exc:
            assert exc.code == "transcode_full" and exc.message == defaults.TRANSCODE_FULL
            assert exc.status == 503
        plain = await gw.open("cam-a", rtsp_cameras.url(2))
        assert not gw.upstreams["cam-a"].transcode and gw.pulls["cam-a"] == 1
        for viewer in (v, plain):
            gw.close(viewer)
        await gw.stop()

    asyncio.run(run())
