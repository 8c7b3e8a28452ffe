"""复盘 in headless Chromium (issue 20; E18, M37–M39): a short scenario's alarms and cases go into
the record (archiver, episode copier) on an injected clock inside the last hour; a supervisor
(考核) opens /replay/, 最近1小时 at 10倍速, and sees the alarms and cases appear in the feed in
their original order — recorded by a MutationObserver (DOM events), never by sleeping."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from app.pg import connector
from app.record import attach_reader
from app.screens.replay.ids import Id
from incidents.record.archiver import Archiver
from incidents.record.episodes import AlarmEpisodeCopier
from incidents.service import IncidentService
from tests.app.authkit import accounts, app_ctx, web  # noqa: F401
from tests.app.browserkit import browser, browser_login, live, severe_logs, wait_for  # noqa: F401
from tests.incidents.conftest import Actors, Clock, point_in

from .replaykit import scenario

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OBSERVE = """
window.__seen = []; window.__batch = 0;
new MutationObserver(function (records) {
  window.__batch += 1;
  records.forEach(function (r) { r.addedNodes.forEach(function (n) {
    var k = n.getAttribute && n.getAttribute('data-key');
    if (k && !window.__seen.some(function (s) { return s[0] === k; }))
      window.__seen.push([k, window.__batch]);
  }); });
}).observe(document.getElementById(arguments[0]), {childList: true});
"""


def test_the_last_hour_replays_at_10x_in_the_original_order(app_ctx, accounts, live, browser,  # noqa: F811
                                                            redis_client, record_url, demo_city):
    here = point_in(demo_city, 100)
    elsewhere = next(p for p in (point_in(demo_city, i) for i in range(len(demo_city.cells) - 1, 0, -1))
                     if p.town != here.town)
    clock = Clock(time.time() - 1200)          # the scenario 20 minutes ago, 10 s a step
    svc = IncidentService(redis_client, demo_city, clock=clock)
    expected, _ = scenario(svc, Actors(here, elsewhere), clock, here, elsewhere)
    Archiver(redis_client, connector(record_url, "t")).drain()
    AlarmEpisodeCopier(redis_client, connector(record_url, "e")).drain()
    attach_reader(app_ctx, record_url)

    browser_login(browser, live, "supervisor", next_="/replay/")
    wait_for(lambda: browser.find_element(By.ID, Id.FEED), what="the replay page")
    browser.execute_script(OBSERVE, str(Id.FEED))
    browser.find_element(By.ID, Id.LOAD).click()        # 最近1小时, 10倍速 (the defaults)
    seen = wait_for(lambda: (s := browser.execute_script("return window.__seen"))
                    and len(s) >= len(expected) and s, timeout=90, what="every event replayed")
    keys = [k for k, _ in seen]
    assert sorted(keys) == sorted(expected)
    batch = dict(seen)
    # each event appeared no earlier than the one before it, over more than one moment (played,
    # not dumped at once: 80 replayed seconds take 8 s at 10×, redrawn every 0.5 s — fewer
    # moments on a loaded machine, never one); the feed lists them newest first
    assert [batch[k] for k in expected] == sorted(batch[k] for k in expected)
    assert len({batch[k] for k in expected}) >= 2
    shown = [li.get_attribute("data-key") for li in
             browser.find_elements(By.CSS_SELECTOR, f"#{Id.FEED} li[data-key]")]
    assert shown == expected[::-1]
    assert "载入" in browser.find_element(By.ID, Id.MSG).text
    assert not severe_logs(browser)
