"""One rulebook (issue 14) through the console's callbacks: the panel's buttons, their labels,
the inputs shown and the dropdown options are the policy's offers
(``IncidentService.available_actions``), and the defects the issue measured are gone: the city
operator's 督办 on a town's case, the emergency fast path from 上报, a town dispatching to its own
grid worker, 定级/合并/拆分/上报省平台 from the console, and after a 监管分离 refusal the way
forward (提交市中心核查) instead of the refused buttons."""

from __future__ import annotations

import math
import time

from app import keys as app_keys
from app.users import UserStore
from incidents.actor import SYSTEM
from tests.app.test_api import DA, PZ, point_in
from tests.app.test_console_callbacks import _panel, buttons, shown
from tests.app.test_scope_console import Console


def _msg(resp) -> str:
    return resp.json["response"]["act-msg"]["children"]


def _actors(app_ctx, accounts):
    store = UserStore(app_ctx.redis)
    return {u: store.get(u).actor for u in accounts}


def _worker(who, town: str):
    return next(a for a in who.values() if a.role == "grid_worker" and a.center == f"T{town}")


def circle(lon: float, lat: float, km: float) -> dict:
    d = km / 111.32
    ring = [[lon + d / math.cos(math.radians(lat)) * math.cos(k / 8 * math.pi),
             lat + d * math.sin(k / 8 * math.pi)] for k in range(16)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def test_the_panels_buttons_are_the_policys_offers(web, app_ctx, accounts, monkeypatch):
    svc, city = app_ctx.incidents, app_ctx.city
    who = _actors(app_ctx, accounts)
    pz, cg, worker = who["panzhou"], who["chengguan"], _worker(who, PZ)
    cases = {"reported": svc.report(SYSTEM, "0108", *point_in(city, PZ, 20), description="井盖缺失").id}
    a = svc.report(SYSTEM, "0107", *point_in(city, PZ, 21), description="垃圾满溢").id
    svc.accept(a, pz)
    cases["accepted"] = a
    b = svc.report(SYSTEM, "0108", *point_in(city, PZ, 22), description="井盖破损").id
    svc.accept(b, pz)
    svc.dispatch(b, pz, ["DCG"])
    cases["dispatched"] = b
    c = svc.report(SYSTEM, "0108", *point_in(city, PZ, 23), description="井盖松动").id
    svc.accept(c, pz)
    svc.dispatch(c, pz, ["DCG"])
    svc.handle(c, cg, note="已加固")
    cases["handled"] = c
    d = svc.report(SYSTEM, "0105", *point_in(city, PZ, 24), description="占道经营").id
    svc.accept(d, pz)
    svc.dispatch(d, pz, [f"W{worker.cell}"])
    svc.handle(d, worker, note="已劝离")
    cases["handled_by_own_worker"] = d
    e = svc.report(SYSTEM, "0105", *point_in(city, PZ, 25), description="乱堆物料").id
    svc.accept(e, pz)
    svc.dispatch(e, pz, ["DCG"])
    svc.handle(e, cg, note="已清理")
    svc.verify(e, pz, passed=True)
    svc.close(e, pz)
    cases["closed"] = e
    cases["other_town"] = svc.report(SYSTEM, "0301", *point_in(city, DA, 3), description="水位上涨").id
    deps = None
    compared = 0
    for user in ("panzhou", "town", "chengguan", "ops", "commander", "supervisor", "supervisor_pz"):
        con = Console(web, user, deps)
        deps = con.deps
        for state, inc_id in cases.items():
            resp = _panel(con, inc_id)
            inc = svc.store.load(inc_id)
            if not svc.policy.can_read(who[user], inc):
                assert resp.status_code == 403, (user, state)
                continue
            offers = svc.available_actions(inc_id, who[user])
            assert shown(resp) == [o.action for o in offers], (user, state)
            labels = {a: v["children"] for a, v in buttons(resp).items()}
            assert all(labels[o.action] == o.label for o in offers), (user, state)
            out = resp.json["response"]
            assert out["depts-row"]["hidden"] is not any(o.needs == "targets" for o in offers)
            assert out["sat-box"]["hidden"] is not any(o.needs == "satisfaction" for o in offers)
            compared += 1
    assert compared >= 25
    # a policy that offers nothing: not one button, not one input
    monkeypatch.setattr(type(svc.policy), "available", lambda self, actor, inc: [])
    for user, inc_id in (("panzhou", cases["reported"]), ("commander", cases["handled"])):
        out = _panel(Console(web, user, deps), inc_id)
        assert shown(out) == [] and all(v["hidden"] for v in buttons(out).values())
        r = out.json["response"]
        assert r["depts-row"]["hidden"] and r["sev-box"]["hidden"] and r["others-box"]["hidden"]
        assert r["source-box"]["hidden"] and r["sat-box"]["hidden"]


def test_city_operator_urges_a_towns_case_from_the_console(web, app_ctx, accounts):
    svc = app_ctx.incidents
    who = _actors(app_ctx, accounts)
    inc = svc.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, 26), description="井盖缺失")
    svc.accept(inc.id, who["panzhou"])
    svc.dispatch(inc.id, who["panzhou"], ["DCG"])
    ops = Console(web, "ops")
    on_offer = shown(_panel(ops, inc.id))
    assert "urge" in on_offer and "accept" not in on_offer
    assert _msg(ops.act(inc.id, "urge", reason="请加快")).startswith("✓ 督办")
    assert svc.store.load(inc.id).urged == 1


def test_emergency_fast_path_dispatch_from_reported_in_the_console(web, app_ctx, accounts):
    svc = app_ctx.incidents
    who = _actors(app_ctx, accounts)
    lon, lat = point_in(app_ctx.city, PZ, 27)
    svc.emergency_on(circle(lon, lat, 1.0), time.time() + 3600, who["commander"], "内涝")
    inc = svc.report(SYSTEM, "0302", lon, lat, description="下穿通道积水")
    assert inc.state == "reported" and inc.emergency and inc.center == "CITY"
    ops = Console(web, "ops")
    resp = _panel(ops, inc.id)
    assert "dispatch" in shown(resp) and resp.json["response"]["depts-row"]["hidden"] is False
    assert "DCG" in [o["value"] for o in resp.json["response"]["act-depts"]["options"]]
    assert _msg(ops.act(inc.id, "dispatch", depts=["DSL"])).startswith("✓ 派遣")
    case = svc.store.load(inc.id)
    assert case.state == "dispatched" and [t.center for t in case.tasks] == ["DSL"]


def test_town_dispatches_to_its_own_grid_worker_from_the_console(web, app_ctx, accounts):
    svc, city = app_ctx.incidents, app_ctx.city
    who = _actors(app_ctx, accounts)
    inc = svc.report(SYSTEM, "0108", *point_in(city, PZ, 28), description="井盖缺失")
    svc.accept(inc.id, who["panzhou"])
    pz = Console(web, "panzhou")
    opts = _panel(pz, inc.id).json["response"]["act-depts"]["options"]
    values = [o["value"] for o in opts]
    offer = next(o for o in svc.available_actions(inc.id, who["panzhou"]) if o.action == "dispatch")
    assert values == list(offer.choices)                       # the policy's list, in its order
    cell = city.cells.set_index("code").loc[inc.cell_code]
    own = f"W{inc.cell_code}"
    assert opts[0] == {"label": f"网格员 {cell['worker_name']} · "
                                f"{city.village_names[cell['village_code']]}", "value": own}
    assert "DCG" in values and not any(v.startswith("T") for v in values)
    other = city.cells[city.cells["town_code"] == DA].iloc[0]["worker_id"]
    assert other not in values                                 # 跨镇街: through the city
    assert _msg(pz.act(inc.id, "dispatch", depts=[own])).startswith("✓ 派遣")
    assert [t.center for t in svc.store.load(inc.id).tasks] == [own]


def test_severity_merge_split_and_push_upper_from_the_console(web, app_ctx, accounts):
    svc, city = app_ctx.incidents, app_ctx.city
    who = _actors(app_ctx, accounts)
    lon, lat = point_in(city, PZ, 29)
    a = svc.report(who["panzhou"], "0108", lon, lat, description="井盖缺失", channel="hotline")
    assert svc.report(SYSTEM, "0108", lon + 1e-5, lat, description="来访：井盖",
                      channel="walk_in").id == a.id            # correlated: a second source
    c = svc.report(who["panzhou"], "0108", lon, lat, correlate=False, description="又一条",
                   title="井盖又一条")
    pz = Console(web, "panzhou")
    resp = _panel(pz, a.id)
    on_offer = shown(resp)
    assert {"severity", "merge", "split"} <= set(on_offer) and "push_upper" not in on_offer
    out = resp.json["response"]
    assert not out["sev-box"]["hidden"] and not out["others-box"]["hidden"]
    assert not out["source-box"]["hidden"]
    assert [o["value"] for o in out["act-severity"]["options"]] == ["较大", "重大", "特别重大"]
    assert out["act-others"]["options"] == [{"label": f"{c.id} · 井盖又一条", "value": c.id}]
    [src] = out["act-source"]["options"]
    assert src["value"] == 1 and "来访" in src["label"] and "来访：井盖" in src["label"]
    assert out["act-source"]["value"] == 1                     # the only one: preselected
    assert buttons(resp)["severity"]["children"] == "定级"
    # each done from the console
    assert _msg(pz.act(a.id, "severity", severity=None)).startswith("✗ 定级")   # none chosen
    assert _msg(pz.act(a.id, "severity", severity="较大")).startswith("✓ 定级")
    assert svc.store.load(a.id).severity == "较大"
    assert _msg(pz.act(a.id, "merge", others=[c.id])).startswith("✓ 合并")
    assert c.id in svc.store.load(a.id).links and svc.store.load(c.id).state == "voided"
    assert _msg(pz.act(a.id, "split", source=1)).startswith("✓ 拆分")
    assert len(svc.store.load(a.id).sources) == 1 + 1      # its own and the merged one's
    # 上报省平台: the city center's (a button for ops, none for the town)
    ops = Console(web, "ops")
    assert "push_upper" in shown(_panel(ops, a.id))
    n = app_ctx.redis.xlen(app_keys.UPPER_PUSH)
    assert _msg(ops.act(a.id, "push_upper")).startswith("✓ 上报省平台")
    assert app_ctx.redis.xlen(app_keys.UPPER_PUSH) == n + 1


def test_after_separation_the_console_offers_the_way_forward(web, app_ctx, accounts):
    svc, city = app_ctx.incidents, app_ctx.city
    who = _actors(app_ctx, accounts)
    worker = _worker(who, PZ)
    inc = svc.report(SYSTEM, "0105", *point_in(city, PZ, 30), description="占道经营")
    svc.accept(inc.id, who["panzhou"])
    svc.dispatch(inc.id, who["panzhou"], [f"W{worker.cell}"])   # the town's own grid worker
    svc.handle(inc.id, worker, note="已劝离")
    pz = Console(web, "panzhou")
    msg = _msg(pz.act(inc.id, "verify"))                        # refused: 监管分离 (T11)
    assert msg.startswith("✗ 核查通过") and "监管分离" in msg
    resp = _panel(pz, inc.id)
    on_offer = shown(resp)
    assert not {"verify", "reopen", "close"} & set(on_offer)   # the refused buttons are gone
    assert buttons(resp)["escalate"]["children"] == "提交市中心核查"
    assert "监管分离" in resp.json["response"]["act-hint"]["children"]   # why, by the buttons
    assert _msg(pz.act(inc.id, "escalate", reason="")).startswith("✓ 上报")
    assert svc.store.load(inc.id).center == "CITY"
    ops = Console(web, "ops")
    assert "verify" in shown(_panel(ops, inc.id))
    assert _msg(ops.act(inc.id, "verify")).startswith("✓ 核查通过")
