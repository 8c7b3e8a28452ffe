"""The console by push in headless Chromium (issue 15): served as ``onemap web`` serves it
(uvicorn, app.live), the console holds a stream, its 400 ms poll is gone (the interval is the
30 s safety net) and a case reported in its town appears in its queue after the push."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from app.live import FALLBACK_POLL_MS
from app.live.serve import Background
from incidents.actor import SYSTEM
from tests.app.browserkit import browser, browser_login, severe_logs, wait_for  # noqa: F401
from tests.app.test_api import DA, PZ, point_in

LAYOUT_TICK = """const done = arguments[0];
fetch('/console/_dash-layout', {credentials: 'same-origin'}).then((r) => r.json()).then((l) => {
  const found = [];
  const walk = (n) => { if (!n || typeof n !== 'object') return;
    if (Array.isArray(n)) { n.forEach(walk); return; }
    if (n.type === 'Interval') found.push([n.props.id, n.props.interval]);
    Object.values(n.props || {}).forEach(walk); };
  walk(l); done(found); }).catch((e) => done(String(e)));"""


@pytest.fixture
def pushed(web, app_ctx):
    bg = Background(web, app_ctx, "127.0.0.1", 0, threads=8, access_log=False).start()
    yield f"http://127.0.0.1:{bg.port}"
    bg.stop()


def _queue_ids(driver) -> set[str]:
    return {td.text for td in driver.find_elements(By.CSS_SELECTOR, "#queue td[data-dash-column=id]")}


@pytest.mark.browser
def test_console_queue_updates_by_push_without_the_400ms_poll(pushed, browser, app_ctx):  # noqa: F811
    svc, city = app_ctx.incidents, app_ctx.city
    first = svc.report(SYSTEM, "0108", *point_in(city, PZ, 3), description="人行道井盖缺失")
    browser_login(browser, pushed, "panzhou")
    wait_for(lambda: first.id in _queue_ids(browser), what="the town's incident in its queue")
    wait_for(lambda: browser.execute_script("return window.__omLive && window.__omLive.state")
             == "open", what="the console's stream open")
    ticks = dict(browser.execute_async_script(LAYOUT_TICK))
    assert ticks == {"tick": FALLBACK_POLL_MS, "slow": FALLBACK_POLL_MS}   # no 400 ms poll

    # another town's case: this console is not told (no event), a case of its own town: pushed
    before = browser.execute_script("return window.__omLive.events")
    svc.report(SYSTEM, "0301", *point_in(city, DA, 3), description="河道水位上涨")
    second = svc.report(SYSTEM, "0107", *point_in(city, PZ, 8), description="垃圾桶满溢，异味")
    wait_for(lambda: second.id in _queue_ids(browser), timeout=10, what="the pushed case in the queue")
    last = browser.execute_script("return window.__omLive.last")
    assert browser.execute_script("return window.__omLive.events") > before
    assert last["ids"] == [second.id]
    logs = severe_logs(browser)
    assert logs == [], "\n".join(logs)


@pytest.mark.browser
def test_a_grid_workers_phone_shows_a_new_task_without_a_reload(pushed, app_ctx, accounts):  # noqa: F811
    """Issue 17: a task given while the phone is open arrives by itself (the push stream), with
    the badge; the page is not reloaded."""
    from tests.app.e2ekit import chrome

    worker = next(u for u, a in accounts.items() if a["role"] == "grid_worker")
    town_op = next(a for a in accounts.values()
                   if a["role"] == "town_operator" and a["center"] == accounts[worker]["center"])
    from app.users import UserStore

    giver = UserStore(app_ctx.redis).get(town_op["user_id"]).actor
    d = chrome(360, 780, mobile=True)
    try:
        browser_login(d, pushed, worker, next_="/m/")
        d.find_element(By.CSS_SELECTOR, 'nav.tabs button[data-tab="tasks"]').click()
        wait_for(lambda: d.execute_script("return window.OM && OM.live && OM.live.state") == "open",
                 timeout=30, what="the phone's stream open")
        d.execute_script("window.__notReloaded = true")
        app_ctx.incidents.assign_task(giver, f"W{accounts[worker]['cell']}", "清理排水口",
                                      description="雨前清理")
        wait_for(lambda: "清理排水口" in d.find_element(By.ID, "task-list").text, timeout=30,
                 what="the new task on the phone")
        assert d.execute_script("return window.__notReloaded") is True
        assert d.find_element(By.ID, "task-count").text == "1"
    finally:
        d.quit()
