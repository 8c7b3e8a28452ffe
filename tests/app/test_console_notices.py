"""通知 in the console (issue 15: a person's report correlated into a situation notifies its
owner): the owner center's operator sees it in the header through the console's callback, a
town elsewhere does not (scope, S1/S2), 已读 marks one read, another user cannot mark it.
Real redis-server, the console's Dash callback over the Flask test client."""

from __future__ import annotations

import json

from app.screens.console.ids import NOTICE_READ
from app.users import UserStore
from incidents import keys
from incidents.actor import SYSTEM
from tests.app.authkit import accounts, app_ctx, web  # noqa: F401 (fixtures)
from tests.app.test_api import PZ, point_in
from tests.app.test_scope_console import Console, _outputs, _spec


def _notices(con: Console, trigger: str = "slow.n_intervals", top=None, click: str | None = None):
    """The 通知 callback as the page calls it (its inputs from the declared dependencies)."""
    dep = next(d for d in con.deps if "notices-list.children" in d["output"])
    values = {"feed-last": None, "slow": 1, "rev": 0}
    inputs = []
    for i in dep["inputs"]:
        if not i["id"].startswith("{"):
            inputs.append(dict(i, value=values[i["id"]]))
        else:           # the 已读 buttons (pattern ALL): the one clicked, if any
            inputs.append([{"id": {"nid": click, "type": NOTICE_READ}, "property": "n_clicks",
                            "value": 1}] if click else [])
    changed = (json.dumps({"nid": click, "type": NOTICE_READ}, separators=(",", ":"))
               + ".n_clicks") if click else trigger
    return con.post({"output": dep["output"], "outputs": _outputs(_spec(con.deps, "notices-list")),
                     "inputs": inputs, "changedPropIds": [changed],
                     "state": [dict(s, value=top) for s in dep["state"]]})


def _texts(resp) -> tuple[str, str, list]:
    out = resp.json["response"]
    items = out["notices-list"]["children"]
    text = json.dumps(items, ensure_ascii=False)
    return out["notices-head"]["children"], text, out["notices-top"]["data"]


def test_a_call_joined_to_a_situation_shows_in_its_owners_notices_and_is_marked_read(
        web, app_ctx, accounts):  # noqa: F811 (the fixtures above)
    svc = app_ctx.incidents
    pz = UserStore(app_ctx.redis).get("panzhou").actor
    lon, lat = point_in(app_ctx.city, PZ, 1)
    sit = svc.report(SYSTEM, "0306", lon, lat, severity="较大", channel="iot", ref="wl-7",
                     idempotency_key="alarm:wl-7:level:1", description="水位超警")
    assert sit.situation == "flood" and sit.center == f"T{PZ}"
    call = svc.report(pz, "0302", lon, lat, channel="hotline", description="路面积水严重，有车辆被困")
    assert call.id == sit.id                                     # joined, not a case of its own
    con = Console(web, "panzhou")
    head, text, top = _texts(_notices(con))
    assert head == "通知（1 条未读）" and f"12345热线上报已并入 {sit.id}" in text
    assert "路面积水严重" in text and "已读" in text
    # the stream did not move: the safety-net tick reads nothing (no update sent)
    quiet = _notices(con, top=top)
    assert quiet.status_code == 204 or not quiet.json.get("response"), quiet.json
    # another town's console: not its notice (scope), and it cannot mark it read either
    other = Console(web, "town", deps=con.deps)
    head_o, text_o, _ = _texts(_notices(other))
    assert head_o == "通知" and "暂无通知" in text_o
    nid = app_ctx.redis.xrevrange(keys.NOTICES, count=1)[0][0]
    assert _notices(other, click=nid).status_code == 200
    assert app_ctx.redis.smembers(keys.notices_read("town")) == set()
    # 已读: the owner marks it read
    head, text, _ = _texts(_notices(con, click=nid))
    assert head == "通知" and "已读" not in text and sit.id in text
    assert [n["read"] for n in svc.notices(pz)] == [True]
