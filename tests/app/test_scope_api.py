"""Scope matrix through the HTTP API (S1/S2 分级接入/分级控制; issue 6 "done means").

For every demo role: every read and every action on incidents inside and outside its scope.
Outside → 403, an audit entry, no data, and the incident is unchanged.
"""

from __future__ import annotations

import pytest

from app import security
from app.api import ACTIONS
from incidents.actor import SYSTEM
from tests.app.authkit import login
from tests.app.test_api import DA, PZ, point_in

BODIES = {"dispatch": {"depts": ["CG"]}, "void": {"reason": "重复"}, "return": {"reason": "非本单位"},
          "callback": {"satisfaction": 5}, "note": {"text": "备注"}, "severity": {"severity": "较大"},
          "merge": {"others": []}, "split": {"source_index": 1}, "verify": {"passed": True}}
READS = ("", "/timeline", "/suggestions")


@pytest.fixture
def world(app_ctx, accounts):
    """Three incidents: 潘州 (dispatched to 城管), 东岸镇 (new), a grid worker's own report."""
    svc, city = app_ctx.incidents, app_ctx.city
    by_role = {}
    for a in accounts.values():
        by_role.setdefault(a["role"], []).append(a)
    w1 = next(a for a in by_role["grid_worker"] if a["center"] == f"T{PZ}")
    w2 = next(a for a in by_role["grid_worker"] if a["center"] != f"T{PZ}")
    from app.users import UserStore
    store = UserStore(app_ctx.redis)
    pz_op = store.get("panzhou").actor
    inc_pz = svc.report(SYSTEM, "0108", *point_in(city, PZ, 10), description="井盖缺失")
    svc.accept(inc_pz.id, pz_op)
    svc.dispatch(inc_pz.id, pz_op, ["CG"])
    inc_da = svc.report(SYSTEM, "0301", *point_in(city, DA, 5), description="河道水位上涨")
    inc_w1 = svc.report(store.get(w1["user_id"]).actor, "1001", *point_in(city, PZ, 0),
                        description="路灯不亮")
    ids = {"pz": inc_pz.id, "da": inc_da.id, "w1": inc_w1.id}
    readable = {"commander": {"pz", "da", "w1"}, "ops": {"pz", "da", "w1"},
                "supervisor": {"pz", "da", "w1"}, "panzhou": {"pz", "w1"},
                "supervisor_pz": {"pz", "w1"}, "town": {"da"}, "chengguan": {"pz"},
                "shuili": set(), "yingji": set(), w1["user_id"]: {"w1"}, w2["user_id"]: set(),
                "wall": set(), "admin": set(), "team_pz": set()}
    assert set(readable) == set(accounts)
    return ids, readable


def _version(app_ctx, inc_id: str) -> int:
    return app_ctx.incidents.store.load(inc_id).version


LEAKS = ("井盖", "河道", "水位", "路灯", "城管")
"""Words of the world's incidents (descriptions, a handler) a refusal must not carry."""


def test_scope_matrix_http(web, app_ctx, accounts, world):
    ids, readable = world
    r = app_ctx.redis
    attempts = 0
    for user in accounts:
        c = web.test_client()
        if accounts[user]["role"] == "wall_viewer":
            c.get("/wall/?kiosk=kiosk-token-for-tests")
            tok = c.get_cookie("_csrf_token").value
        else:
            tok = login(c, user)
        listed = c.get("/api/incidents?view=open&limit=1000")
        if readable[user] or accounts[user]["role"] not in ("wall_viewer", "admin", "responder"):
            assert listed.status_code == 200, (user, listed.json)
            got = {k for k, v in ids.items() if v in {i["id"] for i in listed.json["items"]}}
            assert got == readable[user], user
        else:
            assert listed.status_code == 403, user
            attempts += 1
        for key, inc_id in ids.items():
            inside = key in readable[user]
            for suffix in READS:
                resp = c.get(f"/api/incidents/{inc_id}{suffix}")
                if inside:
                    assert resp.status_code == 200, (user, key, suffix, resp.json)
                else:
                    assert resp.status_code == 403, (user, key, suffix, resp.status_code)
                    # a refusal says why and names the id asked for; nothing of the case itself
                    assert set(resp.json) <= {"error", "reason"}, resp.json
                    assert not any(w in resp.json.get("reason", "") for w in LEAKS), resp.json
                    attempts += 1
            if inside:
                continue
            before = _version(app_ctx, inc_id)
            for action in ACTIONS:
                resp = c.post(f"/api/incidents/{inc_id}/{action}", json=BODIES.get(action, {}),
                              headers={"X-CSRFToken": tok})
                assert resp.status_code == 403, (user, key, action, resp.status_code, resp.json)
                assert resp.json["error"] == "forbidden"
                attempts += 1
            assert _version(app_ctx, inc_id) == before, (user, key)
    denied = [e for e in security.audit_entries(r, 100_000) if e["event"] == "denied"]
    assert len(denied) == attempts
    assert int(r.hget(security.keys.COUNTERS, "denied")) == attempts


def test_inside_scope_actions_work_and_rules_still_apply(web, app_ctx, accounts, world):
    ids, _ = world

    def client(user):
        c = web.test_client()
        return c, {"X-CSRFToken": login(c, user)}

    pz, h_pz = client("panzhou")
    assert pz.post(f"/api/incidents/{ids['w1']}/accept", json={}, headers=h_pz).json["state"] == "accepted"
    assert pz.post(f"/api/incidents/{ids['pz']}/urge", json={}, headers=h_pz).status_code == 200
    cg, h_cg = client("chengguan")
    assert cg.post(f"/api/incidents/{ids['pz']}/start", json={}, headers=h_cg).json["state"] == "in_progress"
    assert cg.post(f"/api/incidents/{ids['pz']}/handle", json={"note": "已更换井盖"},
                   headers=h_cg).json["state"] == "handled"
    r = cg.post(f"/api/incidents/{ids['pz']}/verify", json={"passed": True}, headers=h_cg)
    assert r.status_code == 403                         # 监管分离: the handler never verifies
    sup, h_sup = client("supervisor_pz")
    assert sup.post(f"/api/incidents/{ids['pz']}/accept", json={}, headers=h_sup).status_code == 403
    assert sup.post(f"/api/incidents/{ids['pz']}/verify", json={"passed": True},
                    headers=h_sup).json["state"] == "verified"
    assert pz.post(f"/api/incidents/{ids['pz']}/close", json={}, headers=h_pz).json["state"] == "closed"
    da, h_da = client("town")
    assert da.post(f"/api/incidents/{ids['da']}/accept", json={}, headers=h_da).status_code == 200
    cmd, h_cmd = client("commander")
    r = cmd.post(f"/api/incidents/{ids['da']}/take_over", json={"reason": "汛情"}, headers=h_cmd)
    assert r.json["center"] == "CITY"
    assert da.get(f"/api/incidents/{ids['da']}").status_code == 200  # still its territory
    tl = pz.get(f"/api/incidents/{ids['pz']}/timeline").json["items"]
    steps = [(e["action"], e["actor"]) for e in tl if not e["action"].startswith("denied")]
    assert steps == [("report", "system"), ("accept", "panzhou"), ("dispatch", "panzhou"),
                     ("urge", "panzhou"), ("start", "chengguan"), ("handle", "chengguan"),
                     ("verify", "supervisor_pz"), ("close", "panzhou")]
