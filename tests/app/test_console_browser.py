"""Console in headless Chromium: a town's new incident shows in its queue live, an action from the
panel changes its state at once, the timeline shows it (issue 6). Commits the screenshot."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from incidents.actor import SYSTEM
from tests.app.browserkit import browser, browser_login, live, severe_logs, wait_for  # noqa: F401
from tests.app.e2ekit import SCREENSHOTS
from tests.app.test_api import DA, PZ, point_in

SHOT = SCREENSHOTS / "console.png"


def _queue_ids(driver) -> set[str]:
    return {td.text for td in driver.find_elements(By.CSS_SELECTOR, "#queue td[data-dash-column=id]")}


@pytest.mark.browser
def test_town_console_queue_live_and_panel_action(live, browser, app_ctx):  # noqa: F811
    svc, city = app_ctx.incidents, app_ctx.city
    first = svc.report(SYSTEM, "0108", *point_in(city, PZ, 3), description="人行道井盖缺失")
    other_town = svc.report(SYSTEM, "0301", *point_in(city, DA, 3), description="河道水位上涨")
    browser_login(browser, live, "panzhou")
    wait_for(lambda: first.id in _queue_ids(browser), what="the town's incident in its queue")
    assert other_town.id not in _queue_ids(browser)        # scope: not another town's

    # live: an incident reported now appears without any click (feed polled every 400 ms)
    t0 = time.monotonic()
    second = svc.report(SYSTEM, "0107", *point_in(city, PZ, 8), description="垃圾桶满溢，异味")
    wait_for(lambda: second.id in _queue_ids(browser), timeout=10, what="live queue update")
    print(f"\nconsole queue latency (report → row visible): {time.monotonic() - t0:.2f} s")

    # open the panel from the queue, accept it from the panel
    _open(browser, second.id)
    _click_action(browser, "受理")
    wait_for(lambda: browser.find_element(By.ID, "inc-state").text == "受理", what="state shown")
    assert svc.store.load(second.id).state == "accepted"
    wait_for(lambda: "· 受理 → 受理" in browser.find_element(By.ID, "timeline").text, what="timeline")
    _laptop_layout_and_dropdowns(browser)
    # dispatch with the suggested department (城管 for 垃圾满溢), keyboard-free path via the button
    _click_action(browser, "派遣")
    wait_for(lambda: browser.find_element(By.ID, "inc-state").text == "派遣", what="dispatched")
    inc = svc.store.load(second.id)
    assert inc.state == "dispatched" and [t.center for t in inc.tasks] == ["DCG"]
    wait_for(lambda: "✓ 派遣" in browser.find_element(By.ID, "act-msg").text, what="result message")
    _screenshot_scene(browser, app_ctx, second)

    # keyboard: arrow keys move through the queue and the panel follows (no mouse needed)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    _open(browser, second.id)
    ActionChains(browser).send_keys(Keys.ARROW_UP).perform()
    wait_for(lambda: first.id in browser.find_element(By.ID, "panel").text, what="keyboard selection")
    logs = severe_logs(browser)
    assert logs == [], "\n".join(logs)  # no CSP violation, no JS error


CONTRAST = """const lum = (c) => { const v = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map((x) => {
  x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
const el = arguments[0], fg = lum(getComputedStyle(el).color);
let n = el, bg = 'rgba(0, 0, 0, 0)';
while (n && /rgba\\(.*, 0\\)$|transparent/.test(bg)) { bg = getComputedStyle(n).backgroundColor; n = n.parentElement; }
const b = lum(bg); return (Math.max(fg, b) + 0.05) / (Math.min(fg, b) + 0.05);"""


def _laptop_layout_and_dropdowns(browser) -> None:  # noqa: F811
    """1366×768, a clerk's laptop: no sideways scrolling, the panel's action buttons in view
    without scrolling, the map not squeezed by a form, readable dark dropdowns, a wide 派遣至
    without "Select All" (QA)."""
    from selenium.webdriver.common.keys import Keys
    browser.set_window_size(1366, 768)
    wait_for(lambda: browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"), what="no x-scroll")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= \
        browser.execute_script("return window.innerWidth")
    button = next(b for b in browser.find_elements(By.CSS_SELECTOR, ".actions button")
                  if b.text == "派遣" and b.is_displayed())
    top, bottom, height = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom, innerHeight]",
        button)
    assert top >= 0 and bottom <= height, (top, bottom, height)
    depts = browser.find_element(By.ID, "act-depts")
    assert depts.size["width"] >= 240                   # was ~99 px: the clear × in the middle
    for el in (depts.find_element(By.CSS_SELECTOR, ".dash-dropdown-value"),
               browser.find_element(By.CSS_SELECTOR, "#new-category .dash-dropdown-value")):
        ratio = browser.execute_script(CONTRAST, el)
        assert ratio >= 4.5, ratio                         # WCAG AA for the chosen value
    depts.click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"), what="menu")
    shown = [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".dash-dropdown-action-button")
             if b.is_displayed()]
    assert "Select All" not in shown and shown, shown
    option = browser.find_element(By.CSS_SELECTOR, ".dash-dropdown-option")
    assert browser.execute_script(CONTRAST, option) >= 4.5
    depts.send_keys(Keys.ESCAPE)
    wait_for(lambda: not browser.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"),
             what="menu closed")
    browser.find_element(By.CSS_SELECTOR, "#new-form > summary").click()   # open the form
    assert browser.find_element(By.ID, "map").size["height"] >= 250      # the map stays a map
    browser.find_element(By.CSS_SELECTOR, "#new-form > summary").click()
    browser.set_window_size(1400, 900)                   # back to the fixture's size


def _screenshot_scene(browser, app_ctx, selected) -> None:  # noqa: F811
    """A fuller console for docs/screenshots/console.png: more cases, live sensor readings."""
    import json
    import math

    from app.nearby import sensors_near
    from sensors.keys import dev_hist
    from sensors.kinds import KINDS

    svc, city = app_ctx.incidents, app_ctx.city
    for k, (cat, sev, desc) in enumerate((("0105", "一般", "早市占道经营"), ("0302", "较大", "下穿通道积水"),
                                          ("0106", "一般", "消防通道违停"), ("0102", "较大", "人行道路面塌陷"),
                                          ("1001", "一般", "居民反映噪音扰民"))):
        svc.report(SYSTEM, cat, *point_in(city, PZ, 12 + 3 * k), severity=sev, description=desc)
    now_ms = int(time.time() * 1000)
    for s in sensors_near(app_ctx.devices.sensors, selected.lon, selected.lat)[:3]:
        metric = KINDS[s["type"]].metrics[0].name
        for i in range(40):
            v = round(50 + 20 * math.sin(i / 5) + (i % 7), 2)
            app_ctx.redis.xadd(dev_hist(s["id"]), {"ts": str(now_ms - (40 - i) * 60_000),
                                                    "m": json.dumps({metric: v})})
    browser.find_element(By.XPATH, "//label[contains(., '全部在办')]").click()
    wait_for(lambda: len(_queue_ids(browser)) >= 7, what="all open cases listed")
    # re-open the panel so the sensor sparklines are drawn, then show its top
    svc.note(selected.id, app_ctx.incidents.store.load(selected.id) and
             __import__("app.users", fromlist=["UserStore"]).UserStore(app_ctx.redis).get("panzhou").actor,
             "已电话联系城管中队")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".spark"), what="sparklines")
    browser.execute_script("document.querySelector('.panel-box').scrollTop = 0")
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOT))


def _click_action(driver, label: str) -> None:
    """Find and click in one retried step: live updates may re-render the element in between."""
    wait_for(lambda: next(b for b in driver.find_elements(By.CSS_SELECTOR, ".actions button")
                          if b.text == label and b.is_displayed()).click() or True,
             what=f"button {label}")


def _open(driver, inc_id: str) -> None:
    """Click the incident's row until its panel shows: a live update may re-render the table
    between finding the row and the click, which then lands on a detached element."""
    def attempt() -> bool:
        next(td for td in driver.find_elements(By.CSS_SELECTOR, "#queue td[data-dash-column=id]")
             if td.text == inc_id).click()
        try:
            wait_for(lambda: inc_id in driver.find_element(By.ID, "panel").text, timeout=3.0,
                     what="panel")
        except AssertionError:
            return False
        return True
    wait_for(attempt, timeout=30.0, what=f"panel of {inc_id}")


def _shown_buttons(driver) -> list[str]:
    return [b.text for b in driver.find_elements(By.CSS_SELECTOR, ".actions button") if b.is_displayed()]


@pytest.mark.browser
def test_town_submits_its_own_workers_case_to_the_city_for_checking(live, browser, app_ctx):  # noqa: F811
    """监管分离 (T11): the town's own grid worker handled the case, so the town may not check it.
    Its console shows the policy's way forward ("提交市中心核查", with the reason by the buttons)
    instead of 核查通过, and one click sends the case to the city center."""
    from app.users import UserStore

    svc, city = app_ctx.incidents, app_ctx.city
    store = UserStore(app_ctx.redis)
    pz = store.get("panzhou").actor
    worker = next(u.actor for u in store.list() if u.actor.role == "grid_worker"
                  and u.actor.center == pz.center)
    inc = svc.report(SYSTEM, "0105", *point_in(city, PZ, 6), description="菜市场门口占道")
    svc.accept(inc.id, pz)
    svc.dispatch(inc.id, pz, [f"W{worker.cell}"])
    svc.handle(inc.id, worker, note="已劝离摊贩")
    browser_login(browser, live, "panzhou")
    wait_for(lambda: inc.id in _queue_ids(browser), what="the case in the town's queue")
    _open(browser, inc.id)
    wait_for(lambda: "提交市中心核查" in _shown_buttons(browser), what="the way forward")
    assert "核查通过" not in _shown_buttons(browser) and "结案" not in _shown_buttons(browser)
    hint = browser.find_element(By.ID, "act-hint")
    assert hint.is_displayed() and "监管分离" in hint.text
    _click_action(browser, "提交市中心核查")
    wait_for(lambda: svc.store.load(inc.id).center == "CITY", what="sent to the city center")
    wait_for(lambda: "✓ 上报" in browser.find_element(By.ID, "act-msg").text, what="result message")
    assert svc.store.load(inc.id).state == "handled"        # checked there, not here
    logs = severe_logs(browser)
    assert logs == [], "\n".join(logs)


@pytest.mark.browser
def test_town_and_department_close_the_loop_in_their_consoles(live, app_ctx):  # noqa: F811
    """Town dispatches → the department's console gets it → starts, reports back with a note →
    the town verifies and closes; the timeline shows every step with who (T11 separation)."""
    from selenium import webdriver

    svc, city = app_ctx.incidents, app_ctx.city
    inc = svc.report(SYSTEM, "0105", *point_in(city, PZ, 5), description="校门口占道经营")

    def chrome():
        o = webdriver.ChromeOptions()
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
            o.add_argument(a)
        return webdriver.Chrome(options=o)

    town, dept = chrome(), chrome()
    try:
        browser_login(town, live, "panzhou")
        browser_login(dept, live, "chengguan")
        _open(town, inc.id)
        _click_action(town, "受理")
        wait_for(lambda: town.find_element(By.ID, "inc-state").text == "受理", what="accepted")
        _click_action(town, "派遣")                          # the suggested line owner: 城管
        wait_for(lambda: town.find_element(By.ID, "inc-state").text == "派遣", what="dispatched")

        _open(dept, inc.id)                                  # it reached the department's queue
        assert "核查通过" not in [b.text for b in dept.find_elements(By.CSS_SELECTOR, ".actions button")
                              if b.is_displayed()]          # 监管分离: the handler never verifies
        _click_action(dept, "开始处置")
        wait_for(lambda: dept.find_element(By.ID, "inc-state").text == "处置", what="in progress")
        dept.find_element(By.ID, "act-reason").send_keys("已劝离摊贩，现场恢复")
        _click_action(dept, "处置反馈")
        wait_for(lambda: dept.find_element(By.ID, "inc-state").text == "反馈", what="handled")

        wait_for(lambda: town.find_element(By.ID, "inc-state").text == "反馈", what="town sees it live")
        _click_action(town, "核查通过")
        wait_for(lambda: town.find_element(By.ID, "inc-state").text == "核查", what="verified")
        _click_action(town, "结案")
        wait_for(lambda: town.find_element(By.ID, "inc-state").text == "结案", what="closed")
        lines = town.find_element(By.ID, "timeline").text.splitlines()
        steps = [next(w for w in ("上报", "受理", "派遣", "开始处置", "处置反馈", "核查通过", "结案")
                      if f"· {w}" in ln) for ln in lines]
        assert steps == ["上报", "受理", "派遣", "开始处置", "处置反馈", "核查通过", "结案"]
        assert "城管值班员" in lines[3] and "已劝离摊贩" in lines[4] and "潘州街道值班员" in lines[6]
        assert svc.store.load(inc.id).state == "closed"
    finally:
        town.quit()
        dept.quit()
