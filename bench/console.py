"""Console live path: what one browser costs the server per tick (issue 6: < 1 s updates).

The console polls ``om:inc:feed`` every 400 ms (one XREVRANGE COUNT 1, behind the auth gate)
and re-reads its queue only when the feed moved. Baseline in the same run: the naive console
that re-reads the queue and redraws the whole map on every tick.

Runs through the real Flask/Dash endpoints (login session, CSRF, scope) against a private
redis-server, with a town (潘州街道) holding ``--open`` open incidents among ``--city`` city-wide.

    python bench/console.py            # options: --open 200 --city 2000 --ticks 300 --change-every 12
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

URL = "/console/_dash-update-component"


def _outputs(spec: str):
    out = []
    for part in spec.strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        out.append({"id": cid, "property": prop})
    return out if spec.startswith("..") else out[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--open", type=int, default=200, help="open incidents in the town")
    ap.add_argument("--city", type=int, default=2000, help="open incidents city-wide")
    ap.add_argument("--ticks", type=int, default=300)
    ap.add_argument("--change-every", type=int, default=12,
                    help="ticks between feed changes (12 × 0.4 s ≈ one change per 5 s)")
    args = ap.parse_args()

    from app.config import Settings
    from app.context import AppContext
    from app.screens.console.ids import Id
    from app.server import create_server
    from app.services import start_redis_server
    from app.users import ensure_demo_users
    from grid.build import build_city
    from incidents.actor import SYSTEM

    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    svc_redis = start_redis_server(tmp / "redis")
    try:
        ctx = AppContext(Settings(secret_key="b" * 64, data_dir=tmp), svc_redis.url)
        city = ctx.__dict__["city"] = build_city("高州市")
        ensure_demo_users(ctx.redis, city, "bench-pass-1")
        pz = city.cells[city.cells["town_code"] == "440981001"]
        others = city.cells[city.cells["town_code"] != "440981001"]
        t0 = time.perf_counter()
        for k in range(args.city):
            cells = pz if k < args.open else others
            p = cells.geometry.iloc[k % len(cells)].representative_point()
            ctx.incidents.report(SYSTEM, "0108" if k % 2 else "1001", p.x, p.y, correlate=False)
        print(f"setup: {args.city} incidents ({args.open} in 潘州街道) in {time.perf_counter() - t0:.1f} s")

        server = create_server(ctx)
        c = server.test_client()
        c.get("/login")
        c.post("/login", data={"user": "panzhou", "password": "bench-pass-1",
                               "csrf_token": c.get_cookie("_csrf_token").value})
        tok = c.get_cookie("_csrf_token").value
        deps = c.get("/console/_dash-dependencies").json
        spec = {n: next(d["output"] for d in deps if d["output"] == n or f"..{n}." in d["output"]
                        or d["output"].startswith(f"..{n}"))
                for n in (f"{Id.FEED_LAST}.data", f"{Id.QUEUE}.data", f"{Id.MAP}.figure")}

        def call(name: str, inputs: list, state=()):
            body = {"output": spec[name], "outputs": _outputs(spec[name]), "inputs": inputs,
                    "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"], "state": list(state)}
            t = time.perf_counter()
            r = c.post(URL, json=body, headers={"X-CSRFToken": tok})
            dt = time.perf_counter() - t
            assert r.status_code in (200, 204), (name, r.status_code, r.get_data(as_text=True)[:200])
            return dt, (r.json if r.status_code == 200 else None)

        def poll(last):
            return call(f"{Id.FEED_LAST}.data", [{"id": Id.TICK, "property": "n_intervals", "value": 1}],
                        [{"id": Id.FEED_LAST, "property": "data", "value": last}])

        def queue():
            return call(f"{Id.QUEUE}.data", [{"id": Id.FEED_LAST, "property": "data", "value": "x"},
                                             {"id": Id.VIEW, "property": "value", "value": "open"},
                                             {"id": Id.REV, "property": "data", "value": 0},
                                             {"id": Id.F_CHANNEL, "property": "value", "value": ""},
                                             {"id": Id.F_SEVERITY, "property": "value", "value": []},
                                             {"id": Id.F_FLAGS, "property": "value", "value": []}],
                        [{"id": Id.QUEUE, "property": "selected_rows", "value": []},
                         {"id": Id.QUEUE, "property": "data", "value": []}])

        def redraw(rows):
            return call(f"{Id.MAP}.figure", [{"id": Id.QUEUE, "property": "data", "value": rows},
                                             {"id": Id.SEL, "property": "data", "value": None},
                                             {"id": Id.PICK, "property": "data", "value": None}])

        _, first = queue()
        rows = first["response"][Id.QUEUE]["data"]
        print(f"queue rows for 潘州街道 (view open): {len(rows)}")
        last = poll(None)[1]["response"][Id.FEED_LAST]["data"]

        # optimized: poll every tick; queue + map Patch only when the feed moved
        t_opt, t_poll, t_change = [], [], []
        p = pz.geometry.iloc[0].representative_point()
        for k in range(args.ticks):
            if k % args.change_every == 0:
                ctx.incidents.report(SYSTEM, "1202", p.x, p.y, correlate=False)
            dt, res = poll(last)
            total = dt
            t_poll.append(dt)
            if res is not None and Id.FEED_LAST in res.get("response", {}):  # else: no_update
                last = res["response"][Id.FEED_LAST]["data"]
                dq, q = queue()
                dm, _ = redraw(q["response"][Id.QUEUE]["data"])
                t_change.append(dt + dq + dm)
                total += dq + dm
            t_opt.append(total)
        # baseline: re-read queue and redraw on every tick
        t_naive = []
        for _ in range(args.ticks):
            dq, q = queue()
            dm, _ = redraw(q["response"][Id.QUEUE]["data"])
            t_naive.append(dq + dm)

        ms = lambda xs: 1000 * statistics.fmean(xs)  # noqa: E731
        p50 = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
        opt, naive = ms(t_opt), ms(t_naive)
        print(f"poll (no change)         mean {ms(t_poll):7.2f} ms  median {p50(t_poll):7.2f} ms")
        print(f"change: poll+queue+map   mean {ms(t_change):7.2f} ms  median {p50(t_change):7.2f} ms"
              f"  (n={len(t_change)})")
        print(f"optimized per tick       mean {opt:7.2f} ms")
        print(f"baseline per tick        mean {naive:7.2f} ms  (re-read + redraw every tick)")
        print(f"ratio baseline/optimized {naive / opt:.1f}x  → at 400 ms ticks one core serves "
              f"~{400 / opt:.0f} consoles (baseline ~{400 / naive:.0f})")
        print(json.dumps({"bench": "console", "open_in_town": len(rows), "poll_ms": round(ms(t_poll), 2),
                          "change_ms": round(ms(t_change), 2), "optimized_tick_ms": round(opt, 2),
                          "baseline_tick_ms": round(naive, 2), "ratio": round(naive / opt, 1)}))
    finally:
        svc_redis.stop()


if __name__ == "__main__":
    main()
