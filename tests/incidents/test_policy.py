"""One rulebook (issue 14): what the policy offers is what the service does.

A property test (hypothesis) walks random cases through the lifecycle, each step an action the
policy OFFERS a random actor (``IncidentService.available_actions``), done with the inputs the offer
asks for: every offered action must succeed. At the end, every actor × every action the policy
does NOT offer is tried on the case: the service must refuse each (Forbidden or
InvalidTransition, or bad input), and a refusal must leave the case unchanged. Cases start in and
out of 应急模式, get correlated reports (for 拆分) and siblings (for 合并), and are handled by
departments, the town itself and its grid worker (for 监管分离 T11).

Plus the defects the issue measured, each pinned at the policy (the console test shows its
buttons come from here): the city operator's 督办 on a town's case, the emergency fast path
from 上报, a town dispatching to its own grid worker, 定级/合并/拆分 on offer, and after a
监管分离 refusal the way forward (上报 to the city for 核查) instead of the refused buttons.
"""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from incidents import invariants, keys
from incidents.actions import REGISTRY
from incidents.errors import Forbidden, IncidentError, InvalidTransition
from incidents.policy import OFFERED, Offer
from incidents.service import IncidentService
from incidents.vocab import Action

from .conftest import Actors, Clock, point_in

PROGRESS = ("callback", "close", "verify", "handle", "start", "dispatch", "register", "accept")
"""The main path, furthest step first."""
SERVICE_ACTIONS = tuple(a for a in OFFERED if a != Action.PUSH_UPPER)   # push: app/upper.py


def circle(lon: float, lat: float, km: float) -> dict:
    d = km / 111.32
    ring = [[lon + d / math.cos(math.radians(lat)) * math.cos(k / 8 * math.pi),
             lat + d * math.sin(k / 8 * math.pi)] for k in range(16)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def do(svc: IncidentService, actor, inc_id: str, offer: Offer | str, pick: int = 0):
    """Do one action the way the API and the console do (``actions.REGISTRY``), with the inputs
    its offer asks for (the choices the policy listed); an action not offered, with plausible
    inputs."""
    a = offer.action if isinstance(offer, Offer) else offer
    choices = list(offer.choices) if isinstance(offer, Offer) else []
    choice = choices[pick % len(choices)] if choices else None
    body = {"dispatch": {"depts": [choice or "DCG"]}, "handle": {"note": "已处置完毕"},
            "reopen": {"note": "复核不合格"}, "return": {"reason": "不属本单位"},
            "void": {"reason": "重复上报"}, "callback": {"satisfaction": 5},
            "note": {"text": "备注"}, "severity": {"severity": choice or "较大"},
            "split": {"source_index": choices[0] if choices else 1},
            "merge": {"others": [choices[0] if choices else "E-none"]}}.get(a, {"reason": "随机"})
    return REGISTRY[a].call(svc, inc_id, actor, body)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(emergency=st.booleans(), severity=st.sampled_from(["一般", "较大"]),
       walk=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3)), min_size=0, max_size=16),
       extra_report=st.booleans(), sibling=st.booleans())
def test_every_offered_action_succeeds_and_every_other_is_refused(redis_client, demo_city, emergency,
                                                                  severity, walk, extra_report, sibling):
    r = redis_client
    r.flushall()
    clock = Clock()
    svc = IncidentService(r, demo_city, clock=clock)
    here, there = point_in(demo_city, 100), point_in(demo_city, 1300)
    who = Actors(here, there)
    actors = list(vars(who).values())
    if emergency:
        svc.emergency_on(circle(here.lon, here.lat, 2.0), clock() + 86400, who.commander, "演练")
    inc = svc.report(who.worker, "0108", here.lon, here.lat, severity=severity, description="井盖缺失")
    if extra_report:          # a second reporter nearby: correlated, a source to split off
        svc.report(who.town, "0108", here.lon + 1e-5, here.lat, description="同一处井盖")
    if sibling:               # the same event reported apart (no correlation): one to merge
        svc.report(who.worker, "0108", here.lon, here.lat, correlate=False, description="又一条")
    for n, pick in walk:
        cur = svc.get(inc.id, who.commander)
        pairs = [(a, o) for a in actors if svc.policy.can_read(a, cur)
                 for o in svc.available_actions(cur, a) if o.action not in ("note", "push_upper")]
        if not pairs:
            break
        if n % 3:                   # mostly forward, so that walks reach 核查, 结案 and 回访
            step = next(p for p in PROGRESS if any(o.action == p for _, o in pairs)) \
                if any(o.action in PROGRESS for _, o in pairs) else None
            pairs = [(a, o) for a, o in pairs if o.action == step] or pairs
        actor, offer = pairs[n % len(pairs)]
        event(f"{cur.state}:{offer.action}")      # --hypothesis-show-statistics: what was walked
        try:
            do(svc, actor, inc.id, offer, pick)
        except IncidentError as exc:
            raise AssertionError(f"offered but refused: {actor.user_id} {offer.action} on "
                                 f"{cur.state}: {exc}") from exc
        clock.advance(60)
    assert invariants.check(r, city=demo_city) == []

    final = svc.get(inc.id, who.commander)
    for actor in actors:
        offered = {o.action for o in svc.policy.available(actor, final)}
        if svc.policy.can_read(actor, final):      # the service's answer: merge needs a sibling
            assert {o.action for o in svc.available_actions(final, actor)} <= offered
        allowed = set(svc.policy.allowed(actor, final))
        assert offered <= allowed
        for a in SERVICE_ACTIONS:
            if a in allowed:
                continue
            before = r.hget(keys.incident(inc.id), "version")
            with pytest.raises((Forbidden, InvalidTransition, ValueError)):
                do(svc, actor, inc.id, a)
            assert r.hget(keys.incident(inc.id), "version") == before, (actor, a)


# --- the defects the issue measured ----------------------------------------------------------
def actions(svc, actor, inc) -> set[str]:
    return {o.action for o in svc.available_actions(inc.id, actor)}


def test_city_operator_may_urge_a_towns_case(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    assert "urge" in actions(svc, who.city, inc)
    assert svc.urge(inc.id, who.city, "请加快").urged == 1


def test_emergency_fast_path_dispatch_from_reported(svc, who, here, clock):
    svc.emergency_on(circle(here.lon, here.lat, 1.0), clock() + 3600, who.commander, "内涝")
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    assert inc.state == "reported" and inc.emergency and inc.center == "CITY"
    offers = {o.action: o for o in svc.available_actions(inc.id, who.city)}
    assert "dispatch" in offers and "DCG" in offers["dispatch"].choices
    assert svc.dispatch(inc.id, who.city, ["CG"]).state == "dispatched"


def test_town_dispatches_to_its_own_grid_worker_not_anothers(svc, who, here, there_cell=1300):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    offers = {o.action: o for o in svc.available_actions(inc.id, who.town)}
    targets = offers["dispatch"].choices
    assert targets[0] == f"W{here.cell}"               # the case's own cell first
    assert all(not t.startswith("T") for t in targets)  # 跨镇街 goes through the city
    other_cell = str(svc.city.cells.iloc[there_cell]["code"])
    assert f"W{other_cell}" not in targets
    assert svc.dispatch(inc.id, who.town, [f"W{here.cell}"]).tasks[0].center == f"W{here.cell}"


def test_severity_merge_split_are_on_offer_to_the_owner(svc, who, here):
    a = svc.report(who.worker, "0108", here.lon, here.lat, description="井盖缺失")
    b = svc.report(who.town, "0108", here.lon + 1e-5, here.lat, description="井盖")   # correlated
    assert b.id == a.id
    c = svc.report(who.town, "0108", here.lon, here.lat, correlate=False, description="又一条")
    offers = {o.action: o for o in svc.available_actions(a.id, who.town)}
    assert {"severity", "merge", "split"} <= set(offers)
    assert offers["split"].choices == (1,)
    assert "一般" not in offers["severity"].choices
    assert offers["merge"].choices == (c.id,)
    merged = svc.merge(a.id, [c.id], who.town)
    assert c.id in merged.links
    new = svc.split(a.id, who.town, offers["split"].choices[0])
    assert new.id != a.id
    assert svc.update_severity(a.id, who.town, "较大").severity == "较大"
    # nobody but the owner: a department, the worker, a supervisor get none of the three
    now = svc.get(a.id, who.commander)
    for other in (who.cg, who.worker, who.town_sup):
        assert not {"severity", "merge", "split"} & {o.action for o in svc.policy.available(other, now)}


def test_after_separation_the_way_forward_is_offered_not_the_refused_buttons(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, [f"W{here.cell}"])       # the town's own grid worker handles
    svc.handle(inc.id, who.worker, note="已盖好")
    with pytest.raises(Forbidden, match="监管分离"):
        svc.verify(inc.id, who.town, passed=True)
    offers = {o.action: o for o in svc.available_actions(inc.id, who.town)}
    assert "verify" not in offers and "reopen" not in offers and "close" not in offers
    forward = offers["escalate"]
    assert forward.label == "提交市中心核查" and "监管分离" in forward.hint
    svc.escalate(inc.id, who.town, forward.hint)
    assert "verify" in actions(svc, who.city, svc.get(inc.id, who.city))
    assert svc.verify(inc.id, who.city, passed=True).state == "verified"


def test_assign_targets_follow_can_assign(svc, who, here):
    town_targets = svc.policy.assign_targets(who.town)
    assert f"W{here.cell}" in town_targets and all(t.startswith("W") for t in town_targets)
    assert "CITY" not in svc.policy.assign_targets(who.city)
    assert svc.policy.assign_targets(who.worker) == []
    with contextlib.suppress(IncidentError):
        assert svc.assign_task(who.town, town_targets[0], "汛前巡查").state


def test_push_upper_is_the_city_centers(svc, who, here):
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    assert "push_upper" in actions(svc, who.city, inc)
    assert "push_upper" not in actions(svc, who.town, inc)
