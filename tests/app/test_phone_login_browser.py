"""The phone's first minute on a 360×780 screen (issue 21): the login card fits (no sideways
scroll), the account last signed in on this phone is one tap, the status line (正在获取 GPS…)
does not cover the 上报 button, and the header carries no link a grid worker cannot use."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.app.authkit import PASSWORD, accounts, app_ctx, web  # noqa: F401
from tests.app.e2ekit import chrome, live, wait  # noqa: F401

FITS = ("var m = document.querySelector('body.login main').getBoundingClientRect();"
        "return [document.documentElement.scrollWidth, Math.ceil(m.left), Math.ceil(m.right)]")
OVERLAP = ("var a = document.getElementById('toast').getBoundingClientRect(),"
           " b = document.getElementById(arguments[0]).getBoundingClientRect();"
           "return !(a.bottom <= b.top || a.top >= b.bottom || a.right <= b.left || a.left >= b.right)")


def _log_in(d, base: str, user: str | None) -> None:  # noqa: ANN001
    if user is not None:
        d.find_element(By.ID, "user").send_keys(user)
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "login-button").click()
    wait(lambda: d.current_url.startswith(base + "/m/"), 60, "the phone page")


def test_phone_login_and_first_report_screen(live, accounts):  # noqa: F811
    worker = next(u for u, a in accounts.items() if a["role"] == "grid_worker")
    d = chrome(360, 780, mobile=True)
    try:
        d.get(f"{live}/login?next=/m/")
        scroll_w, left, right = d.execute_script(FITS)
        assert scroll_w <= 360 and left >= 0 and right <= 360, (scroll_w, left, right)
        assert not d.find_elements(By.ID, "last-user")          # nobody signed in here yet
        _log_in(d, live, worker)
        # the header: no link to a screen a grid worker cannot open or use on a phone
        assert not d.find_elements(By.CSS_SELECTOR, "header .screen-nav")
        # 重新定位 shows the status line; it sits under the header, off the 上报 button
        submit = d.find_element(By.ID, "submit")
        d.execute_script("arguments[0].scrollIntoView({block: 'end'})", submit)
        d.find_element(By.ID, "use-gps").click()
        wait(lambda: "GPS" in d.find_element(By.ID, "toast").get_attribute("textContent")
             and "show" in d.find_element(By.ID, "toast").get_attribute("class"), 10, "the toast")
        assert not d.execute_script(OVERLAP, "submit")
        assert d.execute_script("return document.documentElement.scrollWidth") <= 360
        # signed out, the same phone offers the account as one tap; the password is typed
        d.delete_all_cookies()
        d.get(f"{live}/login?next=/m/")
        last = wait(lambda: d.find_element(By.ID, "last-user"), 10, "the last account offered")
        assert worker in last.text and d.find_element(By.ID, "user").get_attribute("value") == ""
        last.click()
        assert d.find_element(By.ID, "user").get_attribute("value") == worker
        assert d.execute_script(FITS)[0] <= 360
        _log_in(d, live, None)
    finally:
        d.quit()
