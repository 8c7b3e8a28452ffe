"""Browser: a leader reads the KPIs beside their targets and makes and downloads the daily
report from /analytics' 报表 section; the downloaded PDF's first page carries the Chinese title
and renders to a non-blank image (issue 24 "Done means")."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess

import pytest
from selenium.webdriver.common.by import By

from app import security
from app.timefmt import CST
from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FETCH = """const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.arrayBuffer()).then(b => {
  let s = ''; const a = new Uint8Array(b);
  for (let i = 0; i < a.length; i++) s += String.fromCharCode(a[i]);
  done(btoa(s)); }).catch(e => done('ERR ' + e));"""


def test_a_leader_downloads_the_daily_report_from_analytics(live, app_ctx, accounts, tmp_path):  # noqa: F811
    import io

    from PIL import Image
    from pypdf import PdfReader

    today = dt.datetime.now(CST).date()
    d = chrome(1400, 1000)
    try:
        browser_login(d, live, "commander", "/analytics/")
        wait(lambda: d.find_elements(By.ID, "an-report-make"), 60, "the 报表 section")
        wait(lambda: "处置按时率" in d.find_element(By.ID, "an-targets").text, 60,
             "指标与目标 beside their targets")
        assert "约束性" in d.find_element(By.ID, "an-targets").text
        d.find_element(By.ID, "an-report-make").click()
        link = wait(lambda: d.find_elements(By.CSS_SELECTOR, "#an-reports a.report-pdf"), 60,
                    "the report's 打印版 link")[0]
        href = link.get_attribute("href")
        assert href.endswith(f"/analytics/reports/CITY/daily-{today.isoformat()}.pdf")
        d.set_script_timeout(60)
        got = d.execute_async_script(FETCH, href)
        assert not got.startswith("ERR"), got
        pdf = base64.b64decode(got)
    finally:
        d.quit()
    title = f"高州市城市运行日报 {today.year}年{today.month}月{today.day}日"
    assert title.replace(" ", "") in PdfReader(io.BytesIO(pdf)).pages[0].extract_text().replace(" ", "")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-gray", "-png",
                    str(tmp_path / "r.pdf"), str(tmp_path / "p")], check=True, timeout=30)
    img = Image.open(next(tmp_path.glob("p*.png"))).convert("L")
    assert sum(img.histogram()[:128]) > 200                 # ink on the page
    assert [e for e in security.audit_entries(app_ctx.redis, 20)
            if e["event"] == "report_download" and e["user"] == "commander"]
