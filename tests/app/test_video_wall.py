"""The wall's video area and the phone's nearby cameras (issue 23; M3 大厅视频系统, T25 看得见,
V1 全网共享, V27 全程可控) on a real Redis, the real web server and a running video gateway:

- the hall operator pins cameras (上墙): the city may, a town may not (403, in the security
  audit); pinned cameras come first in the wall's area, in the order pinned, then the cameras
  that can see the case; the wall's kiosk gets its grant on the wall's own path;
- ``/m/api/video/nearby``: a grid worker sees only the public-space cameras of its own cell, a
  department's responder only the cameras shared to it, each with the 流量提示; the phone's
  grant path plays for a responder, who may not call ``/api/*``.
"""

from __future__ import annotations

import time

from app import keys, security
from app.context import AppContext
from app.nearby import CAMERA_RADIUS_M
from app.screens.wall.data import WallSources
from app.screens.wall.video import area
from app.users import UserStore
from incidents.actor import Actor
from sensors.cameras import cameras_for
from sensors.video import keys as vkeys
from tests.app.authkit import KIOSK, PASSWORD, login
from tests.app.videokit import gateway, rtsp_cameras, vctx, web  # noqa: F401

KIOSK_ACTOR = Actor("~kiosk", "wall_viewer", "CITY", "大屏")


def _pin(client, tok: str, camera: str, pinned: bool = True):
    return client.post("/api/video/wall/pins", json={"camera_id": camera, "pinned": pinned},
                       headers={"X-CSRFToken": tok})


def _gateway_up(ctx: AppContext) -> None:
    deadline = time.monotonic() + 10
    while not ctx.redis.exists(vkeys.GATEWAY):          # its first status, published at start
        assert time.monotonic() < deadline, "the gateway published no status"
        time.sleep(0.05)


def test_the_hall_pins_cameras_first_on_the_wall_and_a_town_may_not(web, vctx, gateway) -> None:  # noqa: F811
    cams = vctx.devices.cameras
    a, b = str(cams.iloc[10]["id"]), str(cams.iloc[20]["id"])
    assert area(vctx, WallSources(vctx), KIOSK_ACTOR)["on"] is False     # no gateway yet: off
    _gateway_up(vctx)

    ops = web.test_client()
    tok = login(ops, "ops")
    assert _pin(ops, tok, a).status_code == 200
    assert _pin(ops, tok, b).status_code == 200
    r = _pin(ops, tok, a)                                   # again: keeps its place
    assert r.status_code == 200 and [p["camera_id"] for p in r.json["pins"]] == [a, b]
    assert ops.get("/api/video/wall/pins").json["pins"][0]["name"] == cams.iloc[10]["name"]
    assert _pin(ops, tok, "no-such-camera").status_code == 404
    assert ops.post("/api/video/wall/pins", json={"camera_id": a, "pinned": "yes"},
                    headers={"X-CSRFToken": tok}).status_code == 400
    assert [e["target"] for e in security.audit_entries(vctx.redis)
            if e["event"] == "wall_pin"][:1] == [a]

    town = web.test_client()
    ttok = login(town, "panzhou")
    r = _pin(town, ttok, b, False)
    assert r.status_code == 403 and "市级" in r.json["reason"]
    denied = [e for e in security.audit_entries(vctx.redis) if e["event"] == "denied"]
    assert denied[0]["user"] == "panzhou" and denied[0]["path"] == "/api/video/wall/pins"
    assert town.get("/api/video/wall/pins").status_code == 403
    assert vctx.redis.zrange(keys.WALL_VIDEO_PINS, 0, -1) == [a, b]       # unchanged

    # a case at a camera's spot: the area shows the pins first, then the cameras that see it
    spot = cams.iloc[300]
    worker = Actor("w1", "grid_worker", f"T{spot['town_code']}", "网格员", cell=str(spot["cell_code"]))
    inc = vctx.incidents.report(worker, "0101", float(spot["lon"]), float(spot["lat"]),
                                severity="重大", description="测试", correlate=False)
    out = area(vctx, WallSources(vctx), KIOSK_ACTOR, {"w": 1920, "h": 1080})
    ids = [t["id"] for t in out["tiles"]]
    seeing, _ = cameras_for(vctx.devices, float(spot["lon"]), float(spot["lat"]), CAMERA_RADIUS_M, 9)
    assert out["on"] and out["n"] == 4 and out["case"] == inc.id
    assert ids == ([a, b] + [c["id"] for c in seeing if c["id"] not in (a, b)])[:4]
    assert out["tiles"][0]["kind"].startswith("上墙") and spot["id"] in ids
    assert {t["kind"] for t in out["tiles"][2:]} <= {"可视", "最近"}
    assert all(t["town"] for t in out["tiles"])                      # the town, in Chinese
    assert area(vctx, WallSources(vctx), KIOSK_ACTOR, {"w": 3840, "h": 2160})["n"] == 9
    assert _pin(ops, tok, a, False).status_code == 200
    ids = [t["id"] for t in area(vctx, WallSources(vctx), KIOSK_ACTOR)["tiles"]]
    assert ids[0] == b and a not in ids[:1]

    # the wall's kiosk (the city's) gets its grant on the wall's path, not /api/*
    kiosk = web.test_client()
    kiosk.get(f"/wall/?kiosk={KIOSK}")
    ktok = kiosk.get_cookie("_csrf_token").value
    r = kiosk.post("/wall/video/play", json={"camera": ids[1], "case": inc.id},
                   headers={"X-CSRFToken": ktok})
    assert r.status_code == 200 and f"/video/live/{ids[1]}.ts?t=" in r.json["url"]
    assert kiosk.post("/api/video/play", json={"camera": ids[1]},
                      headers={"X-CSRFToken": ktok}).status_code == 403


def _nearby(client, cam) -> dict:  # noqa: ANN001
    r = client.get(f"/m/api/video/nearby?lat={cam['lat']}&lon={cam['lon']}&radius=1500")
    assert r.status_code == 200, r.json
    return r.json


def test_the_phone_lists_only_the_cameras_in_scope_with_the_data_notice(web, vctx) -> None:  # noqa: F811
    cams = vctx.devices.cameras
    worker = next(u for u in UserStore(vctx.redis).list() if u.role == "grid_worker"
                  and len(cams[(cams["cell_code"].astype(str) == str(u.cell))
                               & (cams["owner"] == "public")]))
    mine = cams[(cams["cell_code"].astype(str) == str(worker.cell)) & (cams["owner"] == "public")]
    assert len(mine), "the worker's cell has a public camera"
    cam = mine.iloc[0]
    w = web.test_client()
    login(w, worker.user_id)
    got = _nearby(w, cam)
    assert got["cameras"] and cam["id"] in [c["id"] for c in got["cameras"]]
    rows = cams.set_index("id").loc[[c["id"] for c in got["cameras"]]]
    assert set(rows["cell_code"].astype(str)) == {str(worker.cell)} and set(rows["owner"]) == {"public"}
    around = cams[(abs(cams["lat"] - cam["lat"]) < 0.01) & (abs(cams["lon"] - cam["lon"]) < 0.01)]
    assert len(around) > len(got["cameras"])                # others were near, and left out
    assert got["notice"] == f"视频将消耗流量，约 {got['mb_per_min']:g} MB/分钟" and got["mb_per_min"] > 0
    d = [c["distance_m"] for c in got["cameras"]]
    assert d == sorted(d)
    assert w.get("/m/api/video/nearby?lat=abc&lon=1").status_code == 400

    # a department's responder: only the cameras shared to it (城管)
    UserStore(vctx.redis).add("team_cg", PASSWORD, "responder", "DCG", "城管队员", "res-team-cg",
                              replace=True)
    shared = cams[cams["share"].str.contains("城管")].iloc[0]
    dept = web.test_client()
    dtok = login(dept, "team_cg")
    got = _nearby(dept, shared)["cameras"]
    assert shared["id"] in [c["id"] for c in got]
    rows = cams.set_index("id").loc[[c["id"] for c in got]]
    assert all("城管" in s for s in rows["share"])
    other = cams[~cams["share"].str.contains("城管")].iloc[0]
    r = dept.post("/m/api/video/play", json={"camera": other["id"]}, headers={"X-CSRFToken": dtok})
    assert r.status_code == 403 and "未共享" in r.json["reason"]               # and audited
    r = dept.post("/m/api/video/play", json={"camera": shared["id"]}, headers={"X-CSRFToken": dtok})
    assert r.status_code == 200 and "/video/live/" in r.json["url"]
    assert dept.post("/api/video/play", json={"camera": shared["id"]},
                     headers={"X-CSRFToken": dtok}).status_code == 403       # not the API
