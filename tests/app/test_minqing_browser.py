"""Browser: the grid worker's 民情日志 and 信息采集 (under 巡查) on a 360-px phone (issue 24; G7 民情日志, E10 信息采集, SPEC §4
weak network). A 民情 entry recorded without network waits in the outbox and reaches the server
once back online; 转为上报 turns it into an incident in one tap; a 信息采集 of a resident goes to
the town's review and shows 待审核 (the register still without it)."""

from __future__ import annotations

import psycopg
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from app import ledger as app_ledger
from tests.app.authkit import accounts, app_ctx, web  # noqa: F401
from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401
from tests.app.test_ledger import ident
from tests.app.test_ledger_phone_browser import OFFLINE, ONLINE, _tab, _tap
from tests.record.conftest import _record_template, pg_service, record_url  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_minqing_offline_then_one_tap_and_a_collect_to_review(live, app_ctx, accounts,  # noqa: F811
                                                              record_url) -> None:  # noqa: F811
    app_ledger.attach(app_ctx, record_url)
    worker = sorted(u for u, a in accounts.items() if a["role"] == "grid_worker")[0]
    d = chrome(360, 780, mobile=True)
    try:
        browser_login(d, live, worker, "/m/")
        wait(lambda: d.execute_script("return window.OM && OM.ready === true && !!OM.minqing "
                                      "&& !!OM.collect"), 30, "the phone page with 民情日志")
        _tab(d, "patrol")
        wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#mq-category option")) > 5, 20,
             "the 民情 categories")

        # no network: the entry is kept in the outbox
        d.set_network_conditions(offline=True, latency=0, throughput=0)
        d.execute_script(OFFLINE)

        def choose() -> bool:   # the list may be drawn again (boot copy, then the server's)
            Select(d.find_element(By.ID, "mq-category")).select_by_value("环境卫生")
            return d.find_element(By.ID, "mq-category").get_attribute("value") == "环境卫生"
        wait(choose, 20, "the category chosen")
        d.find_element(By.ID, "mq-place").send_keys("幸福小区3栋")
        d.find_element(By.ID, "mq-text").send_keys("垃圾桶满了没人清运")
        _tap(d, d.find_element(By.ID, "mq-save"))
        wait(lambda: d.execute_script("const x = OM.outbox.items(); return x.length === 1 && "
                                      "x[0].kind === 'minqing' && x[0].attempts >= 1"), 20,
             "the entry kept in the outbox")
        with psycopg.connect(record_url) as pg:
            assert pg.execute("SELECT count(*) FROM ledger_minqing").fetchone()[0] == 0

        # back online: sent once; one tap turns it into a report
        d.set_network_conditions(offline=False, latency=0, throughput=0)
        d.execute_script(ONLINE)
        d.execute_async_script("OM.outbox.flush(true).then(arguments[arguments.length - 1])")
        wait(lambda: d.execute_script("return OM.outbox.items().length === 0"), 20, "the entry sent")
        d.execute_async_script("OM.minqing.load().then(arguments[arguments.length - 1])")
        card = wait(lambda: d.find_element(By.CSS_SELECTOR, "#minqing-list li.card.minqing"), 20,
                    "the entry listed")
        assert "垃圾桶满了没人清运" in card.text and "幸福小区3栋" in card.text
        _tap(d, card.find_element(By.CSS_SELECTOR, "button.mq-report"))
        wait(lambda: "已上报 E" in d.find_element(By.ID, "minqing-list").text, 20, "the report made")
        with psycopg.connect(record_url) as pg:
            (n, iid), = pg.execute("SELECT count(*), max(incident_id) FROM ledger_minqing").fetchall()
        assert n == 1 and app_ctx.incidents.store.load(iid).sources[0]["ref"].startswith("民情日志#")

        # 信息采集: a resident of the own cell to the town's review
        fields = d.find_element(By.ID, "co-fields")
        fields.find_element(By.CSS_SELECTOR, '[data-name="name"]').send_keys("张三")
        fields.find_element(By.CSS_SELECTOR, '[data-name="id_number"]').send_keys(ident(5))
        _tap(d, d.find_element(By.ID, "co-submit"))
        wait(lambda: "待审核" in d.find_element(By.ID, "collect-list").text, 20, "the submission listed")
        assert "张*" in d.find_element(By.ID, "collect-list").text
        with psycopg.connect(record_url) as pg:
            assert pg.execute("SELECT count(*) FROM ledger_people").fetchone()[0] == 0
            assert pg.execute("SELECT status FROM ledger_collect").fetchall() == [("pending",)]
    finally:
        d.quit()
