"""Browser (issue 24 "Done means": a leader downloads the daily report; the PDF's first page
rendered to an image shows its Chinese title). A leader logs in with headless Chromium, reads the
KPIs beside their targets on /analytics, makes today's 日报, sees it in the list with its kind,
period and time, and downloads its 打印版 by clicking it (Chromium's download directory set over
CDP). The downloaded PDF, honestly checked:

- ``pdftotext -f 1 -l 1``: the first line of page 1 is exactly the title the code generates;
- ``pdffonts``: the face is WenQuanYi Micro Hei, embedded (Debian's font, offline);
- ``pdftoppm``: page 1 rendered to an image has ink inside the title's box (``pdftotext -bbox``),
  a blank margin above it, and that ink has the shape of the title drawn with the same font by
  Pillow (not tofu boxes, not a blank band);
- the security audit holds the download: who, which report.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from app import security
from app.reports import figures, render
from app.timefmt import CST
from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401
from tests.app.test_api import PZ, point_in
from tests.app.test_hotline import closed_hotline_case

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DPI = 144
"""pdftoppm's resolution: 2 px per PDF point."""


def _ink(img):  # noqa: ANN001, ANN202 (PIL image)
    """``img`` cropped to its dark pixels."""
    import numpy as np  # noqa: PLC0415

    ys, xs = np.nonzero(np.asarray(img) < 128)
    assert len(xs), "no ink"
    return img.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))


def _drawn(text: str, px: int):  # noqa: ANN202
    """``text`` drawn black on white with the report's font at ``px`` pixels (Pillow)."""
    from PIL import Image, ImageDraw, ImageFont  # noqa: PLC0415

    path = next(p for p in render.FONT_FILES if p.exists())
    font = ImageFont.truetype(str(path), px, index=0)
    x0, y0, x1, y1 = font.getbbox(text)
    img = Image.new("L", (x1 - x0 + 8, y1 - y0 + 8), 255)
    ImageDraw.Draw(img).text((4 - x0, 4 - y0), text, font=font, fill=0)
    return img


def _overlap(a, b) -> float:  # noqa: ANN001 (PIL images)
    """Intersection over union of the two images' ink, ``b`` scaled onto ``a``."""
    import numpy as np  # noqa: PLC0415

    a, b = _ink(a), _ink(b).resize(_ink(a).size)
    x, y = np.asarray(a) < 128, np.asarray(b) < 128
    return float((x & y).sum() / (x | y).sum())


def check_first_page(pdf: Path, title: str, tmp: Path) -> dict:
    """The checks of the module docstring on ``pdf``; what was measured."""
    from PIL import Image  # noqa: PLC0415

    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    first = next(line.strip() for line in text.splitlines() if line.strip())
    assert first == title, (first, title)
    fonts = subprocess.run(["pdffonts", "-f", "1", "-l", "1", str(pdf)], capture_output=True,
                           text=True, check=True, timeout=30).stdout
    wqy = [line for line in fonts.splitlines() if "WenQuanYiMicroHei" in line]
    assert wqy and re.search(r"\byes\s+yes\s+yes\b", wqy[0]), fonts       # emb, sub, uni
    bbox = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox", str(pdf), "-"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                       r"([^<]*)</word>", bbox)
    parts = title.split()
    box = [w for w in words[:len(parts)] if w[4] in parts]
    assert [w[4] for w in box] == parts, words[:4]
    k = DPI / 72
    x0, y0 = min(float(w[0]) for w in box) * k, min(float(w[1]) for w in box) * k
    x1, y1 = max(float(w[2]) for w in box) * k, max(float(w[3]) for w in box) * k
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", str(DPI), "-gray", "-png", str(pdf),
                    str(tmp / "page")], check=True, timeout=60)
    page = Image.open(next(tmp.glob("page*.png"))).convert("L")
    band = page.crop((int(x0) - 4, int(y0) - 4, int(x1) + 4, int(y1) + 4))
    above = page.crop((0, 0, page.width, max(1, int(y0) - 6)))
    dark = sum(band.histogram()[:128]) / (band.width * band.height)
    assert 0.05 < dark < 0.6, dark                       # text, not a blank or a filled band
    assert sum(above.histogram()[:128]) == 0             # nothing above the title: it leads
    same = _overlap(band, _drawn(title, round(y1 - y0)))
    tofu = _overlap(band, _drawn("□" * len(parts[0]) + " " + " ".join(parts[1:]),
                                 round(y1 - y0)))
    assert same > 0.6 > tofu, (same, tofu)               # the title's glyphs, not boxes
    return {"first_line": first, "font": wqy[0].split()[0], "dark": round(dark, 3),
            "overlap": round(same, 3), "tofu_overlap": round(tofu, 3)}


def test_a_leader_downloads_the_daily_report_from_analytics(live, app_ctx, accounts, tmp_path):  # noqa: F811
    ctx = app_ctx
    closed_hotline_case(ctx, *point_in(ctx.city, PZ, 0))        # a day with a case in it
    today = dt.datetime.now(CST).date()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    d = chrome(1400, 1000)
    try:
        d.execute_cdp_cmd("Browser.setDownloadBehavior",
                          {"behavior": "allow", "downloadPath": str(downloads)})
        browser_login(d, live, "commander", "/analytics/")
        wait(lambda: d.find_elements(By.ID, "an-report-make"), 60, "the 报表 section")
        wait(lambda: "处置按时率" in d.find_element(By.ID, "an-targets").text, 60,
             "指标与目标 beside their targets")
        assert "约束性" in d.find_element(By.ID, "an-targets").text
        assert "鲜活率" in d.find_element(By.ID, "an-devices-box").text      # S5 on /analytics
        d.find_element(By.ID, "an-report-make").click()
        row = wait(lambda: d.find_elements(By.CSS_SELECTOR, "#an-reports tr.report-row"), 60,
                   "the report in the leader's list")[0]
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        title = figures.title(ctx.city.name, "", "daily", today, today)
        assert cells[:3] == [title, "日报", today.isoformat()]              # title, kind, period
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", cells[3]), cells  # when made
        link = row.find_element(By.CSS_SELECTOR, "a.report-pdf")
        assert link.get_attribute("href").endswith(
            f"/analytics/reports/CITY/daily-{today.isoformat()}.pdf")
        link.click()                                    # Content-Disposition: attachment
        pdf = wait(lambda: [p for p in downloads.glob("*.pdf")
                            if p.stat().st_size and not p.name.endswith(".crdownload")], 60,
                   "the downloaded PDF")[0]
    finally:
        d.quit()
    assert pdf.name == f"onemap-CITY-daily-{today.isoformat()}.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    got = check_first_page(pdf, title, tmp_path)
    print(f"\nfirst page of {pdf.name}: {got}")
    audit = [e for e in security.audit_entries(ctx.redis, 50) if e["event"] == "report_download"]
    assert [(e["user"], e["target"]) for e in audit] == [
        ("commander", f"report CITY/daily-{today.isoformat()}.pdf")]
