"""Bench: one operator process working through a backlog (after an outage, a night shift's
reports, a storm): how fast it drains when its batches are sent in chunks while it prepares
them (``IncidentService.batch``, ``defaults.BATCH_SEND_EVERY``) beside the same batches sent in
one round trip at the end of each (the way OneMap worked before: the client idles while Redis
runs the batch, Redis idles while the client prepares the next).

The backlog: ``--cycles`` reports in the town queues (not timed). Then one operator process
(``bench.dispatch.work_batch``: queue read → prefetch → accept+dispatch, 城管 handle, verify+close
in batches) works until every incident is closed: wall time and CPU per cycle. Both ways run in
the same process on a fresh private redis-server (AOF everysec) each round, alternately, so
that this VM's drift hits both alike; the figures are the medians of ``--rounds`` rounds.

    python bench/drain.py       # --cycles 3000 --rounds 5

Last line: one JSON object (bench, streamed_cycles_per_s, one_trip_cycles_per_s, ratio,
streamed_cpu_us_per_cycle, one_trip_cpu_us_per_cycle, rounds: each round's pair).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.dispatch as d  # noqa: E402
from app.runtime import tune_gc  # noqa: E402
from app.services import start_redis_server  # noqa: E402
from incidents import defaults as D  # noqa: E402
from incidents.actor import Actor  # noqa: E402
from incidents.queue import QueueConsumer  # noqa: E402
from incidents.service import IncidentService  # noqa: E402

NEVER = 1 << 30     # a chunk size no batch reaches: one round trip per batch


def drain(n: int, send_every: int) -> tuple[float, float]:
    """(cycles/s, client CPU µs per cycle) of one operator draining ``n`` reported incidents."""
    srv = start_redis_server(appendonly=True)
    try:
        r = redis.Redis.from_url(srv.url, decode_responses=True)
        pts = d._points(d.CITY, n)
        towns = sorted({p[2] for p in pts})
        qc = QueueConsumer(r, [f"T{t}" for t in towns] + ["DCG"], "op")
        reporter = IncidentService(r, d.CITY)
        for x, y, t, w, c in pts:
            reporter.report(Actor(w, "grid_worker", f"T{t}", cell=c), "0108", x, y, correlate=False)
        svc = IncidentService(r, d.CITY)     # the operator's own (empty) cache, as in its process
        ops = {t: Actor(f"op-{t}", "town_operator", f"T{t}") for t in towns}
        tune_gc()
        D.BATCH_SEND_EVERY, saved = send_every, D.BATCH_SEND_EVERY
        try:
            c0, t0 = time.process_time(), time.perf_counter()
            closed = 0
            while closed < n:
                closed += d.work_batch(svc, qc, ops, qc.read(count=200, block_ms=1000))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        finally:
            D.BATCH_SEND_EVERY = saved
        assert r.zcard("om:inc:open") == 0
        return n / wall, cpu / n * 1e6
    finally:
        srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from grid.build import build_city  # noqa: PLC0415

    d.CITY = build_city("高州市")
    rounds = []
    for k in range(args.rounds):
        s = drain(args.cycles, D.BATCH_SEND_EVERY)
        o = drain(args.cycles, NEVER)
        rounds.append((s, o))
        print(f"round {k + 1}: streamed {s[0]:,.0f} cycles/s ({s[1]:.0f} µs CPU per cycle), "
              f"one round trip per batch {o[0]:,.0f} cycles/s ({o[1]:.0f} µs)")
    s_rate = statistics.median(s[0] for s, _ in rounds)
    o_rate = statistics.median(o[0] for _, o in rounds)
    s_cpu = statistics.median(s[1] for s, _ in rounds)
    o_cpu = statistics.median(o[1] for _, o in rounds)
    print(f"streamed (chunks of {D.BATCH_SEND_EVERY}): {s_rate:,.0f} cycles/s; one round trip per "
          f"batch: {o_rate:,.0f} cycles/s; ratio {s_rate / o_rate:.2f}× (medians of {args.rounds} "
          f"rounds, {args.cycles} cycles each, one operator process)")
    print(json.dumps({"bench": "drain", "streamed_cycles_per_s": round(s_rate, 1),
                      "one_trip_cycles_per_s": round(o_rate, 1),
                      "ratio": round(s_rate / o_rate, 3),
                      "streamed_cpu_us_per_cycle": round(s_cpu, 1),
                      "one_trip_cpu_us_per_cycle": round(o_cpu, 1),
                      "rounds": [[round(s[0], 1), round(o[0], 1)] for s, o in rounds]}))


if __name__ == "__main__":
    main()
