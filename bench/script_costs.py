"""Bench: what a write costs redis-server inside a Lua script, for the choices incidents/ made.

Two pairs, each measured in the same run on a private redis-server (CPU of its main thread per
call, ``INFO cpu``), calls sent 50 per round trip through ``incidents.script.Script``:

- an audit/feed entry as 13 stream fields (the earlier layout) vs one JSON field (now);
- ZADD of a new member into a small zset (a center's queue, a town's open cases: ≤ 128 members,
  a listpack) with full-precision fractional scores (earlier) vs whole seconds (now).

    python bench/script_costs.py          # --calls 5000

Last line: one JSON object (bench, xadd13_us, xadd1_us, xadd_ratio, zadd_frac_us, zadd_int_us,
zadd_ratio).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.services import start_redis_server  # noqa: E402
from incidents.script import Script  # noqa: E402

XADD = "redis.call('XADD', KEYS[1], '*', unpack(ARGV)) return 1"
ZADD = "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) return 1"


def server_us(r: redis.Redis, script: Script, calls: list[tuple[str, list[str]]]) -> float:
    def cpu() -> float:
        i = r.info("cpu")
        return i["used_cpu_user_main_thread"] + i["used_cpu_sys_main_thread"]

    script.run_many(calls[:50])             # loaded, warm
    c0 = cpu()
    for k in range(0, len(calls), 50):
        script.run_many(calls[k:k + 50])
    return (cpu() - c0) / len(calls) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=5000)
    n = ap.parse_args().calls
    svc = start_redis_server()
    try:
        r = redis.Redis.from_url(svc.url, decode_responses=True)
        xadd, zadd = Script(r, XADD), Script(r, ZADD)
        entry = {"ts": "1795000000.123456", "actor": "op-440981001", "name": "潘州街道值班员",
                 "role": "town_operator", "center": "T440981001", "action": "accept",
                 "reason": "", "task": "", "state": "accepted", "from_state": "reported",
                 "v": "2", "before": '{"state":"reported"}', "after": '{"state":"accepted"}'}
        fields13 = [x for kv in entry.items() for x in kv]
        one = ["e", json.dumps(entry, ensure_ascii=False)]
        x13 = server_us(r, xadd, [(f"a13:{i % 500}", fields13) for i in range(n)])
        x1 = server_us(r, xadd, [(f"a1:{i % 500}", one) for i in range(n)])
        rnd = random.Random(7)
        t0 = 1_795_000_000.0
        times = [t0 + rnd.random() * 86400 for _ in range(n)]
        # 50 zsets of ~100 members each: the listpack size of a town's queue
        zf = server_us(r, zadd, [(f"zf:{i % 50}", [repr(t), f"E{i:06d}"]) for i, t in enumerate(times)])
        zi = server_us(r, zadd, [(f"zi:{i % 50}", [str(int(t)), f"E{i:06d}"]) for i, t in enumerate(times)])
        print(f"audit entry as 13 stream fields: {x13:.1f} µs per XADD; as one JSON field: "
              f"{x1:.1f} µs ({x13 / x1:.1f}×)")
        print(f"ZADD into a ~100-member zset, full-precision fractional scores: {zf:.1f} µs; "
              f"whole seconds: {zi:.1f} µs ({zf / zi:.1f}×)")
        print(json.dumps({"bench": "script_costs", "xadd13_us": round(x13, 2), "xadd1_us": round(x1, 2),
                          "xadd_ratio": round(x13 / x1, 2), "zadd_frac_us": round(zf, 2),
                          "zadd_int_us": round(zi, 2), "zadd_ratio": round(zf / zi, 2)}))
    finally:
        svc.stop()


if __name__ == "__main__":
    main()
