"""Browser-test helpers: the real Flask server (create_server) in a thread, headless Chromium,
login through the form, and a month of plausible incidents for the assessment page."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from werkzeug.serving import make_server

from tests.app.authkit import PASSWORD

# Screenshots go to docs/screenshots (the README's pictures) only when asked:
# `ONEMAP_SCREENSHOTS=refresh make test`; otherwise a temp dir, so a test run leaves the tree clean.
SCREENSHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots"
               if os.environ.get("ONEMAP_SCREENSHOTS") == "refresh"
               else Path(tempfile.gettempdir()) / "onemap-screenshots")


@pytest.fixture
def live(web) -> Iterator[str]:
    """Base URL of ``create_server(app_ctx)`` served by werkzeug in a thread."""
    srv = make_server("127.0.0.1", 0, web, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    t.join(5)


def chrome(width: int, height: int, mobile: bool = False) -> webdriver.Chrome:
    """Headless Chromium; ``mobile``: a 360-px phone (touch, device metrics, phone UA)."""
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update",
              "--enable-unsafe-swiftshader", "--lang=zh-CN", "--hide-scrollbars"):
        o.add_argument(a)
    if mobile:
        o.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, "
                         "like Gecko) Chrome/156.0 Mobile Safari/537.36"})
    else:
        o.add_argument(f"--window-size={width},{height}")
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=o)
    d.set_page_load_timeout(120)
    return d


def wait(pred: Callable[[], object], timeout: float = 30, what: str = "condition",
         poll: float = 0.1):  # noqa: ANN201
    """Poll ``pred`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as exc:  # noqa: BLE001 (element not there yet, stale, ...)
            last_exc = exc
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_exc})" if last_exc else ""))


def browser_login(d: webdriver.Chrome, base: str, user: str, next_path: str) -> None:
    """The one browser login (tests.app.browserkit), with the e2e tests' argument order."""
    from tests.app.browserkit import browser_login as login  # noqa: PLC0415

    login(d, base, user, PASSWORD, next_path)


def foreign_requests(d: webdriver.Chrome, base: str) -> list[str]:
    """Resource requests of the current document that went to another origin."""
    names = d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat([location.href])")
    return [n for n in names if not (n.startswith(base) or n.startswith(("data:", "blob:",
                                                                          "about:")))]


def populate(ctx, accounts: dict, n: int = 160, days: int = 20, seed: int = 7) -> list[str]:
    """A plausible few weeks of closed-loop work in every town (the demo's own history)."""
    from app.demo_data import populate as demo_populate

    return demo_populate(ctx.redis, ctx.city, n=n, days=days, seed=seed)
