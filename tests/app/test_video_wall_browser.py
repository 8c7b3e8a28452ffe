"""The wall's video area in headless Chromium (issue 23; M3 大厅视频系统, V1 全时可用): the wall's
kiosk opens /wall/, the area shows the cameras that can see the case in focus, playing (each
video's time advances), with legible Chinese labels; the camera server killed mid-play turns the
tiles 离线, and they play again by themselves when it returns (assets/wall/video.js,
assets/static/video/player.js: a backoff, a new grant each try)."""

from __future__ import annotations

import pytest

from app.nearby import CAMERA_RADIUS_M
from app.services import free_port
from app.video import Background, DemoCameras
from incidents.actor import Actor
from sensors.cameras import cameras_for
from sensors.video import keys as vkeys
from tests.app.authkit import KIOSK
from tests.app.browserkit import browser, live, wait_for  # noqa: F401
from tests.app.videokit import gateway, rtsp_cameras, vctx, web  # noqa: F401

pytestmark = [pytest.mark.browser]

TILES = "return [...document.querySelectorAll('#wall-video .wv-tile')].map(t => t.dataset.camera)"
TIMES = "return [...document.querySelectorAll('#wall-video video')].map(v => v.currentTime)"
STATES = ("return [...document.querySelectorAll('#wall-video .wv-tile')]"
          ".map(t => [t.dataset.state, t.querySelector('.wv-state').innerText])")
LABELS = ("return [...document.querySelectorAll('#wall-video .wv-name, #wall-video .wv-meta')]"
          ".map(e => [e.innerText, parseFloat(getComputedStyle(e).fontSize) / innerHeight])")


def _camera_server(port: int) -> DemoCameras:
    return DemoCameras(port=port, cameras=1, keyint_s=1.0, width=320, height=180, fps=10,
                       kbps=200).start()


def _advancing(browser) -> None:  # noqa: ANN001, F811
    """Every tile's picture moves on (its video's time advances by half a second)."""
    before = browser.execute_script(TIMES)
    wait_for(lambda: all(b > a + 0.5 for a, b in zip(before, browser.execute_script(TIMES),
                                                      strict=True)), 20, "the pictures to advance")


def test_the_wall_plays_the_cases_cameras_and_recovers_a_dropped_one(
        vctx, web, live, browser) -> None:  # noqa: F811
    port = free_port()
    cams = _camera_server(port)
    # the default connect timeout (6 s): a camera server rebuilding its encoder on a loaded
    # host may take longer than 3 s to answer the first DESCRIBE after it comes back
    vctx.settings.video = {**vctx.settings.video, "demo_rtsp": cams.base, "demo_pool": 1}
    gw = Background(vctx, port=0).start()       # after the camera pool is set
    vctx.settings.video = {**vctx.settings.video, "port": gw.port}
    try:
        # a spot three cameras can see (the demo registry has many: the first one found)
        spot = next(c for _, c in vctx.devices.cameras.iterrows()
                    if len(cameras_for(vctx.devices, float(c["lon"]), float(c["lat"]),
                                       CAMERA_RADIUS_M, 4)[0]) >= 3)
        worker = Actor("w1", "grid_worker", f"T{spot['town_code']}", "网格员",
                       cell=str(spot["cell_code"]))
        vctx.incidents.report(worker, "0101", float(spot["lon"]), float(spot["lat"]),
                              severity="重大", description="测试", correlate=False)
        seeing, _ = cameras_for(vctx.devices, float(spot["lon"]), float(spot["lat"]),
                                CAMERA_RADIUS_M, 4)
        want = [c["id"] for c in seeing]
        assert len(want) >= 3
        wait_for(lambda: vctx.redis.exists(vkeys.GATEWAY), 10, "the gateway's status")

        browser.get(f"{live}/wall/?kiosk={KIOSK}")
        wait_for(lambda: browser.execute_script(TILES) == want, 60, f"the tiles {want}")
        wait_for(lambda: {s for s, _ in browser.execute_script(STATES)} == {"live"}, 40,
                 "every tile playing")
        _advancing(browser)
        labels = browser.execute_script(LABELS)
        assert labels[0][0] == seeing[0]["name"] and "可视" in labels[1][0]
        assert vctx.city.town_names[str(seeing[0]["town_code"])] in labels[1][0]
        assert min(share for _, share in labels) >= 0.016        # the wall's legibility rule

        cams.stop()                                     # the camera dies mid-play …
        wait_for(lambda: any(t == "离线" for _, t in browser.execute_script(STATES)), 30, "离线")
        cams = _camera_server(port)                     # … and comes back on its address
        seen: list = []

        def all_live_again() -> bool:
            seen[:] = [browser.execute_script(STATES), gw.call(gw.gateway.status)]
            return {s for s, _ in seen[0]} == {"live"}

        try:
            wait_for(all_live_again, 45, "every tile playing again")
        except AssertionError as exc:     # say where the tiles and the gateway were
            raise AssertionError(f"{exc}; tiles {seen[0]}; gateway {seen[1]}; camera server "
                                 f"exit {cams.proc.poll()}") from None
        _advancing(browser)
    finally:
        gw.stop()
        cams.stop()
