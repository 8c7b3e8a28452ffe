"""备份与恢复 on a Redis Cluster (SEC29–SEC33, issue 20): ``backup`` snapshots every master of
a real 3-master cluster holding two cities (each in its own slot) and the deployment's accounts;
``restore`` into a FRESH 3-master cluster gives back every incident, audit entry, account and
device (the broker's credentials), found through the same service paths."""

from __future__ import annotations

import pytest

from app.backup import Sources, backup, restore, verify
from app.broker_auth import BrokerAuth
from app.context import connect
from app.users import UserStore
from grid import keyspace
from incidents import keys
from incidents.actor import Actor
from incidents.cities import Cities
from tests.incidents.conftest import Clock, point_in
from tests.incidents.test_cities import on_different_shards
from tests.rediscluster import start_redis_cluster

PASSWORD = "Backup-Test-2026!x"


@pytest.mark.slow
def test_cluster_backup_then_restore_into_a_fresh_cluster(redis_cluster_service, demo_city,
                                                          tmp_path):
    r = connect(redis_cluster_service.url)
    r.flushall(target_nodes="primaries")
    a, b = on_different_shards(redis_cluster_service, r)
    keyspace.configure(a)
    fresh = None
    try:
        cities = Cities(r, {a: demo_city, b: demo_city}, clock=Clock())
        here = point_in(demo_city, 100)
        town = f"T{here.town}"
        ids = {}
        for c in (a, b):
            w = Actor(here.worker, "grid_worker", town, "网格员", cell=here.cell, city=c)
            op = Actor(f"{c}-op", "town_operator", town, "镇值班员", city=c)
            svc = cities.service(w)
            made = [svc.report(w, "0108", here.lon, here.lat, description=f"{c}-{k}",
                               correlate=False).id for k in range(3)]
            svc.accept(made[0], op)
            ids[c] = made
        before = {c: {i: (cities.service(Actor("x", "city_operator", "CITY", city=c)).get(
            i, Actor("x", "city_operator", "CITY", city=c)).version,
            len(r.xrange(_audit(c, i)))) for i in ids[c]} for c in (a, b)}
        UserStore(r, demo_city).add("backup.user", PASSWORD, "town_operator", town, "备份员", city=b)
        data = tmp_path / "data"
        auth = BrokerAuth(data / "mqtt-auth").ensure_service_accounts()
        device_pw = auth.issue("WL-backup-1", "water_level")

        m = backup(tmp_path / "backup", Sources(redis_service_url := redis_cluster_service.url,
                                                None, data))
        assert redis_service_url.startswith("redis+cluster://")
        assert m["redis"]["cluster"] and len(m["redis"]["nodes"]) == 3
        assert m["redis"]["keys"] == sum(int(r.dbsize(target_nodes=n)) for n in r.get_primaries())
        assert sum(b - a + 1 for n in m["redis"]["nodes"] for a, b in n["slots"]) == 16384
        assert verify(tmp_path / "backup")["finished_at"]

        fresh = start_redis_cluster(tmp_path / "fresh")        # a fresh 3-master cluster
        done = restore(tmp_path / "backup", Sources(fresh.url, None, tmp_path / "new-data"))
        assert done["keys"] == m["redis"]["keys"]
        r2 = connect(fresh.url)
        cities2 = Cities(r2, {a: demo_city, b: demo_city}, clock=Clock())
        for c in (a, b):
            reader = Actor("x", "city_operator", "CITY", city=c)
            for i in ids[c]:
                got = cities2.service(reader).get(i, reader)
                assert (got.version, len(r2.xrange(_audit(c, i)))) == before[c][i]
                assert got.description.startswith(c)
        assert UserStore(r2, demo_city).verify("backup.user", PASSWORD).city == b
        restored = BrokerAuth(tmp_path / "new-data" / "mqtt-auth").accounts()
        assert restored["WL-backup-1"]["password"] == device_pw
        r2.close()
    finally:
        keyspace.configure("")
        r.close()
        if fresh is not None:
            fresh.stop()


def _audit(city: str, incident_id: str) -> str:
    with keyspace.use(city):
        return keys.audit(incident_id)
