"""Concurrent operators on the same incidents (separate clients, as separate web workers would
be): each action happens once; no incident is ever in two places or none."""

from __future__ import annotations

import contextlib
import random
import threading

import redis

from incidents import invariants
from incidents.errors import IncidentError
from incidents.service import IncidentService


def test_two_operators_accept_the_same_incident_once(redis_service, svc, who, here, demo_city):
    incs = [svc.report(who.worker, "0107", here.lon, here.lat, correlate=False) for _ in range(30)]
    clients = [redis.Redis.from_url(redis_service.url, decode_responses=True) for _ in range(2)]
    services = [IncidentService(c, demo_city) for c in clients]
    wins = [0, 0]
    go = threading.Barrier(2)

    def run(k: int) -> None:
        go.wait(5)
        for inc in incs:
            try:
                services[k].accept(inc.id, who.town)
                wins[k] += 1
            except IncidentError:
                pass

    ts = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert sum(wins) == len(incs)
    for inc in incs:
        assert [e["action"] for e in svc.timeline(inc.id, who.town)].count("accept") == 1
    assert invariants.check(svc.r) == []
    for c in clients:
        c.close()


def test_random_concurrent_moves_keep_every_incident_in_one_place(redis_service, svc, who, here,
                                                                  demo_city):
    incs = [svc.report(who.worker, "0104", here.lon, here.lat, correlate=False).id for _ in range(12)]
    actors = [who.town, who.commander, who.city, who.cg, who.zj, who.city_sup]
    steps = [
        lambda s, i, a: s.accept(i, a), lambda s, i, a: s.dispatch(i, a, ["CG", "ZJ"]),
        lambda s, i, a: s.handle(i, a), lambda s, i, a: s.escalate(i, a),
        lambda s, i, a: s.take_over(i, a), lambda s, i, a: s.verify(i, a, passed=True),
        lambda s, i, a: s.close(i, a), lambda s, i, a: s.urge(i, a),
        lambda s, i, a: s.return_(i, a, "退回"), lambda s, i, a: s.verify(i, a, passed=False),
    ]
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        rnd = random.Random(seed)
        c = redis.Redis.from_url(redis_service.url, decode_responses=True)
        s = IncidentService(c, demo_city)
        try:
            for _ in range(150):
                with contextlib.suppress(IncidentError):
                    rnd.choice(steps)(s, rnd.choice(incs), rnd.choice(actors))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            c.close()

    ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors
    assert invariants.check(svc.r) == []
    states = {svc.get(i, who.commander).state for i in incs}
    assert states - {"reported"}, "the random walk moved nothing: the test would prove nothing"


def test_simultaneous_reports_of_one_event_open_one_incident(redis_service, svc, who, here,
                                                             demo_city):
    """Four intake workers take in 40 sightings of one fire at once: one incident, 40 sources."""
    go = threading.Barrier(4)
    made: list[str] = []

    def run(k: int) -> None:
        c = redis.Redis.from_url(redis_service.url, decode_responses=True)
        s = IncidentService(c, demo_city)
        go.wait(5)
        for j in range(10):
            made.append(s.report(who.worker, "0401", here.lon + 0.0001 * j, here.lat,
                                 idempotency_key=f"w{k}-{j}").id)
        c.close()

    ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(made) == 40 and len(set(made)) == 1
    inc = svc.get(made[0], who.commander)
    assert len(inc.sources) == 40
    assert invariants.check(svc.r) == []
