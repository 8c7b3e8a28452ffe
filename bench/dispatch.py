"""Bench: full dispatch cycles per second on OneMap vs the same cycle on RQ (issue 4).

A cycle is report → route → enqueue → accept → dispatch → handle → verify → close, with an
audit entry for every step. OneMap: ``IncidentService`` + the center queue streams, worked by
event-driven operator processes (consumer group ``ops``) while the main process reports; each
operator reads what it has not seen yet in one round trip (``IncidentService.prefetch``) and works
what it read as one ``IncidentService.batch()`` (one round trip; each step is atomic, and the
two steps an operator takes on one incident at once, accept+dispatch and verify+close, share one
atomic call). Every process tunes its garbage collector as ``onemap web``/``dispatch`` do.
Baseline, measured in the same run on the same redis-server: the way a user would build it
without OneMap: one RQ job per step, state in a hash, audit in a list, each job enqueueing the
next, run by rq's ``SimpleWorker`` in burst mode in-process. Also: p99 latency from enqueue to a
consumer already waiting on XREADGROUP.

    python bench/dispatch.py    # --cycles 3000 --runs 5 --rq-cycles 300 --workers 2 --reporters 2

The reports come from ``--reporters`` processes (web processes taking grid workers' reports, as
`onemap web` runs several in production): one alone waits out a round trip per report and caps
the run below what the operators and the server can do. The OneMap figure is the median of
``--runs`` runs (each on a fresh private redis-server).

Last line: one JSON object (bench, onemap_cycles_per_s (the median), rq_cycles_per_s, ratio,
enqueue_to_consumer_p99_ms, cpu_ms_per_cycle: CPU of all processes per cycle (median),
onemap_runs: every run's figure, python_loop_ns: a calibration of this machine's speed).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.runtime import tune_gc  # noqa: E402
from app.services import start_redis_server  # noqa: E402
from incidents import keys  # noqa: E402
from incidents.actor import Actor  # noqa: E402
from incidents.queue import QueueConsumer  # noqa: E402
from incidents.service import IncidentService  # noqa: E402

CITY = None   # set in main, inherited by forked workers
SUP = Actor("bench-sup", "supervisor", "CITY", "核查员")
CG = Actor("bench-cg", "dept_operator", "DCG", "城管")


def _points(city, n: int):
    cells = city.cells
    pts = cells.geometry.representative_point()
    rows = list(zip(pts.x, pts.y, cells["town_code"], cells["worker_id"], cells["code"], strict=True))
    return [rows[i % len(rows)] for i in range(n)]


# --- OneMap ------------------------------------------------------------------------------
def operator(url: str, name: str, towns: list[str], target: int, done_key: str, go, out) -> None:
    """An operator console/worker process: reacts to what arrives in its queues."""
    if os.environ.get("BENCH_PROFILE"):   # python bench/dispatch.py with a cProfile per operator
        import cProfile  # noqa: PLC0415

        prof = cProfile.Profile()
        prof.enable()
        try:
            return _operate(url, name, towns, target, done_key, go, out)
        finally:
            prof.disable()
            prof.dump_stats(f"{os.environ['BENCH_PROFILE']}.{name}")
    return _operate(url, name, towns, target, done_key, go, out)


def _operate(url: str, name: str, towns: list[str], target: int, done_key: str, go, out) -> None:
    r = redis.Redis.from_url(url, decode_responses=True)
    svc = IncidentService(r, CITY)
    qc = QueueConsumer(r, [f"T{t}" for t in towns] + ["DCG"], name)
    ops = {t: Actor(f"op-{t}", "town_operator", f"T{t}") for t in towns}
    with _timed("operator", go, out):
        _work(r, svc, qc, ops, target, done_key)


def _work(r, svc: IncidentService, qc: QueueConsumer, ops: dict, target: int,  # noqa: ANN001
          done_key: str) -> None:
    reads = entries = 0
    while int(r.get(done_key) or 0) < target:
        batch = qc.read(count=200, block_ms=200)
        reads, entries = reads + 1, entries + len(batch)
        closed = work_batch(svc, qc, ops, batch)
        if closed:
            r.incrby(done_key, closed)
    if os.environ.get("BENCH_DEBUG"):
        print(f"  operator {qc.consumer}: {reads} queue reads, {entries / max(reads, 1):.1f} "
              "entries each")


def work_batch(svc: IncidentService, qc: QueueConsumer, ops: dict, batch: list) -> int:
    """What an operator does with one queue read: the incidents it has not seen yet in one read
    round trip, every step in one ``batch()`` (one write round trip; each step atomic), then the
    acks. Returns how many incidents it closed."""
    svc.prefetch(batch)
    closed = 0
    with svc.batch() as b:
        for e in batch:
            if e.center == "DCG":
                svc.handle(e.incident_id, CG)
                continue
            op = ops[e.center[1:]]
            if e.action == "report":
                svc.accept(e.incident_id, op)
                svc.dispatch(e.incident_id, op, ["CG"])
            elif e.action == "handle":
                svc.verify(e.incident_id, SUP, passed=True)
                svc.close(e.incident_id, op)
                closed += 1
    assert not b.errors, b.errors[:3]
    qc.ack(batch)
    return closed


@contextmanager
def _timed(role: str, go, out):  # noqa: ANN001, ANN202
    """The timed part of a process: says it is ready, waits for the common start, then reports
    (role, end time, its own CPU from the start): start-up is not counted."""
    tune_gc()                  # what `onemap web` / `onemap dispatch` do after loading
    out.put(("ready", 0.0, 0.0, 0.0))
    go.wait()
    t0 = os.times()
    yield
    t1 = os.times()
    out.put((role, time.perf_counter(), t1.user - t0.user + t1.system - t0.system,
             t1.system - t0.system))


def reporter(url: str, rows: list, go, out) -> None:
    """A web process taking grid workers' reports (one ``IncidentService.report`` each, one
    round trip): the load generator. Several run at once, as `onemap web` does in production."""
    r = redis.Redis.from_url(url, decode_responses=True)
    svc = IncidentService(r, CITY)
    actors = [Actor(w, "grid_worker", f"T{t}", cell=c) for _, _, t, w, c in rows]
    with _timed("reporter", go, out):
        for (x, y, _, _, _), a in zip(rows, actors, strict=True):
            svc.report(a, "0108", x, y, correlate=False)


def onemap_cycles(url: str, n: int, workers: int, reporters: int) -> float:
    r = redis.Redis.from_url(url, decode_responses=True)
    r.flushall()
    pts = _points(CITY, n)
    towns = sorted({p[2] for p in pts})
    QueueConsumer(r, [f"T{t}" for t in towns] + ["DCG"], "setup")   # groups before anything
    r.config_resetstat()
    done = "bench:done"
    go, out = mp.Event(), mp.Queue()
    ops = [mp.Process(target=operator, args=(url, f"op{k}", towns, n, done, go, out))
           for k in range(workers)]
    reps = [mp.Process(target=reporter, args=(url, pts[k::reporters], go, out))
            for k in range(reporters)]
    for p in ops + reps:
        p.start()
    for _ in ops + reps:       # every process has loaded (the timed part starts at `go`)
        assert out.get(timeout=120)[0] == "ready"
    cpu0 = r.info("cpu")
    t0 = time.perf_counter()
    go.set()
    while int(r.get(done) or 0) < n:
        time.sleep(0.002)
    elapsed = time.perf_counter() - t0
    cpu1 = r.info("cpu")
    # each process measures its own CPU from `go` to its end (not its start-up)
    ended = [out.get(timeout=600) for _ in ops + reps]
    reported = max(t for role, t, _, _ in ended if role == "reporter") - t0
    reporter_cpu = sum(c for role, _, c, _ in ended if role == "reporter")
    ops_cpu = sum(c for role, _, c, _ in ended if role == "operator")
    client_sys = sum(s for _, _, _, s in ended)
    print(f"  reporters: {n / reported:,.0f} reports/s together; all closed "
          f"{elapsed - reported:.2f} s after the last report")
    for p in ops + reps:
        p.join(10)
    closed = r.zcard(keys.ALL) - r.zcard(keys.OPEN)
    audit = sum(r.xlen(keys.audit(i)) for i in r.zrange(keys.ALL, 0, 49))
    assert closed == n, (closed, n)
    assert audit == 50 * 6, audit       # report, accept, dispatch, handle, verify, close
    # Server time: the CPU of redis-server's main thread (INFO cpu). Summing INFO commandstats
    # would count every command run inside a script twice (its own line and EVALSHA's usec).
    main = ("used_cpu_user_main_thread", "used_cpu_sys_main_thread")
    server_us = sum(cpu1[k] - cpu0[k] for k in main) * 1e6 / n
    server_sys = (cpu1[main[1]] - cpu0[main[1]]) * 1e6 / n
    stats = r.info("commandstats")
    lua = stats.get("cmdstat_evalsha", {})
    if os.environ.get("BENCH_DEBUG"):
        print({k[8:]: (round(v["calls"] / n, 2), round(v["usec_per_call"], 2)) for k, v in stats.items() if v["calls"] > n / 2})
    print(f"  redis-server main thread busy {server_us:.0f} µs CPU per cycle "
          f"({lua.get('calls', 0) / n:.1f} atomic scripts per cycle, "
          f"{lua.get('usec_per_call', 0):.0f} µs each incl. their commands; {server_sys / server_us:.0%} "
          f"in the kernel); the single-threaded "
          f"server alone caps this machine at ~{1e6 / server_us:,.0f} cycles/s")
    print(f"  client CPU per cycle: reporters {reporter_cpu * 1e6 / n:.0f} µs, operators "
          f"{ops_cpu * 1e6 / n:.0f} µs ({client_sys / (reporter_cpu + ops_cpu):.0%} of it in the kernel; "
          f"all processes share {os.cpu_count()} CPUs)")
    total_ms = (server_us + (reporter_cpu + ops_cpu) * 1e6 / n) / 1000
    print(f"  CPU per cycle, all processes: {total_ms:.2f} ms → this machine's {os.cpu_count()} CPUs "
          f"cap it at ~{os.cpu_count() / total_ms * 1000:,.0f} cycles/s")
    CPU_MS[0] = total_ms
    return n / elapsed


CPU_MS = [0.0]   # CPU per cycle of the last onemap_cycles run, for the JSON line


def python_speed() -> float:
    """Calibration: ns per iteration of a plain CPython loop on this machine now (the same
    code is several times slower on one box than another; read the cycles/s with it)."""
    t = time.perf_counter()
    s = 0
    for i in range(2_000_000):
        s += i
    return (time.perf_counter() - t) / 2_000_000 * 1e9


def observer(url: str, towns: list[str], n: int, out) -> None:
    """A consumer already waiting on XREADGROUP: measures enqueue → delivery latency."""
    r = redis.Redis.from_url(url, decode_responses=True)
    qc = QueueConsumer(r, [f"T{t}" for t in towns], "observer", group="bench-observer")
    out.put("ready")
    lat: list[float] = []
    while len(lat) < n:
        for e in qc.read(count=100, block_ms=1000):
            # enqueue time = the stream entry id (ms of the server clock when XADD ran, same host)
            lat.append(time.time() * 1000 - int(e.entry_id.split("-")[0]))
    out.put(lat)


def latency(url: str, n: int) -> float:
    r = redis.Redis.from_url(url, decode_responses=True)
    r.flushall()
    svc = IncidentService(r, CITY)
    pts = _points(CITY, n)
    towns = sorted({p[2] for p in pts})
    q: mp.Queue = mp.Queue()
    p = mp.Process(target=observer, args=(url, towns, n, q))
    p.start()
    assert q.get(timeout=60) == "ready"
    for x, y, t, w, c in pts:
        svc.report(Actor(w, "grid_worker", f"T{t}", cell=c), "0108", x, y, correlate=False)
        time.sleep(0.002)       # paced: the consumer is waiting when each entry arrives
    lat = sorted(q.get(timeout=120))
    p.join(10)
    return lat[int(0.99 * (len(lat) - 1))]


# --- RQ baseline ---------------------------------------------------------------------------
# The same cycle as a user would build it with RQ: one job per step; state in a hash; an audit
# list; each job checks the state, writes the new one and enqueues the next step.
_NEXT = {"report": "accept", "accept": "dispatch", "dispatch": "handle", "handle": "verify",
         "verify": "close", "close": None}
_FROM = {"accept": "reported", "dispatch": "accepted", "handle": "dispatched", "verify": "handled",
         "close": "verified"}
_TO = {"report": "reported", "accept": "accepted", "dispatch": "dispatched", "handle": "handled",
       "verify": "verified", "close": "closed"}


def rq_step(step: str, inc_id: str, lon: float = 0.0, lat: float = 0.0) -> None:
    from rq import Queue, get_current_job  # noqa: PLC0415

    conn = get_current_job().connection
    key = f"rq:inc:{inc_id}"
    if step == "report":
        city = CITY or sys.modules["__main__"].CITY    # RQ imports this module by name
        loc = city.try_locate(lon, lat)
        center = f"T{loc.town_code}" if loc else "CITY"
        conn.hset(key, mapping={"state": "reported", "center": center, "lon": lon, "lat": lat,
                                "category": "0108", "created": time.time()})
    else:
        state = conn.hget(key, "state")
        if state is None or state.decode() != _FROM[step]:
            raise RuntimeError(f"{inc_id}: {step} in state {state}")
        conn.hset(key, mapping={"state": _TO[step], "updated": time.time()})
    conn.rpush(f"rq:audit:{inc_id}", json.dumps({"step": step, "ts": time.time()}))
    nxt = _NEXT[step]
    if nxt:
        Queue("dispatch", connection=conn).enqueue(RQ_STEP, nxt, inc_id)
    else:
        conn.incr("rq:closed")


RQ_STEP = "bench.dispatch.rq_step"   # RQ refuses functions of __main__: import by name


def rq_cycles(url: str, n: int) -> float:
    from rq import Queue, SimpleWorker  # noqa: PLC0415

    conn = redis.Redis.from_url(url)       # rq wants bytes
    conn.flushall()
    q = Queue("dispatch", connection=conn)
    pts = _points(CITY, n)
    t0 = time.perf_counter()
    for k, (x, y, _, _, _) in enumerate(pts):
        q.enqueue(RQ_STEP, "report", f"R{k:06d}", float(x), float(y))
    SimpleWorker([q], connection=conn).work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - t0
    assert int(conn.get("rq:closed") or 0) == n
    return n / elapsed


def main() -> None:
    global CITY
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=3000)
    ap.add_argument("--rq-cycles", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2, help="OneMap operator processes")
    ap.add_argument("--reporters", type=int, default=2,
                    help="reporting (web) processes: the load generator")
    ap.add_argument("--runs", type=int, default=5,
                    help="OneMap runs; the figure is their median (this box varies ±10 %%)")
    ap.add_argument("--latency-n", type=int, default=1000)
    ap.add_argument("--city-dir", default=None)
    args = ap.parse_args()
    mp.set_start_method("fork")
    if args.city_dir:
        from grid.io import load_city  # noqa: PLC0415

        CITY = load_city(args.city_dir)
    else:
        from grid.build import build_city  # noqa: PLC0415

        CITY = build_city("高州市")
    CITY.try_locate(*_points(CITY, 1)[0][:2])      # build the point index before forking
    aof = not os.environ.get("BENCH_NOAOF")                           # AOF everysec
    runs, cpus = [], []
    for k in range(args.runs):
        # a fresh server per run: runs of one server would grow its AOF past the rewrite size
        # (64 MB, ~6.5 KB per cycle) and a rewrite would land in whichever run came next
        print(f"OneMap run {k + 1} of {args.runs}:")
        one = start_redis_server(appendonly=aof)
        try:
            runs.append(onemap_cycles(one.url, args.cycles, args.workers, args.reporters))
        finally:
            one.stop()
        cpus.append(CPU_MS[0])
        print(f"  {runs[-1]:,.0f} full cycles/s")
    svc = start_redis_server(appendonly=aof)
    try:
        om, cpu_ms = statistics.median(runs), statistics.median(cpus)
        print(f"OneMap: {om:,.0f} full cycles/s, median of {args.runs} runs "
              f"({', '.join(f'{x:,.0f}' for x in runs)}; {args.cycles} cycles each, {args.workers} "
              f"operator processes + {args.reporters} reporters, 6 steps with their audit entries "
              f"in 4 atomic calls)")
        rq_rate = rq_cycles(svc.url, args.rq_cycles)
        print(f"RQ baseline: {rq_rate:,.0f} full cycles/s ({args.rq_cycles} cycles, one job per "
              f"step, SimpleWorker burst in-process)")
        p99 = latency(svc.url, args.latency_n)
        print(f"enqueue → waiting consumer p99: {p99:.2f} ms ({args.latency_n} entries; XADD time "
              f"from the entry id, 1 ms resolution)")
        print(f"load average during the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} CPUs")
        ratio = om / rq_rate
        print(f"ratio OneMap / RQ: {ratio:.1f}×")
        loop_ns = python_speed()
        print(f"calibration: a plain CPython loop takes {loop_ns:.1f} ns per iteration here "
              f"(~25–35 on a current desktop CPU)")
        print(json.dumps({"bench": "dispatch", "onemap_cycles_per_s": round(om, 1),
                          "rq_cycles_per_s": round(rq_rate, 1), "ratio": round(ratio, 2),
                          "enqueue_to_consumer_p99_ms": round(p99, 3),
                          "cpu_ms_per_cycle": round(cpu_ms, 3),
                          "onemap_runs": [round(x, 1) for x in runs],
                          "python_loop_ns": round(loop_ns, 1)}))
    finally:
        svc.stop()


if __name__ == "__main__":
    main()
