"""加急 (expedite): the action added by following docs/HOUSE.md's recipe (vocab, lifecycle,
actions). The owning center marks an open case urgent: it goes first in its queue, the trail
says who and why, and the policy offers it to the owner only, once."""

from __future__ import annotations

import pytest

from incidents.errors import Forbidden, InvalidTransition
from incidents.invariants import check
from tests.app.authkit import accounts, app_ctx, web  # noqa: F401 (fixtures)


def test_expedite_puts_the_case_first_and_is_offered_to_the_owner_once(svc, who, here, clock,
                                                                       redis_client, demo_city):
    older = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖缺失")
    clock.advance(60)
    newer = svc.report(who.worker, "0302", here.lon + 0.002, here.lat, description="路灯不亮")
    for x in (older, newer):    # accepted: no longer fresh reports (those come newest first)
        svc.accept(x.id, who.town)
    queue = [i.id for i in svc.list_queue(who.town, "mine")]
    assert queue.index(older.id) < queue.index(newer.id)

    offers = {o.action for o in svc.available_actions(newer.id, who.town)}
    assert "expedite" in offers
    assert "expedite" not in {o.action for o in svc.policy.available(who.cg, newer)}
    inc = svc.perform(newer.id, who.town, "expedite", {"reason": "群众反映强烈"})
    assert inc.priority == 1
    queue = [i.id for i in svc.list_queue(who.town, "mine")]
    assert queue.index(newer.id) < queue.index(older.id)
    last = svc.timeline(newer.id, who.town)[-1]
    assert last["action"] == "expedite" and last["reason"] == "群众反映强烈"

    assert "expedite" not in {o.action for o in svc.available_actions(newer.id, who.town)}
    with pytest.raises(InvalidTransition, match="已是加急"):
        svc.perform(newer.id, who.town, "expedite")
    with pytest.raises(Forbidden):
        svc.perform(older.id, who.cg, "expedite")
    assert check(redis_client, city=demo_city) == []


def test_expedite_over_http(web, app_ctx, accounts):  # noqa: F811 (the fixtures above)
    from app.users import UserStore
    from tests.app.authkit import login
    from tests.app.test_api import PZ, point_in

    pz = UserStore(app_ctx.redis).get("panzhou").actor
    lon, lat = point_in(app_ctx.city, PZ)
    inc = app_ctx.incidents.report(pz, "0108", lon, lat, description="井盖缺失")
    c = web.test_client()
    tok = login(c, "panzhou")
    assert "expedite" in {a["action"] for a in c.get(f"/api/incidents/{inc.id}").json["actions"]}
    r = c.post(f"/api/incidents/{inc.id}/expedite", json={"reason": "学校门口"},
               headers={"X-CSRFToken": tok})
    assert r.status_code == 200 and r.json["priority"] == 1
    r = c.post(f"/api/incidents/{inc.id}/expedite", json={}, headers={"X-CSRFToken": tok})
    assert r.status_code == 409
