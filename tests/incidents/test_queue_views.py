"""One home for the work lists' membership rules (issue 15): ``queries.in_view`` (which the
console's merge of pushed cases reads) agrees with ``list_queue`` for every view and every
center's actor, on cases driven at random through the lifecycle (reports human and machine, in
this town and another, accepted, dispatched, started, handled, returned, verified, closed,
voided, some overdue). Real redis-server, the service's clock moved by hand."""

from __future__ import annotations

import random

import pytest

from incidents.actor import SYSTEM
from incidents.errors import IncidentError
from incidents.queries import VIEWS, in_view
from tests.incidents.conftest import point_in

PATH = ("accept", "dispatch", "start", "handle", "verify", "close")


def _drive(svc, who, inc_id: str, rng: random.Random) -> None:
    """Walk the case down its lifecycle to a random depth, sometimes returning a part (退回),
    failing a check or voiding it; a step the policy refuses is just skipped."""
    for step in PATH[:rng.randint(0, len(PATH))]:
        if rng.random() < 0.1:
            step = rng.choice(("void", "return"))
        try:
            inc = svc.get(inc_id, SYSTEM)
            owner = who.town if inc.center == who.town.center else who.other_town
            dept = who.cg if any(t.center == "DCG" for t in inc.tasks) else who.zj
            if step == "accept":
                svc.accept(inc_id, owner)
            elif step == "dispatch":
                svc.dispatch(inc_id, owner, [rng.choice(["DCG", "DZJ"])])
            elif step == "start":
                svc.start(inc_id, dept)
            elif step == "handle":
                svc.handle(inc_id, dept, note="已处置")
            elif step == "return":
                svc.return_(inc_id, dept, "非本部门职责")
            elif step == "verify":
                svc.verify(inc_id, rng.choice([who.town_sup, who.city_sup]), rng.random() < 0.7)
            elif step == "close":
                svc.close(inc_id, owner)
            elif step == "void":
                svc.void(inc_id, owner, "重复上报")
        except (IncidentError, ValueError):
            pass


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_in_view_agrees_with_list_queue(svc, who, here, elsewhere, clock, demo_city, seed):
    rng = random.Random(seed)
    town_cells = [i for i, t in enumerate(demo_city.cells["town_code"]) if t == here.town]
    other_cells = [i for i, t in enumerate(demo_city.cells["town_code"]) if t == elsewhere.town]
    ids = []
    for k in range(30):
        p = point_in(demo_city, rng.choice(town_cells if rng.random() < 0.75 else other_cells))
        channel = rng.choice(["iot", "hotline", "grid_worker", "video_ai"])
        inc = svc.report(SYSTEM, rng.choice(["0108", "0302"]), p.lon, p.lat, channel=channel,
                         severity=rng.choice(["一般", "较大"]), correlate=False,
                         description=f"随机 #{k}")
        ids.append(inc.id)
        _drive(svc, who, inc.id, rng)
        inc = svc.get(inc.id, SYSTEM)
        if inc.place.startswith("x:") and rng.random() < 0.5:
            # a person's report joins a case sent out (human_ts): back in the sender's 待办
            joined = svc.report(SYSTEM, inc.category, inc.lon, inc.lat, channel="hotline",
                                description="又来电")
            if rng.random() < 0.5:   # (it may join a nearby related case instead: fine)
                _drive(svc, who, joined.id, rng)   # … and sometimes the case moves on since
        clock.advance(rng.choice([5, 60, 900]))
    clock.advance(rng.choice([0, 3600]))
    now = clock()
    every = svc.store.load_many(list(dict.fromkeys(
        i for v in ("all",) for a in (who.city,) for i in (x.id for x in svc.list_queue(a, v, limit=5000)))))
    assert len(every) >= 30
    actors = (who.town, who.other_town, who.cg, who.zj, who.town_sup, who.city, who.city_sup)
    seen_views: dict[str, int] = dict.fromkeys(VIEWS, 0)
    for actor in actors:
        for view in VIEWS:
            listed = {i.id for i in svc.list_queue(actor, view, limit=5000)}
            predicted = {i.id for i in every if in_view(i, actor, view, now)}
            assert predicted == listed, (actor.center, actor.role, view,
                                         predicted - listed, listed - predicted)
            seen_views[view] += len(listed)
    # the cases really spread over the views (the agreement is not about empty lists)
    assert all(seen_views.values()), seen_views


def test_in_view_refuses_an_unknown_view(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖移位", correlate=False)
    with pytest.raises(ValueError, match="view must be one of"):
        in_view(inc, who.town, "later", 0.0)
