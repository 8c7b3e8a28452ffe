"""A live server (create_server in a thread) and a headless Chromium for browser tests."""

from __future__ import annotations

import threading
import time

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from tests.app.authkit import PASSWORD


@pytest.fixture
def live(web):
    """Base URL of the app served on a free port (threaded), stopped after the test."""
    srv = make_server("127.0.0.1", 0, web, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    t.join(timeout=10)


@pytest.fixture
def browser():
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
              "--disable-background-networking", "--disable-component-update", "--lang=zh-CN"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts)
    yield d
    d.quit()


def wait_for(fn, timeout: float = 30.0, what: str = "condition"):
    """Poll ``fn`` until it returns a truthy value (deadline, never a bare sleep). The deadline is
    generous: a Dash round trip on a loaded two-core CI machine takes seconds, and a wait that
    succeeds returns as soon as the condition holds."""
    end = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception as exc:  # stale elements while Dash re-renders
            last_exc = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f": {last_exc}" if last_exc else ""))


def browser_login(driver, base: str, user: str, password: str = PASSWORD, next_: str = "/console/",
                  timeout: float = 30.0):
    """Sign in through the real login form and wait to land on ``next_``. On a timeout the error
    says where the browser is and how loaded the machine was (a CI failure explains itself)."""
    driver.get(f"{base}/login?next={next_}")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-button").click()
    try:
        wait_for(lambda: driver.current_url.startswith(base + next_), timeout, what="login redirect")
    except AssertionError as exc:
        raise AssertionError(f"{exc} ({user}: at {driver.current_url!r}, {_machine()})") from None


def _machine() -> str:
    """The load average and the number of Chromium processes: the context of a browser timeout."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    chromes = subprocess.run(["pgrep", "-c", "-f", "chrom"], capture_output=True, text=True).stdout
    return f"load {os.getloadavg()[0]:.1f}, {chromes.strip() or 0} chromium processes"


def severe_logs(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
