"""One upstream pull per camera however many watch (issue 23; V1, M3, T25): a video-AI snapshot
and the console's 截图取证 take their frame from the video gateway's shared upstream
(``GET /internal/frame/<camera>``, signed with the app's key) on a real RTSP camera server,
ffmpeg, Redis and the gateway's HTTP server; a camera a viewer watches is not pulled a second
time, the frame is a real JPEG of the camera's size; the internal endpoint refuses an unsigned,
foreign or misdirected request (403); without a gateway the grab of its own still works, and a
gateway's refusal (an offline camera) is reported, not retried by a second pull."""

from __future__ import annotations

import dataclasses
import io
import time

import requests
from PIL import Image

from app import keys
from app.context import AppContext
from app.http.video_evidence import EVIDENCE
from app.services import free_port
from app.video import (
    FRAME,
    FRAME_DENIED,
    FRAME_HEADER,
    Background,
    SnapshotWorker,
    camera_frame,
    frame_token,
    frame_token_ok,
)
from incidents.actor import SYSTEM
from tests.app.authkit import login
from tests.app.test_api import PZ, point_in
from tests.app.videokit import gateway, rtsp_cameras, vctx, web  # noqa: F401

SIZE = (320, 180)       # tests/sensors/video/camkit.py's cameras
SECRET = "t" * 64       # tests/app/videokit.py's settings


def _cam(ctx: AppContext) -> str:
    cams = ctx.devices.cameras
    return str(cams[~cams["share"].str.contains("城管")].iloc[0]["id"])


def _status(gw: Background, camera: str) -> dict:
    return gw.call(gw.gateway.status)["cameras"].get(camera, {})


def _until(cond, timeout: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def _watch(server, gw: Background, camera: str) -> requests.Response:  # noqa: ANN001
    """A browser's live view of ``camera`` through the gateway, its first bytes read."""
    c = server.test_client()
    tok = login(c, "ops")
    r = c.post("/api/video/play", json={"camera": camera}, headers={"X-CSRFToken": tok})
    assert r.status_code == 200, r.json
    path = r.json["url"].split("/video/", 1)[1]
    resp = requests.get(f"http://127.0.0.1:{gw.port}/video/{path}", stream=True, timeout=15,
                        cookies={"session": c.get_cookie("session").value})
    assert resp.status_code == 200
    next(resp.iter_content(4096))
    _until(lambda: _status(gw, camera).get("viewers") == 1)
    return resp


def _jpeg(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format == "JPEG"
    return img


def _frame(gw: Background, camera: str, token: str | None) -> requests.Response:
    headers = {FRAME_HEADER: token} if token is not None else {}
    return requests.get(f"http://127.0.0.1:{gw.port}{FRAME}{camera}", headers=headers, timeout=30)


def test_evidence_and_a_snapshot_of_a_watched_camera_share_its_one_pull(web, vctx, gateway) -> None:  # noqa: F811
    svc = vctx.incidents
    inc = svc.report(SYSTEM, "0108", *point_in(vctx.city, PZ, 2), description="井盖缺失")
    cam = _cam(vctx)
    viewer = _watch(web, gateway, cam)
    try:
        assert _status(gateway, cam)["pulls"] == 1

        c = web.test_client()
        tok = login(c, "ops")
        r = c.post(f"/api/incidents/{inc.id}/video/evidence", json={"camera": cam},
                   headers={"X-CSRFToken": tok})
        assert r.status_code == 200, r.json
        assert r.json["url"] in svc.store.load(inc.id).attachments
        assert _jpeg(c.get(r.json["url"]).data).size == SIZE           # the camera's picture
        assert svc.timeline(inc.id, SYSTEM)[-1]["reason"].startswith(EVIDENCE)

        worker = SnapshotWorker(vctx)
        snap = f"/snapshots/{cam}/1796660000001.jpg"
        assert worker.handle({"device_id": cam, "snapshot_url": snap, "event": "raise"}) == ""
        stored = vctx.settings.data_dir / "snapshots" / cam / "1796660000001.jpg"
        assert _jpeg(stored.read_bytes()).size == SIZE
        assert not list(stored.parent.glob("*.part.jpg"))

        st = _status(gateway, cam)
        assert st["pulls"] == 1 and st["state"] == "live"      # no second pull of the camera …
        assert st["viewers"] == 1                             # … and the frames' viewers closed
        assert gateway.app.frames["served"] == 2
        counters = vctx.redis.hgetall(keys.COUNTERS)           # the path each frame took
        assert counters.get("video_evidence_gateway") == "1" and "video_evidence_direct" not in counters
        assert worker.stats == {"stored": 1, "failed": 0, "gateway": 1, "direct": 0}
    finally:
        viewer.close()


def test_the_internal_frame_endpoint_wants_the_apps_signature(web, vctx, gateway) -> None:  # noqa: F811
    cam = _cam(vctx)
    others = [str(x) for x in vctx.devices.cameras["id"] if str(x) != cam]
    for token in (None, "", "garbage", frame_token("x" * 64, cam),      # none, forged, another key
                  frame_token(SECRET, others[0]),                       # another camera's
                  frame_token(SECRET, cam) + "0"):                      # tampered
        r = _frame(gateway, cam, token)
        assert r.status_code == 403 and r.json()["reason"] == FRAME_DENIED, token
    assert gateway.app.frames["denied"] == 6
    assert frame_token_ok(SECRET, frame_token(SECRET, cam), cam)
    assert not frame_token_ok(SECRET, frame_token(SECRET, cam), cam, max_age=-1)    # expired
    assert _status(gateway, cam) == {}                         # nothing was pulled for them

    r = _frame(gateway, cam, frame_token(SECRET, cam))         # signed with the app's key
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert _jpeg(r.content).size == SIZE
    assert _status(gateway, cam)["pulls"] == 1
    r = _frame(gateway, "no-such-camera", frame_token(SECRET, "no-such-camera"))
    assert r.status_code == 404 and r.json()["reason"] == "无此摄像机"


def test_without_a_gateway_a_snapshot_and_evidence_grab_their_own_frame(web, vctx) -> None:  # noqa: F811
    cam = _cam(vctx)
    vctx.settings.video = {**vctx.settings.video, "port": free_port()}    # configured, not running
    worker = SnapshotWorker(vctx)
    snap = f"/snapshots/{cam}/1796660000002.jpg"
    assert worker.handle({"device_id": cam, "snapshot_url": snap, "event": "raise"}) == ""
    stored = vctx.settings.data_dir / "snapshots" / cam / "1796660000002.jpg"
    assert _jpeg(stored.read_bytes()).size == SIZE
    assert worker.stats == {"stored": 1, "failed": 0, "gateway": 0, "direct": 1}

    inc = vctx.incidents.report(SYSTEM, "0108", *point_in(vctx.city, PZ, 3), description="井盖缺失")
    c = web.test_client()
    tok = login(c, "ops")
    r = c.post(f"/api/incidents/{inc.id}/video/evidence", json={"camera": cam},
               headers={"X-CSRFToken": tok})
    assert r.status_code == 200, r.json
    assert vctx.redis.hget(keys.COUNTERS, "video_evidence_direct") == "1"


def test_a_gateways_refusal_is_reported_and_not_pulled_again(vctx) -> None:  # noqa: F811
    cfg = dataclasses.replace(vctx.settings.video_config,
                              demo_rtsp=f"rtsp://127.0.0.1:{free_port()}/")   # the cameras away
    gw = Background(vctx, cfg, port=0).start()
    try:
        cam = _cam(vctx)
        mine = dataclasses.replace(cfg, port=gw.port)

        def direct() -> str:
            raise AssertionError("a second pull after the gateway's answer")

        data, why, path = camera_frame(mine, SECRET, cam, direct)
        assert (data, path) == (b"", "gateway") and why.startswith("摄像机离线")
        assert _status(gw, cam)["pulls"] == 1 and gw.app.frames["refused"] == 1

        worker = SnapshotWorker(vctx, mine)
        snap = f"/snapshots/{cam}/1796660000003.jpg"
        assert worker.handle({"device_id": cam, "snapshot_url": snap, "event": "raise"}).startswith("摄像机离线")
        assert worker.stats == {"stored": 0, "failed": 1, "gateway": 1, "direct": 0}
        assert not (vctx.settings.data_dir / "snapshots" / cam / "1796660000003.jpg").exists()
    finally:
        gw.stop()
