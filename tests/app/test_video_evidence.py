"""截图取证 (issue 23; V27 全程可控, T25, E32) on a real RTSP camera server, ffmpeg and Redis: a
frame grabbed from a camera's live stream on the server is attached to the case (served as its
photos are), in the case's audit trail (who, which camera, when) and in the console's video box;
a department asking for a frame of a camera not shared to it gets 403, in the security audit and
the 视频调阅 log, and nothing is attached. The console's player lists only cameras the user may
watch (app/screens/console/video.py)."""

from __future__ import annotations

from app import security
from app.context import AppContext
from app.http.video_evidence import EVIDENCE
from app.screens.console.model import ConsoleData
from app.screens.console.video import NEAREST, SEEING, evidence_items, watchable_cameras
from app.users import UserStore
from incidents.actor import SYSTEM
from sensors.video import access
from tests.app.authkit import login
from tests.app.test_api import PZ, point_in
from tests.app.videokit import rtsp_cameras, vctx, web  # noqa: F401


def _evidence(client, tok: str, inc: str, camera: str):
    return client.post(f"/api/incidents/{inc}/video/evidence", json={"camera": camera},
                       headers={"X-CSRFToken": tok})


def _actor(ctx: AppContext, user: str):
    return UserStore(ctx.redis).get(user).actor


def test_a_frame_of_the_live_stream_is_attached_to_the_case_and_audited(web, vctx) -> None:  # noqa: F811
    svc, city = vctx.incidents, vctx.city
    inc = svc.report(SYSTEM, "0108", *point_in(city, PZ, 2), description="井盖缺失")
    ops = _actor(vctx, "ops")
    cams = watchable_cameras(ConsoleData(vctx), ops, inc.lon, inc.lat)
    assert cams and all(c["label"] in (SEEING, NEAREST) for c in cams) and len(cams) <= 5
    cam = cams[0]["id"]

    c = web.test_client()
    tok = login(c, "ops")
    r = _evidence(c, tok, inc.id, cam)
    assert r.status_code == 200, r.json
    url = r.json["url"]
    assert url.startswith("/media/photo/") and r.json["camera"]["id"] == cam
    assert url in svc.store.load(inc.id).attachments                 # attached to the case
    pic = c.get(url)
    assert pic.status_code == 200 and pic.data[:2] == b"\xff\xd8"     # a JPEG frame, served

    last = svc.timeline(inc.id, ops)[-1]                               # the audit: who, camera, when
    assert last["actor"] == "ops" and last["reason"].startswith(EVIDENCE) and cam in last["reason"]
    assert float(last["ts"]) > 0 and url in last["after"]["attachments"]
    shown = evidence_items(ConsoleData(vctx), svc.timeline(inc.id, ops))
    assert shown[0]["url"] == url and cam in shown[0]["what"]           # the console lists it

    assert _evidence(c, tok, inc.id, "no-such-camera").status_code == 404
    assert _evidence(c, tok, inc.id, "../x").status_code == 400


def test_a_department_gets_no_frame_of_a_camera_not_shared_to_it(web, vctx) -> None:  # noqa: F811
    svc, city = vctx.incidents, vctx.city
    pz = _actor(vctx, "panzhou")
    inc = svc.report(SYSTEM, "0108", *point_in(city, PZ, 4), description="井盖破损")
    svc.accept(inc.id, pz)
    svc.dispatch(inc.id, pz, ["DCG"])                  # 城管 may act on the case …
    cams = vctx.devices.cameras
    other = cams[~cams["share"].str.contains("城管")].iloc[0]["id"]

    c = web.test_client()
    tok = login(c, "chengguan")
    r = _evidence(c, tok, inc.id, other)               # … but not watch this camera
    assert r.status_code == 403 and "未共享" in r.json["reason"]
    denied = [e for e in security.audit_entries(vctx.redis) if e["event"] == "denied"]
    assert denied[0]["target"] == other and denied[0]["user"] == "chengguan"
    log = access.views(vctx.redis)
    assert log[0]["event"] == "denied" and log[0]["camera"] == other and log[0]["case"] == inc.id
    assert svc.store.load(inc.id).attachments == []     # nothing attached

    cg = _actor(vctx, "chengguan")                      # its player never names that camera
    listed = watchable_cameras(ConsoleData(vctx), cg, inc.lon, inc.lat)
    assert all("城管" in str(cams[cams["id"] == x["id"]].iloc[0]["share"]) for x in listed)

    fresh = svc.report(SYSTEM, "0108", *point_in(city, PZ, 6), description="路灯不亮")
    shared = cams[cams["share"].str.contains("城管")].iloc[0]["id"]
    r = _evidence(c, tok, fresh.id, shared)             # a case it may not read: 403 too …
    assert r.status_code == 403
    denied = [e for e in security.audit_entries(vctx.redis) if e["event"] == "denied"]
    assert denied[0]["target"] == fresh.id and denied[0]["user"] == "chengguan"   # … audited
    assert svc.store.load(fresh.id).attachments == []


def test_an_unreachable_camera_gives_a_clear_refusal_and_attaches_nothing(web, vctx) -> None:  # noqa: F811
    from app.services import free_port  # noqa: PLC0415

    svc, city = vctx.incidents, vctx.city
    inc = svc.report(SYSTEM, "0108", *point_in(city, PZ, 3), description="井盖缺失")
    vctx.settings.video = {**vctx.settings.video, "demo_rtsp": f"rtsp://127.0.0.1:{free_port()}/"}
    cam = str(vctx.devices.cameras["id"].iloc[0])
    c = web.test_client()
    tok = login(c, "ops")
    r = _evidence(c, tok, inc.id, cam)
    assert r.status_code == 502 and r.json["reason"].startswith(f"{EVIDENCE}失败")
    assert svc.store.load(inc.id).attachments == []
    from app import keys  # noqa: PLC0415

    assert vctx.redis.hget(keys.COUNTERS, "video_evidence_failed") == "1"     # counted
    assert vctx.redis.hget(keys.COUNTERS, "video_evidence_direct") == "1"     # no gateway here:
    # its own grab (through a gateway: tests/app/test_video_frames.py)


def test_the_player_lists_seeing_cameras_first_and_an_offline_one_after_them(web, vctx) -> None:  # noqa: F811
    cams = vctx.devices.cameras
    ops = _actor(vctx, "ops")
    data = ConsoleData(vctx)
    for _, row in cams.iterrows():              # a spot two cameras can see
        got = watchable_cameras(data, ops, float(row["lon"]), float(row["lat"]))
        if sum(c["seeing"] for c in got) >= 2:
            break
    else:
        raise AssertionError("no spot two cameras see")
    assert got[0]["seeing"] and got[0]["label"] == SEEING
    assert [c["seeing"] for c in got] == sorted((c["seeing"] for c in got), reverse=True)
    access.record_state(vctx.redis, got[0]["id"], "offline", "连接被拒绝")
    again = watchable_cameras(data, ops, float(row["lon"]), float(row["lat"]))
    seeing = [c["id"] for c in again if c["seeing"]]
    assert seeing[-1] == got[0]["id"] and seeing[0] != got[0]["id"]   # the offline one after
