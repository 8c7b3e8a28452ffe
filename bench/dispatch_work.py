"""Bench: the work of one full dispatch cycle, counted in CPU instructions (callgrind), on
OneMap and on the RQ version of the same cycle (issue 4).

``bench/dispatch.py`` measures cycles per second, and this 2-core VM's speed drifts by ±30 % within
minutes (other tenants): a change worth 5 % cannot be told from noise there. Instructions are not
seconds: valgrind's callgrind counts the instructions each process executes, the same from run
to run whatever else the machine does. So this bench runs the cycles once under callgrind, in
one client process (the reporting and the operating ``IncidentService`` apart, each with its own
cache, as in two processes) against a private redis-server that runs under callgrind too, and
reports instructions per cycle for the client, the server and both. Counting is switched on
(``callgrind_control``) only around the cycles: start-up, the city model and shutdown are not
counted. Baseline in the same run: the RQ cycle of ``bench/dispatch.py`` (one job per step,
state in a hash, audit in a list, ``SimpleWorker`` burst in-process), counted the same way.

    python bench/dispatch_work.py       # --cycles 600 --rq-cycles 40 (~3 minutes)

A cycle and its steps are those of ``bench/dispatch.py`` (``work_batch``: prefetch, one batch per
queue read, accept+dispatch and verify+close each one atomic call). Instructions are a proxy for
CPU time: they ignore cache misses and stalls, so use this to compare versions of the code on
the same binaries, and ``dispatch.py`` for what a machine achieves.

Last line: one JSON object (bench, onemap_instructions_per_cycle, onemap_client_…,
onemap_server_…, rq_instructions_per_cycle, rq_client_…, rq_server_…, ratio = RQ / OneMap).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from app.services import start_redis_server  # noqa: E402

BATCH = 200   # reports between two operator rounds (a queue read takes up to 200 per stream)


# --- the counted process ------------------------------------------------------------------
def child(kind: str, url: str, n: int, city_dir: str | None) -> None:
    """Run under callgrind with counting off: set up, say READY, wait for 'go' on stdin, run the
    cycles, say DONE, wait for 'end'."""
    import bench.dispatch as d  # noqa: PLC0415

    d.CITY = _city(city_dir)
    r = redis.Redis.from_url(url, decode_responses=True)
    run = _onemap(d, r, n) if kind == "onemap" else _rq(d, url, n)
    # a few cycles first, not counted: imports done on first use, the script loaded, caches warm
    (_onemap(d, r, 20) if kind == "onemap" else _rq(d, url, 3))()
    print("READY", flush=True)
    assert sys.stdin.readline().strip() == "go"
    closed = run()
    print(f"DONE {closed}", flush=True)
    assert sys.stdin.readline().strip() == "end"


def _city(city_dir: str | None):  # noqa: ANN202
    if city_dir:
        from grid.io import load_city  # noqa: PLC0415

        return load_city(city_dir)
    from grid.build import build_city  # noqa: PLC0415

    return build_city("高州市")


def _onemap(d, r: redis.Redis, n: int):  # noqa: ANN001, ANN202
    from app.runtime import tune_gc  # noqa: PLC0415
    from incidents.actor import Actor  # noqa: PLC0415
    from incidents.queue import QueueConsumer  # noqa: PLC0415
    from incidents.service import IncidentService  # noqa: PLC0415

    pts = d._points(d.CITY, n)
    towns = sorted({p[2] for p in pts})
    reporter = IncidentService(r, d.CITY)          # a web process taking reports
    operator = IncidentService(r, d.CITY)          # an operator process (its own cache)
    qc = QueueConsumer(r, [f"T{t}" for t in towns] + ["DCG"], "op")
    ops = {t: Actor(f"op-{t}", "town_operator", f"T{t}") for t in towns}
    actors = [Actor(w, "grid_worker", f"T{t}", cell=c) for _, _, t, w, c in pts]
    d.CITY.try_locate(*pts[0][:2])                 # the point index, before counting
    tune_gc()

    def run() -> int:
        closed = 0
        for k in range(0, n, BATCH):
            for (x, y, _, _, _), a in zip(pts[k:k + BATCH], actors[k:k + BATCH], strict=True):
                reporter.report(a, "0108", x, y, correlate=False)
            while batch := qc.read(count=200, block_ms=None):
                closed += d.work_batch(operator, qc, ops, batch)
        return closed
    return run


def _rq(d, url: str, n: int):  # noqa: ANN001, ANN202
    def run() -> int:
        d.rq_cycles(url, n)
        return int(redis.Redis.from_url(url).get("rq:closed") or 0)
    return run


# --- the parent ---------------------------------------------------------------------------
def counted(kind: str, n: int, city_dir: str | None) -> tuple[float, float, int]:
    """(client instructions, server instructions, cycles closed) of ``n`` cycles."""
    tmp = Path(tempfile.mkdtemp(prefix="onemap-work-"))
    cg = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    server = start_redis_server(tmp / "redis", wrapper=[*cg, f"--callgrind-out-file={tmp}/server.out"])
    cmd = [*cg, f"--callgrind-out-file={tmp}/client.out", sys.executable, __file__, "--child", kind,
           "--url", server.url, "--cycles", str(n)] + (["--city-dir", city_dir] if city_dir else [])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL, cwd=str(ROOT))
    try:
        _expect(proc, "READY")
        pids = [proc.pid, server.process.pid]
        _control(pids, "on")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        closed = int(_expect(proc, "DONE").split()[1])
        _control(pids, "off")
        proc.stdin.write("end\n")
        proc.stdin.flush()
        assert proc.wait(600) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()                 # callgrind writes its counts as the process exits
    return _total(tmp / "client.out"), _total(tmp / "server.out"), closed


def _expect(proc: subprocess.Popen, word: str) -> str:
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the counted process ended before {word}")
        if line.startswith(word):
            return line.strip()


def _control(pids: list[int], state: str) -> None:
    for pid in pids:
        subprocess.run(["callgrind_control", "-i", state, str(pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _total(out: Path) -> float:
    for _ in range(100):   # the file appears when the process has exited
        if out.exists() and (m := re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)):
            return float(m.group(1))
        time.sleep(0.1)
    raise RuntimeError(f"no callgrind totals in {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=600)
    ap.add_argument("--rq-cycles", type=int, default=40)
    ap.add_argument("--city-dir", default=None)
    ap.add_argument("--child", choices=["onemap", "rq"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.url, args.cycles, args.city_dir)
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not on PATH (apt-get install valgrind)")
    out: dict[str, float] = {}
    for kind, n in (("onemap", args.cycles), ("rq", args.rq_cycles)):
        client, server, closed = counted(kind, n, args.city_dir)
        assert closed == n, (kind, closed, n)
        c, s = client / n / 1e6, server / n / 1e6
        out |= {f"{kind}_instructions_per_cycle": round(c + s, 3),
                f"{kind}_client_instructions_per_cycle": round(c, 3),
                f"{kind}_server_instructions_per_cycle": round(s, 3)}
        print(f"{'OneMap' if kind == 'onemap' else 'RQ baseline'}: {c + s:.2f} M instructions per "
              f"full cycle ({n} cycles): client {c:.2f} M, redis-server {s:.2f} M")
    ratio = out["rq_instructions_per_cycle"] / out["onemap_instructions_per_cycle"]
    print(f"ratio RQ / OneMap: {ratio:.1f}× the instructions per cycle")
    print(json.dumps({"bench": "dispatch_work", **out, "ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
