"""Browser: the grid worker's cell roster offline and a 走访 against a patrol task (issue 24 "Done
means"; G8 辖区对象花名册 + 按巡查任务登记服务记录, E10, SPEC §4 weak network).

Headless Chromium emulates a 360×780 phone against the real server (create_server in a thread)
on the private redis-server and PostgreSQL. The worker opens the 花名册 (masked), the network goes
away (Chromium's offline emulation, and the page's fetch fails like it does without network: see
test_e2e_mobile_offline), the roster still shows from the copy kept on the phone
("离线名册 · 更新于 HH:MM") and is searched; a 走访 to a resident is recorded against the patrol
task and kept in the outbox; back online it reaches the server once, linked to the task and the
resident, and the task card shows it.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from selenium.webdriver.common.by import By

from app import ledger as app_ledger
from app.users import UserStore
from tests.app.authkit import accounts, app_ctx, web  # noqa: F401
from tests.app.e2ekit import browser_login, chrome, live, wait  # noqa: F401
from tests.app.test_ledger import ident
from tests.record.conftest import _record_template, pg_service, record_url  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OFFLINE = """window.__fetch = window.__fetch || window.fetch.bind(window);
window.fetch = (u, o) => String(u).includes('/m/api/') ?
  Promise.reject(new TypeError('Failed to fetch')) : window.__fetch(u, o);"""
ONLINE = "if (window.__fetch) window.fetch = window.__fetch;"


def _tap(d, el) -> None:  # noqa: ANN001
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def _tab(d, name: str) -> None:  # noqa: ANN001
    _tap(d, d.find_element(By.CSS_SELECTOR, f'nav.tabs button[data-tab="{name}"]'))


def test_roster_offline_and_a_visit_against_the_task(live, app_ctx, accounts, record_url,  # noqa: F811
                                                     tmp_path) -> None:
    led = app_ledger.attach(app_ctx, record_url)
    worker = sorted(u for u, a in accounts.items() if a["role"] == "grid_worker")[0]
    cell = accounts[worker]["cell"]
    lon, lat = led.city.cells[led.city.cells["code"] == cell].geometry.iloc[0] \
        .representative_point().coords[0]
    (tmp_path / "p.csv").write_text("name,id_number,phone,tags,cell,house\n"
                                    f"张三,{ident(1)},13812345678,独居老人,{cell},H-0001\n"
                                    f"王芳,{ident(2)},,,{cell},H-0002\n", encoding="utf-8")
    (tmp_path / "h.csv").write_text(f"code,address,kind,cell,lon,lat\nH-0001,幸福路1号,住宅,{cell},"
                                    f"{lon},{lat}\n", encoding="utf-8")
    assert led.import_file(tmp_path / "p.csv").imported == 2
    assert led.import_file(tmp_path / "h.csv").imported == 1
    town_op = next(UserStore(app_ctx.redis).get(u).actor for u, a in accounts.items()
                   if a["role"] == "town_operator" and a["center"] == accounts[worker]["center"])
    task = app_ctx.incidents.assign_task(town_op, f"W{cell}", "入户走访独居老人")

    d = chrome(360, 780, mobile=True)
    try:
        browser_login(d, live, worker, "/m/")
        wait(lambda: d.execute_script("return window.OM && OM.ready === true && !!OM.roster"), 30,
             "the phone page with its roster")
        _tab(d, "roster")
        status = d.find_element(By.ID, "roster-status")
        wait(lambda: "名册已同步" in status.text, 20, "the roster fetched")
        assert len(d.find_elements(By.CSS_SELECTOR, "#roster-list li.card.roster:not(.place)")) == 3
        page = d.find_element(By.ID, "roster-list").text
        assert "张*" in page and "王*" in page and "幸福路1号" in page
        assert "13812345678" not in page and ident(1) not in page and "138****5678" in page

        # no network: the roster still opens (the copy kept at the last sync), searchable
        d.set_network_conditions(offline=True, latency=0, throughput=0)
        d.execute_script(OFFLINE)
        _tab(d, "tasks")
        _tab(d, "roster")
        wait(lambda: re.fullmatch(r"离线名册 · 更新于 \d\d:\d\d", status.text), 20, "the offline roster")
        search = d.find_element(By.ID, "roster-search")
        search.send_keys("张")
        wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#roster-list li.card.roster")) == 1, 5,
             "the search by name")
        card = d.find_element(By.CSS_SELECTOR, "#roster-list li.card.roster.person")
        assert "张*" in card.text and "独居老人" in card.text

        # a 走访 to 张三 against the patrol task: kept on the phone while offline
        _tap(d, card.find_element(By.CSS_SELECTOR, "button.visit"))
        form = card.find_element(By.CSS_SELECTOR, "form.visit-form")
        assert task.id in form.find_element(By.CSS_SELECTOR, "select.visit-task").text
        form.find_element(By.CSS_SELECTOR, "textarea.visit-note").send_keys("老人身体尚好，已提醒用电安全")
        _tap(d, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        wait(lambda: d.execute_script("const x = OM.outbox.items(); return x.length === 1 && "
                                      "x[0].kind === 'visit' && x[0].attempts >= 1"), 20,
             "the visit kept in the outbox")
        key = d.execute_script("return OM.outbox.items()[0].key")
        with psycopg.connect(record_url) as pg:
            assert pg.execute("SELECT count(*) FROM ledger_visits").fetchone()[0] == 0

        # back online: sent once, linked to the task and the resident; the task card shows it
        d.set_network_conditions(offline=False, latency=0, throughput=0)
        d.execute_script(ONLINE)
        d.execute_async_script("OM.outbox.flush(true).then(arguments[arguments.length - 1])")
        wait(lambda: d.execute_script("return OM.outbox.items().length === 0"), 20, "the visit sent")
        with psycopg.connect(record_url) as pg:
            rows = pg.execute("SELECT id, task_id, worker, object_kind, object_ref, note "
                              "FROM ledger_visits").fetchall()
        assert rows == [(key, task.id, worker, "person", ident(1), "老人身体尚好，已提醒用电安全")]
        _tab(d, "tasks")
        wait(lambda: "走访/服务记录 1 条" in d.find_element(
            By.CSS_SELECTOR, f'#task-list li.card.task[data-id="{task.id}"] .visits').text, 20,
            "the visit on the task card")
    finally:
        d.quit()
