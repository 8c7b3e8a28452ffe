"""Bench: notifications through the outbox (issue 17, incidents/notify, app/channels): 1,000
notifications, each to one person on two channels (in-app + SMS), triggered at a steady rate and
each triggered twice (a feed entry read twice: the dedup set must absorb it), sent by notifier
threads through a local SMS gateway (tests/app/smsgateway.py: real HTTP, signatures checked,
dedup by out_id) that fails a share of requests on purpose. Baseline in the same run: the same
load with a gateway that never fails.

Prints, per run: delivered (texts the gateway sent + in-app entries written, out of what was
asked), duplicates (a person receiving one delivery twice: in-app entries per delivery id > 1,
texts per out_id > 1), the resends the gateway absorbed by out_id, and trigger → delivered p50 /
p99 for in-app (the inbox entry's time minus the trigger). Aims (issue 17): all delivered, 0
duplicates, in-app p99 < 2 s.

    python bench/notify.py            # --n 1000 --fail 0.2 --rate 100 --workers 2

Last line: one JSON object (bench "notify", n, fail, delivered, asked, duplicates, absorbed,
inapp_p50_ms, inapp_p99_ms, baseline: the same figures with fail 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.channels import InAppSender, SmsSender  # noqa: E402
from app.services import start_redis_server  # noqa: E402
from incidents import keys  # noqa: E402
from incidents.notify import Contacts, NotifyConfig, NotifyWorker  # noqa: E402
from tests.app.smsgateway import APP_KEY, SECRET, Gateway  # noqa: E402

PERSONS = 50


def run(n: int, fail: float, rate: float, workers: int) -> dict:
    srv = start_redis_server(appendonly=True)
    try:
        r = redis.Redis.from_url(srv.url, decode_responses=True)
        contacts = Contacts(r)
        for p in range(PERSONS):
            contacts.set(f"p{p}", phone=f"138{p:08d}")
        config = NotifyConfig(quiet_hours=(0, 0), rate_limit=(10**9, 600.0),
                              retry_s=(0.2, 0.5, 1.0, 2.0, 4.0, 8.0))
        stop = threading.Event()
        with Gateway(fail_rate=fail) as gw:
            threads, notifiers = [], []
            for w in range(workers):
                sms = SmsSender(gw.url, APP_KEY, SECRET, retries=3, backoff_s=0.02)
                nw = NotifyWorker(r, {"inapp": InAppSender(r), "sms": sms}, config=config,
                                  name=f"bench-{w}", watch_feed=False, block_ms=50)
                nw.ensure_groups()
                notifiers.append(nw)
                threads.append(threading.Thread(target=nw.run, args=(stop,), daemon=True))
            for t in threads:
                t.start()
            out = notifiers[0].outbox
            t0 = time.perf_counter()
            triggered: dict[str, float] = {}
            for i in range(n):
                due = t0 + i / rate
                while (lag := due - time.perf_counter()) > 0:
                    time.sleep(lag)
                event, person = f"inc:{i}:T01", f"p{i % PERSONS}"
                now = time.time()
                for _ in range(2):            # triggered twice: the second finds the dedup set
                    for did in out.enqueue_many(event, [person], ["inapp", "sms"], subject="【较大】新事件",
                                                body="b", params={"id": str(i)}, trigger_ts=now):
                        triggered[did] = now
            deadline = time.monotonic() + 120
            want = 2 * n
            while time.monotonic() < deadline:
                inapp = sum(r.scard(keys.notify_inbox_seen(f"p{p}")) for p in range(PERSONS))
                if inapp + len(gw.state.sent) + r.xlen(keys.NOTIFY_FAILED) >= want:
                    break
                time.sleep(0.2)
            stop.set()
            for t in threads:
                t.join(10)
            lat, inapp_entries = [], {}
            for p in range(PERSONS):
                for entry_id, f in r.xrange(keys.notify_inbox(f"p{p}")):
                    did = f["did"]
                    inapp_entries[did] = inapp_entries.get(did, 0) + 1
                    lat.append(int(entry_id.split("-")[0]) / 1000.0 - triggered[did])
            texts = len(gw.state.sent)
            lat.sort()
            return {"n": n, "fail": fail, "asked": want, "delivered": len(inapp_entries) + texts,
                    "duplicates": sum(c - 1 for c in inapp_entries.values() if c > 1),
                    "absorbed": sum(gw.state.repeats.values()),
                    "failed_on_purpose": gw.state.failed_on_purpose,
                    "gave_up": r.xlen(keys.NOTIFY_FAILED),
                    "inapp_p50_ms": round(1000 * statistics.median(lat)) if lat else None,
                    "inapp_p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))]) if lat else None}
    finally:
        srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--fail", type=float, default=0.2)
    ap.add_argument("--rate", type=float, default=100.0, help="notifications triggered per second")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    base = run(a.n, 0.0, a.rate, a.workers)
    print(f"baseline (gateway never fails): {base}", file=sys.stderr)
    res = run(a.n, a.fail, a.rate, a.workers)
    print(f"{int(a.fail * 100)} % gateway failures: {res}", file=sys.stderr)
    print(json.dumps({"bench": "notify", **res, "baseline": base}, ensure_ascii=False))


if __name__ == "__main__":
    main()
