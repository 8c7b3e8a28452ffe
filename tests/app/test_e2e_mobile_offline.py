"""Browser: the phone on a shared handset and without network (issue 17 "Done means": the
shared-phone case is refused; a reload offline opens the app with its drafts; G21, SPEC §4).

Headless Chromium emulates a 360×780 phone against the real server (create_server) on the
private redis-server. Worker A writes a report offline and logs out; worker B logs in on the same
phone: A's report is neither sent nor shown as B's. A logs in again: it is sent, once. Then A
types a report and the network goes away (Chromium offline and the server stopped): a reload
opens the page from the service worker's shell, with the typed draft.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from incidents import keys as ik
from incidents.actor import Actor
from tests.app.e2ekit import browser_login, chrome, wait

pytestmark = [pytest.mark.browser, pytest.mark.slow]


NO_NETWORK = """const real = window.fetch.bind(window);
window.fetch = (u, o) => String(u).includes('/m/api/') ?
  Promise.reject(new TypeError('Failed to fetch')) : real(u, o);"""


@pytest.fixture
def server(web) -> Iterator[tuple[str, object]]:
    """The real server in a thread, with its handle (the test stops it to go offline)."""
    srv = make_server("127.0.0.1", 0, web, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    stopped = []
    yield f"http://127.0.0.1:{srv.server_port}", lambda: (stopped.append(1), srv.shutdown())
    if not stopped:
        srv.shutdown()
    t.join(5)


def _ready(d) -> None:
    wait(lambda: d.execute_script("return window.OM && OM.ready === true"), 30, "the phone page")


def _shell_ready(d) -> None:
    """The service worker controls the page and holds the shell (page + assets)."""
    wait(lambda: d.execute_async_script("""const done = arguments[arguments.length - 1];
      if (!navigator.serviceWorker.controller) return done(false);
      caches.keys().then(async (ks) => {
        for (const k of ks) { if (await (await caches.open(k)).match('/m/')) return done(true); }
        done(false); });"""), 30, "the offline shell")


def _tap(d, el) -> None:
    """Scroll the element above the fixed tab bar, then tap it."""
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def _flushed(d) -> None:
    d.execute_async_script("OM.outbox.flush(true).then(arguments[arguments.length - 1])")


def _logout(d, base: str) -> None:
    d.get(f"{base}/logout")
    d.find_element(By.ID, "logout-button").click()
    wait(lambda: "/login" in d.current_url, 20, "logged out")


def test_shared_phone_keeps_authors_apart_and_offline_reload_opens_drafts(server, app_ctx,  # noqa: C901
                                                                           accounts):
    base, stop_server = server
    a, b = sorted(u for u, x in accounts.items() if x["role"] == "grid_worker")
    d = chrome(360, 780, mobile=True)
    try:
        browser_login(d, base, a, "/m/")
        _ready(d)
        _shell_ready(d)
        _tap(d, d.find_element(By.CSS_SELECTOR, '#recent .chip[data-code="0107"]'))
        d.find_element(By.ID, "description").send_keys("A 的上报：路灯不亮")
        # offline: Chromium's emulation (navigator.onLine false, navigations fail) does not hold
        # back the requests a service worker lets through, so the page's fetch fails too, as
        # it does without network (the patch dies with the page)
        d.set_network_conditions(offline=True, latency=0, throughput=0)
        d.execute_script(NO_NETWORK)
        _tap(d, d.find_element(By.ID, "submit"))
        wait(lambda: d.execute_script("const x = OM.outbox.items(); "
                                      "return x.length === 1 && x[0].attempts >= 1"), 20,
             "A's report kept on the phone")
        key, author = d.execute_script("const x = OM.outbox.items()[0]; return [x.key, x.author]")
        assert author == a
        # logout warns about the unsent item
        _tap(d, d.find_element(By.ID, "logout"))
        alert = wait(lambda: d.switch_to.alert, 5, "the logout warning")
        assert alert.text == "还有 1 条未发送，退出后将保留在本机，下次您登录时发送"
        alert.accept()
        # the page is gone (the offline navigation to /logout failed) before the network returns
        wait(lambda: d.execute_script("return !window.OM"), 20, "the phone page left")
        d.set_network_conditions(offline=False, latency=0, throughput=0)
        _logout(d, base)

        # B on the same phone: A's item is kept, not shown, not sent
        browser_login(d, base, b, "/m/")
        _ready(d)
        _flushed(d)
        assert d.execute_script("return OM.outbox.items().length") == 0
        assert d.execute_script("return OM.outbox.othersCount()") == 1
        assert "1 条其他账号" in d.find_element(By.ID, "others-note").get_attribute("textContent")
        assert d.find_element(By.ID, "outbox-count").get_attribute("textContent") == ""
        assert app_ctx.redis.zcard(ik.ALL) == 0
        assert not app_ctx.incidents.reported_with(Actor(b, "grid_worker", ""), f"m:{key}")
        _logout(d, base)                       # nothing unsent: no warning

        # A again: the report goes out, once, as A's
        browser_login(d, base, a, "/m/")
        _ready(d)
        wait(lambda: d.execute_script("return OM.outbox.items().length === 0 && "
                                      "OM.outbox.othersCount() === 0"), 30, "A's report sent")
        assert app_ctx.redis.zcard(ik.ALL) == 1
        assert app_ctx.incidents.reported_with(Actor(a, "grid_worker", ""), f"m:{key}")

        # a typed report, then no network at all: a reload opens the app and the draft
        _shell_ready(d)
        d.find_element(By.ID, "description").send_keys("草稿：桥下积水约 30 厘米")
        d.set_network_conditions(offline=True, latency=0, throughput=0)
        stop_server()
        d.refresh()
        _ready(d)
        assert d.find_element(By.ID, "description").get_attribute("value") == \
            "草稿：桥下积水约 30 厘米"
        assert d.find_element(By.ID, "net").text == "离线"
        assert d.execute_script("return OM.boot.user.id") == a
    finally:
        d.quit()
