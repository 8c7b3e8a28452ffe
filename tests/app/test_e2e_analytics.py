"""Browser: the assessment page draws KPIs, and the kepler.gl view renders the period's data
offline — no request leaves OneMap's origin (issue 6 "Done means"; SPEC §6)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.app.e2ekit import SCREENSHOTS, browser_login, chrome, foreign_requests, live, populate, wait  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_assessment_and_kepler_offline(live, app_ctx, accounts):  # noqa: F811
    ids = populate(app_ctx, accounts, n=160)
    d = chrome(1400, 1000)
    try:
        browser_login(d, live, "commander", "/analytics/")
        wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#an-score .bars, #an-score .bar")) > 0
             or len(d.find_elements(By.CSS_SELECTOR, "#an-score g.point")) > 5, 90,
             "the ranking chart")
        wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#an-rank tbody tr")) > 5, 30,
             "the ranking table")
        received = d.find_element(By.CSS_SELECTOR, "#kpi-0 .v").text.replace(",", "")
        assert int(received) == len(ids)
        first = d.find_elements(By.CSS_SELECTOR, "#an-rank tbody tr")[1].text
        assert first.split()[0] == "1"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(SCREENSHOTS / "analytics.png"))
        assert foreign_requests(d, live) == []

        d.find_element(By.XPATH, "//*[contains(text(), 'kepler.gl 空间分析')]").click()
        frame = wait(lambda: d.find_element(By.ID, "an-kepler").get_attribute("src"), 30,
                     "the kepler iframe")
        assert "/analytics/kepler?" in frame
        d.switch_to.frame(d.find_element(By.ID, "an-kepler"))
        wait(lambda: d.execute_script("return window.__keplerReady === true"), 120, "kepler")
        wait(lambda: d.execute_script("return document.querySelectorAll('canvas').length > 0"),
             60, "the kepler map canvas")
        wait(lambda: sum(n.endswith("/analytics/kepler-style.json") for n in d.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")) >= 1, 30,
            "OneMap's basemap style")
        d.switch_to.default_content()
        d.save_screenshot(str(SCREENSHOTS / "kepler.png"))
        d.switch_to.frame(d.find_element(By.ID, "an-kepler"))
        # the basemap request carto's CDN would have made was answered locally
        blocked = d.execute_script("return window.__blocked")
        names = d.execute_script("return performance.getEntriesByType('resource')"
                                 ".map(e => e.name)")
        assert any(n.endswith("/analytics/kepler-style.json") for n in names)
        assert not any(n.endswith("/null") for n in names), names
        assert foreign_requests(d, live) == [], foreign_requests(d, live)
        severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE"
                  and "Failed to load" in e["message"] and "favicon.ico" not in e["message"]]
        assert severe == [], severe
        assert all("cartocdn" in b or "mapbox" in b for b in blocked), blocked
        d.switch_to.default_content()
        assert foreign_requests(d, live) == []
    finally:
        d.quit()
