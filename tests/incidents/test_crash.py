"""Crash test: kill -9 a process that holds queue entries mid-flight; after XAUTOCLAIM every
incident is in exactly one place, none lost, none done twice. Then restart redis-server (AOF):
every incident, queue and consumer group comes back. Both run on a single redis-server and on a
real 3-master Redis Cluster (issue 20: the master holding the city's slot restarts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import redis

from app.context import connect
from app.services import restart_redis_server, start_redis_server
from grid import keyspace
from incidents import invariants, keys
from incidents.errors import InvalidTransition
from incidents.queue import QueueConsumer
from incidents.service import IncidentService

from .conftest import Actors, Clock, point_in

N = 40

# what both holders do first: take the town's N queue entries and keep them unacked
TAKE = textwrap.dedent("""
    import sys, time
    from app.context import connect
    from grid import keyspace
    from grid.io import load_city
    from incidents import script
    from incidents.actor import Actor
    from incidents.queue import QueueConsumer
    from incidents.service import IncidentService
    url, city_dir, town, tag = sys.argv[1:5]
    keyspace.configure(tag)
    r = connect(url)
    svc = IncidentService(r, load_city(city_dir))
    op = Actor("crashy-op", "town_operator", "T" + town)
    consumer = QueueConsumer(r, ["T" + town], "crashy")
    held = []
    while len(held) < {n}:
        held += consumer.read(count={n}, block_ms=2000)
""").replace("{n}", str(N))

HOLDER = TAKE + textwrap.dedent("""
    for e in held[: {n} // 2]:          # half done, none acked: then the process dies
        svc.accept(e.incident_id, op)
    print("HELD", len(held), flush=True)
    time.sleep(600)
""").replace("{n}", str(N))


CLUSTER_TAG = "gz"


@dataclass
class Backend:
    """Where the crash happens: a private redis-server, or the 3-master cluster (tagged keys)."""

    url: str
    tag: str
    restart: Callable[[], None]

    def connect(self) -> redis.Redis:
        return connect(self.url)

    def holder(self, source: str, city_dir, town: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", source, self.url, str(city_dir), town, self.tag],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=os.getcwd())


@pytest.fixture(params=["single", "cluster"])
def backend(request: pytest.FixtureRequest, tmp_path):
    if request.param == "single":
        held = {"svc": start_redis_server(tmp_path / "redis")}

        def restart() -> None:
            held["svc"] = restart_redis_server(held["svc"])   # AOF recovery

        yield Backend(held["svc"].url, "", restart)
        held["svc"].stop()
        return
    cluster = request.getfixturevalue("redis_cluster_service")
    cluster.client().flushall(target_nodes="primaries")
    keyspace.configure(CLUSTER_TAG)
    try:                      # the master that holds the city's slot restarts (AOF recovery)
        yield Backend(cluster.url, CLUSTER_TAG, lambda: cluster.restart(cluster.owner_of(keys.ALL)))
    finally:
        keyspace.configure("")


def n_reports(r: redis.Redis, demo_city):  # noqa: ANN001, ANN201
    """N reports in one town, each its own case in the town's queue (consumer groups made
    before anything arrives): (place, actors, service, ids)."""
    here = point_in(demo_city, 100)
    who = Actors(here, point_in(demo_city, 1300))
    svc = IncidentService(r, demo_city, clock=Clock(time.time()))
    QueueConsumer(r, [f"T{here.town}"], "setup")
    cells = demo_city.cells[demo_city.cells["town_code"] == here.town].geometry
    pts = [cells.iloc[k % len(cells)].representative_point() for k in range(N)]
    ids = [svc.report(who.worker, "0107", p.x, p.y, correlate=False).id for p in pts]
    assert len(set(ids)) == N
    return here, who, svc, ids


def wait_line(proc: subprocess.Popen, prefix: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            raise AssertionError(f"holder exited: {proc.stderr.read()}")
    raise TimeoutError(prefix)


@pytest.mark.slow
def test_kill_9_then_reclaim_then_aof_restart(backend, demo_city, demo_city_dir):
    proc = None
    try:
        r = backend.connect()
        here, who, svc, ids = n_reports(r, demo_city)

        proc = backend.holder(HOLDER, demo_city_dir, here.town)
        assert wait_line(proc, "HELD").split() == ["HELD", str(N)]
        os.kill(proc.pid, signal.SIGKILL)                 # kill -9, mid-flight
        proc.wait(10)
        rescuer = QueueConsumer(r, [f"T{here.town}"], "rescuer")
        assert rescuer.pending() == N

        entries = rescuer.reclaim(min_idle_ms=0)
        assert len(entries) == N
        redone = 0
        for e in entries:
            assert e.current(r)             # still in the town's queue: its work
            try:                            # not done by the dead consumer: do it now
                svc.accept(e.incident_id, who.town)
                redone += 1
            except InvalidTransition:       # done before the kill: refused, not done twice
                pass
        rescuer.ack(entries)
        assert redone == N // 2
        assert rescuer.pending() == 0
        for i in ids:
            inc = svc.get(i, who.town)
            assert (inc.state, inc.place) == ("accepted", f"q:T{here.town}")
            accepts = [e for e in svc.timeline(i, who.town) if e["action"] == "accept"]
            assert len(accepts) == 1, (i, accepts)                 # never done twice
        assert r.zcard(keys.place(f"q:T{here.town}")) == N
        assert invariants.check(r) == []
        qlen = r.xlen(keys.queue(f"T{here.town}"))

        r.close()
        backend.restart()                                # AOF recovery
        r = backend.connect()
        assert r.zcard(keys.ALL) == N
        assert r.zcard(keys.place(f"q:T{here.town}")) == N
        assert r.xlen(keys.queue(f"T{here.town}")) == qlen
        groups = {g["name"]: g for g in r.xinfo_groups(keys.queue(f"T{here.town}"))}
        assert groups[keys.QUEUE_GROUP]["pending"] == 0
        assert all(r.hget(keys.incident(i), "state") == "accepted" for i in ids)
        assert invariants.check(r) == []
        svc = IncidentService(r, demo_city)
        inc = svc.dispatch(ids[0], who.town, ["CG"])      # and it keeps working
        assert inc.state == "dispatched"
        r.close()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)


STREAMER = TAKE + textwrap.dedent("""
    real_send, sent = script.ScriptStream.send, []

    def send_then_die(self, calls):     # the second chunk never leaves: the process dies first
        if sent:
            print("SENT", len(sent[0]), flush=True)
            time.sleep(600)
        sent.append(calls)
        real_send(self, calls)

    script.ScriptStream.send = send_then_die
    svc.prefetch(held)
    with svc.batch():                   # accept + dispatch each: sent in chunks while prepared
        for e in held:
            svc.accept(e.incident_id, op)
            svc.dispatch(e.incident_id, op, ["CG"])
""").replace("{n}", str(N))


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_streamed_batch(backend, demo_city, demo_city_dir):
    """A long batch goes out in chunks while it is prepared (store.CommitStream). Killed after
    its first chunk ran and before it read a reply or acked an entry: the first chunk's cases
    are dispatched, the rest untouched; a rescuer reclaims every entry and finishes the rest;
    each case is accepted and dispatched exactly once and sits in exactly one place."""
    proc = None
    try:
        r = backend.connect()
        here, who, svc, ids = n_reports(r, demo_city)
        proc = backend.holder(STREAMER, demo_city_dir, here.town)
        first_chunk = int(wait_line(proc, "SENT").split()[1])     # script calls in the chunk
        deadline = time.monotonic() + 30                          # its calls are on the server:
        while sum(r.hget(keys.incident(i), "state") == "dispatched" for i in ids) < first_chunk:
            assert time.monotonic() < deadline, "the first chunk never ran"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        states = [r.hget(keys.incident(i), "state") for i in ids]
        assert states.count("dispatched") == first_chunk > 0      # one call per case (joined)
        assert states.count("reported") == N - first_chunk

        rescuer = QueueConsumer(r, [f"T{here.town}"], "rescuer")
        entries = rescuer.reclaim(min_idle_ms=0)
        assert len(entries) == N
        for e in entries:
            assert e.current(r)
            if svc.get(e.incident_id, who.town).state == "reported":
                svc.accept(e.incident_id, who.town)
                svc.dispatch(e.incident_id, who.town, ["CG"])
        rescuer.ack(entries)
        assert rescuer.pending() == 0
        for i in ids:
            inc = svc.get(i, who.town)
            assert (inc.state, inc.place) == ("dispatched", f"x:T{here.town}")
            trail = [e["action"] for e in svc.timeline(i, who.town)]
            assert trail.count("accept") == 1 and trail.count("dispatch") == 1, (i, trail)
        assert r.zcard(keys.place("h:DCG")) == N
        assert invariants.check(r) == []
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
