"""Browser: a responder's phone and the operator on watch (issue 17 "Done means"; X16, T7, G21,
T25, X1/X3). Headless Chromium on the real server (create_server) and the private redis-server:

- a 救援队员 on a 360×780 phone accepts (确认) the dispatch of its team, goes 出发 and 到场; the
  commander's API (what the console's response board reads) sees each step, and the phone's
  position (dispatch.js's watchPosition / getCurrentPosition) reaches the dispatch. The phone's
  location sensor is stubbed at the Web API (``navigator.geolocation``, ``GEO``), not through
  Chromium's own geolocation service: on a loaded two-core machine that service sometimes never
  answered (measured: a watch and a getCurrentPosition both pending after 60 s, with the
  permission granted and a DevTools override set), which tested Chromium, not OneMap;
- a new priority case makes the on-duty operator's console show a toast with a beep (an
  AudioContext was started: hooked before load) and 知道了 acknowledges it (the chain stops).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from selenium.webdriver.common.by import By

from app.channels import InAppSender
from incidents.actor import SYSTEM
from incidents.duty import CST, Roster
from incidents.notify import NotifyWorker, Outbox
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401
from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401
from tests.app.test_api import PZ, point_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOOK_AUDIO = """
window.__audio = 0;
const Real = window.AudioContext;
window.AudioContext = function (...a) { window.__audio += 1; return new Real(...a); };
window.AudioContext.prototype = Real.prototype;
"""


GEO = """(() => {
  const pos = () => ({coords: {longitude: %r, latitude: %r, accuracy: 10}, timestamp: Date.now()});
  const geo = {
    getCurrentPosition(ok) { setTimeout(() => ok(pos()), 50); },
    watchPosition(ok) { setTimeout(() => ok(pos()), 50); return 1; },
    clearWatch() {},
  };
  Object.defineProperty(Navigator.prototype, "geolocation", {get: () => geo, configurable: true});
})();"""
"""A phone that knows where it is (the location sensor at the Web API; see the docstring)."""


def _tap_step(d, aid: str, step: str) -> None:
    """Tap the dispatch card's next-step button (found again if a refresh replaced the card)."""
    def tapped() -> bool:
        b = d.find_element(By.CSS_SELECTOR, f'.dispatch[data-id="{aid}"] .step-{step}')
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", b)
        b.click()
        return True
    wait(tapped, 20, f"the {step} button")


def test_responder_phone_and_priority_toast(web, app_ctx, accounts, live) -> None:  # noqa: F811
    r = app_ctx.redis
    me = next(u for u, a in accounts.items() if a["role"] == "responder")
    boss = web.test_client()
    boss.environ_base["HTTP_X_CSRFTOKEN"] = login(boss, "commander")
    # 潘州's watch tonight: panzhou is the 值班员 (the notifier addresses new work to them)
    day = datetime.now(CST).strftime("%Y-%m-%d")
    Roster(r).import_csv("center,date,start,end,role,person\n"
                         f"T{PZ},{day},00:00,00:00,值班员,panzhou\n", by="admin")
    notifier = NotifyWorker(r, {"inapp": InAppSender(r)}, name="e2e-responder")
    notifier.ensure_groups()

    inc = app_ctx.incidents.report(SYSTEM, "0306", *point_in(app_ctx.city, PZ, 1), channel="iot",
                                   idempotency_key="e2e-responder-1", correlate=False)
    aid = boss.post("/api/resources/dispatch", json={"resource": accounts[me]["cell"],
                                                     "incident": inc.id}).json["id"]
    state = lambda: boss.get(f"/api/resources/assignments/{aid}").json  # noqa: E731

    phone = chrome(360, 780, mobile=True)
    desk = chrome(1280, 800)
    try:
        lon, lat = point_in(app_ctx.city, PZ, 3)
        phone.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": GEO % (lon, lat)})
        desk.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK_AUDIO})
        browser_login(desk, live, "panzhou", "/console/")
        browser_login(phone, live, me, "/m/")

        # the phone: its team's dispatch with a navigation link; 确认 → 出发 → 到场
        card = wait(lambda: phone.find_element(By.CSS_SELECTOR, f'.dispatch[data-id="{aid}"]'), 20,
                    "the dispatch card")
        assert card.find_element(By.CSS_SELECTOR, "a.nav-link").get_attribute("href").startswith("geo:")
        assert not phone.find_element(By.CSS_SELECTOR, 'nav.tabs button[data-tab="report"]').is_displayed()
        for step in ("acknowledged", "en_route", "on_scene"):
            _tap_step(phone, aid, step)
            wait(lambda s=step: state()["state"] == s, 20, f"the commander's view: {step}")
            if step == "en_route":     # the phone shares where the team is (resource map)
                # within one look at the dispatches (POLL_MS 20 s) after the step, under load too
                try:
                    got = wait(lambda: state().get("pos_lon") and state(), 60, "a shared position")
                except AssertionError as exc:   # say what the phone knew (CI explains itself)
                    share = phone.execute_script(
                        "const s = OM.share; return {ids: [...s.ids], watch: s.watch, fix: s.fix,"
                        " sent: s.sent, last: s.last, asking: s.asking, outbox: OM.outbox.items()"
                        ".length}")
                    logs = [e["message"][:200] for e in phone.get_log("browser")][-10:]
                    raise AssertionError(f"{exc}; phone: {share}; console: {logs}") from None
                assert abs(got["pos_lon"] - lon) < 1e-6 and abs(got["pos_lat"] - lat) < 1e-6
        log = boss.get(f"/api/resources/assignments/{aid}").json["log"]
        assert [(e["after"], e["actor"]) for e in log][1:] == [
            ("acknowledged", me), ("en_route", me), ("on_scene", me)]

        # a new priority case for 潘州: the operator on watch gets a toast with a beep
        big = app_ctx.incidents.report(SYSTEM, "0302", *point_in(app_ctx.city, PZ, 4),
                                       channel="iot", severity="较大", correlate=False,
                                       idempotency_key="e2e-responder-2")
        notifier.drain()
        toast = wait(lambda: desk.find_element(By.CSS_SELECTOR, ".inbox-toast"), 20, "the toast")
        assert big.id in toast.text or "较大" in toast.text
        assert desk.execute_script("return window.__audio") >= 1
        chain = toast.get_attribute("data-chain")
        toast.find_element(By.CSS_SELECTOR, "button.inbox-ack").click()      # 知道了
        wait(lambda: not desk.find_elements(By.CSS_SELECTOR, ".inbox-toast"), 20, "the toast gone")
        assert Outbox(r).chain(chain).get("acked_by") == "panzhou"
    finally:
        phone.quit()
        desk.quit()
