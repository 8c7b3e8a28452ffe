"""Browser-test helpers: the real Flask server (create_server) in a thread, headless Chromium,
login through the form, and a month of plausible incidents for the assessment page."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from tests.app.authkit import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


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
    d.get(f"{base}/login?next={next_path}")
    d.find_element(By.ID, "user").send_keys(user)
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "login-button").click()
    wait(lambda: d.current_url.startswith(base + next_path), 30, f"landing on {next_path}")


def foreign_requests(d: webdriver.Chrome, base: str) -> list[str]:
    """Resource requests of the current document that went to another origin."""
    names = d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat([location.href])")
    return [n for n in names if not (n.startswith(base) or n.startswith(("data:", "blob:",
                                                                          "about:")))]


def populate(ctx, accounts: dict, n: int = 160, days: int = 20, seed: int = 7) -> list[str]:
    """A plausible few weeks of closed-loop work in every town (for charts and screenshots).

    Uses the real IncidentService with a clock moved through the past ``days``: some stages are
    late, some cases stay open, a few are reopened, callbacks give 2–5 stars.
    """
    from incidents.actor import Actor
    from incidents.service import IncidentService

    rng = random.Random(seed)
    city = ctx.city
    t = [time.time() - days * 86400]
    svc = IncidentService(ctx.redis, city, clock=lambda: t[0])
    cats = ["0101", "0104", "0105", "0106", "0107", "0108", "0102", "0601", "0602", "1001",
            "0201", "0302"]
    towns = list(city.towns["code"])
    # each town gets its own skill: how fast and how well it works (so the ranking spreads)
    skill = {tc: rng.uniform(0.3, 1.0) for tc in towns}
    ids = []
    start = t[0]
    for k in range(n):
        town = rng.choice(towns)
        s = skill[town]
        cells = city.cells[city.cells["town_code"] == town]
        cell = cells.iloc[rng.randrange(len(cells))]
        p = cell.geometry.representative_point()
        worker = Actor(str(cell["worker_id"]), "grid_worker", f"T{town}", "网格员",
                       str(cell["code"]))
        op = Actor(f"op-{town}", "town_operator", f"T{town}", "值班员")
        sup = Actor(f"sup-{town}", "supervisor", f"T{town}", "核查员")
        t[0] = start + (k / n) * (days - 1) * 86400 + rng.uniform(0, 3600)
        inc = svc.report(worker, rng.choice(cats), p.x, p.y, description="巡查发现",
                         correlate=False)
        ids.append(inc.id)
        try:
            t[0] += rng.uniform(60, 1500 / s)
            svc.accept(inc.id, op)
            if rng.random() < 0.05:
                continue
            t[0] += rng.uniform(60, 2400 / s)
            dept = city.department_for(inc.category)
            svc.dispatch(inc.id, op, [dept.code if dept else "CG"])
            dop = Actor(f"d-{dept.code if dept else 'CG'}", "dept_operator",
                        f"D{dept.code if dept else 'CG'}", "部门")
            if rng.random() < 0.08:
                continue
            t[0] += rng.uniform(300, 3600)
            svc.start(inc.id, dop)
            t[0] += rng.uniform(1800, 100000 / s)
            svc.handle(inc.id, dop, note="已处置")
            t[0] += rng.uniform(600, 9000)
            passed = rng.random() < 0.75 + 0.2 * s
            svc.verify(inc.id, sup, passed=passed)
            if not passed:
                t[0] += rng.uniform(3600, 20000)
                svc.start(inc.id, dop)
                svc.handle(inc.id, dop, note="返工完成")
                t[0] += rng.uniform(600, 5000)
                svc.verify(inc.id, sup, passed=True)
            t[0] += rng.uniform(300, 3000)
            svc.close(inc.id, op)
            svc.callback(inc.id, op, satisfaction=max(1, min(5, round(rng.gauss(3 + 2 * s, 0.7)))))
        except Exception:  # noqa: BLE001 (a path the rules refuse: leave that case where it is)
            continue
    return ids
