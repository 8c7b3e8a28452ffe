"""Scope matrix through the console's Dash callbacks (POST /console/_dash-update-component).

The same world as the HTTP matrix: for every role, reading an incident (selecting it) and every
panel action on it, inside and outside scope. Outside → 403 + an audit entry, never data.
"""

from __future__ import annotations

import json

from app import security
from app.screens.console import BUTTONS
from tests.app.authkit import login
from tests.app.test_scope_api import world  # noqa: F401  (fixture)

URL = "/console/_dash-update-component"
BUTTON_IDS = [{"action": a, "type": "act"} for a, *_ in BUTTONS]


def _outputs(spec: str) -> list[dict] | dict:
    """The ``outputs`` of a callback request: a list for a multi-output spec ``..a.b...c.d..``."""
    out = []
    for part in spec.strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        out.append({"id": json.loads(cid) if cid.startswith("{") else cid, "property": prop})
    return out if spec.startswith("..") else out[0]


def _spec(deps: list[dict], needle: str) -> str:
    return next(d["output"] for d in deps if needle in d["output"])


class Console:
    """Calls the console's callbacks the way its browser page does."""

    def __init__(self, web, user: str, deps=None) -> None:
        self.c = web.test_client()
        self.tok = login(self.c, user)
        self.deps = deps if deps is not None else self.c.get("/console/_dash-dependencies").json

    def post(self, body: dict):
        return self.c.post(URL, json=body, headers={"X-CSRFToken": self.tok})

    def read(self, incident_id: str):
        """The map callback with the incident selected (its location, the cameras seeing it)."""
        out = _spec(self.deps, "map.figure")
        vals = {"queue": [], "sel": incident_id, "pick": None}
        props = {"queue": "data", "sel": "data", "pick": "data"}
        return self.post({"output": out, "outputs": _outputs(out),
                          "inputs": [{"id": k, "property": props[k], "value": v} for k, v in vals.items()],
                          "changedPropIds": ["sel.data"], "state": []})

    def act(self, incident_id: str, action: str, reason: str = "理由", depts=("DCG",), sat=5,
            severity=None, others=(), source=None):
        """Click one action button with the panel's inputs (the callback's states, from its
        declared dependencies, so an input added to the panel needs no change here)."""
        dep = next(d for d in self.deps if "act-msg.children" in d["output"])
        clicks = [{"id": b, "property": "n_clicks", "value": 1 if b["action"] == action else None}
                  for b in BUTTON_IDS]
        changed = json.dumps({"action": action, "type": "act"}, separators=(",", ":"))
        vals = {"sel": incident_id, "act-reason": reason, "act-depts": list(depts),
                "act-satisfaction": sat, "act-severity": severity, "act-others": list(others),
                "act-source": source, "rev": 0}
        return self.post({"output": dep["output"], "outputs": _outputs(dep["output"]),
                          "inputs": [clicks], "changedPropIds": [f"{changed}.n_clicks"],
                          "state": [dict(s, value=vals[s["id"]]) for s in dep["state"]]})


def test_scope_matrix_dash_callbacks(web, app_ctx, accounts, world):  # noqa: F811
    ids, readable = world
    r = app_ctx.redis
    attempts = 0
    deps = None
    console_users = [u for u, a in accounts.items() if a["role"] in (
        "city_commander", "city_operator", "town_operator", "dept_operator", "supervisor")]
    for user in console_users:
        con = Console(web, user, deps)
        deps = con.deps
        for key, inc_id in ids.items():
            resp = con.read(inc_id)
            if key in readable[user]:
                assert resp.status_code == 200, (user, key, resp.get_data(as_text=True)[:300])
                continue
            assert resp.status_code == 403, (user, key, resp.status_code)
            body = resp.get_data(as_text=True)
            assert "lon" not in body and "description" not in body
            attempts += 1
            before = app_ctx.incidents.store.load(inc_id).version
            for action, *_ in BUTTONS:
                resp = con.act(inc_id, action)
                assert resp.status_code == 403, (user, key, action, resp.status_code,
                                                 resp.get_data(as_text=True)[:200])
                attempts += 1
            assert app_ctx.incidents.store.load(inc_id).version == before
    # roles without the console are refused by the gate for every callback
    for user in [u for u in accounts if u not in console_users]:
        c = web.test_client()
        if accounts[user]["role"] == "wall_viewer":
            c.get("/wall/?kiosk=kiosk-token-for-tests")
            tok = c.get_cookie("_csrf_token").value
        else:
            tok = login(c, user)
        resp = c.post(URL, json={"output": "act-msg.children", "outputs": {}, "inputs": [],
                                 "state": []}, headers={"X-CSRFToken": tok})
        assert resp.status_code == 403, user
        attempts += 1
    denied = [e for e in security.audit_entries(r, 100_000) if e["event"] == "denied"]
    assert len(denied) == attempts


def _msg(resp) -> str:
    return resp.json["response"]["act-msg"]["children"]


def test_inside_scope_panel_actions(web, app_ctx, world):  # noqa: F811
    ids, _ = world
    pz = Console(web, "panzhou")
    resp = pz.read(ids["w1"])
    lon = app_ctx.incidents.store.load(ids["w1"]).lon
    assert resp.status_code == 200 and json.dumps(lon) in resp.get_data(as_text=True)
    resp = pz.act(ids["w1"], "accept")
    assert resp.status_code == 200 and _msg(resp).startswith("✓ 受理")
    assert app_ctx.incidents.store.load(ids["w1"]).state == "accepted"
    resp = pz.act(ids["w1"], "close")                    # a rule, not scope: told why, 200
    assert resp.status_code == 200 and _msg(resp).startswith("✗ 结案")
    resp = pz.act(ids["w1"], "void", reason="")          # void needs a reason
    assert _msg(resp).startswith("✗ 作废")
    assert app_ctx.incidents.store.load(ids["w1"]).state == "accepted"
    resp = pz.act(ids["w1"], "dispatch", depts=("DMZ",))
    assert resp.status_code == 200
    inc = app_ctx.incidents.store.load(ids["w1"])
    assert inc.state == "dispatched" and [t.center for t in inc.tasks] == ["DMZ"]
    cg = Console(web, "chengguan")
    assert cg.act(ids["pz"], "start").status_code == 200
    assert app_ctx.incidents.store.load(ids["pz"]).state == "in_progress"
