"""One rulebook (issue 14): the API's action list and the phone's task buttons come from the
policy (``incidents.policy``), and what the API lists the API then does. The console's buttons:
tests/app/test_console_callbacks.py."""

from __future__ import annotations

import pytest

from app import mobile_api
from tests.app.authkit import login
from tests.app.test_api import PZ, point_in


def _actors(app_ctx, accounts):
    from app.users import UserStore  # noqa: PLC0415

    store = UserStore(app_ctx.redis)
    return {u: store.get(u).actor for u in accounts}


def test_the_api_answers_the_policys_actions_and_does_each(web, app_ctx, accounts):
    svc = app_ctx.incidents
    who = _actors(app_ctx, accounts)
    lon, lat = point_in(app_ctx.city, PZ)
    inc = svc.report(who["ops"], "0108", lon, lat, description="井盖缺失")
    for user in ("ops", "panzhou", "chengguan", "supervisor", "commander"):
        c = web.test_client()
        login(c, user)
        r = c.get(f"/api/incidents/{inc.id}")
        if svc.policy.can_read(who[user], svc.get(inc.id, who["commander"])):
            assert r.status_code == 200
            listed = [a["action"] for a in r.json["actions"]]
            assert listed == [o.action for o in svc.available_actions(inc.id, who[user])]
        else:
            assert r.status_code == 403
    # the town works it through by what the API lists, one listed action at a time
    c = web.test_client()
    tok = login(c, "panzhou")
    h = {"X-CSRFToken": tok}
    for step, body in (("accept", {}), ("dispatch", {"depts": ["CG"]})):
        listed = {a["action"]: a for a in c.get(f"/api/incidents/{inc.id}").json["actions"]}
        assert step in listed
        if step == "dispatch":
            assert "DCG" in listed["dispatch"]["choices"] and listed["dispatch"]["needs"] == "targets"
        assert c.post(f"/api/incidents/{inc.id}/{step}", json=body, headers=h).status_code == 200
    listed = {a["action"] for a in c.get(f"/api/incidents/{inc.id}").json["actions"]}
    assert "accept" not in listed and "urge" in listed
    r = c.post(f"/api/incidents/{inc.id}/accept", json={}, headers=h)   # not listed: refused
    assert r.status_code == 409


def test_city_operator_urges_a_towns_case_and_pushes_it_upward(web, app_ctx, accounts):
    svc = app_ctx.incidents
    who = _actors(app_ctx, accounts)
    lon, lat = point_in(app_ctx.city, PZ)
    inc = svc.report(who["panzhou"], "0108", lon, lat, description="井盖缺失")
    c = web.test_client()
    tok = login(c, "ops")
    listed = {a["action"] for a in c.get(f"/api/incidents/{inc.id}").json["actions"]}
    assert {"urge", "push_upper"} <= listed and "accept" not in listed
    assert c.post(f"/api/incidents/{inc.id}/urge", json={"note": "请加快"},
                  headers={"X-CSRFToken": tok}).status_code == 200
    r = c.post(f"/api/upper/push/{inc.id}", headers={"X-CSRFToken": tok})
    assert r.status_code == 200 and r.json["entry"]
    trail = [e["action"] for e in svc.timeline(inc.id, who["ops"])]
    assert trail[-2:] == ["urge", "note"]
    pz = web.test_client()
    tok_pz = login(pz, "panzhou")
    assert "push_upper" not in {a["action"] for a in pz.get(f"/api/incidents/{inc.id}").json["actions"]}
    assert pz.post(f"/api/upper/push/{inc.id}", headers={"X-CSRFToken": tok_pz}).status_code == 403


@pytest.mark.parametrize("worked", [False, True])
def test_the_phones_task_buttons_come_from_the_policy(web, app_ctx, accounts, monkeypatch, worked):
    svc = app_ctx.incidents
    who = _actors(app_ctx, accounts)
    worker = next(a for a in who.values() if a.role == "grid_worker" and a.center == f"T{PZ}")
    lon, lat = point_in(app_ctx.city, PZ)
    inc = svc.report(who["panzhou"], "0108", lon, lat, description="井盖缺失")
    svc.accept(inc.id, who["panzhou"])
    svc.dispatch(inc.id, who["panzhou"], [f"W{worker.cell}"])
    if worked:
        svc.start(inc.id, worker)
    c = web.test_client()
    login(c, worker.user_id)
    tasks = {t["id"]: t for t in c.get("/m/api/tasks").json["tasks"]}
    assert tasks[inc.id]["actions"] == (["progress", "result"] if worked else ["accept"])
    # the phone asks the policy: a policy that allows nothing leaves the task without buttons
    monkeypatch.setattr(type(svc.policy), "allowed", lambda self, actor, inc: [])
    tasks = {t["id"]: t for t in c.get("/m/api/tasks").json["tasks"]}
    assert tasks[inc.id]["actions"] == []
    assert mobile_api.PHONE_ACTIONS[0] == ("start", "accept")
