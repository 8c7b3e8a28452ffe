"""A camera plays in headless Chromium through OneMap's gateway (issue 23; M3, V1 全时可用):
mpegts.js (MSE, H.264) on the gateway's MPEG-TS stream, with the session cookie across ports;
the picture advances; a camera killed mid-play shows 离线 and plays again by itself when it
returns (assets/static/video/player.js)."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from app.services import free_port
from app.video import DemoCameras
from tests.app.browserkit import browser, browser_login, live, wait_for  # noqa: F401
from tests.app.e2ekit import SCREENSHOTS
from tests.app.videokit import gateway, rtsp_cameras, vctx, web  # noqa: F401


def _time(d) -> float:
    return float(d.execute_script("return document.getElementById('video').currentTime") or 0)


def test_a_camera_plays_goes_offline_and_recovers(vctx, web, live, browser) -> None:  # noqa: F811
    port = free_port()
    cams = DemoCameras(port=port, cameras=1, keyint_s=1.0, width=320, height=180, fps=10,
                       kbps=200).start()
    vctx.settings.video = {**vctx.settings.video, "demo_rtsp": cams.base, "demo_pool": 1,
                           "connect_timeout_s": 3}
    from app.video import Background  # noqa: PLC0415

    gw = Background(vctx, port=0).start()       # after the camera pool is set
    vctx.settings.video = {**vctx.settings.video, "port": gw.port}
    try:
        cam = str(vctx.devices.cameras["id"].iloc[0])
        page = f"/static/video/check.html?camera={cam}"
        browser_login(browser, live, "ops", next_=page)
        state = browser.find_element(By.ID, "state")
        # the picture advances with its size known (a stalled stream restarts with neither)
        wait_for(lambda: _time(browser) > 1.0 and browser.execute_script(
            "return document.getElementById('video').videoWidth") > 0, timeout=40,
            what="the picture to advance")
        assert state.text == "直播"

        cams.stop()                                     # the camera dies mid-play
        wait_for(lambda: "离线" in state.text, timeout=30, what="离线")
        cams = DemoCameras(port=port, cameras=1, keyint_s=1.0, width=320, height=180, fps=10,
                           kbps=200).start()            # … and comes back on its address
        wait_for(lambda: state.text == "直播", timeout=45, what="playing again")
        t = _time(browser)
        wait_for(lambda: _time(browser) > t + 0.5, timeout=20, what="the picture to advance again")
    finally:
        gw.stop()
        cams.stop()


def _main(d, prop: str) -> float:
    return float(d.execute_script(f"return document.getElementById('video-main').{prop}") or 0)


def test_the_console_case_panel_plays_the_cases_camera(vctx, web, live, browser, gateway) -> None:  # noqa: F811
    """The console's case panel (app/screens/console/video.py, assets/console/video.js) plays
    the best camera that can see the case's spot (or the nearest, labelled so): the picture
    advances and has a size; the 2×2 grid shows the next cameras."""
    from incidents.actor import SYSTEM  # noqa: PLC0415
    from tests.app.test_api import PZ, point_in  # noqa: PLC0415

    inc = vctx.incidents.report(SYSTEM, "0108", *point_in(vctx.city, PZ, 2), description="井盖缺失")
    browser_login(browser, live, "ops")
    wait_for(lambda: browser.find_element(By.ID, "queue") and browser.execute_script(
        "return !!(window.dash_clientside && window.dash_clientside.set_props)"), timeout=30,
        what="the console")
    browser.execute_script("window.dash_clientside.set_props('sel', {data: arguments[0]})", inc.id)
    wait_for(lambda: inc.id in browser.find_element(By.ID, "panel-head").text, timeout=30,
             what="the case's panel")
    box = browser.find_element(By.ID, "video-box")
    wait_for(box.is_displayed, timeout=20, what="the video box")
    title = browser.find_element(By.ID, "video-title").text
    assert title.startswith(("可视摄像头", "最近摄像头")), title
    wait_for(lambda: _main(browser, "currentTime") > 1.0, timeout=40, what="the picture to advance")
    assert _main(browser, "videoWidth") > 0
    assert browser.find_element(By.ID, "video-state").text == "直播"
    tiles = [t for t in browser.find_elements(By.CSS_SELECTOR, "#video-grid .vid-tile") if t.is_displayed()]
    assert 1 <= len(tiles) <= 4
    wait_for(lambda: all(t.find_element(By.CSS_SELECTOR, ".vid-state").text == "直播" for t in tiles),
             timeout=30, what="the grid playing")
    browser.save_screenshot(str(SCREENSHOTS / "console-video.png"))     # README, docs/video.md
    name = tiles[0].find_element(By.CSS_SELECTOR, ".vid-name").text.split(" · ")[-2]
    tiles[0].find_element(By.TAG_NAME, "video").click()          # a tile becomes the main picture
    wait_for(lambda: name in browser.find_element(By.ID, "video-title").text, what="the swap")
    browser.find_element(By.ID, "video-wall").click()             # 上墙 (the hall operator's)
    wait_for(lambda: "已上墙" in browser.find_element(By.ID, "video-msg").text, what="上墙 toast")
