"""Scope is total (issue 19): correlated intake over HTTP, and the role × action matrix.

1. Intake: a town operator reporting near another town's case gets a receipt (200, no foreign
   record), the case keeps its severity and owner, and the reporter cannot read it afterwards.
2. The matrix: every demo account × every action of ``app.api.ACTIONS`` and every read, against
   cases in several states and towns, through ``POST /api/incidents/<id>/<action>``. A cell the
   policy allows for the caller (``Policy.available`` / ``refusal``, within read scope, for a
   role that calls the API) answers 2xx; every other cell 400/403/404/409, never a 500. The
   expectation is taken from the case as it is just before each attempt (an allowed action
   changes it), and each account gets a fresh set of cases.
"""

from __future__ import annotations

import json

import pytest

from app.api import ACTIONS
from incidents import keys
from incidents.actor import SYSTEM
from incidents.roles import API_ROLES
from tests.app.authkit import KIOSK, login
from tests.app.test_api import DA, PZ, point_in

REFUSED = {400, 403, 404, 409}
READS = ("", "/timeline", "/suggestions")


def _client(web, accounts, user):
    c = web.test_client()
    if accounts[user]["role"] == "wall_viewer":
        c.get(f"/wall/?kiosk={KIOSK}")
        return c, c.get_cookie("_csrf_token").value
    return c, login(c, user)


def test_a_foreign_report_over_http_gets_a_receipt(web, app_ctx, accounts):
    svc, city = app_ctx.incidents, app_ctx.city
    from app.users import UserStore

    users = UserStore(app_ctx.redis)
    pz_op = users.get("panzhou").actor
    lon, lat = point_in(city, PZ, 3)
    case = svc.report(SYSTEM, "0108", lon, lat, description="井盖缺失（潘州）")
    svc.accept(case.id, pz_op)
    before = svc.store.load(case.id)
    c, tok = _client(web, accounts, "town")          # 东岸镇's operator
    h = {"X-CSRFToken": tok, "Idempotency-Key": "east-1"}
    body = {"channel": "12345", "category": "0108", "lon": lon + 1e-4, "lat": lat,
            "severity": "特别重大", "description": "外镇来电"}
    r = c.post("/api/incidents", json=body, headers=h)
    assert r.status_code == 200, r.json
    assert r.json["intake"] == "merged" and "已并入已有事件" in r.json["message"]
    assert r.json["idempotency_key"] == "east-1"
    flat = json.dumps(r.json, ensure_ascii=False)
    for leak in (case.id, "井盖缺失", pz_op.center, "sources", "accepted"):
        assert leak not in flat, leak
    again = c.post("/api/incidents", json=body, headers=h)       # a retry: the same receipt
    assert (again.status_code, again.json["receipt"]) == (200, r.json["receipt"])
    after = svc.store.load(case.id)
    assert (after.severity, after.center, after.state) == (before.severity, before.center,
                                                           before.state)
    assert len(after.sources) == 2
    for suffix in READS:
        assert c.get(f"/api/incidents/{case.id}{suffix}").status_code == 403, suffix
    assert c.post(f"/api/incidents/{case.id}/note", json={"text": "看看"},
                  headers={"X-CSRFToken": tok}).status_code == 403
    # the owner reads it, with the report among its sources and the audit naming the reporter
    p, ptok = _client(web, accounts, "panzhou")
    got = p.get(f"/api/incidents/{case.id}")
    assert got.status_code == 200 and got.json["sources"][-1]["reporter"] == "town"
    trail = p.get(f"/api/incidents/{case.id}/timeline").json["items"]
    assert [e["actor"] for e in trail if e["action"] == "correlate"] == ["town"]
    notices = [json.loads(f["e"]) for _, f in app_ctx.redis.xrange(keys.NOTICES)]
    assert any(n["id"] == case.id and n.get("foreign") for n in notices)


def _world(app_ctx, accounts) -> tuple[dict[str, str], str]:
    """Fresh cases in several states and towns (ids by name), and a sibling to merge."""
    svc, city = app_ctx.incidents, app_ctx.city
    from app.users import UserStore

    u = UserStore(app_ctx.redis)
    pz, da, cg, sup_pz = (u.get(x).actor for x in ("panzhou", "town", "chengguan", "supervisor_pz"))
    w1 = next(a for a in accounts.values() if a["role"] == "grid_worker"
              and a["center"] == f"T{PZ}")
    w2 = next(a for a in accounts.values() if a["role"] == "grid_worker"
              and a["center"] != f"T{PZ}")

    def new(cat, town, k, **kw):
        return svc.report(kw.pop("actor", SYSTEM), cat, *point_in(city, town, k),
                          correlate=False, **kw).id

    ids = {}
    ids["pz_new"] = new("0108", PZ, 10, description="新")
    sibling = new("0108", PZ, 10, description="又一条")
    ids["pz_acc"] = new("0101", PZ, 11)
    svc.accept(ids["pz_acc"], pz)
    ids["pz_prog"] = new("0108", PZ, 12)
    svc.accept(ids["pz_prog"], pz)
    svc.dispatch(ids["pz_prog"], pz, ["CG"])
    svc.start(ids["pz_prog"], cg)
    ids["pz_handled"] = new("0108", PZ, 13)
    svc.accept(ids["pz_handled"], pz)
    svc.dispatch(ids["pz_handled"], pz, ["CG"])
    svc.start(ids["pz_handled"], cg)
    svc.handle(ids["pz_handled"], cg, note="已更换")
    ids["pz_closed"] = new("0108", PZ, 14)
    svc.accept(ids["pz_closed"], pz)
    svc.dispatch(ids["pz_closed"], pz, ["CG"])
    svc.start(ids["pz_closed"], cg)
    svc.handle(ids["pz_closed"], cg, note="已更换")
    svc.verify(ids["pz_closed"], sup_pz, passed=True)
    svc.close(ids["pz_closed"], pz)
    # a grid worker's own report, with a second source (拆分) from its town's operator
    ids["w1_own"] = svc.report(u.get(w1["user_id"]).actor, "1001", *point_in(city, PZ, 0)).id
    assert svc.report(pz, "1001", *point_in(city, PZ, 0)).id == ids["w1_own"]
    ids["da_new"] = new("0301", DA, 5)
    ids["da_worker"] = new("0108", DA, 6)
    svc.accept(ids["da_worker"], da)
    svc.dispatch(ids["da_worker"], da, [f"W{w2['cell']}"])
    ids["city_major"] = new("0108", DA, 7, severity="重大")
    return ids, sibling


def _body(action: str, offers: dict, sibling: str) -> dict:
    """A well-formed body for ``action`` (the offer's first choice where it has choices)."""
    o = offers.get(action)
    choices = list(o.choices) if o else []
    return {"dispatch": {"depts": choices[:1] or ["CG"]},
            "severity": {"severity": choices[0] if choices else "较大", "reason": "研判"},
            "merge": {"others": [sibling]}, "split": {"source_index": 1, "reason": "不是同一事件"},
            "handle": {"note": "已处置完毕"}, "verify": {"passed": True},
            "reopen": {"reason": "整改不到位"}, "return": {"reason": "非本单位职责"},
            "void": {"reason": "重复上报"}, "reactivate": {"reason": "再次发生"},
            "callback": {"satisfaction": 5}, "note": {"text": "备注一条"},
            "take_over": {"reason": "汛情"}, "escalate": {"reason": "需协调"},
            }.get(action, {"note": "同意"})


# the order actions are tried on a case: what keeps it alive first, what ends or moves it last
ORDER = ("note", "urge", "expedite", "push_upper", "severity", "accept", "register", "dispatch",
         "start", "handle", "verify", "reopen", "callback", "close", "return", "escalate",
         "take_over", "split", "merge", "reactivate", "void")


def test_role_action_matrix_http(web, app_ctx, accounts):
    svc = app_ctx.incidents
    pol = svc.policy
    actions = sorted(ACTIONS, key=lambda a: (ORDER.index(a) if a in ORDER else len(ORDER), a))
    attempts = allowed_ok = 0
    wrong: list[tuple] = []
    from app.users import UserStore

    store = UserStore(app_ctx.redis)
    for user, acc in accounts.items():
        actor = store.get(user).actor
        api = acc["role"] in API_ROLES
        ids, sibling = _world(app_ctx, accounts)
        c, tok = _client(web, accounts, user)
        h = {"X-CSRFToken": tok}
        for name, iid in ids.items():
            readable = api and pol.can_read(actor, svc.store.load(iid))
            for suffix in READS:
                r = c.get(f"/api/incidents/{iid}{suffix}")
                attempts += 1
                if (r.status_code == 200) != readable or r.status_code >= 500:
                    wrong.append((user, name, f"GET{suffix}", readable, r.status_code))
            for action in actions:
                inc = svc.store.load(iid)
                offers = {o.action: o for o in pol.available(actor, inc)}
                expect = (api and pol.can_read(actor, inc)
                          and pol.refusal(action, actor, inc) is None
                          and (action != "dispatch" or action in offers)
                          and (action != "merge" or (
                              sibling != iid and pol.merge_ok(actor, svc.store.load(sibling)) is None)))
                r = c.post(f"/api/incidents/{iid}/{action}", json=_body(action, offers, sibling),
                           headers=h)
                attempts += 1
                ok = 200 <= r.status_code < 300
                allowed_ok += ok
                if ok != bool(expect) or (not ok and r.status_code not in REFUSED):
                    wrong.append((user, name, action, inc.state, bool(expect), r.status_code,
                                  (r.json or {}).get("reason", "")[:120]))
    assert not wrong, f"{len(wrong)} of {attempts} cells wrong:\n" + "\n".join(map(str, wrong[:40]))
    assert attempts >= 600
    assert allowed_ok >= 50          # the matrix exercises allowed cells too, not only refusals
    print(f"role × action matrix: {attempts} attempts, {allowed_ok} allowed, all as the policy says")


@pytest.mark.parametrize("user", ["town", "chengguan"])
def test_reporting_never_opens_a_foreign_case(web, app_ctx, accounts, user):
    """The receipt path is the only answer a reporter outside a case's scope gets, whatever
    their role (town operator, department)."""
    svc, city = app_ctx.incidents, app_ctx.city
    lon, lat = point_in(city, PZ, 20)
    case = svc.report(SYSTEM, "0108", lon, lat)
    c, tok = _client(web, accounts, user)
    r = c.post("/api/incidents", json={"category": "0108", "lon": lon, "lat": lat,
                                       "severity": "重大"}, headers={"X-CSRFToken": tok})
    assert r.status_code == 200 and r.json["intake"] == "merged", r.json
    assert case.id not in r.get_data(as_text=True)
    assert svc.store.load(case.id).center == case.center
    assert c.get(f"/api/incidents/{case.id}").status_code == 403


def test_open311_intake_answers_the_receipt(web, app_ctx, accounts):
    """GeoReport v2 goes through the same intake: the request id is the receipt's, the notice
    says 已并入, nothing of the other town's case."""
    svc, city = app_ctx.incidents, app_ctx.city
    lon, lat = point_in(city, PZ, 21)
    case = svc.report(SYSTEM, "0108", lon, lat, description="井盖缺失")
    c, tok = _client(web, accounts, "town")
    r = c.post("/open311/v2/requests.json", json={"service_code": "0108", "long": lon, "lat": lat,
                                                  "description": "外镇"},
               headers={"X-CSRFToken": tok})
    assert r.status_code == 200, r.json
    assert r.json[0]["service_request_id"].startswith("R")
    assert "已并入已有事件" in r.json[0]["service_notice"]
    assert case.id not in r.get_data(as_text=True)
    assert len(svc.store.load(case.id).sources) == 2
