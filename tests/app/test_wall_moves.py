"""调派力量 on the wall (issue 16; X28 "forces moved … on one map", X16): a team dispatched to the
active response is drawn at its base, then — once its responder (救援队员) shares the phone's
position through the phone API — at that position, with its state (在途 / 到场) and a line to
the scene; the 应急专题's signature changes with the position (so the wall re-patches), and the
patch targets the figure's ``response_moves`` traces. Real Redis, the real Flask routes."""

from __future__ import annotations

import pytest

from app.emergency import responses_for
from app.screens.wall import response_theme as wall_emergency
from app.screens.wall.data import WallSources, map_data
from app.screens.wall.moves import patch_for, trace_indices
from app.screens.wall.view import view_for
from incidents.actor import Actor
from layers import compose
from layers.response_moves import LINES, TEAMS, moves_layer, trace_data
from layers.themes import THEMES
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401
from tests.app.test_api import PZ, point_in


def _actor(accts: dict, user: str) -> Actor:
    a = accts[user]
    return Actor(a["user_id"], a["role"], a["center"], a["name"])


def _client(web, user):  # noqa: ANN001, ANN202, F811
    c = web.test_client()
    c.environ_base["HTTP_X_CSRFTOKEN"] = login(c, user)
    return c


def test_the_team_moves_on_the_wall_as_its_phone_reports(web, app_ctx, accounts) -> None:  # noqa: F811
    svc, city = app_ctx.incidents, app_ctx.city
    me = next(u for u, a in accounts.items() if a["role"] == "responder")
    team = accounts[me]["cell"]
    rs = responses_for(app_ctx)
    sit = None
    for i in range(3):
        sit = svc.report(_actor(accounts, "commander"), "0306", *point_in(city, PZ, 3 + i),
                         channel="iot", idempotency_key=f"moves-{i}")
    resp = rs.activate(_actor(accounts, "commander"), "flood-typhoon", "IV", town=PZ, incident=sit.id)
    boss, phone = _client(web, "commander"), _client(web, me)
    got = boss.post("/api/resources/dispatch", json={"resource": team, "response": resp["id"]})
    assert got.status_code == 201, got.json
    aid = got.json["id"]

    s = wall_emergency.summary(rs, svc, city, None)
    base = app_ctx.resource_register.get(team).record
    [m] = s["moves"]
    assert (m["id"], m["state"], m["live"]) == (aid, "requested", False)
    assert (m["lon"], m["lat"]) == pytest.approx((base.lon, base.lat))   # at its base
    assert (m["scene_lon"], m["scene_lat"]) == (sit.lon, sit.lat)        # the line goes to the case
    before = wall_emergency.signature(s)

    for n, step in enumerate(("acknowledged", "en_route")):
        r = phone.post(f"/m/api/dispatches/{aid}/{step}", json={"key": f"k{n}", "author": me})
        assert r.status_code == 200, r.json
    lon, lat = point_in(city, PZ, 1)
    r = phone.post(f"/m/api/dispatches/{aid}/position", json={"lon": lon, "lat": lat})
    assert r.status_code == 200, r.json
    s = wall_emergency.summary(rs, svc, city, None)
    [m] = s["moves"]
    assert (m["lon"], m["lat"], m["state_name"], m["live"]) == (lon, lat, "在途", True)
    assert wall_emergency.signature(s) != before                          # the wall re-patches

    d = trace_data(s["moves"])
    assert d[TEAMS]["text"] == [f"{base.name} · 在途"] and d[TEAMS]["customdata"] == ["en_route"]
    assert d[LINES]["lon"][:2] == [round(lon, 6), round(sit.lon, 6)] and d[LINES]["lon"][2] is None
    # the composed figure has the two traces (empty) on every theme; the patch fills them
    layer = moves_layer(s["moves"])
    assert [t["meta"] for t in layer.traces] == [LINES, TEAMS] and layer.legend is not None
    data, _ = map_data(WallSources(app_ctx))
    mf = compose.compose(data, THEMES["overview"], view_for(app_ctx, None))
    idx = trace_indices(mf.index)
    assert all(isinstance(i, int) for i in idx) and mf.figure["data"][idx[1]]["meta"] == TEAMS
    ops = patch_for(s["moves"], idx).to_plotly_json()["operations"]
    assert {"location": ["data", idx[1], "text"], "operation": "Assign",
            "params": {"value": [f"{base.name} · 在途"]}} in ops

    # released: off the map
    r = phone.post(f"/m/api/dispatches/{aid}/on_scene", json={"key": "k3", "author": me})
    assert wall_emergency.summary(rs, svc, city, None)["moves"][0]["state_name"] == "到场"
    assert boss.post(f"/api/resources/assignments/{aid}/release", json={}).status_code == 200
    assert wall_emergency.summary(rs, svc, city, None)["moves"] == []

