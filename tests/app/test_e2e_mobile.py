"""Browser: a grid worker reports from the phone page and the case runs the whole closed loop
(issue 6 "Done means"; E14 受理→立案→派遣→处置→反馈→核查→结案; SPEC §4 weak network).

Headless Chromium emulates a 360×780 phone against the real server (create_server) on the
private redis-server. The console screen is built in parallel, so the town/department steps
go through the same IncidentService the console calls, and are asserted there.
"""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from selenium.webdriver.common.by import By

from incidents.actor import Actor
from tests.app.authkit import KIOSK, login
from tests.app.e2ekit import SCREENSHOTS, browser_login, chrome, foreign_requests, live, wait  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The first answer to the report is lost on the way back (the server did the work): the phone
# must retry with the same idempotency key, and the server must not make a second incident.
LOSE_FIRST_ANSWER = """
const real = window.fetch.bind(window);
window.__reportPosts = 0;
window.fetch = async (url, opts) => {
  const isReport = String(url).includes('/m/api/reports') && opts && opts.method === 'POST';
  if (isReport) window.__reportPosts += 1;
  const resp = await real(url, opts);
  if (isReport && window.__reportPosts === 1) throw new TypeError('Failed to fetch (answer lost)');
  return resp;
};
"""


def _big_photo(path) -> None:
    """A 4000×3000 camera-sized JPEG (the phone must shrink it before upload)."""
    im = Image.new("RGB", (4000, 3000), (40, 90, 160))
    for x in range(0, 4000, 250):
        im.paste((230, 200, 40), (x, 0, x + 60, 3000))
    im.save(path, "JPEG", quality=92)


def _worker_of(accounts, center: str) -> str:
    return next(u for u, a in accounts.items() if a["role"] == "grid_worker"
                and a["center"] == center)


def _actor(app_ctx, user):
    from app.users import UserStore

    return UserStore(app_ctx.redis).get(user).actor


def _tap(d, el) -> None:
    """Scroll the element above the fixed tab bar, then tap it (as a thumb would)."""
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def _task_card(d, task_id: str):
    return d.find_element(By.CSS_SELECTOR, f'.task[data-id="{task_id}"]')


def _tap_in_card(d, task_id: str, css: str) -> None:
    """Tap a button of a task card, finding the card again if a list refresh replaced it."""
    def tapped() -> bool:
        _tap(d, _task_card(d, task_id).find_element(By.CSS_SELECTOR, css))
        return True
    wait(tapped, 20, f"a tap on {css}")


def _fill_report(d, photo) -> None:
    wait(lambda: d.execute_script("return window.OM && window.OM.ready === true"), 30, "page")
    wait(lambda: d.find_element(By.CSS_SELECTOR, '#recent .chip[data-code="0108"]'), 10,
         "recent categories").click()
    d.find_element(By.ID, "description").send_keys("人行道井盖缺失，已设置临时围挡")
    d.find_element(By.ID, "photo-input").send_keys(str(photo))
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#report-photos .thumb img")) == 1, 30,
         "the resized photo thumbnail")


def test_report_from_phone_through_closed_loop(live, web, app_ctx, accounts, tmp_path):  # noqa: F811
    from incidents import keys as ik

    town_op = _actor(app_ctx, "panzhou")
    worker = _worker_of(accounts, town_op.center)
    photo = tmp_path / "camera.jpg"
    _big_photo(photo)

    wall = chrome(1400, 1000)
    console = chrome(1400, 1000)
    d = chrome(360, 780, mobile=True)
    try:
        browser_login(console, live, "panzhou", "/console/")
        wait(lambda: console.find_element(By.ID, "queue"), 120, "the town console")
        wall.get(f"{live}/wall/?kiosk={KIOSK}&theme=overview")   # pinned: no theme rotation
        wait(lambda: wall.find_element(By.ID, "wall-ticker"), 120, "the wall")
        clock = wall.find_element(By.ID, "wall-clock").text
        wait(lambda: wall.find_element(By.ID, "wall-clock").text != clock, 60, "the wall live")

        browser_login(d, live, worker, "/m/")
        # usable at once: no GPS fix in headless Chromium, the cell centroid stands in
        wait(lambda: d.find_element(By.ID, "loc-status").get_attribute("data-source")
             in ("cell", "gps"), 5, "a location without waiting for a fix")
        _fill_report(d, photo)
        # big touch targets on a 360 px screen
        submit = d.find_element(By.ID, "submit")
        assert submit.size["height"] >= 48 and submit.size["width"] >= 300
        assert d.execute_script("return document.documentElement.scrollWidth") <= 360
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(SCREENSHOTS / "mobile.png"))

        d.execute_script(LOSE_FIRST_ANSWER)
        _tap(d, submit)
        sent = wait(lambda: d.find_element(By.CSS_SELECTOR, "#sent-list .card.sent .title")
                    .get_attribute("textContent"), 60, "the report confirmed by the server")
        confirmed = time.monotonic()
        inc_id = sent.split("·")[-1].strip()
        assert inc_id.startswith("E")
        assert d.execute_script("return window.__reportPosts") == 2      # it was retried …
        assert app_ctx.redis.zcard(ik.ALL) == 1                           # … and made one case
        assert "重复提交已合并" in d.find_element(By.ID, "sent-list").get_attribute("textContent")
        assert d.execute_script("return OM.outbox.items().length") == 0
        assert foreign_requests(d, live) == []

        svc = app_ctx.incidents
        inc = svc.get(inc_id, town_op)
        assert (inc.channel, inc.reporter, inc.category) == ("grid_worker", worker, "0108")
        assert inc.center == town_op.center and len(inc.sources) == 1
        # the photo arrived, resized on the phone (≤ 1280 px), checked and stored by content
        pid = inc.attachments[0].rsplit("/", 1)[1]
        raw = app_ctx.redis_bytes.hget(f"om:m:photo:{pid}", "data")
        with Image.open(io.BytesIO(raw)) as im:
            assert max(im.size) <= 1280 and im.format == "JPEG"
        # the right town's console shows it (it polls the feed every 400 ms) …
        seen = wait(lambda: inc_id in console.find_element(By.ID, "queue").get_attribute(
            "textContent") and time.monotonic(), 10, "the incident in the town's console")
        print(f"phone confirmed → town console shows it: {seen - confirmed:.2f} s")
        cell = wait(lambda: next(c for c in console.find_elements(
            By.CSS_SELECTOR, "#queue td") if c.text.strip() == inc_id), 20, "the queue row")
        cell.click()
        wait(lambda: console.find_element(By.ID, "timeline"), 30, "the incident panel")
        assert inc_id in [i.id for i in svc.list_queue(town_op, "new")]
        assert inc_id not in [i.id for i in svc.list_queue(_actor(app_ctx, "town"), "open")]
        # … and the wall too
        # (the ticker names category and town; the only incident of this test is this one)
        town_name = app_ctx.city.town_names[inc.town_code]
        wait(lambda: (lambda t: inc_id in t or ("井盖异常" in t and town_name in t))(
            wall.find_element(By.ID, "wall-ticker").get_attribute("textContent")), 60,
            "the incident on the wall's ticker")

        # the town dispatches to 城管, 城管 reports back, the town verifies and closes: each
        # through the HTTP API the console calls, each with its own session and CSRF token
        def as_user(user):
            c = web.test_client()
            tok = login(c, user)
            return lambda action, **body: c.post(f"/api/incidents/{inc_id}/{action}", json=body,
                                                 headers={"X-CSRFToken": tok})

        town, dept, sup = as_user("panzhou"), as_user("chengguan"), as_user("supervisor_pz")
        other_town = as_user("town")
        assert other_town("accept").status_code == 403          # outside its territory
        for who, action, body in ((town, "accept", {}), (town, "register", {}),
                                  (town, "dispatch", {"depts": ["CG"]}), (dept, "start", {}),
                                  (dept, "handle", {"note": "已更换井盖"}),
                                  (sup, "verify", {"passed": True}), (town, "close", {})):
            r = who(action, **body)
            assert r.status_code == 200, (action, r.get_data(as_text=True))
        trail = svc.timeline(inc_id, town_op)
        # the refused attempt of the other town is in the trail too (audited, no data given)
        assert [(e["action"], e.get("actor")) for e in trail
                if e["action"].startswith("denied")] == [("denied:read", "town")]
        steps = [(e["action"], e.get("actor"), e["ts"]) for e in trail
                 if not e["action"].startswith("denied")]
        assert [a for a, _, _ in steps] == ["report", "accept", "register", "dispatch", "start",
                                            "handle", "verify", "close"]
        assert [w for _, w, _ in steps] == [worker, "panzhou", "panzhou", "panzhou", "chengguan",
                                            "chengguan", "supervisor_pz", "panzhou"]
        times = [t for _, _, t in steps]
        assert times == sorted(times) and all(t > 0 for t in times)
        assert svc.get(inc_id, town_op).state == "closed"

        # the console's timeline (opened before the steps) shows every step, who and when
        wait(lambda: "结案" in console.find_element(By.ID, "timeline").text, 20,
             "the closed step in the console timeline")
        lines = [x for x in console.find_element(By.ID, "timeline").text.splitlines() if x]
        for who in ("panzhou", "chengguan", "supervisor_pz"):
            name = accounts[who]["name"]
            assert any(name in x for x in lines), (who, lines)
        assert len(lines) >= 8, lines
        # and the worker sees on the phone where the report ended up
        _tap(d, d.find_element(By.CSS_SELECTOR, 'nav.tabs button[data-tab="outbox"]'))
        wait(lambda: "结案" in d.find_element(By.CSS_SELECTOR,
                                             f'#my-reports .report[data-id="{inc_id}"]').text,
             20, "the closed state on the phone")
    finally:
        d.quit()
        wall.quit()
        console.quit()


def test_offline_report_waits_on_the_phone_then_sends_once(live, app_ctx, accounts,  # noqa: F811
                                                           tmp_path):
    from incidents import keys as ik

    worker = _worker_of(accounts, _actor(app_ctx, "town").center)
    photo = tmp_path / "camera.jpg"
    _big_photo(photo)
    d = chrome(360, 780, mobile=True)
    try:
        browser_login(d, live, worker, "/m/")
        _fill_report(d, photo)
        d.set_network_conditions(offline=True, latency=5, download_throughput=64 * 1024,
                                 upload_throughput=32 * 1024)
        _tap(d, d.find_element(By.ID, "submit"))
        wait(lambda: d.execute_script(
            "const x = OM.outbox.items(); return x.length === 1 && x[0].attempts >= 1"), 20,
            "a failed attempt kept as a draft")
        banner = d.find_element(By.ID, "waiting-banner")
        assert banner.is_displayed() and "1 条待发送" in banner.text
        # the status line agrees with the banner: kept on the phone, not "sending"
        status = wait(lambda: (lambda t: t if "正在发送" not in t else "")(
            d.find_element(By.ID, "toast").get_attribute("textContent")), 10, "the status line")
        assert "已保存" in status and "手机" in status, status
        assert "待发送" in d.find_element(By.ID, "outbox-count").text or \
            d.find_element(By.ID, "outbox-count").text == "1"
        assert app_ctx.redis.zcard(ik.ALL) == 0
        # the draft survives a reload of the page (kept in localStorage with its key)
        key = d.execute_script("return OM.outbox.items()[0].key")
        d.set_network_conditions(offline=False, latency=5, download_throughput=500 * 1024,
                                 upload_throughput=500 * 1024)
        wait(lambda: d.execute_script("return OM.outbox.items().length === 0"), 90,
             "the draft sent after the network came back")
        assert app_ctx.redis.zcard(ik.ALL) == 1
        inc_id = app_ctx.incidents.reported_with(Actor(worker, "grid_worker", ""), f"m:{key}")
        assert inc_id and app_ctx.redis.zscore(ik.ALL, inc_id) is not None
    finally:
        d.quit()


def test_draft_survives_reload(live, app_ctx, accounts, tmp_path):  # noqa: F811
    """A report saved while the server is unreachable is still there after the page reloads."""
    from incidents import keys as ik

    worker = _worker_of(accounts, _actor(app_ctx, "panzhou").center)
    d = chrome(360, 780, mobile=True)
    try:
        browser_login(d, live, worker, "/m/")
        wait(lambda: d.execute_script("return window.OM && window.OM.ready === true"), 30, "page")
        # the server answers 503 for reports (a proxy in trouble): keep, retry later
        d.execute_script("""const real = window.fetch.bind(window);
          window.fetch = (u, o) => String(u).includes('/m/api/reports') ?
            Promise.resolve(new Response('{"error":"busy"}', {status: 503})) : real(u, o);""")
        _tap(d, d.find_element(By.CSS_SELECTOR, '#recent .chip[data-code="0107"]'))
        _tap(d, d.find_element(By.ID, "submit"))
        wait(lambda: d.execute_script("return OM.outbox.items()[0].attempts >= 1"), 20, "attempt")
        key = d.execute_script("return OM.outbox.items()[0].key")
        d.refresh()   # the patched fetch is gone: the kept draft goes out with its key
        wait(lambda: d.execute_script("return window.OM && OM.ready && "
                                      "OM.outbox.items().length === 0"), 60, "sent after reload")
        assert app_ctx.incidents.reported_with(Actor(worker, "grid_worker", ""), f"m:{key}")
        assert app_ctx.redis.zcard(ik.ALL) == 1
    finally:
        d.quit()


def test_gps_fix_map_correction_tasks_and_patrol_on_the_phone(live, app_ctx, accounts,  # noqa: F811
                                                               tmp_path):
    from incidents.actor import SYSTEM

    town_op = _actor(app_ctx, "panzhou")
    worker = _worker_of(accounts, town_op.center)
    cell = app_ctx.city.cells[app_ctx.city.cells["code"] == accounts[worker]["cell"]].iloc[0]
    fix = cell.geometry.representative_point()
    task = app_ctx.incidents.assign_task(town_op, f"W{cell['code']}", "雨后巡查河堤",
                                         description="重点看护坡")
    photo = tmp_path / "camera.jpg"
    _big_photo(photo)
    d = chrome(360, 780, mobile=True)
    try:
        d.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["geolocation"]})
        d.execute_cdp_cmd("Emulation.setGeolocationOverride", {
            "latitude": fix.y, "longitude": fix.x, "accuracy": 8})
        browser_login(d, live, worker, "/m/")
        wait(lambda: d.find_element(By.ID, "loc-status").get_attribute("data-source") == "gps",
             20, "the GPS fix replacing the cell centroid")
        assert "±8 m" in d.find_element(By.ID, "loc-status").text
        # the worker corrects the point on the map: the correction wins over later fixes
        _tap(d, d.find_element(By.ID, "map"))
        wait(lambda: d.find_element(By.ID, "loc-status").get_attribute("data-source") == "map",
             5, "the map correction")
        # my tasks: accept, then report the result with a photo
        _tap(d, d.find_element(By.CSS_SELECTOR, 'nav.tabs button[data-tab="tasks"]'))
        # the list re-renders when a load lands (page start, tab switch): find the card anew
        wait(lambda: "雨后巡查河堤" in _task_card(d, task.id).text, 20, "the task card")
        assert _task_card(d, task.id).find_element(By.CSS_SELECTOR, "a.nav-link").get_attribute(
            "href").startswith("geo:")
        _tap_in_card(d, task.id, "button.accept")
        wait(lambda: d.find_elements(By.CSS_SELECTOR, f'.task[data-id="{task.id}"] button.result'),
             20, "the task accepted")
        _tap_in_card(d, task.id, "button.result")
        card = _task_card(d, task.id)
        card.find_element(By.CSS_SELECTOR, "textarea.note").send_keys("已巡查，护坡完好")
        card.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(photo))
        wait(lambda: card.find_elements(By.CSS_SELECTOR, ".thumb img"), 30, "the task photo")
        _tap(d, card.find_element(By.CSS_SELECTOR, ".task-form button[type=submit]"))
        wait(lambda: app_ctx.incidents.get(task.id, SYSTEM).tasks[0].state == "handled", 30,
             "the task reported done")
        # done: the card offers nothing more to press (issue 21)
        wait(lambda: not d.find_elements(By.CSS_SELECTOR, f'.task[data-id="{task.id}"] .row button'),
             30, "the card's buttons gone after 处置完成")
        inc = app_ctx.incidents.get(task.id, SYSTEM)
        assert inc.tasks[0].note == "已巡查，护坡完好" and inc.attachments
        # patrol log: a check-in with the corrected location
        _tap(d, d.find_element(By.CSS_SELECTOR, 'nav.tabs button[data-tab="patrol"]'))
        d.find_element(By.ID, "patrol-note").send_keys("河堤巡查 正常")
        _tap(d, d.find_element(By.ID, "patrol-submit"))
        wait(lambda: "河堤巡查 正常" in d.find_element(By.ID, "patrol-list").text, 30,
             "the patrol entry in the log")
        from app.mobile_api import patrol_log

        entries = patrol_log(app_ctx, worker)
        assert len(entries) == 1 and app_ctx.city.try_locate(entries[0]["lon"],
                                                             entries[0]["lat"]) is not None
    finally:
        d.quit()
