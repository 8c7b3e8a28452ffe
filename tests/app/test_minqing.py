"""民情日志 on real PostgreSQL and Redis (G7, E10, S1/S2; issue 24): a grid worker's entry kept
once however often the phone's outbox replays it; one tap turns it into an incident report
through the incident service (the incident exists, linked both ways, audited; a second tap
gives the same incident); the leaders' view counts per town and category within the reader's
territory; the themes of a fixed set of entries are the expected words (jieba)."""

from __future__ import annotations

import time

import psycopg
import pytest

from app import ledger as app_ledger
from app import minqing as view
from app import security
from app.http import minqing as api
from grid.ledger import minqing
from incidents.actor import Actor
from tests.app.authkit import accounts, app_ctx, client_as, login, web  # noqa: F401
from tests.app.test_api import PZ
from tests.record.conftest import _record_template, pg_service, record_url  # noqa: F401


@pytest.fixture
def led(app_ctx, record_url):  # noqa: ANN001, ANN201, F811
    return app_ledger.attach(app_ctx, record_url)


ENTRIES = ["小区垃圾清运不及时，垃圾堆积发臭", "垃圾桶满了没人清运", "楼下路灯坏了晚上很黑",
           "路灯损坏，老人出行不便", "垃圾分类宣传不够，居民不清楚", "邻里因停车位发生纠纷"]


def test_themes_of_a_fixed_set_are_the_expected_words() -> None:
    assert minqing.themes(ENTRIES, 3) == [("垃圾", 2), ("路灯", 2), ("停车位", 1)]
    words = dict(minqing.themes(ENTRIES, 100))
    assert {"清运", "垃圾桶", "纠纷", "老人"} <= set(words)         # segmented words, not characters
    assert not {"晚上", "居民", "不便", "了", "，"} & set(words)      # stop words, 1-char tokens
    assert minqing.themes([], 5) == []


def test_an_entry_becomes_a_report_in_one_tap(web, led, app_ctx, accounts, record_url) -> None:  # noqa: ANN001, F811
    worker = next(a for a in accounts.values()
                  if a["role"] == "grid_worker" and a["center"] == f"T{PZ}")
    w = client_as(web, worker["user_id"])
    body = {"key": "mq1", "author": worker["user_id"], "category": "环境卫生",
            "tags": "垃圾;夏季", "place": "幸福小区3栋", "text": ENTRIES[0]}

    # recorded once, however often the outbox replays it
    r = w.post("/m/api/minqing", json=body)
    assert r.status_code == 200, r.json
    eid = r.json["id"]
    assert (r.json["duplicate"], r.json["incident"]) == (False, "")
    assert w.post("/m/api/minqing", json=body).json == {"id": eid, "duplicate": True, "incident": ""}
    with psycopg.connect(record_url) as c:
        assert c.execute("SELECT count(*), min(cell_code) FROM ledger_minqing").fetchone() == (
            1, worker["cell"])
    assert w.post("/m/api/minqing", json=dict(body, key="mq2", category="闲聊")).status_code == 400

    # one tap: an incident through the service, linked both ways, audited
    r = w.post(f"/m/api/minqing/{eid}/report", json={})
    assert r.status_code == 200, r.json
    iid = r.json["incident"]
    inc = app_ctx.incidents.store.load(iid)
    assert inc is not None and inc.category == "0104" and inc.reporter == worker["user_id"]
    assert inc.sources[0]["ref"] == f"民情日志#{eid}" and ENTRIES[0] in inc.description
    assert inc.sources[0]["channel"] == "grid_worker"
    entry = security.audit_entries(app_ctx.redis, 1)[0]
    assert (entry["event"], entry["target"]) == (api.AUDIT_REPORT, f"minqing:{eid}")
    mine = w.get("/m/api/minqing").json["entries"]
    assert [(m["id"], m["incident_id"]) for m in mine] == [(eid, iid)]
    # a second tap (a lost answer): the same incident, nothing new
    again = w.post(f"/m/api/minqing/{eid}/report", json={})
    assert (again.json["incident"], again.json["duplicate"]) == (iid, True)
    # another worker cannot report my entry: 403
    other = next(a for a in accounts.values()
                 if a["role"] == "grid_worker" and a["user_id"] != worker["user_id"])
    assert client_as(web, other["user_id"]).post(f"/m/api/minqing/{eid}/report").status_code == 403

    # recorded and reported in one request (the form's 记录并上报, through the outbox); replayed
    both = dict(body, key="mq3", text=ENTRIES[2], category="安全隐患", report=True)
    r = w.post("/m/api/minqing", json=both)
    assert r.status_code == 200 and r.json["incident"].startswith("E")
    assert w.post("/m/api/minqing", json=both).json["incident"] == r.json["incident"]
    assert app_ctx.incidents.store.load(r.json["incident"]).category == "0402"

    # the leaders' view: the reader's territory only
    client_as(web, other["user_id"]).post("/m/api/minqing", json={
        "key": "o1", "author": other["user_id"], "category": "矛盾纠纷", "text": ENTRIES[5]})
    now = time.time()
    boss = Actor("commander", "city_commander", "CITY")
    got = view.view_data(app_ctx, boss, now - 3600, now + 3600)
    assert got["total"] == 3
    assert sorted((c["category"], c["n"], c["reported"]) for c in got["counts"]) == [
        ("安全隐患", 1, 1), ("环境卫生", 1, 1), ("矛盾纠纷", 1, 0)]
    pz = view.view_data(app_ctx, Actor("panzhou", "town_operator", f"T{PZ}"), now - 3600, now + 3600)
    assert pz["total"] == 2 and {c["town"] for c in pz["counts"]} == {PZ}
    assert sum(t["n"] for t in pz["trend"]) == 2
    assert {"垃圾", "路灯"} <= set(dict(pz["themes"])) and "纠纷" not in dict(pz["themes"])
    dept = view.view_data(app_ctx, Actor("chengguan", "dept_operator", "DCG"), now - 3600, now + 3600)
    assert dept["total"] == 0 and dept["counts"] == []

    # the same on /analytics (add_section): the 民情 section and its callback for the period
    import datetime as dt  # noqa: PLC0415

    from tests.app.dashkit import DashPage, response_of  # noqa: PLC0415

    c = web.test_client()
    page = DashPage(c, "analytics", login(c, "panzhou"))
    assert "an-minqing-box" in c.get("/analytics/_dash-layout").get_data(as_text=True)
    day = dt.date.today()
    span = {"an-period.start_date": str(day - dt.timedelta(days=1)),
            "an-period.end_date": str(day + dt.timedelta(days=1))}
    out = response_of(page.call("an-minqing-counts.data", span, ["an-period.start_date"]))
    assert sorted((r["category"], r["n"]) for r in out["an-minqing-counts"]["data"]) == [
        ("安全隐患", 1), ("环境卫生", 1)]
    assert out["an-minqing-note"]["children"] == "共 2 条"
