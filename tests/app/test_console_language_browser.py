"""Browser: the console speaks Chinese to a town clerk at 1366×768 (issue 21). The clerk logs
in, the form's dropdowns are drawn with their options as soon as the queue shows (the page loads
the dropdowns' code with itself), a case opened from the queue centres the map on it with the
town's name over the map, and every visible text, placeholder, title and aria-label is scanned
for Latin words with the shared allow-list (tests/app/test_language_browser.py)."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By

from app.screens.console.figures import SELECT_ZOOM
from app.users import UserStore
from incidents.actor import SYSTEM
from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401
from tests.app.test_language_browser import ALLOWED, ID_LIKE, latin_strings

pytestmark = [pytest.mark.browser]

KEYS = re.compile(r"\bAlt\+\w|\bTab\b|(?<=[\u4e00-\u9fff])AI\b")
"""Key caps the keyboard hints name (Alt+字母, Tab: printed on the clerk's keyboard), and AI
written against a Chinese word (视频AI, the channel's name in ``incidents.vocab``), which the
shared allow-list's word boundary does not see."""


def _latin(d) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(t, w) for t, w in latin_strings(d)
            if re.search(r"[A-Za-z]{2,}", ID_LIKE.sub(" ", ALLOWED.sub(" ", KEYS.sub(" ", t))))]


def _cell(d, case: str):  # noqa: ANN001, ANN202 (a WebElement or None)
    return next((td for td in d.find_elements(By.CSS_SELECTOR, "#queue td[data-dash-column=id]")
                 if td.text == case), None)


def _stored_photo(app_ctx, actor) -> str:  # noqa: ANN001
    """A photo stored the way the phone and the console store one: its URL."""
    import io

    from PIL import Image

    from app.screens.console import ConsoleData
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buf, "PNG")
    data = ConsoleData(app_ctx)
    data.add_photos(actor, "E-photo", [buf.getvalue()], b"test-key")   # the clerk's own photo
    return data.pending_photos(actor, "E-photo")[0]


def _town_point(city, town: str, k: int) -> tuple[float, float]:  # noqa: ANN001
    cells = city.cells[city.cells["town_code"] == town]
    p = cells.geometry.iloc[k % len(cells)].representative_point()
    return float(p.x), float(p.y)


def test_town_clerk_console_speaks_chinese(live, app_ctx):  # noqa: F811
    svc, city = app_ctx.incidents, app_ctx.city
    clerk = UserStore(app_ctx.redis).get("town").actor
    town = clerk.center[1:]
    photo = _stored_photo(app_ctx, clerk)
    inc = svc.report(SYSTEM, "0108", *_town_point(city, town, 3), description="人行道井盖缺失",
                     attachments=[photo])
    svc.accept(inc.id, clerk)
    svc.dispatch(inc.id, clerk, ["DCG"])              # out with 城管: in 本中心, not in 待办
    fresh = svc.report(SYSTEM, "0107", *_town_point(city, town, 5), description="垃圾桶满溢")
    d = chrome(1366, 768)
    try:
        browser_login(d, live, "town", "/console/")
        wait(lambda: _cell(d, fresh.id), 60, "the new case in the queue")
        # first paint: the form's dropdowns are drawn with their choices (from the layout, no
        # callback fills them later): the moment one is drawn, it has its options and value
        wait(lambda: d.execute_script(
            "return ['new-category', 'new-landmark', 'new-severity'].every("
            "i => document.getElementById(i))"), 60, "the form's dropdowns drawn")
        assert d.find_element(By.ID, "new-category-value").get_attribute("textContent") == "1202 投诉"
        d.find_element(By.CSS_SELECTOR, "#new-form > summary").click()
        d.find_element(By.ID, "new-landmark").click()
        opts = wait(lambda: d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"), 5,
                    "地点 options")
        assert opts[0].text.startswith(city.town_names[town])
        d.find_element(By.ID, "new-landmark").click()           # close it again
        d.find_element(By.CSS_SELECTOR, "#new-form > summary").click()
        # the town's name over the map (HTML labels: no map glyphs offline)
        wait(lambda: d.execute_script(
            "const b = document.getElementById('map-labels'); return b && +b.dataset.visible > 0"),
            30, "place names drawn")
        names = d.execute_script("return [...document.querySelectorAll('#map-labels .map-label')]"
                                 ".filter(e => e.style.visibility === 'visible').map(e => e.textContent)")
        assert city.town_names[town] in names, names
        # open the dispatched case from 本中心: the panel, and the map centred on it
        d.find_element(By.XPATH, "//div[@id='view']//label[contains(., '本中心')]").click()
        wait(lambda: _cell(d, inc.id), 30, "the dispatched case in 本中心").click()
        wait(lambda: inc.id in d.find_element(By.ID, "panel-head").text, 30, "the panel")
        wait(lambda: "派往 城管" in d.find_element(By.ID, "timeline").text, 30, "the trail")
        zoom = wait(lambda: d.execute_script(
            "const g = document.querySelector('#map .js-plotly-plot');"
            "const m = g && g._fullLayout.map; return m && m.zoom === arguments[0] && m.center",
            SELECT_ZOOM), 30, "the map zoomed to the case")
        assert abs(zoom["lon"] - inc.lon) < 1e-6 and abs(zoom["lat"] - inc.lat) < 1e-6
        bad = _latin(d)
        assert not bad, "Latin UI strings:\n" + "\n".join(f"{t!r} ({w})" for t, w in bad)
        # the report's photo, said as such, enlarges in place and closes with Esc
        img = d.find_element(By.CSS_SELECTOR, ".photos img.zoomable")
        assert img.find_element(By.XPATH, "..").text == "上报照片"
        img.click()
        wait(lambda: d.find_element(By.ID, "lightbox").is_displayed(), 10, "the lightbox")
        assert d.find_element(By.CSS_SELECTOR, "#lightbox .lb-caption").text == "上报照片"
        assert d.execute_script("return document.querySelector('#lightbox img').naturalWidth") > 0
        from selenium.webdriver.common.keys import Keys
        d.find_element(By.CSS_SELECTOR, "#lightbox .lb-close").send_keys(Keys.ESCAPE)
        wait(lambda: not d.find_element(By.ID, "lightbox").is_displayed(), 10, "closed")
    finally:
        d.quit()
