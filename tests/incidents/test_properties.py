"""Property-based test (hypothesis): random sequences of actions by random roles. After every
step: each open incident (and open sub-task) is in exactly one center's queue or with one
handler; every change has its audit entry; no closed incident has an open sub-task; deadline
events match the state. Refusals (Forbidden, InvalidTransition) are expected and must leave
nothing changed."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import invariants, keys
from incidents.deadlines import DeadlineWorker
from incidents.errors import IncidentError
from incidents.service import IncidentService

from .conftest import Actors, Clock, point_in

CATS = ["0108", "0104", "0302", "0401", "1202", "1101"]
SEVS = ["一般", "较大", "重大"]
DEPTS = ["CG", "ZJ", "GA", "SL"]

step = st.one_of(
    st.tuples(st.just("report"), st.integers(0, 20), st.integers(0, 2), st.sampled_from(CATS),
              st.sampled_from(SEVS)),
    st.tuples(st.sampled_from(["accept", "register", "start", "handle", "close", "escalate",
                               "urge", "take_over", "get"]),
              st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("dispatch"), st.integers(0, 20), st.integers(0, 20),
              st.lists(st.sampled_from(DEPTS + ["TOWN"]), min_size=1, max_size=3, unique=True)),
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


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_random_actions_keep_the_invariants(redis_client, demo_city, steps):
    r = redis_client
    r.flushall()
    clock = Clock()
    svc = IncidentService(r, demo_city, clock=clock)
    worker = DeadlineWorker(svc)
    places = [point_in(demo_city, 100), point_in(demo_city, 101), point_in(demo_city, 1300)]
    who = Actors(places[0], places[2])
    actors = list(vars(who).values())
    ids: list[str] = []
    for s in steps:
        kind = s[0]
        if kind == "time":
            clock.advance(s[1])
            worker.tick()
        elif kind == "assign":
            a = actors[s[1] % len(actors)]
            target = {"WORKER": f"W{places[0].cell}", "CG": "CG", "TOWN": f"T{places[0].town}"}[s[2]]
            with contextlib.suppress(IncidentError):
                ids.append(svc.assign_task(a, target, "巡查").id)
        elif kind == "report":
            a, p = actors[s[1] % len(actors)], places[s[2]]
            with contextlib.suppress(IncidentError):
                ids.append(svc.report(a, s[3], p.lon, p.lat, severity=s[4]).id)
        elif ids:
            a, inc_id = actors[s[1] % len(actors)], ids[s[2] % len(ids)]
            before = r.hget(keys.incident(inc_id), "version")
            try:
                if kind == "dispatch":
                    svc.dispatch(inc_id, a, [f"T{places[0].town}" if d == "TOWN" else d for d in s[3]])
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
        problems = invariants.check(r)
        assert problems == [], (s, problems)
