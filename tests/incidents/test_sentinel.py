"""OneMap on Sentinel (issue 20, SEC29–SEC33): a primary, a replica and a Sentinel, OneMap
connected through ``redis+sentinel://``; the primary dies (kill -9) in the middle of a case's
lifecycle, the Sentinel promotes the replica, nothing acknowledged (and replicated: ``WAIT``) is
lost, and the same service object carries on against the new primary (its broken connections
are dropped and the Sentinel names the new one)."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from app.context import connect
from app.services import free_port, start_redis_server, system_binary, wait_for_port
from incidents import invariants, keys
from incidents.service import IncidentService

from .conftest import Actors, Clock, point_in


def wait(pred, timeout: float = 30.0, what: str = "") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


@pytest.fixture
def sentinel_setup(tmp_path):
    primary = start_redis_server(tmp_path / "a", acl=False)
    replica = start_redis_server(tmp_path / "b", acl=False)
    redis.Redis(port=primary.port).config_set("repl-diskless-sync-delay", 0)   # sync at once
    rb = redis.Redis(port=replica.port, decode_responses=True)
    rb.replicaof("127.0.0.1", primary.port)
    wait(lambda: rb.info("replication").get("master_link_status") == "up", what="replica link")
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor onemap 127.0.0.1 {primary.port} 1\n"
                    "sentinel down-after-milliseconds onemap 1000\n"
                    "sentinel failover-timeout onemap 5000\n")
    proc = subprocess.Popen([system_binary("redis-server"), str(conf), "--sentinel"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0)
    try:
        wait_for_port(port)
        s = redis.Redis(port=port, decode_responses=True)
        wait(lambda: s.execute_command("SENTINEL", "REPLICAS", "onemap"), what="sentinel sees the replica")
        yield f"redis+sentinel://127.0.0.1:{port}/onemap", s, primary, replica
    finally:
        proc.terminate()
        proc.wait(5)
        replica.stop()
        primary.stop()


def test_a_failover_mid_lifecycle_loses_nothing(sentinel_setup, demo_city):
    url, sentinel, primary, replica = sentinel_setup
    r = connect(url)
    here = point_in(demo_city, 100)
    who = Actors(here, point_in(demo_city, 1300))
    svc = IncidentService(r, demo_city, clock=Clock())
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    svc.accept(inc.id, who.town)
    assert r.execute_command("WAIT", 1, 2000) == 1          # the replica has it

    primary.kill()                                           # kill -9: the Sentinel fails over
    wait(lambda: int(sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "onemap")[1])
         == replica.port, what="the replica promoted")
    wait(lambda: redis.Redis(port=replica.port).info("replication")["role"] == "master",
         what="the replica is primary")

    def dispatched() -> bool:   # the first calls after the switch may meet the old primary
        try:
            return svc.dispatch(inc.id, who.town, ["CG"]).state == "dispatched"
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            return False

    wait(dispatched, what="the service carries on against the new primary")
    r2 = redis.Redis(port=replica.port, decode_responses=True)
    assert r2.hget(keys.incident(inc.id), "state") == "dispatched"
    assert [e["action"] for e in svc.timeline(inc.id, who.town)] == ["report", "accept", "dispatch"]
    assert invariants.check(r2) == []
