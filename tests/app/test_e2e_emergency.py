"""Browser e2e of 应急指挥 (issue 16; E30, T5, X19, X23, X28): a flood in one town crosses the
demo plan's trigger → the commander's console suggests 防汛防台 IV and the commander activates
it (a person confirms) → the water department's (DSL) and the town's consoles show their tasks
in their 待办 (上情下达 cases) → the commander dispatches the nearest rescue team with one click
→ the wall's 应急专题 shows the level, the area and the committed team. Writes the response
board's and the wall's screenshots when ``ONEMAP_SCREENSHOTS=refresh`` (tests/app/e2ekit.py)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from incidents import keys
from incidents.actor import SYSTEM
from tests.app.e2ekit import SCREENSHOTS, browser_login, chrome, foreign_requests, live, wait  # noqa: F401
from tests.app.test_api import PZ, point_in

pytestmark = [pytest.mark.browser]
TASK_TAG = "【防汛防台IV级响应】"


def _text(d, el_id: str) -> str:
    return d.find_element(By.ID, el_id).text


def _open(d, inc_id: str) -> bool:
    """Click the case's row and wait for its panel (retried: a live update may re-render the
    table under the click)."""
    next(td for td in d.find_elements(By.CSS_SELECTOR, "#queue td[data-dash-column=id]")
         if td.text == inc_id).click()
    try:
        wait(lambda: inc_id in _text(d, "panel"), 5, "the panel")
    except AssertionError:
        return False
    return True


def _queue_titles(d) -> str:
    return " ".join(td.get_attribute("title") or td.text
                    for td in d.find_elements(By.CSS_SELECTOR, "#queue td[data-dash-column=title]"))


def _switch(d, base: str, user: str, path: str = "/console/") -> None:
    d.delete_all_cookies()
    browser_login(d, base, user, path)


def test_flood_response_from_suggestion_to_the_wall(live, app_ctx, accounts):  # noqa: F811
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
        wait(lambda: cmd.find_element(By.XPATH, "//label[contains(., '全部在办')]").click() or True,
             30, "the 全部在办 tab")
        wait(lambda: any(td.text == sit.id for td in cmd.find_elements(
            By.CSS_SELECTOR, "#queue td[data-dash-column=id]")), 60, "the situation in the queue")
        wait(lambda: _open(cmd, sit.id), 60, f"the panel of {sit.id}")
        wait(lambda: "IV级" in _text(cmd, "resp-suggest"), 30, "the suggestion")
        sug = _text(cmd, "resp-suggest")
        assert "建议启动 " in sug and "防汛防台" in sug and "来源 3 ≥ 3" in sug, sug
        assert not svc.r.zcard(keys.responses_active(False)), "nothing starts before a person confirms"
        wait(lambda: cmd.find_element(By.ID, "resp-activate").click() or True, 10, "启动响应")
        wait(lambda: "✓ 已启动" in _text(cmd, "resp-msg"), 30, "activated")
        wait(lambda: "水利" in _text(cmd, "resp-board") and town_name in _text(cmd, "resp-board"),
             30, "the board with DSL's and the town's tasks")
        assert "IV级" in _text(cmd, "resp-level-text")

        # the member units see their tasks in their normal 待办 (上情下达 cases)
        browser_login(other, live, "shuili", "/console/")
        wait(lambda: TASK_TAG in _queue_titles(other), 30, "DSL's task in its 待办")
        _switch(other, live, "panzhou")
        wait(lambda: TASK_TAG in _queue_titles(other), 30, "the town's task in its 待办")

        # one-click dispatch of the nearest available rescue team (一键调度)
        wait(lambda: cmd.find_element(By.ID, "resp-dispatch").is_displayed(), 30, "一键调派")
        team = _text(cmd, "resp-team-text")
        assert "最近可用救援队伍" in team, team
        cmd.find_element(By.ID, "resp-dispatch").click()
        wait(lambda: "✓ 已调派" in _text(cmd, "resp-msg"), 30, "dispatched")
        wait(lambda: "已请求" in _text(cmd, "resp-committed"), 30, "the team on the board")
        cmd.execute_script("document.getElementById('resp').scrollIntoView()")
        cmd.save_screenshot(str(SCREENSHOTS / "emergency-board.png"))

        # the wall: 应急专题 with the level, the area (drawn: 应急模式) and the committed team
        other.set_window_size(1920, 1080)
        _switch(other, live, "wall", "/wall/")
        wait(lambda: "IV级响应" in _text(other, "wall-response-level"), 30, "the wall's theme")
        assert city.town_names[PZ] in _text(other, "wall-response-area")
        wait(lambda: "已请求" in _text(other, "wall-response") or "在途" in _text(other, "wall-response"),
             30, "the team on the wall")
        wait(lambda: "应急模式" in _text(other, "wall-emergency"), 30, "the area in emergency mode")
        smallest = other.execute_script(
            "return Math.min(...[...document.querySelectorAll('#wall-response *')]"
            ".filter(e => e.childNodes.length && [...e.childNodes].some(n => n.nodeType === 3"
            " && n.textContent.trim())).map(e => parseFloat(getComputedStyle(e).fontSize)))")
        screen_h = other.execute_script("return window.innerHeight")
        assert smallest >= 0.016 * screen_h, (smallest, screen_h)     # legible at wall distance
        other.save_screenshot(str(SCREENSHOTS / "emergency-wall.png"))
        assert foreign_requests(other, live) == []
    finally:
        cmd.quit()
        other.quit()
