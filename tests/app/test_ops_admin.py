"""/ops as a screen an administrator works in (issue 21): the backlog per center by name (not a
stream's history length), dead letters replayed exactly once after their cause is fixed, marked
已处理 and exported, accounts and the security audit — every change admin-only and audited."""

from __future__ import annotations

import json
import threading
import time

from app import security
from app.screens import ops
from app.screens.ops import model
from incidents.actor import Actor
from sensors import deadletter, topics
from sensors import keys as sk
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401


def _gas_device(ctx) -> str:
    fleet = ctx.devices.fleet
    return str(fleet[fleet["type"] == "gas"].iloc[0]["id"])


def _valid(dev: str) -> tuple[str, bytes]:
    body = {"ts": int(time.time() * 1000), "metrics": {"lel_pct": 3.5}}
    return topics.telemetry("gas", dev), json.dumps(body).encode()


def test_backlog_counts_each_centers_waiting_work_by_name(app_ctx):  # noqa: F811
    """积压: a town's backlog is what its 待办 lists, named by the town, whatever the length of
    the dispatch stream behind it (every move appends to it)."""
    svc = app_ctx.incidents
    town = app_ctx.city.towns.iloc[0]
    center = f"T{town['code']}"
    clerk = Actor("t1", "town_operator", center)
    p = town.geometry.representative_point()
    ids = [svc.report(clerk, "0108", p.x + i * 0.004, p.y, description=f"路面破损 {i}",
                      correlate=False).id for i in range(3)]
    svc.void(ids[0], clerk, "重复")
    todo = svc.list_queue(clerk, "todo", limit=100)
    rows = {r["center"]: r for r in ops.backlog(app_ctx)}
    assert rows[center]["name"].startswith(town["name"])
    assert rows[center]["waiting"] == len(todo) == 2
    assert rows[center]["oldest"]
    assert rows["CITY"]["name"] and rows["CITY"]["waiting"] == 0
    assert len(rows) == len(app_ctx.city.centers), "every center listed, idle ones with 0"


def test_replay_stores_a_fixed_message_exactly_once(app_ctx):  # noqa: F811
    """A message kept because of a fault since fixed is replayed through ingest's own path once:
    two administrators replaying the same entry at the same moment store it once."""
    r = app_ctx.redis
    dev = _gas_device(app_ctx)
    topic, raw = _valid(dev)
    deadletter.record(r, "internal", topic, raw, "a bug, fixed since", dev)
    [entry] = deadletter.latest(r, 1)
    hist_before = r.llen(sk.dev_hist(dev)) if r.type(sk.dev_hist(dev)) == "list" else None
    outcomes: list[list] = []
    go = threading.Barrier(2)

    def replay() -> None:
        go.wait()
        outcomes.append(model.replay_deadletters(app_ctx, [entry["id"]]))

    ts = [threading.Thread(target=replay) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    results = sorted(o[0][1] for o in outcomes)
    assert results[0] == "已重放，已入库" and results[1].startswith("未重放"), results
    assert deadletter.get(r, entry["id"]) is None and r.xlen(sk.DEADLETTER) == 0
    assert r.hget(sk.DEV_STATE, dev) or r.exists(sk.dev_last(dev)), "the reading was stored"
    if hist_before is not None:
        assert r.llen(sk.dev_hist(dev)) == hist_before + 1
    assert int(r.hget(sk.DLQ_REPLAYED, "internal")) == 1


def test_replay_of_a_still_bad_message_keeps_it_with_its_new_reason(app_ctx):  # noqa: F811
    r = app_ctx.redis
    deadletter.record(r, "internal", topics.telemetry("gas", "no-such-device"), b'{"ts": 1}', "x")
    [entry] = deadletter.latest(r, 1)
    [(_, outcome)] = model.replay_deadletters(app_ctx, [entry["id"]])
    assert outcome.startswith("已重放，仍被拒收")
    [again] = deadletter.latest(r, 1)
    assert again["id"] != entry["id"] and again["reason"] in ("unknown_device", "schema")


def test_a_cut_message_is_not_replayed(app_ctx):  # noqa: F811
    r = app_ctx.redis
    deadletter.record(r, "oversized", "om/v1/tele/gas/x", b"x" * 100_000, "too big")
    [entry] = deadletter.latest(r, 1)
    [(_, outcome)] = model.replay_deadletters(app_ctx, [entry["id"]])
    assert "截断" in outcome and deadletter.get(r, entry["id"]) is not None


def _callback(web, user: str, output: str, inputs: list[dict], state: list[dict], changed: str):  # noqa: F811
    client = web.test_client()
    tok = login(client, user)
    deps = client.get("/ops/_dash-dependencies").json
    spec = next(d["output"] for d in deps if output in d["output"])
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]}
               for p in spec.strip(".").split("...")]
    body = {"output": spec, "outputs": outputs, "changedPropIds": [changed], "inputs": inputs,
            "state": state}
    return client.post("/ops/_dash-update-component", json=body, headers={"X-CSRFToken": tok})


def _ack(web, user: str, rows: list[dict]):  # noqa: F811
    return _callback(web, user, "dlq-msg.children",
                     [{"id": "dlq-replay", "property": "n_clicks", "value": None},
                      {"id": "dlq-ack", "property": "n_clicks", "value": 1}],
                     [{"id": "dlq-table", "property": "data", "value": rows},
                      {"id": "dlq-table", "property": "selected_rows", "value": [0]},
                      {"id": "dlq-rev", "property": "data", "value": 0}], "dlq-ack.n_clicks")


def test_only_an_administrator_changes_dead_letters_and_it_is_audited(web, app_ctx):  # noqa: F811
    r = app_ctx.redis
    deadletter.record(r, "schema", "om/v1/tele/gas/x", b'{"v": 1}', "bad", "x")
    rows = [{"id": deadletter.latest(r, 1)[0]["id"]}]
    assert _ack(web, "commander", rows).status_code == 403     # sees /ops, may not change it
    assert r.xlen(sk.DEADLETTER) == 1
    resp = _ack(web, "admin", rows)
    assert resp.status_code == 200 and "已标记处理 1 条" in resp.get_data(as_text=True)
    assert r.xlen(sk.DEADLETTER) == 0
    assert any(e["event"] == "deadletter_ack" and e["user"] == "admin"
               for e in security.audit_entries(r, 20))


def test_deadletter_export_is_chinese_escaped_uncached_and_audited(web, app_ctx):  # noqa: F811
    r = app_ctx.redis
    deadletter.record(r, "schema", "om/v1/tele/gas/x", b"=HYPERLINK(\"http://x\")", "=1+1", "x")
    c = web.test_client()
    login(c, "admin")
    resp = c.get("/ops/deadletters.csv?reason=schema")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "no-store" in resp.headers["Cache-Control"]
    assert text.lstrip("\ufeff").startswith("时间,原因,原因代码") and "格式不符" in text
    assert ",=1+1" not in text and "'=1+1" in text
    assert any(e["event"] == "export" and e["path"] == "/ops/deadletters.csv"
               for e in security.audit_entries(r, 20))
    c2 = web.test_client()
    login(c2, "panzhou")
    assert c2.get("/ops/deadletters.csv").status_code == 403


def test_an_administrator_revokes_a_users_sessions(web, app_ctx):  # noqa: F811
    victim = web.test_client()
    login(victim, "panzhou")
    assert victim.get("/console/").status_code == 200
    rows = [row for row in model.account_rows(app_ctx) if row["user_id"] == "panzhou"]
    assert rows[0]["sessions"] == 1 and rows[0]["role"] == "镇街值班员"
    assert not rows[0]["center"].startswith("T"), "the center by name"
    resp = _callback(web, "admin", "acc-msg.children",
                     [{"id": "acc-disable", "property": "n_clicks", "value": None},
                      {"id": "acc-enable", "property": "n_clicks", "value": None},
                      {"id": "acc-revoke", "property": "n_clicks", "value": 1}],
                     [{"id": "acc-table", "property": "data", "value": rows},
                      {"id": "acc-table", "property": "selected_rows", "value": [0]},
                      {"id": "acc-rev", "property": "data", "value": 0}], "acc-revoke.n_clicks")
    assert resp.status_code == 200 and "已注销 panzhou 的 1 个会话" in resp.get_data(as_text=True)
    assert victim.get("/console/").status_code in (302, 401)


def test_security_audit_viewer_filters_and_verifies(app_ctx):  # noqa: F811
    r = app_ctx.redis
    security.audit(r, "login", user="alice", path="/login")
    security.audit(r, "denied", user="bob", path="/api/x", reason="scope")
    rows = model.audit_rows(r, event="denied")
    assert [x["user"] for x in rows] == ["bob"] and rows[0]["event_cn"] == "越权拒绝"
    assert [x["event"] for x in model.audit_rows(r, user="alice")] == ["login"]
