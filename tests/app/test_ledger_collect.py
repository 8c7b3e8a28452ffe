"""信息采集 with the town's review on real PostgreSQL and Redis (E10, G8, SEC18, SEC9, S1/S2; issue
24): a grid worker's new or changed object waits PENDING, invisible in the roster and the
register; the cell's town approves it (it enters the register, audited) or rejects it with a
reason the worker reads; another town cannot review it (403, audited); the phone's replay does
not submit twice; the console's 信息采集审核 page lists it masked per role and reviews it."""

from __future__ import annotations

import psycopg
import pytest

from app import ledger as app_ledger
from app import security
from app.http import ledger_collect as api
from tests.app.authkit import accounts, app_ctx, client_as, web  # noqa: F401
from tests.app.test_api import PZ
from tests.app.test_ledger import ident
from tests.record.conftest import _record_template, pg_service, record_url  # noqa: F401


@pytest.fixture
def led(app_ctx, record_url):  # noqa: ANN001, ANN201, F811
    return app_ledger.attach(app_ctx, record_url)


def _events(r, n: int = 5) -> list[str]:  # noqa: ANN001
    return [e["event"] for e in security.audit_entries(r, n)]


def test_collect_enters_the_register_only_after_the_towns_review(web, led, app_ctx, accounts,  # noqa: ANN001, F811
                                                                   record_url) -> None:  # noqa: F811
    worker = next(a for a in accounts.values()
                  if a["role"] == "grid_worker" and a["center"] == f"T{PZ}")
    cell = worker["cell"]
    w = client_as(web, worker["user_id"])
    pz = client_as(web, "panzhou")            # 潘州's 镇街值班员: the cell's town
    other = client_as(web, "town")            # another town's 值班员
    person = {"name": "张三", "id_number": ident(7), "phone": "13812345678", "tags": "独居老人",
              "house": "H-7"}

    # the phone submits (its outbox's key); a replay submits nothing twice
    r = w.post("/m/api/ledger/collect", json={"key": "k1", "kind": "people", "row": person})
    assert r.status_code == 200, r.json
    sid = r.json["id"]
    assert (r.json["status"], r.json["duplicate"]) == ("pending", False)
    assert r.json["submission"]["data"]["name"] == "张*"          # masked for the worker too
    again = w.post("/m/api/ledger/collect", json={"key": "k1", "kind": "people", "row": person})
    assert (again.json["id"], again.json["duplicate"]) == (sid, True)
    # validated as the import's row: the same reasons
    bad = w.post("/m/api/ledger/collect", json={"key": "k2", "kind": "people",
                                                 "row": dict(person, id_number="123")})
    assert bad.status_code == 400 and "id_number: 身份证号格式或校验位错误" in bad.json["problems"]
    other_cell = next(c for c, t in led.cell_towns.items() if c != cell)
    r = w.post("/m/api/ledger/collect", json={"key": "k3", "kind": "people",
                                               "row": dict(person, cell=other_cell)})
    assert r.status_code == 403

    # pending: in neither the roster nor the register
    assert pz.get(f"/api/ledger/cells/{cell}/people").json["people"] == []
    with psycopg.connect(record_url) as c:
        assert c.execute("SELECT count(*) FROM ledger_people").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM ledger_collect").fetchone()[0] == 1

    # the town's review list: unmasked for the town operator (it works cases: personal data),
    # and that read is audited; another town sees none of it
    got = pz.get("/api/ledger/collect").json["submissions"]
    assert [(s["id"], s["op"], s["data"]["id_number"]) for s in got] == [(sid, "new", ident(7))]
    assert _events(app_ctx.redis, 1) == [api.AUDIT_READ]
    assert other.get("/api/ledger/collect").json["submissions"] == []

    # another town cannot review it: 403, audited; nor the worker
    r = other.post(f"/api/ledger/collect/{sid}/approve", json={})
    assert r.status_code == 403 and "submissions" not in r.json
    entry = security.audit_entries(app_ctx.redis, 1)[0]
    assert (entry["event"], entry["user"], entry["target"]) == ("denied", "town", f"collect:{sid}")
    assert w.post(f"/api/ledger/collect/{sid}/approve", json={}).status_code == 403

    # approve: in the register and the roster at once, audited; twice: 409
    r = pz.post(f"/api/ledger/collect/{sid}/approve", json={})
    assert r.status_code == 200 and r.json["status"] == "approved"
    entry = security.audit_entries(app_ctx.redis, 1)[0]
    assert (entry["event"], entry["user"], entry["target"]) == (api.AUDIT_APPROVE, "panzhou",
                                                                 f"collect:{sid}")
    roster = w.get(f"/api/ledger/cells/{cell}/people").json["people"]
    assert roster == [{"name": "张*", "id_number": ident(7)[:6] + "********" + ident(7)[-4:],
                       "phone": "138****5678", "tags": ["独居老人"], "house": "H-7"}]
    assert pz.post(f"/api/ledger/collect/{sid}/approve", json={}).status_code == 409

    # a change (the same person, another phone) rejected with a reason: the worker reads it,
    # the register keeps the old phone
    r = w.post("/m/api/ledger/collect", json={"key": "k4", "kind": "people",
                                               "row": dict(person, phone="13900001111")})
    sid2 = r.json["id"]
    assert r.json["submission"]["op"] == "change"
    assert pz.post(f"/api/ledger/collect/{sid2}/reject", json={}).status_code == 400  # no reason
    r = pz.post(f"/api/ledger/collect/{sid2}/reject", json={"reason": "电话与户籍登记不符，请核实"})
    assert r.status_code == 200 and r.json["status"] == "rejected"
    assert _events(app_ctx.redis, 1) == [api.AUDIT_REJECT]
    mine = {s["id"]: s for s in w.get("/m/api/ledger/collect").json["submissions"]}
    assert (mine[sid2]["status_name"], mine[sid2]["reason"]) == ("已退回", "电话与户籍登记不符，请核实")
    assert mine[sid]["status"] == "approved"
    with psycopg.connect(record_url) as c:
        assert c.execute("SELECT phone FROM ledger_people").fetchall() == [("13812345678",)]


def test_collect_review_page_in_the_console(web, led, app_ctx, accounts) -> None:  # noqa: ANN001, F811
    worker = next(a for a in accounts.values()
                  if a["role"] == "grid_worker" and a["center"] == f"T{PZ}")
    cell = worker["cell"]
    lon, lat = led.city.cells[led.city.cells["code"] == cell].geometry.iloc[0].representative_point().coords[0]
    w = client_as(web, worker["user_id"])
    unit = {"code": "91440981MA4UABCD1X", "name": "某店", "kind": "商铺", "phone": "13812345678",
            "lon": lon, "lat": lat}
    sid = w.post("/m/api/ledger/collect", json={"key": "u1", "kind": "units", "row": unit}).json["id"]

    pz = client_as(web, "panzhou")
    assert "collect-link" in pz.get("/console/_dash-layout").get_data(as_text=True)
    page = pz.get("/console/collect/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "信息采集审核" in text and f'id="collect-{sid}"' in text and "13812345678" in text
    # a town 监督核查员 reviews too; the page's form approves it (CSRF in the form)
    sup = client_as(web, "supervisor_pz")
    token = sup.environ_base.pop("HTTP_X_CSRFTOKEN")
    r = sup.post(f"/console/collect/{sid}", data={"action": "approve", "csrf_token": token})
    assert r.status_code == 303
    assert "已通过" in sup.get(r.headers["Location"]).get_data(as_text=True)
    assert w.get(f"/api/ledger/cells/{cell}/units").json["units"][0]["name"] == "某店"
    # another town's operator opens the page: its own town's list, not this one
    assert f'id="collect-{sid}"' not in client_as(web, "town").get(
        "/console/collect/?status=approved").get_data(as_text=True)
    # a department cannot review at all: 403, and its console has no link to it
    dept = client_as(web, "chengguan")
    assert dept.get("/console/collect/").status_code == 403
    assert "collect-link" not in dept.get("/console/_dash-layout").get_data(as_text=True)
