"""Two cities in one deployment over HTTP (issue 20; T13, T27–T29), on a real 3-master Redis
Cluster and a real PostgreSQL: the web app works for each request's user's city — its live
cases (the Flask test client in front of the real services), its archived ones (the record's
rows carry the city, migrations 0007) — and the prefecture center (地市指挥中心) sees both."""

from __future__ import annotations

import psycopg
import pytest

from app.config import Settings
from app.context import AppContext, connect
from app.pg import connector
from app.record import attach_reader
from app.users import UserStore
from grid import keyspace
from incidents import keys
from incidents.actor import Actor
from incidents.cities import PREFECTURE
from incidents.record.archiver import Archiver
from tests.app.authkit import KIOSK, PASSWORD, login
from tests.incidents.conftest import point_in
from tests.incidents.test_cities import on_different_shards


@pytest.fixture
def two_cities(redis_cluster_service, record_url, demo_city, demo_devices, tmp_path):
    r = connect(redis_cluster_service.url)
    r.flushall(target_nodes="primaries")
    a, b = on_different_shards(redis_cluster_service, r)
    settings = Settings(secret_key="t" * 64, kiosk_token=KIOSK, data_dir=tmp_path, city_tag=a)
    ctx = AppContext(settings, redis_service_url := redis_cluster_service.url,
                     city_models={a: demo_city, b: demo_city})
    assert redis_service_url.startswith("redis+cluster://")
    ctx.__dict__["city"], ctx.__dict__["devices"] = demo_city, demo_devices
    store = UserStore(ctx.redis, demo_city)
    for uid, city in (("op-a", a), ("op-b", b), ("pref", PREFECTURE)):
        store.add(uid, PASSWORD, "city_commander" if city == PREFECTURE else "city_operator",
                  "CITY", uid, city=city)
    attach_reader(ctx, record_url)
    try:
        yield ctx, a, b
    finally:
        keyspace.configure("")
        r.close()


def _web(ctx: AppContext):
    from app.server import create_server  # noqa: PLC0415

    server = create_server(ctx)
    server.config["TESTING"] = True
    return server


def _client(server, user: str):  # noqa: ANN001, ANN202
    c = server.test_client()
    c.environ_base["HTTP_X_CSRFTOKEN"] = login(c, user)
    return c


def test_each_city_its_own_users_over_http_the_prefecture_sees_both(two_cities, demo_city, record_url):
    ctx, a, b = two_cities
    here = point_in(demo_city, 100)
    server = _web(ctx)
    op = {a: _client(server, "op-a"), b: _client(server, "op-b")}
    pref = _client(server, "pref")

    # each city's operator reports through the one web app: into its own city
    made = {}
    for city, text in ((a, "甲市井盖"), (b, "乙市积水")):
        res = op[city].post("/api/incidents", json={"category": "0108", "lon": here.lon,
                                                     "lat": here.lat, "title": text})
        assert res.status_code in (200, 201), res.get_data(as_text=True)[:300]
        made[city] = res.get_json()["id"]
    assert made[a] == made[b]                 # case numbers are per city: one id, two cases
    iid = made[a]

    for city, text in ((a, "甲市井盖"), (b, "乙市积水")):
        listed = op[city].get("/api/incidents?view=all").get_json()["items"]
        assert [i["title"] for i in listed] == [text]
        assert op[city].get(f"/api/incidents/{iid}").get_json()["title"] == text
        assert set(op[city].get("/api/cities/incidents").get_json()["cities"]) == {city}
    # the keys live in each city's own slot (Redis Cluster: on two different masters)
    for city in (a, b):
        with keyspace.use(city):
            assert ctx.redis.exists(keys.incident(iid))

    # the prefecture: both cities' cases
    seen = pref.get("/api/cities/incidents").get_json()["cities"]
    assert {t: [i["title"] for i in v] for t, v in seen.items()} == {a: ["甲市井盖"],
                                                                           b: ["乙市积水"]}

    # the record: each city's archiver writes its city; the case leaves Redis (as the retention
    # does once the record holds it) and a read by id falls through to that city's row
    for city in (a, b):
        with keyspace.use(city):
            Archiver(ctx.redis, connector(record_url, f"t-{city}"), consumer=f"t-{city}").drain()
            ctx.redis.delete(keys.incident(iid), keys.audit(iid))
    with psycopg.connect(record_url) as c:
        assert sorted(c.execute("SELECT city, record->>'title' FROM incidents").fetchall()) \
            == sorted([(a, "甲市井盖"), (b, "乙市积水")])
        assert dict(c.execute("SELECT city, count(*) FROM incident_audit GROUP BY city").fetchall()
                    ).keys() == {a, b}
    for city, text in ((a, "甲市井盖"), (b, "乙市积水")):
        got = op[city].get(f"/api/incidents/{iid}")
        assert got.status_code == 200 and got.get_json()["title"] == text
        trail = op[city].get(f"/api/incidents/{iid}/timeline").get_json()
        assert trail and len(trail.get("items", trail)) >= 1

    # the record's reads: the reader's city, every city for the prefecture
    from incidents.record import places, scope  # noqa: PLC0415

    with psycopg.connect(record_url) as c:
        for city in (a, b):
            with keyspace.use(city):
                assert len(places.cases(c, 0, 2e10, 10)) == 1
        with scope.all_cities():
            assert len(places.cases(c, 0, 2e10, 10)) == 2

    # an account of a city this deployment does not have: refused
    UserStore(ctx.redis, demo_city).add("op-z", PASSWORD, "city_operator", "CITY", city="zz")
    assert _client(server, "op-z").get("/api/incidents").status_code == 403
    assert Actor("x", "city_operator", "CITY", city="zz").city == "zz"
