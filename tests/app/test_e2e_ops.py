"""Browser: the admin's /ops/ page draws process health, Redis, broker and dead letters; the
admin works the dead letters (issue 21: ops is a screen an administrator works in)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from app import heartbeat
from tests.app.e2ekit import browser_login, chrome, foreign_requests, live, wait  # noqa: F401

pytestmark = [pytest.mark.browser]


def test_ops_page_shows_health(live, app_ctx, accounts):  # noqa: F811
    from sensors import deadletter

    heartbeat.beat(app_ctx.redis, "ingest", "box:1", {"messages": 5})
    deadletter.record(app_ctx.redis, "schema", "gz/wl/wl-1/telemetry", b'{"v": "x"}',
                      device_id="wl-1")
    d = chrome(1280, 900)
    try:
        browser_login(d, live, "admin", "/ops/")
        table = wait(lambda: d.find_element(By.ID, "procs"), 60, "the process table")
        wait(lambda: "接入" in table.text and "网页服务" in d.find_element(By.ID, "procs").text,
             30, "ingest and web rows")
        assert "正常" in d.find_element(By.ID, "card-redis").text
        assert "格式不符" in d.find_element(By.ID, "dlq-reasons").text
        d.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='积压']").click()
        wait(lambda: "市" in d.find_element(By.ID, "ops-backlog").text, 30, "the backlog by center name")
        d.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='死信']").click()
        wait(lambda: "wl-1" in d.find_element(By.ID, "dlq-table").text, 30, "the dead letter row")
        d.find_element(By.CSS_SELECTOR, "#dlq-table input[type=checkbox]").click()
        d.find_element(By.ID, "dlq-ack").click()
        wait(lambda: "已标记处理 1 条" in d.find_element(By.ID, "dlq-msg").text, 30, "the ack message")
        wait(lambda: "wl-1" not in d.find_element(By.ID, "dlq-table").text, 30, "the row gone")
        assert foreign_requests(d, live) == []
    finally:
        d.quit()
