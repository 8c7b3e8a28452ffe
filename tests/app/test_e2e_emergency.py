"""Browser e2e of 应急指挥 (issue 16; E30, T5, X19, X23, X28): a flood in one town crosses the
demo plan's trigger → the commander's console suggests 防汛防台 IV and the commander activates
it (a person confirms) → the water department's (DSL) and the town's consoles show their tasks
in their 待办 (上情下达 cases) → the commander dispatches the nearest rescue team with one click
→ the wall's 应急专题 shows the level, the area and the committed team, and the team moves on
the wall's map as its responder's phone reports its position (layers.response_moves). Writes the response
board's and the wall's screenshots when ``ONEMAP_SCREENSHOTS=refresh`` (tests/app/e2ekit.py)."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from grid import keys as rkeys
from incidents import keys
from incidents.actor import SYSTEM
from tests.app.authkit import login
from tests.app.e2ekit import SCREENSHOTS, browser_login, chrome, foreign_requests, live, wait  # noqa: F401
from tests.app.test_api import PZ, point_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]   # a loaded CI machine: the waits are upper bounds
TASK_TAG = "【防汛防台IV级响应】"


def _text(d, el_id: str) -> str:
    """The element's text ('' while a live update re-renders it under the read)."""
    try:
        return d.find_element(By.ID, el_id).text
    except (StaleElementReferenceException, NoSuchElementException):
        return ""


def _open(d, inc_id: str) -> bool:
    """Click the case's row and wait for its panel (retried: a live update may re-render the
    table under the click)."""
    next(td for td in d.find_elements(By.CSS_SELECTOR, "#queue td[data-dash-column=id]")
         if td.text == inc_id).click()
    try:
        wait(lambda: inc_id in _text(d, "panel"), 20, "the panel")
    except AssertionError:
        return False
    return True


def _show_open(d, inc_id: str) -> bool:
    """Click 全部在办 and wait for the case in the queue; on a slow machine the first click can
    land before the page's callbacks are wired: then go to 全部 and try again."""
    d.find_element(By.XPATH, "//label[contains(., '全部在办')]").click()
    try:
        wait(lambda: any(td.text == inc_id for td in d.find_elements(
            By.CSS_SELECTOR, "#queue td[data-dash-column=id]")), 90, "the case in the queue")
    except AssertionError:
        d.find_element(By.XPATH, "//label[normalize-space(.)='全部']").click()
        return False
    return True


def _queue_titles(d) -> str:
    return " ".join(td.get_attribute("title") or td.text
                    for td in d.find_elements(By.CSS_SELECTOR, "#queue td[data-dash-column=title]"))


def _drawn(d) -> dict:
    """The wall map's 调派力量 traces as drawn in the browser (layers.response_moves)."""
    return d.execute_script(
        "const gd = document.querySelector('#wall-map .js-plotly-plot');"
        "const t = (gd && gd.data || []).find(x => x.meta === 'response_moves:teams');"
        "const l = (gd && gd.data || []).find(x => x.meta === 'response_moves:lines');"
        "return {lon: t ? Array.from(t.lon || []) : [], lat: t ? Array.from(t.lat || []) : [],"
        " text: t ? Array.from(t.text || []) : [], lines: l ? Array.from(l.lon || []) : []};")


def _switch(d, base: str, user: str, path: str = "/console/") -> None:
    d.delete_all_cookies()
    browser_login(d, base, user, path)


def test_flood_response_from_suggestion_to_the_wall(live, web, app_ctx, accounts):  # noqa: F811
    svc, city = app_ctx.incidents, app_ctx.city
    # three water-level reports from the sensors of one town: one flood situation (态势)
    for i in range(3):
        sit = svc.report(SYSTEM, "0306", *point_in(city, PZ, 3 + i), channel="iot",
                         idempotency_key=f"e2e-flood-{i}", description="水位超警戒")
    assert len(sit.sources) == 3
    town_name = city.centers[f"T{PZ}"].name

    cmd, other = chrome(1600, 1000), chrome(1600, 1000)
    try:
        # the commander: the situation suggests 防汛防台 IV; a person activates it (E30)
        browser_login(cmd, live, "commander", "/console/")
        wait(lambda: _show_open(cmd, sit.id), 180, "the situation in the 全部在办 queue")
        wait(lambda: _open(cmd, sit.id), 120, f"the panel of {sit.id}")
        wait(lambda: "IV级" in _text(cmd, "resp-suggest"), 90, "the suggestion")
        wait(lambda: all(w in _text(cmd, "resp-suggest") for w in ("建议启动 ", "防汛防台", "来源 3 ≥ 3")),
             90, "the suggestion's plan and reasons")
        assert not svc.r.zcard(keys.responses_active(False)), "nothing starts before a person confirms"
        wait(lambda: cmd.find_element(By.ID, "resp-activate").click() or True, 10, "启动响应")
        wait(lambda: "✓ 已启动" in _text(cmd, "resp-msg"), 90, "activated")
        wait(lambda: "水利" in _text(cmd, "resp-board") and town_name in _text(cmd, "resp-board"),
             90, "the board with DSL's and the town's tasks")
        wait(lambda: "IV级" in _text(cmd, "resp-level-text"), 90, "the level on the panel")

        # the member units see their tasks in their normal 待办 (上情下达 cases)
        browser_login(other, live, "shuili", "/console/")
        wait(lambda: TASK_TAG in _queue_titles(other), 90, "DSL's task in its 待办")
        _switch(other, live, "panzhou")
        wait(lambda: TASK_TAG in _queue_titles(other), 90, "the town's task in its 待办")

        # one-click dispatch of the nearest available rescue team (一键调度)
        wait(lambda: cmd.find_element(By.ID, "resp-dispatch").is_displayed(), 90, "一键调派")
        wait(lambda: "最近可用救援队伍" in _text(cmd, "resp-team-text"), 90, "the nearest team")
        cmd.find_element(By.ID, "resp-dispatch").click()
        wait(lambda: "✓ 已调派" in _text(cmd, "resp-msg"), 90, "dispatched")
        wait(lambda: "已请求" in _text(cmd, "resp-committed"), 90, "the team on the board")
        cmd.execute_script("document.getElementById('resp').scrollIntoView()")
        cmd.save_screenshot(str(SCREENSHOTS / "emergency-board.png"))

        # the wall: 应急专题 with the level, the area (drawn: 应急模式) and the committed team
        other.set_window_size(1920, 1080)
        _switch(other, live, "wall", "/wall/")
        wait(lambda: "IV级响应" in _text(other, "wall-response-level"), 90, "the wall's theme")
        wait(lambda: city.town_names[PZ] in _text(other, "wall-response-area"), 90, "the area")
        wait(lambda: "已请求" in _text(other, "wall-response") or "在途" in _text(other, "wall-response"),
             90, "the team on the wall")
        wait(lambda: "应急模式" in _text(other, "wall-emergency"), 90, "the area in emergency mode")
        smallest = other.execute_script(
            "return Math.min(...[...document.querySelectorAll('#wall-response *')]"
            ".filter(e => e.childNodes.length && [...e.childNodes].some(n => n.nodeType === 3"
            " && n.textContent.trim())).map(e => parseFloat(getComputedStyle(e).fontSize)))")
        screen_h = other.execute_script("return window.innerHeight")
        assert smallest >= 0.016 * screen_h, (smallest, screen_h)     # legible at wall distance
        # the team moves: drawn at its base, then where its responder's phone reports it
        aid = svc.r.zrange(rkeys.ASG_OPEN, 0, -1)[0]
        team = svc.r.hget(rkeys.assignment(aid), "resource")
        wait(lambda: len(_drawn(other)["lon"]) == 1, 90, "the team drawn on the wall's map")
        base = _drawn(other)
        assert "已请求" in base["text"][0] and len(base["lines"]) == 3      # a line to the scene
        me = next((u for u, a in accounts.items() if a["role"] == "responder" and a["cell"] == team),
                  "commander")            # the team's own responder (the demo's: 潘州's team)
        phone = web.test_client()
        phone.environ_base["HTTP_X_CSRFTOKEN"] = login(phone, me)
        lon, lat = point_in(city, PZ, 1)
        if me == "commander":
            assert phone.post(f"/api/resources/assignments/{aid}/en_route", json={}).status_code == 200
            url = f"/api/resources/assignments/{aid}/position"
        else:
            for n, step in enumerate(("acknowledged", "en_route")):
                assert phone.post(f"/m/api/dispatches/{aid}/{step}",
                                  json={"key": f"e2e-{n}", "author": me}).status_code == 200
            url = f"/m/api/dispatches/{aid}/position"
        assert phone.post(url, json={"lon": lon, "lat": lat}).status_code == 200
        wait(lambda: _drawn(other)["lon"] and abs(_drawn(other)["lon"][0] - lon) < 1e-5
             and abs(_drawn(other)["lat"][0] - lat) < 1e-5, 90, "the team at its reported position")
        assert "在途" in _drawn(other)["text"][0] and (base["lon"][0], base["lat"][0]) != (lon, lat)
        other.save_screenshot(str(SCREENSHOTS / "emergency-wall.png"))
        assert foreign_requests(other, live) == []
    finally:
        cmd.quit()
        other.quit()
