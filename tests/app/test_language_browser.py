"""Browser: operators' screens speak Chinese (issue 21). Every visible text, placeholder, title
and aria-label of each screen, at the size its users have, is scanned for Latin words; what is
left after the allow-list (ids, units, product and standard names) is a defect."""

from __future__ import annotations

import re

import pytest

from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401

pytestmark = [pytest.mark.browser]

ALLOWED = re.compile(
    r"\bonemap( [a-z0-9-]+)+|\b(OneMap|kepler\.gl|CSV|GeoJSON|JSON|PM2\.5|PM10|MQTT|Redis|AOF|AI|GPS|SOS|ID|"
    r"IoT|OK|ops/s|CONNACK|km|mm|ms|kPa|MPa|dB|ppm|µg|ug|m3|LEL|pH|lux|h|s|m|v\d[\w.]*)\b")
"""Latin text a Chinese operator reads as is: product and standard names, units, and the
``onemap`` commands an administrator is told to run."""

SCAN = r"""
const out = [];
const latin = /[A-Za-z]{2,}/;
const seen = new Set();
function add(s, where) { s = (s || '').trim(); if (s && latin.test(s) && !seen.has(s)) { seen.add(s); out.push([s, where]); } }
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const n = walker.currentNode, el = n.parentElement;
  if (!el || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
  const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
  if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden' || cs.display === 'none') continue;
  add(n.textContent, el.tagName + '#' + (el.id || el.className));
}
for (const el of document.querySelectorAll('[placeholder],[title],[aria-label]')) {
  for (const a of ['placeholder', 'title', 'aria-label']) if (el.getAttribute(a)) add(el.getAttribute(a), a);
}
return out;
"""

ID_LIKE = re.compile(r"\b[A-Z]{0,3}\d[\w-]*\b|\b[a-z]+-\d[\w-]*\b|\b[\w.+-]+@[\w.-]+\b"
                     r"|\b[\w-]+:\d+\b|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
"""Case numbers (E2026…), device ids (wl-0001), account ids, e-mail addresses, process
instances (host:pid) and configuration names (ONEMAP_MQTT_URL)."""


def latin_strings(d) -> list[tuple[str, str]]:  # noqa: ANN001
    bad = []
    for text, where in d.execute_script(SCAN):
        rest = ID_LIKE.sub(" ", ALLOWED.sub(" ", text))
        if re.search(r"[A-Za-z]{2,}", rest):
            bad.append((text[:80], where[:60]))
    return bad


def _screen(live, user: str, path: str, ready_id: str, size: tuple[int, int],  # noqa: F811
            mobile: bool = False) -> list[tuple[str, str]]:
    d = chrome(*size, mobile=mobile)
    try:
        browser_login(d, live, user, path)
        wait(lambda: d.find_element("id", ready_id).text.strip(), 60, f"{path} drawn")
        return latin_strings(d)
    finally:
        d.quit()


def test_login_analytics_ops_and_phone_speak_chinese(live, app_ctx, accounts):  # noqa: F811
    d = chrome(360, 780, mobile=True)
    try:
        d.get(live + "/login")
        login_page = latin_strings(d)
    finally:
        d.quit()
    worker = next(u for u, a in accounts.items() if a["role"] == "grid_worker")
    found = {"login": login_page,
             "analytics": _screen(live, "supervisor", "/analytics/", "an-cards", (1920, 1080)),
             "ops": _screen(live, "admin", "/ops/", "ops-body", (1366, 768)),
             "m": _screen(live, worker, "/m/", "tab-report", (360, 780), mobile=True)}
    bad = [f"{screen}: {text!r} ({where})" for screen, rows in found.items() for text, where in rows]
    assert not bad, "Latin UI strings:\n" + "\n".join(bad)
