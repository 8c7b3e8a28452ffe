"""Bulk actions (批量操作, issue 15): one action on many cases, each through the policy and the
audit, per-item results; over HTTP (POST /api/incidents/bulk/<action>) and ``app.api.bulk_act``.
Real redis-server; the console's bulk bar is driven in test_console_browser.py."""

from __future__ import annotations

from app import security
from app.api import bulk_act
from app.users import UserStore
from incidents import audit
from incidents.actor import SYSTEM
from tests.app.authkit import login
from tests.app.test_api import DA, PZ, point_in


def storm(app_ctx, town: str = PZ, n: int = 50, channel: str = "iot") -> list[str]:
    """``n`` machine cases in ``town`` (one alarm episode each, not correlated)."""
    svc, city = app_ctx.incidents, app_ctx.city
    return [svc.report(SYSTEM, "0302", *point_in(city, town, k % 30), severity="较大",
                       channel=channel, description=f"水位超警戒 #{k}", correlate=False,
                       idempotency_key=f"alarm:wl-{town}-{k}:level:{k}").id for k in range(n)]


def test_bulk_accept_over_http_per_item_results_and_audit(web, app_ctx):
    svc = app_ctx.incidents
    ids = storm(app_ctx)
    other = storm(app_ctx, DA, 1)[0]                       # another town's: out of scope
    c = web.test_client()
    tok = login(c, "panzhou")
    r = c.post("/api/incidents/bulk/accept", json={"ids": [*ids, other, ids[0]], "note": "批量受理"},
               headers={"X-CSRFToken": tok})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert (r.json["ok"], r.json["failed"]) == (50, 1)
    items = {i["id"]: i for i in r.json["items"]}
    assert len(r.json["items"]) == 51                      # the repeated id once
    assert items[other]["ok"] is False and "无权操作" in items[other]["reason"]
    assert all(items[i]["ok"] and items[i]["state"] == "accepted" for i in ids)
    assert {svc.store.load(i).state for i in ids} == {"accepted"}
    assert svc.store.load(other).state == "reported"
    trail = audit.timeline(app_ctx.redis, ids[7])
    assert [(e["action"], e["actor"]) for e in trail][-1] == ("accept", "panzhou")
    denied = [e for e in security.audit_entries(app_ctx.redis, 50) if e["event"] == "denied"]
    assert denied and denied[0]["target"] == other and denied[0]["user"] == "panzhou"
    # again: every case refused by the lifecycle, told per item, nothing changes
    again = c.post("/api/incidents/bulk/accept", json={"ids": ids[:3]}, headers={"X-CSRFToken": tok})
    assert again.json["ok"] == 0 and all("受理" in i["reason"] or "accept" in i["reason"]
                                          for i in again.json["items"])
    assert c.post("/api/incidents/bulk/split", json={"ids": ids[:1]},
                  headers={"X-CSRFToken": tok}).status_code == 400
    assert c.post("/api/incidents/bulk/nope", json={"ids": ids[:1]},
                  headers={"X-CSRFToken": tok}).status_code == 404


def test_bulk_void_needs_a_reason_and_merge_is_one_call(app_ctx, accounts):
    svc = app_ctx.incidents
    pz = UserStore(app_ctx.redis).get("panzhou").actor
    ids = storm(app_ctx, n=6)
    res = bulk_act(svc, pz, ids[:2], "void", {"reason": ""})
    assert [r["ok"] for r in res] == [False, False] and "原因" in res[0]["reason"]
    res = bulk_act(svc, pz, ids[:2], "void", {"reason": "传感器误报"})
    assert [r["state"] for r in res] == ["voided", "voided"]
    assert svc.store.load(ids[0]).void_reason == "传感器误报"
    assert audit.timeline(app_ctx.redis, ids[1])[-1]["reason"] == "传感器误报"
    # merge: the others into the target, once; a dispatched one is refused and left alone
    svc.accept(ids[5], pz)
    svc.dispatch(ids[5], pz, ["DSL"])
    res = {r["id"]: r for r in bulk_act(svc, pz, ids[2:6], "merge",
                                        {"target": ids[2], "reason": "同一内涝"})}
    assert res[ids[2]]["ok"] and res[ids[3]]["ok"] and res[ids[4]]["ok"]
    assert not res[ids[5]]["ok"] and "派遣" in res[ids[5]]["reason"]
    target = svc.store.load(ids[2])
    assert len(target.sources) == 3 and set(target.links) == {ids[3], ids[4]}
    assert svc.store.load(ids[3]).merged_into == ids[2]
    assert svc.store.load(ids[5]).state == "dispatched"
    assert [e["action"] for e in audit.timeline(app_ctx.redis, ids[4])][-1] == "merge"


def test_bulk_dispatch_and_urge(app_ctx, accounts):
    svc = app_ctx.incidents
    store = UserStore(app_ctx.redis)
    pz, cmd = store.get("panzhou").actor, store.get("commander").actor
    ids = storm(app_ctx, n=4)
    res = bulk_act(svc, pz, ids, "dispatch", {"depts": ["DSL"]})
    assert all(r["ok"] and r["state"] == "dispatched" for r in res), res
    assert [t.center for t in svc.store.load(ids[0]).tasks] == ["DSL"]
    # 受理并派遣: two audited steps, the clerk's
    assert [e["action"] for e in audit.timeline(app_ctx.redis, ids[1])][-2:] == ["accept", "dispatch"]
    res = bulk_act(svc, cmd, ids, "urge", {"note": "尽快处置"})
    assert all(r["ok"] for r in res), res
    assert all(svc.store.load(i).urged == 1 for i in ids)
