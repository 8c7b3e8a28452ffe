"""12345 from the call to the citizen's score over HTTP (issue 24; E4, E10, E35): the CTI POST
opens a draft (idempotent on the call id) that the operator's hotline intake takes in as fields
of the case; the 好差评 link goes out by SMS through the real test gateway, scores once, expires,
and cannot score another case; the Open311 status shows it to the posting system; the grid
worker calls back on the phone. Real Redis, a real local SMS gateway."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from app.cti import draft_view
from app.hotline import desk_over
from app.users import UserStore
from incidents import keys
from incidents.notify import NotifyWorker
from incidents.notify.outbox import NotifyConfig
from tests.app.authkit import accounts, app_ctx, csrf_of, login, web  # noqa: F401
from tests.app.smsgateway import APP_KEY, SECRET, Gateway
from tests.app.test_api import PZ, point_in

NUMBER = "13912345678"
DAYTIME = 1_795_060_000.0      # 2026-11-19 11:46 (UTC+8): outside the SMS quiet hours


def actor(ctx, user: str):
    return UserStore(ctx.redis).get(user).actor


def test_the_cti_post_opens_a_draft_once_and_the_intake_takes_it_as_fields(web, app_ctx):  # noqa: F811
    r = app_ctx.redis
    bearer = {"Authorization": f"Bearer {UserStore(r).issue_token('panzhou')}"}
    c = web.test_client()
    call = {"call_id": "CTI-20261119-0001", "number": NUMBER,
            "recording": "http://cti.local/rec/0001.wav"}
    first = c.post("/api/cti/calls", json=call, headers=bearer)
    assert first.status_code == 201, first.get_data(as_text=True)
    again = c.post("/api/cti/calls", json=call, headers=bearer)
    assert again.status_code == 200 and again.json == first.json       # idempotent on call id
    assert r.zrange(keys.cti_drafts(first.json["center"]), 0, -1) == [call["call_id"]]
    assert c.post("/api/cti/calls", json=dict(call, call_id="x y"), headers=bearer).status_code == 400
    other = {"Authorization": f"Bearer {UserStore(r).issue_token('town')}"}
    taken = c.post("/api/cti/calls", json=call, headers=other)   # another center, the same call id
    assert taken.status_code == 409 and NUMBER not in taken.get_data(as_text=True)
    assert c.post("/api/cti/calls", json=dict(call, number="abc"), headers=bearer).status_code == 400
    pz = actor(app_ctx, "panzhou")
    notes = [n for n in app_ctx.incidents.notices(pz) if n.get("kind") == "cti_call"]
    assert len(notes) == 1 and "139****5678" in notes[0]["text"] and NUMBER not in notes[0]["text"]
    assert draft_view(r.hgetall(keys.cti_call(call["call_id"])), "wall_viewer")["phone"] == "139****5678"

    tok = login(c, "panzhou")                                  # the operator's hotline form
    lon, lat = point_in(app_ctx.city, PZ)
    body = {"channel": "hotline", "category": "0108", "lon": lon, "lat": lat,
            "description": "来电反映井盖缺失", "ref": call["call_id"]}
    res = c.post("/api/incidents", json=body, headers={"X-CSRFToken": tok})
    assert res.status_code == 201, res.get_data(as_text=True)
    inc = app_ctx.incidents.get(res.json["id"], pz)
    src = inc.sources[0]
    assert (src["phone"], src["call_id"], src["recording"]) == (NUMBER, call["call_id"], call["recording"])
    d = r.hgetall(keys.cti_call(call["call_id"]))
    assert d["state"] == "taken" and d["incident"] == inc.id
    assert r.zcard(keys.cti_drafts(pz.center)) == 0
    lon2, lat2 = point_in(app_ctx.city, PZ, 1)
    typed = c.post("/api/incidents", json=dict(body, ref="0668-2345678", lon=lon2, lat=lat2),
                   headers={"X-CSRFToken": tok})                # a number typed by hand: a field
    src = app_ctx.incidents.get(typed.json["id"], pz).sources[0]
    assert src["phone"] == "0668-2345678" and src["ref"] == ""


def closed_hotline_case(ctx, lon: float, lat: float, phone: str = NUMBER) -> str:
    svc = ctx.incidents
    pz, cg, sup = actor(ctx, "panzhou"), actor(ctx, "chengguan"), actor(ctx, "supervisor_pz")
    inc = svc.report(pz, "0108", lon, lat, channel="hotline", description="井盖缺失",
                     caller={"phone": phone})
    svc.accept(inc.id, pz)
    svc.dispatch(inc.id, pz, ["CG"])
    svc.handle(inc.id, cg, note="已更换")
    svc.verify(inc.id, sup, passed=True)
    svc.close(inc.id, pz)
    return inc.id


def test_the_citizen_link_goes_by_sms_scores_once_expires_and_fits_one_case(web, app_ctx):  # noqa: F811
    r = app_ctx.redis
    lon, lat = point_in(app_ctx.city, PZ)
    a = closed_hotline_case(app_ctx, lon, lat)
    b = closed_hotline_case(app_ctx, *point_in(app_ctx.city, PZ, 1), phone="13700001111")
    with Gateway() as gw:
        from app.channels import SmsSender

        desk = desk_over(app_ctx, app_ctx.incidents, send_sms=True)
        assert desk.sync() == 2
        notify = NotifyWorker(r, {"sms": SmsSender(gw.url, APP_KEY, SECRET, sleep=lambda s: None)},
                              config=NotifyConfig(), clock=lambda: DAYTIME, watch_feed=False)
        notify.ensure_groups()
        notify.drain()
        sent = {m["phone"]: m["params"] for m in gw.state.sent.values()}
    assert set(sent) == {NUMBER, "13700001111"}
    path_a, path_b = (urlsplit(sent[n]["url"]).path for n in (NUMBER, "13700001111"))
    assert path_a.startswith(f"/pj/{a}/") and sent[NUMBER]["case"] == a

    c = web.test_client()                                      # the citizen: no login
    page = c.get(path_a)
    assert page.status_code == 200 and "请为本次服务评价" in page.get_data(as_text=True)
    token_a = path_a.rsplit("/", 1)[1]
    wrong = c.post(f"/pj/{b}/{token_a}", data={"score": "差", "csrf_token": csrf_of(c)})
    assert wrong.status_code == 403 and "不属于此事件" in wrong.get_data(as_text=True)
    ok = c.post(path_a, data={"score": "好", "comment": "处理很快", "csrf_token": csrf_of(c)})
    assert ok.status_code == 200 and "感谢您的评价" in ok.get_data(as_text=True)
    assert r.hget(keys.evaluation(a), "score") == "5"
    twice = c.post(path_a, data={"score": "差", "csrf_token": csrf_of(c)})
    assert twice.status_code == 410 and "已使用" in twice.get_data(as_text=True)
    assert r.hget(keys.evaluation(a), "score") == "5"
    assert r.hget(keys.evaluation(b), "score") is None

    # the posting system reads the live link in the case's Open311 status; the public does not
    from app.open311 import issue_key

    key = issue_key(r, "hotline-sys", "CITY", app_ctx.city.centers)
    status = c.get(f"/open311/v2/requests/{b}.json", query_string={"api_key": key}).json[0]
    assert urlsplit(status["evaluation_url"]).path == path_b and "请评价" in status["status_notes"]

    ttl = app_ctx.settings.hotline_config.evaluation_ttl_s
    app_ctx.incidents.clock = lambda: DAYTIME + 10 * ttl       # long after: expired
    late = c.post(path_b, data={"score": "好", "csrf_token": csrf_of(c)})
    assert late.status_code == 410 and "已过期" in late.get_data(as_text=True)
    assert c.get(path_b).status_code == 410
    assert c.get(f"/pj/{b}/not-a-token").status_code == 404


def test_the_grid_worker_calls_back_on_the_phone_for_their_cell(web, app_ctx, accounts):  # noqa: F811
    lon, lat = point_in(app_ctx.city, PZ)
    iid = closed_hotline_case(app_ctx, lon, lat)
    desk_over(app_ctx, app_ctx.incidents).sync()
    cell = app_ctx.incidents.store.load(iid).cell_code
    worker = next(u for u, a in accounts.items() if a["role"] == "grid_worker" and a.get("cell") == cell)
    c = web.test_client()
    tok = login(c, worker)
    queue = c.get("/m/api/callbacks").json["callbacks"]
    assert [q["id"] for q in queue] == [iid] and queue[0]["phone"] == "139****5678"   # masked
    op = web.test_client()
    login(op, "panzhou")                                       # the town's operator: to call back
    assert [q["phone"] for q in op.get("/api/callbacks").json["callbacks"]] == [NUMBER]
    res = c.post(f"/m/api/callbacks/{iid}", json={"satisfaction": "差", "reason": "井盖仍松动"},
                 headers={"X-CSRFToken": tok})
    assert res.status_code == 200 and res.json["state"] == "dispatched"     # 不满意: reopened
    assert c.get("/m/api/callbacks").json["callbacks"] == []
    again = c.post(f"/m/api/callbacks/{iid}", json={"satisfaction": 5}, headers={"X-CSRFToken": tok})
    assert again.status_code == 409


def test_analytics_shows_the_rates_beside_their_targets(web, app_ctx):  # noqa: F811
    import datetime as dt

    from tests.app.dashkit import DashPage, response_of

    lon, lat = point_in(app_ctx.city, PZ)
    iid = closed_hotline_case(app_ctx, lon, lat)
    desk = desk_over(app_ctx, app_ctx.incidents)
    desk.sync()
    desk.record(iid, actor(app_ctx, "panzhou"), 5)
    c = web.test_client()
    page = DashPage(c, "analytics", login(c, "commander"))
    assert "an-rates" in c.get("/analytics/_dash-layout").get_data(as_text=True)
    day = dt.date.today()
    span = {"an-period.start_date": str(day - dt.timedelta(days=1)),
            "an-period.end_date": str(day + dt.timedelta(days=1))}
    rows = response_of(page.call("an-rates.data", span, ["an-period.start_date"]))["an-rates"]["data"]
    got = {r["name"]: (r["value"], r["count"], r["target"], r["kind"], r["met"]) for r in rows}
    assert got["回访率"] == ("100.0%", "1/1", "100.0%", "约束性", "达标")
    assert got["按时回访率"] == ("100.0%", "1/1", "100.0%", "约束性", "达标")
    assert got["评价率"] == ("0.0%", "0/1", "60.0%", "预期性", "未达标")
    assert got["满意率"] == ("100.0%", "1/1", "90.0%", "预期性", "达标")
    assert got["响应率"][2:] == ("100.0%", "约束性", "达标")


def test_the_console_opened_at_the_call_pops_the_prefilled_hotline_form(web, app_ctx):  # noqa: F811
    from tests.app.dashkit import DashPage, response_of

    r = app_ctx.redis
    bearer = {"Authorization": f"Bearer {UserStore(r).issue_token('panzhou')}"}
    c = web.test_client()
    assert c.post("/api/cti/calls", json={"call_id": "C-77", "number": NUMBER},
                  headers=bearer).status_code == 201
    tok = login(c, "panzhou")
    assert "cti-url" in c.get("/console/_dash-layout").get_data(as_text=True)
    con = DashPage(c, "console", tok)
    got = response_of(con.call("in:cti-url.search", {"cti-url.search": "?call=C-77"},
                               ["cti-url.search"]))
    assert got["new-form"]["open"] is True and got["new-ref"]["value"] == "C-77"
    assert got["new-channel"]["value"] == "hotline" and NUMBER not in json.dumps(got)
    other = DashPage(c2 := web.test_client(), "console", login(c2, "town"))   # another center
    assert response_of(other.call("in:cti-url.search", {"cti-url.search": "?call=C-77"},
                                  ["cti-url.search"])) == {}
