"""Video through OneMap's gateway, scoped and audited (issue 23; V27 全程可控, V28, M3) on a real
RTSP server, ffmpeg, Redis and the gateway's HTTP server: a department cannot get a playback URL
for a camera not shared to it (403, audited); a URL is refused after expiry and from another
session; every view is in the 视频调阅 log with its start and end; a detection's snapshot is
stored and served."""

from __future__ import annotations

import time

import requests

from app import security
from app.context import AppContext
from sensors.video import access, sources, ts
from sensors.video import keys as vkeys
from tests.app.authkit import login
from tests.app.videokit import gateway, rtsp_cameras, vctx, web  # noqa: F401


def _cams(ctx: AppContext):
    return ctx.devices.cameras


def _play(client, tok: str, camera: str, case: str = ""):
    return client.post("/api/video/play", json={"camera": camera, "case": case},
                       headers={"X-CSRFToken": tok})


def _get(url: str, port: int, cookie: str | None, **kw) -> requests.Response:
    url = url.split("/video/", 1)[1]
    return requests.get(f"http://127.0.0.1:{port}/video/{url}", stream=True, timeout=15,
                        cookies={"session": cookie} if cookie else None, **kw)


def test_a_department_gets_no_url_for_a_camera_not_shared_to_it(web, vctx) -> None:  # noqa: F811
    cams = _cams(vctx)
    shared = cams[cams["share"].str.contains("城管")].iloc[0]["id"]
    other = cams[~cams["share"].str.contains("城管")].iloc[0]["id"]
    c = web.test_client()
    tok = login(c, "chengguan")
    r = _play(c, tok, other)
    assert r.status_code == 403 and "未共享" in r.json["reason"]
    denied = [e for e in security.audit_entries(vctx.redis) if e["event"] == "denied"]
    assert denied and denied[0]["target"] == other and denied[0]["user"] == "chengguan"
    log = access.views(vctx.redis)
    assert log[0]["event"] == "denied" and log[0]["camera"] == other
    r = _play(c, tok, shared)
    assert r.status_code == 200 and f"/video/live/{shared}.ts?t=" in r.json["url"]
    assert "rtsp" not in r.get_data(as_text=True)     # the camera's address stays on the server
    for _ in range(vctx.settings.video_config.quota("dept_operator")):
        access.began(vctx.redis, "chengguan")          # a wall's worth of open views …
    r = _play(c, tok, shared)
    assert r.status_code == 429 and "上限" in r.json["reason"]     # … and no more (quota)


def test_a_url_plays_for_its_session_only_until_it_expires_and_each_view_is_logged(
        web, vctx, gateway) -> None:  # noqa: F811
    cams = _cams(vctx)
    town = _center_of(vctx, "panzhou")[1:]
    cam = cams[cams["town_code"].astype(str) == town].iloc[0]["id"]
    c1, c2 = web.test_client(), web.test_client()
    tok1 = login(c1, "panzhou")
    login(c2, "panzhou")        # the same user, another session (another browser)
    r = _play(c1, tok1, cam, "E2026120700001")
    assert r.status_code == 200, r.json
    url = r.json["url"]
    s1, s2 = c1.get_cookie("session").value, c2.get_cookie("session").value

    other = _get(url, gateway.port, s2)          # a copied URL, another session
    assert other.status_code == 403 and "会话" in other.json()["reason"]
    assert _get(url, gateway.port, None).status_code == 403

    resp = _get(url, gateway.port, s1)
    assert resp.status_code == 200 and resp.headers["content-type"] == "video/mp2t"
    data = b""
    for chunk in resp.iter_content(8192):
        data += chunk
        if len(data) > 188 * 40:
            break
    tr = ts.Tracker()
    keys = tr.feed(data[:len(data) - len(data) % 188])
    assert data[0] == ts.SYNC and tr.codec == "h264" and keys     # starts at a keyframe
    resp.close()

    def logged(event: str) -> list[dict]:
        return [e for e in access.views(vctx.redis) if e["event"] == event and e["camera"] == cam]

    deadline = time.monotonic() + 10
    while not logged("end") and time.monotonic() < deadline:
        time.sleep(0.05)
    start, end = logged("start")[0], logged("end")[0]
    assert start["user"] == end["user"] == "panzhou" and start["case"] == "E2026120700001"
    assert start["view"] == end["view"] and float(end["seconds"]) >= 0
    assert [e["reason"] for e in logged("denied")] == ["url:session", "url:session"]

    while vctx.redis.exists(vkeys.TOKEN + url.rsplit("t=", 1)[1]):   # the grant expires …
        time.sleep(0.05)
    late = _get(url, gateway.port, s1)                                # … and the URL with it
    assert late.status_code == 403 and "过期" in late.json()["reason"]

    admin = web.test_client()
    login(admin, "admin")
    r = admin.get("/api/video/views")
    assert r.status_code == 200 and {"start", "end", "denied"} <= {e["event"] for e in r.json["items"]}
    assert c1.get("/api/video/views").status_code == 403
    from app.screens.ops.model import video_rows  # noqa: PLC0415  (the /ops 视频调阅 tab)

    rows = video_rows(vctx.redis, cam)
    assert {"开始调阅", "结束调阅", "拒绝"} <= {x["event_cn"] for x in rows}
    assert "会话不符" in {x["reason_cn"] for x in rows}

    # the gateway beats like every process (/ops 进程: down when it stops), its view counted
    from app import heartbeat  # noqa: PLC0415

    def video_beat() -> dict | None:
        return next((b.info for b in heartbeat.read(vctx.redis) if b.kind == "video"), None)

    deadline = time.monotonic() + 3 * heartbeat.BEAT_EVERY_S
    while not ((video_beat() or {}).get("views", 0) >= 1) and time.monotonic() < deadline:
        time.sleep(0.1)
    info = video_beat()
    assert info is not None and info["views"] >= 1 and info["pulls"] >= 1, info
    assert info["upstreams"].endswith(f"/{gateway.app.cfg.max_upstreams}")


def _center_of(ctx: AppContext, user: str) -> str:
    from app.users import UserStore  # noqa: PLC0415

    return UserStore(ctx.redis).get(user).center


def test_a_detection_snapshot_is_stored_and_served(web, vctx) -> None:  # noqa: F811
    from app.video import SnapshotWorker  # noqa: PLC0415

    cams = _cams(vctx)
    cam = cams[~cams["share"].str.contains("城管")].iloc[0]["id"]
    worker = SnapshotWorker(vctx)
    snap = f"/snapshots/{cam}/1796660000000.jpg"
    assert worker.handle({"device_id": cam, "snapshot_url": snap, "event": "raise"}) == ""
    c = web.test_client()
    login(c, "ops")
    r = c.get(snap)
    assert r.status_code == 200 and r.mimetype == "image/jpeg" and r.data[:2] == b"\xff\xd8"
    d = web.test_client()
    login(d, "chengguan")
    assert d.get(snap).status_code == 403       # scoped like the live picture
    assert c.get(f"/snapshots/{cam}/nothing.jpg").status_code == 404


def _duration_s(path) -> float:  # noqa: ANN001
    import subprocess  # noqa: PLC0415

    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name:format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True, timeout=30)
    import json  # noqa: PLC0415

    doc = json.loads(out.stdout)
    assert doc["streams"][0]["codec_name"] == "h264"
    return float(doc["format"]["duration"])


def test_a_detection_that_opens_a_case_keeps_a_clip_and_an_unreachable_camera_says_why(
        web, vctx, gateway) -> None:  # noqa: F811
    """Issue 23: "a short clip from the moment the incident opens is kept with the incident when
    the camera is reachable" (V1, V27): a video-AI raise → the intake opens the case → the
    gateway records CLIP_S seconds from the shared upstream (one pull), an MP4 linked to the case
    (record, trail note, 视频调阅 log), served scoped; a camera that does not answer leaves no
    clip and its reason."""
    import asyncio  # noqa: PLC0415

    from incidents.actor import SYSTEM  # noqa: PLC0415
    from incidents.intake import AlarmIntake  # noqa: PLC0415
    from sensors import keys as skeys  # noqa: PLC0415
    from tests.app.videokit import CLIP_S  # noqa: PLC0415

    cams = _cams(vctx)
    row = cams[~cams["share"].str.contains("城管")].iloc[1]
    cam = row["id"]
    vctx.redis.xadd(skeys.ALARMS, {
        "episode": "clip-ep-1", "event": "raise", "source": "video_ai", "device_id": cam,
        "device_type": "camera", "category": "0701", "level": "orange", "severity": "较大",
        "lon": f"{row['lon']:.6f}", "lat": f"{row['lat']:.6f}", "cell_code": "",
        "town_code": str(row["town_code"]), "ts": str(int(time.time() * 1000)),
        "message": "视频AI: 烟火 (smoke_fire 0.91)", "snapshot_url": f"/snapshots/{cam}/1.jpg"})
    assert AlarmIntake(vctx.incidents).poll(block_ms=None) == 1      # the case opens
    inc = vctx.incidents.reported_with(SYSTEM, "alarm:clip-ep-1")
    assert inc

    deadline = time.monotonic() + 40
    while (access.clip_record(vctx.redis, inc) or {}).get("state") in (None, "recording") \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    rec = access.clip_record(vctx.redis, inc)
    assert rec["state"] == "stored" and rec["camera"] == cam, rec
    assert rec["path"] == f"/clips/{cam}/{inc}.mp4"
    path = vctx.settings.data_dir / "snapshots" / cam / f"{inc}.mp4"
    assert CLIP_S - 0.5 <= _duration_s(path) <= CLIP_S + 3      # + the kept GOP before the alarm
    assert gateway.gateway.pulls[cam] == 1                     # the shared upstream: one pull

    c = web.test_client()
    login(c, "ops")
    r = c.get(rec["path"])
    assert r.status_code == 200 and r.mimetype == "video/mp4" and r.data[4:8] == b"ftyp"
    got = c.get(f"/api/video/clips/{inc}")
    assert got.status_code == 200 and got.json["state"] == "stored"
    d = web.test_client()
    login(d, "chengguan")
    assert d.get(rec["path"]).status_code == 403               # scoped like the live picture
    trail = " ".join(str(e) for e in vctx.incidents.timeline(inc, SYSTEM))
    assert "视频片段已保存" in trail
    assert any(e["event"] == "clip" and e["case"] == inc for e in access.views(vctx.redis))

    # a camera that does not answer: no clip, the reason kept, the worker goes on
    far = cams.iloc[-1]
    other = vctx.incidents.report(SYSTEM, "1101", float(far["lon"]), float(far["lat"]),
                                  description="占道经营", title="占道经营", channel="video_ai")
    assert other.id != inc
    worker = gateway.app.clips
    worker.source = lambda camera: "rtsp://127.0.0.1:9/none"     # nothing listens there
    try:
        fut = asyncio.run_coroutine_threadsafe(worker.clip(other.id, "CAM-UNREACHABLE"),
                                               gateway.app.loop)
        rec2 = fut.result(30)
    finally:
        worker.source = gateway.app._source
    assert rec2["state"] == "failed" and "离线" in rec2["reason"], rec2
    assert access.clip_record(vctx.redis, other.id)["state"] == "failed"
    assert not list((vctx.settings.data_dir / "snapshots").glob("CAM-UNREACHABLE/*"))
    assert "视频片段未能保存" in " ".join(str(e) for e in vctx.incidents.timeline(other.id, SYSTEM))


class _Colours:
    """One ffmpeg session decoding a camera (32×18 RGB, 5 frames a second): ``until(pred)``
    reads frames until one's mean colour satisfies ``pred`` (or the deadline)."""

    W, H = 32, 18

    def __init__(self, url: str) -> None:
        import subprocess  # noqa: PLC0415

        self.proc = subprocess.Popen(
            ["ffmpeg", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url, "-vf",
             f"fps=5,scale={self.W}:{self.H}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def until(self, pred, timeout_s: float = 20.0) -> tuple[float, float, float]:  # noqa: ANN001
        size = self.W * self.H * 3
        deadline = time.monotonic() + timeout_s
        rgb = (0.0, 0.0, 0.0)
        while time.monotonic() < deadline:
            frame = self.proc.stdout.read(size)
            if len(frame) < size:
                break
            rgb = tuple(sum(frame[k::3]) / (self.W * self.H) for k in range(3))
            if pred(rgb):
                break
        return rgb  # type: ignore[return-value]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def test_the_fire_scenario_turns_the_cameras_that_see_it_to_a_fire_scene(vctx, tmp_path) -> None:  # noqa: F811
    """Issue 23 demo: "the fire scenario's camera shows the scene changing": a fire alarm (0401)
    turns the demo pool camera behind the camera that sees it to the fire scene (orange on dark
    red, 火情) through the camera server's control file, and its clear turns it back."""
    from app.video import DemoCameras, SceneDirector  # noqa: PLC0415
    from sensors.video.config import VideoConfig  # noqa: PLC0415

    control = tmp_path / "scenes.json"
    cams = DemoCameras(cameras=2, keyint_s=1.0, width=320, height=180, fps=10, kbps=200,
                       control=control).start()
    try:
        cfg = VideoConfig.from_table({"demo_rtsp": cams.base, "demo_pool": 2})
        director = SceneDirector(vctx, cfg, control)
        row = _cams(vctx).iloc[0]
        alarm = {"episode": "fire-ep", "event": "raise", "source": "video_ai",
                 "device_id": row["id"], "category": "0401", "lon": str(row["lon"]),
                 "lat": str(row["lat"])}
        n = int(sources.demo_url(cfg, row["id"]).rsplit("/", 1)[1])

        def red(rgb: tuple[float, float, float]) -> bool:
            # the fire scene's dark red (0x5A0A00) decodes to a mean near (69, 6, 1) while its
            # orange ball is small or out of the picture: red well above green and blue together,
            # which no test pattern is (they are grey, white on black or all colours)
            return rgb[0] > 40 and rgb[0] > 2 * (rgb[1] + rgb[2])

        watch = _Colours(cams.url(n))     # one session: the running picture changes
        try:
            assert not red(watch.until(lambda c: True))       # its test picture
            assert n in director.handle(alarm)                # the fire alarm …
            rgb = watch.until(red)
            assert red(rgb), rgb                              # the picture is on fire
            assert director.handle(alarm | {"event": "clear"}) == []
            rgb = watch.until(lambda c: not red(c))
            assert not red(rgb), rgb                          # and back to its test picture
        finally:
            watch.close()
    finally:
        cams.stop()
