"""Two cities in one deployment on a real 3-master Redis Cluster (issue 20; T13, T27–T29): each
city's keys in its own hash slot (on different shards here), each city's users scoped to their
own city, the prefecture center reading both."""

from __future__ import annotations

import pytest

from app.context import connect
from grid import keyspace
from incidents import invariants, keys
from incidents.actor import Actor
from incidents.cities import PREFECTURE, Cities
from incidents.errors import Forbidden

from .conftest import Clock, point_in

CANDIDATES = ("gz", "xy", "hz", "dc", "mm", "wc", "lj", "yj", "sx", "zj")


def on_different_shards(cluster, r) -> tuple[str, str]:
    """Two city tags whose slots two different masters hold (cities spread across shards)."""
    owner = {t: r.get_node_from_key(f"om:{{{t}}}:x").port for t in CANDIDATES}
    a = CANDIDATES[0]
    b = next(t for t in CANDIDATES[1:] if owner[t] != owner[a])
    return a, b


@pytest.fixture
def deployment(redis_cluster_service, demo_city):
    r = connect(redis_cluster_service.url)
    r.flushall(target_nodes="primaries")
    a, b = on_different_shards(redis_cluster_service, r)
    keyspace.configure(a)           # the deployment's default city; b is the second one
    try:
        yield r, a, b, Cities(r, {a: demo_city, b: demo_city}, clock=Clock())
    finally:
        keyspace.configure("")
        r.close()


def test_two_cities_each_its_own_users_the_prefecture_sees_both(deployment, demo_city):
    r, a, b, cities = deployment
    here = point_in(demo_city, 100)
    town = f"T{here.town}"
    worker = {c: Actor(here.worker, "grid_worker", town, "网格员", cell=here.cell, city=c) for c in (a, b)}
    town_op = {c: Actor(f"{c}-town-op", "town_operator", town, "镇值班员", city=c) for c in (a, b)}
    city_op = {c: Actor(f"{c}-city-op", "city_operator", "CITY", "市值班员", city=c) for c in (a, b)}
    prefecture = Actor("pref-boss", "city_commander", "CITY", "地市指挥长", city=PREFECTURE)

    # each city takes its own reports: the same case numbers, different cases
    ia = cities.service(worker[a]).report(worker[a], "0108", here.lon, here.lat, description="甲市井盖")
    ib = cities.service(worker[b]).report(worker[b], "0107", here.lon, here.lat, description="乙市积水")
    ib2 = cities.service(worker[b]).report(worker[b], "0104", here.lon, here.lat, correlate=False)
    assert ia.id == ib.id                      # case numbers are per city
    cities.service(town_op[a]).accept(ia.id, town_op[a])
    cities.service(town_op[b]).accept(ib.id, town_op[b])
    cities.service(town_op[b]).dispatch(ib.id, town_op[b], ["CG"])

    # each city's users see their own city only
    assert [i.description for i in cities.service(city_op[a]).list_queue(city_op[a], "open")] == ["甲市井盖"]
    got_b = cities.service(city_op[b]).get(ib.id, city_op[b])
    assert (got_b.description, got_b.state) == ("乙市积水", "dispatched")
    assert cities.service(city_op[a]).get(ia.id, city_op[a]).state == "accepted"
    with pytest.raises(Forbidden):
        cities.reader(city_op[a], b)
    with pytest.raises(Forbidden):
        cities.service(Actor("stranger", "city_operator", "CITY", city="zz"))
    assert set(cities.open_incidents(city_op[a])) == {a}

    # the prefecture reads both (and acts in neither without a city account)
    seen = cities.open_incidents(prefecture)
    assert {t: sorted(i.description for i in incs) for t, incs in seen.items()} == {
        a: ["甲市井盖"], b: sorted(["乙市积水", ib2.description])}
    assert cities.reader(prefecture, b).get(ib.id, prefecture).description == "乙市积水"
    with pytest.raises(Forbidden):
        cities.service(prefecture)

    # each city's keys: one slot each, on different masters; none untagged
    all_keys = list(r.scan_iter("*", count=1000))
    assert all_keys and all(k.startswith((f"om:{{{a}}}:", f"om:{{{b}}}:", "om:{g}:")) for k in all_keys)
    slots = {t: r.keyslot(f"om:{{{t}}}:x") for t in (a, b)}
    for t in (a, b):
        with keyspace.use(t):
            assert r.keyslot(keys.incident(ia.id)) == r.keyslot(keys.OPEN) == slots[t]
            assert invariants.check(r) == []
    assert r.get_node_from_key(f"om:{{{a}}}:x") != r.get_node_from_key(f"om:{{{b}}}:x")
