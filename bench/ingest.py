"""Ingest benchmark: a bare paho subscriber (the floor) vs the full OneMap ingest path, and the
delay from publishing an over-limit reading to its alarm being in Redis under background load.

Private loopback mosquitto + redis-server (app.services). Throughput is measured on a backlog:
the subscriber's persistent session is created, the publisher (another process) queues N QoS 1
readings on the broker, then the subscriber connects and drains them; msg/s = N / drain time.

    python -m bench.ingest [--n 40000] [--rounds 2] [--load 5000] [--seconds 10]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _publish(url: str, items: list[tuple[str, bytes]], rate: float | None = None,
             seconds: float | None = None, ready=None) -> None:  # noqa: ANN001
    """Child process: publish ``items`` (cycled when ``seconds``) at ``rate`` msg/s or flat out."""
    from sensors.mqtt_client import mqtt_client  # noqa: PLC0415

    c, host, port = mqtt_client(url, f"bench-pub-{time.time_ns()}")
    c.max_inflight_messages_set(1000)
    c.connect(host, port)
    c.loop_start()
    if ready is not None:
        ready.set()
    t0 = time.perf_counter()
    i, last = 0, None
    n = len(items)
    while True:
        if seconds is None and i >= n:
            break
        if seconds is not None and time.perf_counter() - t0 >= seconds:
            break
        topic, payload = items[i % n]
        if seconds is not None:   # rewrite the timestamp: a fresh reading each time
            payload = payload.replace(b'"ts":0', b'"ts":%d' % int(time.time() * 1000))
        last = c.publish(topic, payload, qos=1)
        i += 1
        if rate:
            ahead = i / rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
    if last is not None:
        last.wait_for_publish(60)
    c.disconnect()
    c.loop_stop()


def _readings(registry, n: int, now_ms: int) -> list[tuple[str, bytes]]:  # noqa: ANN001
    """n normal (no alarm) readings spread over the manholes and smart poles."""
    from sensors import topics  # noqa: PLC0415

    s = registry.sensors
    ids = s[s["type"].isin(["manhole", "smart_pole"])][["id", "type"]].to_numpy()
    out = []
    for i in range(n):
        did, typ = ids[i % len(ids)]
        m = (f'{{"water_cm":{100 + i % 50}.5,"tilt_deg":0.8,"open":false}}' if typ == "manhole"
             else f'{{"lamp_on":true,"noise_db":55.{i % 10},"pm25":30.1,"button":false}}')
        ts = "0" if now_ms == 0 else str(now_ms + i)
        out.append((topics.telemetry(typ, did), f'{{"ts":{ts},"metrics":{m}}}'.encode()))
    return out


def bare(url: str, n: int, items: list[tuple[str, bytes]]) -> float:
    """(a) the floor: a paho subscriber (same session settings) that only counts."""
    from paho.mqtt.packettypes import PacketTypes  # noqa: PLC0415
    from paho.mqtt.properties import Properties  # noqa: PLC0415

    from sensors import topics  # noqa: PLC0415
    from sensors.mqtt_client import mqtt_client  # noqa: PLC0415

    done = threading.Event()
    count = [0]
    subscribed = threading.Event()

    def on_message(c, u, m) -> None:  # noqa: ANN001
        count[0] += 1
        if count[0] >= n:
            done.set()

    def session() -> object:
        c, host, port = mqtt_client(url, "bench-bare")
        c.on_message = on_message
        c.on_subscribe = lambda *a: subscribed.set()
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(
            [(topics.shared("bare", f), 1) for f in topics.FILTERS])
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        c.connect(host, port, clean_start=False, properties=props)
        return c

    c = session()
    c.loop_start()
    subscribed.wait(10)
    c.disconnect()
    c.loop_stop()
    _publish(url, items)                       # backlog queued on the broker for our session
    t0 = time.perf_counter()
    c = session()
    c.loop_start()
    done.wait(300)
    dt = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    _forget(url, "bench-bare")
    return count[0] / dt


def _forget(url: str, client_id: str) -> None:
    """End a persistent session on the broker (so later runs do not queue copies for it)."""
    from sensors.mqtt_client import mqtt_client  # noqa: PLC0415

    c, host, port = mqtt_client(url, client_id)
    c.connect(host, port, clean_start=True)
    c.disconnect()


def onemap(url: str, r, compiled, n: int, items) -> float:  # noqa: ANN001
    """(b) the full path: validation, history, last value, state, rules, one Lua call per batch.
    As ``onemap ingest`` runs it: the loaded registry is moved out of the GC's way first."""
    import gc  # noqa: PLC0415

    from sensors.ingest import IngestWorker, settle_heap  # noqa: PLC0415

    settle_heap()

    w = IngestWorker(r, compiled, url, group="bench", client_id="bench-onemap")
    w.start()
    w.wait_subscribed(10)
    w.stop()
    _publish(url, items)
    w = IngestWorker(r, compiled, url, group="bench", client_id="bench-onemap")
    t0 = time.perf_counter()
    w.start()
    while w.stats["messages"] < n and time.perf_counter() - t0 < 300:
        time.sleep(0.005)
    dt = time.perf_counter() - t0
    w.stop()
    _forget(url, "bench-onemap")
    gc.unfreeze()
    return w.stats["messages"] / dt


def alarm_delay(url: str, r, compiled, registry, load: float, seconds: float) -> list[float]:  # noqa: ANN001
    """Delays (ms) from publishing an over-limit gas reading to its alarm in Redis, under load."""
    import gc  # noqa: PLC0415

    from sensors import keys, topics  # noqa: PLC0415
    from sensors.ingest import IngestWorker, settle_heap  # noqa: PLC0415
    from sensors.mqtt_client import mqtt_client  # noqa: PLC0415

    settle_heap()
    w = IngestWorker(r, compiled, url, group="delay", client_id="bench-delay").start()
    w.wait_subscribed(10)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    bg = ctx.Process(target=_publish, args=(url, _readings(registry, 20000, 0), load, seconds,
                                            ready))
    bg.start()
    ready.wait(30)
    gas = registry.sensors[registry.sensors["type"] == "gas"]["id"].tolist()
    sent: dict[tuple[str, str], float] = {}
    delays: list[float] = []
    stop = threading.Event()

    def reader() -> None:
        last = "$"
        while not stop.is_set():
            res = r.xread({keys.ALARMS: last}, block=200, count=100)
            t = time.perf_counter()
            for _, entries in res or []:
                for eid, f in entries:
                    last = eid
                    k = (f["device_id"], f["ts"])
                    if f["event"] == "raise" and k in sent:
                        delays.append((t - sent[k]) * 1000)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    c, host, port = mqtt_client(url, "bench-probe")
    c.connect(host, port)
    c.loop_start()
    time.sleep(1.0)    # let the background load settle
    t_end = time.perf_counter() + seconds - 2.0
    i = 0
    while time.perf_counter() < t_end:
        dev = gas[i % len(gas)]
        ts = int(time.time() * 1000)
        for v in (40.0, 1.0):      # over the limit (raise), then back (clear) for the next round
            payload = json.dumps({"ts": ts, "metrics": {"lel_pct": v}}).encode()
            if v > 10:
                sent[(dev, str(ts))] = time.perf_counter()
            c.publish(topics.telemetry("gas", dev), payload, qos=1)
            ts += 1
        i += 1
        time.sleep(0.05)
    deadline = time.perf_counter() + 5
    while len(delays) < len(sent) and time.perf_counter() < deadline:
        time.sleep(0.05)
    stop.set()
    th.join(2)
    bg.join(30)
    c.disconnect()
    c.loop_stop()
    w.stop()
    gc.unfreeze()
    return delays


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=40000, help="messages per throughput run")
    ap.add_argument("--rounds", type=int, default=2, help="throughput rounds (best is kept)")
    ap.add_argument("--load", type=float, default=5000.0, help="background msg/s for the delay run")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the delay run")
    a = ap.parse_args()

    import numpy as np  # noqa: PLC0415
    import redis  # noqa: PLC0415

    from app.services import start_mosquitto, start_redis_server  # noqa: PLC0415
    from grid.build import build_city  # noqa: PLC0415
    from sensors.registry import generate  # noqa: PLC0415
    from sensors.rules import compile_registry  # noqa: PLC0415

    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-ingest-"))
    rs = start_redis_server(tmp / "redis")
    ms = start_mosquitto(tmp / "mqtt")
    try:
        t = time.perf_counter()
        registry = generate(build_city("高州市"))
        compiled = compile_registry(registry)
        print(f"demo city + {len(registry.sensors)} sensors, {len(registry.cameras)} cameras "
              f"in {time.perf_counter() - t:.1f}s")
        r = redis.Redis.from_url(rs.url, decode_responses=True)
        items = _readings(registry, a.n, int(time.time() * 1000) - 3_600_000)

        # interleaved, best of --rounds: the 2-core VM is shared, so a run can lose the CPU for
        # a while; the best run is the closest to what the code can do (same for both)
        bares, ones = [], []
        for k in range(a.rounds):
            bares.append(bare(ms.url, a.n, items))
            r.flushall()
            ones.append(onemap(ms.url, r, compiled, a.n, items))
            print(f"  round {k + 1}: bare {bares[-1]:8.0f} msg/s, OneMap {ones[-1]:8.0f} msg/s")
        bare_rate, onemap_rate = max(bares), max(ones)
        print(f"(a) bare paho subscriber:   {bare_rate:10.0f} msg/s   ({a.n} QoS 1 messages, "
              f"best of {a.rounds})")
        print(f"(b) OneMap ingest (1 proc): {onemap_rate:10.0f} msg/s   "
              f"(history, last value, state, rules; aim ≥ 10,000)")
        ratio = onemap_rate / bare_rate
        print(f"    ratio OneMap / bare:    {ratio:10.2f}          (aim ≥ 0.6)")
        r.flushall()
        d = alarm_delay(ms.url, r, compiled, registry, a.load, a.seconds)
        p50, p99 = (float(np.percentile(d, q)) for q in (50, 99)) if d else (float("nan"),) * 2
        print(f"alarm delay under {a.load:.0f} msg/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
              f"({len(d)} alarms; aim p99 < 200 ms)")
        print(json.dumps({"bench": "ingest", "onemap_msg_per_s": round(onemap_rate),
                          "bare_msg_per_s": round(bare_rate), "ratio": round(ratio, 3),
                          "alarm_delay_p50_ms": round(p50, 1), "alarm_delay_p99_ms": round(p99, 1)}))
    finally:
        ms.stop()
        rs.stop()


if __name__ == "__main__":
    main()
