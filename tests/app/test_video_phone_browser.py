"""Browser: a grid worker (网格员) watches a camera near them from the phone (issue 23; T25 看得见,
V1 全网共享, V27 全程可控, V28, M3). Headless Chromium emulates a 360×780 phone against the real
server (create_server), the real video gateway (``app.video.Background``) and the session's real
GStreamer RTSP demo cameras, on the private redis-server:

- the worker opens 附近视频 (assets/mobile/video.js): the data-saving notice (流量提示, MB/分钟)
  is shown before anything plays (no player code fetched, no grant asked, no view logged); the
  list is exactly the cameras near them that ``Policy.may_watch`` lets them watch, nearest first:
  a camera of another town and the other cells' or private cameras around them are absent;
- a tap plays the camera: the ``<video>``'s picture advances and has a size (mpegts.js on the
  gateway's MPEG-TS stream), and the 视频调阅 log has the view's start with that worker and camera;
- 关闭 ends it: the log has the view's end (the same view id).

The phone's location sensor is stubbed at the Web API (``navigator.geolocation``,
``test_e2e_responder.GEO``): Chromium's own geolocation service sometimes never answers on a
loaded machine.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from app import nearby
from app.http.video_mobile import MAX_CAMERAS, RADIUS_M
from app.users import UserStore, demo_accounts
from sensors.video import access
from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401
from tests.app.test_e2e_responder import GEO
from tests.app.videokit import gateway, rtsp_cameras, vctx, web  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIELDS = ("id", "name", "town_code", "cell_code", "share", "owner")
"""The registry columns the policy reads (as /m/api/video/nearby passes them)."""


def _spot(ctx) -> tuple[str, dict]:  # noqa: ANN001 (AppContext)
    """A demo grid worker and the public camera of their cell to stand at: the one with a camera
    of another town within the phone's radius, when the city has one (the strongest absence)."""
    cams = ctx.devices.cameras
    best: tuple[int, str, dict] | None = None
    for acc in demo_accounts(ctx.city):
        if acc["role"] != "grid_worker":
            continue
        mine = cams[(cams["cell_code"].astype(str) == str(acc["cell"])) & (cams["owner"] == "public")]
        for cam in mine.to_dict("records"):
            around = nearby.near(cams, float(cam["lon"]), float(cam["lat"]), RADIUS_M, 1000, FIELDS)
            score = int(any(str(r["town_code"]) != acc["center"][1:] for r in around))
            if best is None or score > best[0]:
                best = (score, acc["user_id"], cam)
    assert best is not None, "a demo grid worker with a public camera in their cell"
    return best[1], best[2]


def _views(ctx, user: str, camera: str, event: str) -> list[dict]:  # noqa: ANN001
    return [e for e in access.views(ctx.redis) if e["event"] == event and e["user"] == user
            and e["camera"] == camera]


def _video(d, prop: str) -> float:  # noqa: ANN001 (WebDriver)
    return float(d.execute_script(
        f"const v = document.querySelector('#video-list video'); return v ? v.{prop} : 0") or 0)


def test_a_grid_worker_watches_a_camera_near_them_from_the_phone(
        vctx, web, live, gateway) -> None:  # noqa: F811
    user, here = _spot(vctx)
    lon, lat = float(here["lon"]), float(here["lat"])
    actor = UserStore(vctx.redis).get(user).actor
    policy = vctx.incidents.policy
    # what the policy says on the server, for the cameras around the spot
    around = nearby.near(vctx.devices.cameras, lon, lat, RADIUS_M, 1000, FIELDS)
    allowed = [r["id"] for r in around if policy.may_watch(actor, r) is None][:MAX_CAMERAS]
    refused = {r["id"]: r for r in around if policy.may_watch(actor, r) is not None}
    assert here["id"] in allowed and refused, "cameras they may not watch are near"
    other_town = [r for r in refused.values() if str(r["town_code"]) != actor.center[1:]]
    assert other_town, "the demo city has a camera of another town near a worker's camera"

    phone = chrome(360, 780, mobile=True)
    try:
        phone.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": GEO % (lon, lat)})
        browser_login(phone, live, user, "/m/")
        wait(lambda: phone.execute_script("return window.OM && window.OM.ready === true"), 30,
             "the phone page")
        wait(lambda: phone.find_element(By.ID, "video-open"), 20, "the 附近视频 button").click()

        # the list, at the phone's own position; the notice above it, nothing playing yet
        wait(lambda: phone.find_elements(By.CSS_SELECTOR, "#video-list li.vcam"), 30, "the cameras")
        assert phone.find_element(By.ID, "video-where").text == "按当前位置"
        notice = phone.find_element(By.ID, "video-notice")
        assert notice.is_displayed() and "流量" in notice.text and "MB/分钟" in notice.text, notice.text
        assert not phone.find_elements(By.CSS_SELECTOR, "#video-panel video")
        fetched = phone.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert not [u for u in fetched if "/static/video/" in u or "/video/play" in u], fetched
        assert not [e for e in access.views(vctx.redis) if e["user"] == user]

        shown = [li.get_attribute("data-camera")
                 for li in phone.find_elements(By.CSS_SELECTOR, "#video-list li.vcam")]
        assert shown == allowed                       # only theirs, nearest first
        assert not set(shown) & set(refused)          # the others around them are left out …
        for r in other_town:                          # … a camera of another town among them
            assert r["id"] not in shown and "辖区" in policy.may_watch(actor, r)

        # a tap plays it: the picture advances and has a size
        card = phone.find_element(By.CSS_SELECTOR, f'#video-list li.vcam[data-camera="{here["id"]}"]')
        assert here["name"] in card.text
        button = card.find_element(By.TAG_NAME, "button")
        phone.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        try:
            wait(lambda: _video(phone, "currentTime") > 1.0 and _video(phone, "videoWidth") > 0, 60,
                 "the picture to advance")
        except AssertionError as exc:       # say what the phone showed (CI explains itself)
            state = phone.find_elements(By.CSS_SELECTOR, "#video-list .vstate")
            logs = [e["message"][:200] for e in phone.get_log("browser")][-10:]
            raise AssertionError(f"{exc}; state: {[s.text for s in state]}; console: {logs}") from None
        assert card.find_element(By.CSS_SELECTOR, ".vstate").text == "直播"
        assert button.text == "停止"

        # the 视频调阅 log: this worker watches this camera
        start = wait(lambda: _views(vctx, user, here["id"], "start"), 20, "the view's start")[0]
        assert (start["role"], start["center"]) == ("grid_worker", actor.center)

        # 关闭: the player stops, the stream closes, the view ends
        phone.find_element(By.ID, "video-close").click()
        wait(lambda: not phone.find_element(By.ID, "video-panel").is_displayed(), 10, "the panel closed")
        assert not phone.find_elements(By.CSS_SELECTOR, "#video-list video")
        end = wait(lambda: [e for e in _views(vctx, user, here["id"], "end")
                            if e["view"] == start["view"]], 30, "the view's end")[0]
        assert float(end["seconds"]) > 0
    finally:
        phone.quit()
