"""The ledger on the grid worker's phone, on real PostgreSQL and Redis (issue 24; G8 辖区对象花名册
and 按巡查任务登记服务记录, E10, SEC18, S1/S2): the roster is the worker's own cell only and always
masked (a person named by a token, never the ID number), with the cell's places (shelters); a 走访 record is linked to the worker's
patrol task (and its trail); a replay of the same visit id inserts nothing; a visit on another
worker's task is 403 and audited."""

from __future__ import annotations

import psycopg

from app import keys, security
from app import ledger as app_ledger
from app.users import UserStore
from tests.app.authkit import accounts, app_ctx, client_as, web  # noqa: F401
from tests.app.test_ledger import ident
from tests.record.conftest import _record_template, pg_service, record_url  # noqa: F401


def _setup(app_ctx, accounts, record_url, tmp_path):  # noqa: ANN001, ANN202, F811
    led = app_ledger.attach(app_ctx, record_url)
    w1, w2 = sorted(u for u, a in accounts.items() if a["role"] == "grid_worker")
    cell, other = accounts[w1]["cell"], accounts[w2]["cell"]
    lon, lat = led.city.cells[led.city.cells["code"] == cell].geometry.iloc[0] \
        .representative_point().coords[0]
    (tmp_path / "p.csv").write_text(
        "name,id_number,phone,tags,cell,house\n"
        f"张三,{ident(1)},13812345678,独居老人,{cell},H-0001\n"
        f"李四,{ident(2)},13912345678,,{other},H-0009\n", encoding="utf-8")
    (tmp_path / "h.csv").write_text(f"code,address,kind,cell,lon,lat\nH-0001,幸福路1号,住宅,{cell},"
                                    f"{lon},{lat}\n", encoding="utf-8")
    (tmp_path / "u.csv").write_text("code,name,kind,phone,cell,lon,lat\n91440981MA4UABCD1X,某店,商铺,"
                                    f"13812345678,{cell},{lon},{lat}\n", encoding="utf-8")
    for f in ("p.csv", "h.csv", "u.csv"):
        assert led.import_file(tmp_path / f).rejected == []
    # 地: a shelter in the worker's cell, one in the other's (the emergency resource register)
    from grid.resources import Shelter  # noqa: PLC0415

    olon, olat = led.city.cells[led.city.cells["code"] == other].geometry.iloc[0] \
        .representative_point().coords[0]
    app_ctx.resource_register.store([
        Shelter(id="SH-1", name="幸福广场避难场所", owner="CITY", lon=lon, lat=lat,
                category="shelter", capacity=200),
        Shelter(id="SH-2", name="别处避难场所", owner="CITY", lon=olon, lat=olat,
                category="shelter", capacity=50)])
    app_ctx.__dict__.pop("_resources_frame", None)
    store = UserStore(app_ctx.redis)
    town_op = next(store.get(u).actor for u, a in accounts.items()
                   if a["role"] == "town_operator" and a["center"] == accounts[w1]["center"])
    return led, w1, w2, town_op


def test_roster_own_cell_masked_and_visit_linked_idempotent_scoped(  # noqa: PLR0915
        web, app_ctx, accounts, record_url, tmp_path) -> None:  # noqa: F811
    led, w1, w2, town_op = _setup(app_ctx, accounts, record_url, tmp_path)
    task = app_ctx.incidents.assign_task(town_op, f"W{accounts[w1]['cell']}", "入户走访独居老人")
    c = client_as(web, w1)
    before = len(security.audit_entries(app_ctx.redis, 1000))
    r = c.get("/m/api/ledger/roster")
    assert r.status_code == 200 and r.headers["Cache-Control"].startswith("no-store")
    got = r.json
    # own cell only (李四 lives in w2's cell), masked: no ID number, no phone in clear
    assert got["cell"] == accounts[w1]["cell"]
    assert [p["name"] for p in got["people"]] == ["张*"]
    person = got["people"][0]
    assert person["id_number"] == ident(1)[:6] + "********" + ident(1)[-4:]
    assert person["phone"] == "138****5678" and person["tags"] == ["独居老人"]
    assert person["ref"].startswith("p") and ident(1) not in r.get_data(as_text=True)
    assert "13812345678" not in r.get_data(as_text=True)
    assert [h["ref"] for h in got["houses"]] == ["H-0001"]
    assert got["units"][0]["phone"] == "138****5678"
    assert [(p["ref"], p["name"], p["kind"]) for p in got["places"]] == [
        ("SH-1", "幸福广场避难场所", "避难场所")]
    assert got["tasks"] == [{"id": task.id, "title": "入户走访独居老人", "open": True}]
    assert len(security.audit_entries(app_ctx.redis, 1000)) == before   # masked: no unmasked read

    # a 走访 to 张三 against the task; the same id again (the outbox replays it): one row
    body = {"task": task.id, "kind": "走访", "note": "老人身体尚好，已提醒用电安全",
            "object_kind": "person", "object_ref": person["ref"], "lon": 110.9, "lat": 21.9,
            "client_ts": 1_000}   # a phone clock far off: the server's time
    first = c.post("/m/api/ledger/visits", json=body, headers={"Idempotency-Key": "v0000000001"})
    assert first.status_code == 200, first.get_data(as_text=True)
    again = c.post("/m/api/ledger/visits", json=body, headers={"Idempotency-Key": "v0000000001"})
    assert (first.json["duplicate"], again.json["duplicate"]) == (False, True)
    assert again.json["id"] == first.json["id"] == "v0000000001"
    with psycopg.connect(record_url) as pg:
        rows = pg.execute("SELECT id, task_id, worker, object_kind, object_ref, kind, cell_code "
                          "FROM ledger_visits").fetchall()
    assert rows == [("v0000000001", task.id, w1, "person", ident(1), "走访", accounts[w1]["cell"])]
    # visible on the task: the phone's list, the console's API and the task's trail (masked)
    mine = c.get(f"/m/api/ledger/visits?task={task.id}").json["visits"]
    assert [(v["id"], v["label"], v["object_ref"]) for v in mine] == [
        ("v0000000001", "张*", person["ref"])]
    op = client_as(web, UserStore(app_ctx.redis).get(town_op.user_id).user_id)
    console = op.get(f"/api/ledger/tasks/{task.id}/visits").json["visits"]
    assert [v["id"] for v in console] == ["v0000000001"]
    notes = [e for e in app_ctx.incidents.timeline(task.id, town_op) if e["action"] == "note"]
    assert len(notes) == 1 and "【走访】张*：老人身体尚好" in notes[0]["reason"]

    # a house visit without a note; an object outside the cell is refused with its reason
    h = c.post("/m/api/ledger/visits", json={"task": task.id, "kind": "服务", "object_kind": "house",
                                              "object_ref": "H-0001"},
               headers={"Idempotency-Key": "v0000000002"})
    assert h.status_code == 200 and not h.json["duplicate"]
    pl = c.post("/m/api/ledger/visits", json={"task": task.id, "kind": "服务", "object_kind": "place",
                                               "object_ref": "SH-1", "note": "检查应急物资"},
                headers={"Idempotency-Key": "v0000000005"})
    assert pl.status_code == 200, pl.get_data(as_text=True)
    assert c.post("/m/api/ledger/visits", json={"task": task.id, "object_kind": "place",
                                                "object_ref": "SH-2"},
                  headers={"Idempotency-Key": "v0000000006"}).status_code == 400
    labels = {v["id"]: v["label"] for v in c.get("/m/api/ledger/visits").json["visits"]}
    assert labels == {"v0000000001": "张*", "v0000000002": "幸福路1号", "v0000000005": "幸福广场避难场所"}
    bad = c.post("/m/api/ledger/visits", json={"task": task.id, "object_kind": "house",
                                                "object_ref": "H-0009"},
                 headers={"Idempotency-Key": "v0000000003"})
    assert bad.status_code == 400 and "不在本网格花名册" in bad.json["reason"]
    assert app_ctx.redis.hget(keys.COUNTERS, "ledger_visit_rejected") == "2"   # counted

    # w2: its own cell's roster only; w1's task is not theirs → 403, audited, nothing stored
    c2 = client_as(web, w2)
    assert [p["name"] for p in c2.get("/m/api/ledger/roster").json["people"]] == ["李*"]
    assert c2.get("/m/api/ledger/roster").json["tasks"] == []
    denied = c2.post("/m/api/ledger/visits", json={"task": task.id, "kind": "走访"},
                     headers={"Idempotency-Key": "v0000000004"})
    assert denied.status_code == 403
    entry = security.audit_entries(app_ctx.redis, 1)[0]
    assert (entry["event"], entry["user"], entry["target"]) == ("denied", w2, task.id)
    assert c2.get(f"/m/api/ledger/visits?task={task.id}").status_code == 403
    # a town operator is not a grid worker: no phone roster (403)
    assert op.get("/m/api/ledger/roster").status_code == 403
    with psycopg.connect(record_url) as pg:
        assert pg.execute("SELECT count(*) FROM ledger_visits").fetchone()[0] == 3
