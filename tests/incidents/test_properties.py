"""Property-based test (hypothesis): random sequences of actions by random roles. After every
step, ``invariants.check`` (with the city, for a grid worker's town): each open incident (and
open sub-task) is in exactly one center's queue or with one handler; every change has its audit
entry; deadline events match the state; and the business rules: every audited change is a legal
transition chained to the previous one (E14), 监管分离 (T11: no verify/reopen/close/callback by
a handler, its center, or the town of a grid worker's task), fan-out (handled only when every
active sub-task is; out only with an open one), closed only after a verify that follows the last
反馈 (E32). Refusals (Forbidden, InvalidTransition) are expected and must leave nothing
changed."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from incidents import invariants, keys, scope
from incidents.deadlines import DeadlineWorker
from incidents.errors import IncidentError
from incidents.incident import Incident
from incidents.receipt import MERGED
from incidents.service import IncidentService

from .conftest import Actors, Clock, point_in

CATS = ["0108", "0104", "0302", "0401", "1202", "1101"]
SEVS = ["一般", "较大", "重大"]
DEPTS = ["CG", "ZJ", "GA", "SL"]

TARGETS = st.lists(st.sampled_from(DEPTS + ["TOWN", "WORKER"]), min_size=1, max_size=3, unique=True)

# "work": a few next steps of one case (variant 0..2 picks among the choices of its state), each
# by an actor whose scope lets it act, so that 监管分离 alone decides whether a handler's
# verify/reopen/close/callback is refused, and most sequences get cases through to 核查/结案
NEXT: dict[str, tuple[str, str, str]] = {
    "reported": ("accept", "accept", "accept"), "accepted": ("register", "dispatch", "dispatch"),
    "registered": ("dispatch", "dispatch", "dispatch"), "dispatched": ("start", "handle", "return"),
    "in_progress": ("handle", "handle", "return"), "handled": ("verify", "verify", "verify"),
    "verified": ("close", "close", "close"), "closed": ("callback", "callback", "callback")}
work = st.tuples(st.just("work"), st.integers(0, 20), TARGETS,
                 st.lists(st.tuples(st.integers(0, 20), st.integers(0, 2)), min_size=3, max_size=16))

report = st.tuples(st.just("report"), st.integers(0, 20), st.integers(0, 2), st.sampled_from(CATS),
                   st.sampled_from(SEVS))

step = st.one_of(
    work, work, work,            # weighted
    report,
    st.tuples(st.sampled_from(["accept", "register", "start", "handle", "close", "escalate",
                               "urge", "take_over", "get"]),
              st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("dispatch"), st.integers(0, 20), st.integers(0, 20), TARGETS),
    st.tuples(st.just("verify"), st.integers(0, 20), st.integers(0, 20), st.booleans()),
    st.tuples(st.sampled_from(["void", "return"]), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("callback"), st.integers(0, 20), st.integers(0, 20), st.integers(1, 5)),
    st.tuples(st.just("time"), st.sampled_from([60.0, 900.0, 3600.0, 90000.0])),
    st.tuples(st.just("assign"), st.integers(0, 20), st.sampled_from(["WORKER", "CG", "TOWN"])),
    st.tuples(st.just("merge"), st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("split"), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("batch"), st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("chain"), st.integers(0, 20), st.integers(0, 20), st.booleans()),
)


def next_step(inc: Incident, actors: list, n: int, variant: int) -> tuple[str, object] | None:
    """(action, actor) of the case's next step: an actor its scope lets act (owner side or a
    handler of an open sub-task), separation aside; None when no step or nobody fits."""
    action = NEXT.get(inc.state, ("",) * 3)[variant]
    if not action:
        return None
    if action in ("start", "handle", "return"):
        ok = [a for a in actors if any(scope.can_handle(a, t) is None for t in inc.open_tasks)]
    else:
        ok = [a for a in actors if scope.can_own(a, inc, action) is None]
    return (action, ok[n % len(ok)]) if ok else None


def do_step(svc: IncidentService, inc_id: str, action: str, actor, variant: int,
            targets: list[str]) -> None:
    """One next step of a case (see ``next_step``)."""
    if action == "dispatch":
        svc.dispatch(inc_id, actor, targets)
    elif action == "verify":
        svc.verify(inc_id, actor, passed=variant != 2)     # 核查不通过 → reopen
    elif action == "callback":
        svc.callback(inc_id, actor, 3 + variant)
    elif action == "return":
        svc.return_(inc_id, actor, "不属本单位")
    else:
        getattr(svc, action)(inc_id, actor)


# a town case through to 回访, its town handling a part itself (its own team T<town>, or its grid
# worker W<cell>, or starting then returning its part): the town's operator and supervisor try
# to verify and call back (refused, 监管分离 T11), the city verifies and closes
_REPORT = ("report", 0, 0, "0108", "一般")
_TO_VERIFY = [(0, 0)] * 8 + [(1, 0), (2, 0), (3, 0), (0, 0), (3, 0)]
_RETURNED = [(0, 0)] * 4 + [(0, 2)] + [(0, 0)] * 4 + [(1, 0), (2, 0), (3, 0), (0, 0), (3, 0)]


@example(steps=[_REPORT, ("work", 0, ["CG", "TOWN"], _TO_VERIFY)])
@example(steps=[_REPORT, ("work", 0, ["CG", "WORKER"], _TO_VERIFY)])
@example(steps=[_REPORT, ("work", 0, ["CG", "TOWN"], _RETURNED)])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=st.tuples(st.lists(report, min_size=1, max_size=3), st.lists(step, min_size=3, max_size=30))
       .map(lambda parts: parts[0] + parts[1]))
def test_random_actions_keep_the_invariants(redis_client, demo_city, steps):
    r = redis_client
    r.flushall()
    clock = Clock()
    svc = IncidentService(r, demo_city, clock=clock)
    worker = DeadlineWorker(svc)
    places = [point_in(demo_city, 100), point_in(demo_city, 101), point_in(demo_city, 1300)]
    who = Actors(places[0], places[2])
    actors = list(vars(who).values())
    target = {"TOWN": f"T{places[0].town}", "WORKER": f"W{places[0].cell}"}
    ids: list[str] = []
    for s in steps:
        kind = s[0]
        if kind == "time":
            clock.advance(s[1])
            worker.tick()
        elif kind == "assign":
            a = actors[s[1] % len(actors)]
            with contextlib.suppress(IncidentError):
                ids.append(svc.assign_task(a, target.get(s[2], s[2]), "巡查").id)
        elif kind == "report":
            a, p = actors[s[1] % len(actors)], places[s[2]]
            with contextlib.suppress(IncidentError):
                made = svc.report(a, s[3], p.lon, p.lat, severity=s[4])
                if made.intake != MERGED:      # a receipt (merged into a foreign case) is no case
                    ids.append(made.id)
        elif kind == "work" and ids:
            inc_id = ids[s[1] % len(ids)]
            for n, variant in s[3]:
                inc = svc.get(inc_id, who.commander)
                nxt = next_step(inc, actors, n, variant)
                if nxt is None:
                    break
                before = r.hget(keys.incident(inc_id), "version")
                try:
                    do_step(svc, inc_id, *nxt, variant, [target.get(d, d) for d in s[2]])
                except IncidentError:
                    assert r.hget(keys.incident(inc_id), "version") == before, "a refusal changed state"
                problems = invariants.check(r, city=demo_city)
                assert problems == [], (s, nxt, problems)
        elif ids:
            a, inc_id = actors[s[1] % len(actors)], ids[s[2] % len(ids)]
            before = r.hget(keys.incident(inc_id), "version")
            try:
                if kind == "dispatch":
                    svc.dispatch(inc_id, a, [target.get(d, d) for d in s[3]])
                elif kind == "verify":
                    svc.verify(inc_id, a, passed=s[3])
                elif kind == "callback":
                    svc.callback(inc_id, a, s[3])
                elif kind in ("void", "return"):
                    getattr(svc, "return_" if kind == "return" else "void")(inc_id, a, "随机原因")
                elif kind == "merge":
                    svc.merge(inc_id, [ids[s[3] % len(ids)]], a)
                elif kind == "batch":       # a console working two cases in one round trip
                    other = ids[s[3] % len(ids)]
                    with svc.batch():
                        svc.accept(inc_id, a)
                        with contextlib.suppress(IncidentError):
                            svc.dispatch(other, a, ["CG"])
                elif kind == "chain":       # two steps on one case, one atomic call (store._joined)
                    with svc.batch():
                        if s[3]:
                            svc.accept(inc_id, a)
                            svc.dispatch(inc_id, a, ["CG"])
                        else:
                            svc.verify(inc_id, a, passed=True)
                            svc.close(inc_id, a)
                elif kind == "split":
                    ids.append(svc.split(inc_id, a, 1).id)
                elif kind == "get":
                    svc.get(inc_id, a)
                else:
                    getattr(svc, kind)(inc_id, a)
            except IncidentError:
                assert r.hget(keys.incident(inc_id), "version") == before, "a refusal changed state"
            except ValueError:      # split of an incident with one source: refused up front
                assert kind == "split"
        problems = invariants.check(r, city=demo_city)
        assert problems == [], (s, problems)
        assert invariants.check(r) == [], s      # as `onemap dispatch --check` runs it: no city
