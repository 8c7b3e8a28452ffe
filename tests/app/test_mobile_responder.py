"""The responder's phone (救援队员, issue 17; X16, T7, G21): /m/api/dispatches lists the team's
own open dispatches with a navigation link; 确认/出发/到场/完成 move it through the states (a retried
queued step changes nothing; another user's queued step is refused 409); the position it shares
reaches the dispatch (the resource map); another team's dispatch is refused 403 and audited."""

from __future__ import annotations

import json

from incidents import keys
from incidents.actor import SYSTEM
from tests.app.authkit import accounts, app_ctx, client_as, web  # noqa: F401
from tests.app.test_api import DA, PZ, point_in


def test_responder_moves_its_own_dispatch(web, app_ctx, accounts) -> None:  # noqa: F811
    me = next(u for u, a in accounts.items() if a["role"] == "responder")
    team = accounts[me]["cell"]
    assert team == f"res-team-{PZ}" and accounts[me]["center"] == f"T{PZ}"
    boss, phone = client_as(web, "commander"), client_as(web, me)
    city = app_ctx.city
    inc = app_ctx.incidents.report(SYSTEM, "0306", *point_in(city, PZ, 1), channel="iot",
                                   idempotency_key="responder-1")
    other = app_ctx.incidents.report(SYSTEM, "0306", *point_in(city, DA, 1), channel="iot",
                                     idempotency_key="responder-2")
    mine = boss.post("/api/resources/dispatch", json={"resource": team, "incident": inc.id}).json["id"]
    theirs = boss.post("/api/resources/dispatch",
                       json={"resource": f"res-team-{DA}", "incident": other.id}).json["id"]

    page = phone.get("/m/")                        # the phone opens, with the dispatch script
    assert page.status_code == 200 and "/m/assets/dispatch.js" in page.get_data(as_text=True)
    assert phone.get("/m/api/tasks").json == {"tasks": []}
    got = phone.get("/m/api/dispatches").json["dispatches"]
    assert [d["id"] for d in got] == [mine]                      # only its own team's
    card = got[0]
    assert card["state"] == "requested" and card["next"] == "acknowledged" and card["next_name"] == "确认"
    assert card["nav"].startswith(f"geo:{inc.lat:.6f},{inc.lon:.6f}") and not card["share_position"]

    for n, step in enumerate(("acknowledged", "en_route", "on_scene")):
        body = {"key": f"s{n}", "author": me, "note": "已出发" if step == "en_route" else ""}
        r = phone.post(f"/m/api/dispatches/{mine}/{step}", json=body)
        assert r.status_code == 200 and r.json["state"] == step, r.json
        assert phone.post(f"/m/api/dispatches/{mine}/{step}", json=body).json["duplicate"]
        # the commander's console reads the same assignment
        assert boss.get(f"/api/resources/assignments/{mine}").json["state"] == step
        if step == "en_route":       # the phone shares its position while en route
            lon, lat = point_in(city, PZ, 2)
            r = phone.post(f"/m/api/dispatches/{mine}/position", json={"lon": lon, "lat": lat})
            assert r.status_code == 200 and r.json["pos_lon"] == lon
            assert boss.get(f"/api/resources/assignments/{mine}").json["pos_lat"] == lat
            row = app_ctx.resource_register.frame().set_index("id").loc[team]
            assert (row["status"], row["lon"]) == ("en_route", lon)       # the resource map
            assert phone.get("/m/api/dispatches").json["dispatches"][0]["share_position"]
    # a queued step written by someone else on this phone is not sent under this login
    r = phone.post(f"/m/api/dispatches/{mine}/released", json={"key": "s9", "author": "W1"})
    assert r.status_code == 409 and r.json["error"] == "author_mismatch"

    # another team's dispatch: refused and audited; its state unchanged
    before = app_ctx.redis.xlen(keys.DENIED)
    r = phone.post(f"/m/api/dispatches/{theirs}/acknowledged", json={"key": "x1", "author": me})
    assert r.status_code == 403
    r = phone.post(f"/m/api/dispatches/{theirs}/position", json={"lon": 110.9, "lat": 21.9})
    assert r.status_code == 403
    denied = [json.loads(f["e"]) for _, f in app_ctx.redis.xrange(keys.DENIED)][before:]
    assert [(d["actor"], d["action"]) for d in denied] == [(me, "denied:resource_acknowledged"),
                                                           (me, "denied:resource_position")]
    assert boss.get(f"/api/resources/assignments/{theirs}").json["state"] == "requested"

    # 完成 with a note: released, the team free again, the note on the case's trail
    r = phone.post(f"/m/api/dispatches/{mine}/released", json={"key": "s3", "author": me,
                                                               "note": "积水已排完"})
    assert r.json["state"] == "released"
    assert phone.get("/m/api/dispatches").json["dispatches"] == []
    notes = [e["reason"] for e in app_ctx.incidents.timeline(inc.id, SYSTEM) if e["action"] == "note"]
    assert any("积水已排完" in n for n in notes) and any("已出发" in n for n in notes)
    assert phone.post("/m/api/dispatches/A1/acknowledged", json={"key": "k"}).status_code == 404
