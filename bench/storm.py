"""The bad day (issue 15): a storm replayed through the real pipeline on a private redis-server and
mosquitto, OneMap's situations beside the naive policy (one alarm → one case) in the same run.

Readings, status heartbeats and video-AI detections are published over MQTT (QoS 1, the topics
and payloads of docs/mqtt.md) to the private mosquitto; the real ``IngestWorker`` (the
production rules: ``sensors.rules.compile_registry`` of the demo registry) writes them to Redis
and raises alarm episodes into ``om:alarms``; the real ``HealthChecker`` turns the outage's
silence into 设备故障 alarms and closes quiet video-AI episodes; the real ``AlarmIntake`` takes
``om:alarms`` into the ``IncidentService``; a ``DeadlineWorker`` ticks.
The clerks (the same for both policies): one per center (the city, the 28 towns, the departments;
a center that never receives a case never acts), a city/town/department operator of that
center, each doing one step of the ordinary day every ``CLERK_EVERY`` (2 min): it reads its own
default view (``list_queue(actor, "todo")``) from the top and, on the first case the policy lets
it act on (``available_actions``), 受理s if offered; else 派遣es a case not yet out to the first
suggested department (``suggest_routing``) among the offer's choices, or the first choice; else
开始处置s a sub-task dispatched to its center. Nothing else: no 反馈/核查/结案, no void, no merge,
no 追加派遣. The policy under test decides what is on top and what a clerk may do.
The naive policy (no situations, no correlation, no recovery, today's deadlines) is a second
pipeline on the same servers: its own ingest group (``$share/naive/…``, every message reaches
both), Redis db 1, its own health checker, intake and deadline worker.

Deterministic: seed 15, one injected clock (ingest, health, incidents), every message carries
its own timestamp, 10 s steps over 75 minutes; each step waits on events (the ingest workers'
message counters in Redis reach what was published; the alarm streams are read to their end),
never on a sleep. The day: a flood in 根子镇 (its rain gauges, water levels and manholes driven by
the kinds' own simulators through five rain pulses over the hour, the last one heavy and lasting;
three cameras' 道路积水 detections at the peak), an outage of 200 devices in 分界镇 (they fall silent
within five minutes; health declares them offline after 3 × their interval and raises the faults
after its grace), a building fire in 潘州街道 (its fire sensors, a camera's 烟火 detections, then the
smoke falling back), and 50 hotline / grid-worker reports (10 about the flood, in 根子镇). Surge:
the flood's devices report ×4 as often over its peak, and for six minutes a gateway holds every
message and flushes them in ×10 bursts (their timestamps are the measurement times).

Prints alarms raised and linked to a case, the open work items in the city center's default view
(a city operator's ``list_queue(actor, "todo")``, OneMap and naive) and in the two towns' at the
peak, the city-wide open counts for context, escalations fired, the position of each human
report in its center's default view when it arrived (the owner's; for a report that joins a
case already dispatched, its handlers', where it waits), and what the clerks did (受理/派遣/开始处置
of a person's report, a machine case, a situation) and how long people's reports waited for
受理 and 派遣. Last line: ``{"bench": "storm", ...}``.
Run: ``.venv/bin/python bench/storm.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.services import start_mosquitto, start_redis_server  # noqa: E402
from incidents import audit, keys  # noqa: E402
from incidents.actor import SYSTEM, Actor  # noqa: E402
from incidents.config import IncidentConfig  # noqa: E402
from incidents.deadlines import DeadlineWorker  # noqa: E402
from incidents.intake import AlarmIntake, episode_key  # noqa: E402
from incidents.lifecycle import PRE_DISPATCH  # noqa: E402
from incidents.queries import HUMAN_CHANNELS  # noqa: E402
from incidents.service import IncidentService  # noqa: E402
from sensors import keys as skeys  # noqa: E402
from sensors import topics  # noqa: E402
from sensors.health import HealthChecker  # noqa: E402
from sensors.ingest import IngestWorker  # noqa: E402
from sensors.kinds import KINDS  # noqa: E402
from sensors.kinds.base import SimContext  # noqa: E402
from sensors.mqtt_client import mqtt_client  # noqa: E402
from sensors.rules import compile_registry  # noqa: E402

SEED = 15
T0 = 1_795_000_000.0          # 2026-11-18 19:06 local: an evening
STEP = 10.0                   # s of the day per step (= the health sweep's period)
HOUR = 3600.0
END = 75 * 60.0
FLOOD_TOWN, OUTAGE_TOWN, FIRE_TOWN = "440981103", "440981105", "440981001"   # 根子镇, 分界镇, 潘州街道
FLOOD_KINDS = ("weather", "water_level", "manhole")
SURGE = (0.40 * HOUR, 0.75 * HOUR)    # the flood's devices report ×4 as often
BURST = (0.45 * HOUR, 0.55 * HOUR)    # a gateway holds messages and flushes ×10 at once
OUTAGE_AT = 0.6 * HOUR
VIEW = "todo"
CLERK_EVERY = 120.0           # s of the day between two actions of one clerk (12 steps)


class Clock:
    """The injected clock: every component reads the day's time from here."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def rain(t: float) -> float:
    """Heavy-rain intensity (0..1) in the flood town: four pulses of six minutes, 11 minutes
    apart, then the fifth heavy and lasting."""
    for k in range(5):
        start = 300 + 660 * k
        if k == 4 and t >= start:
            return 1.0
        if start <= t < start + 360:
            return 0.85
    return 0.0


def fire(t: float) -> float:
    """Fire intensity (0..1) in the building: it starts at 15 min, burns 20 min, smoulders."""
    a = 0.25 * HOUR
    if t < a:
        return 0.0
    if t < a + 120:
        return (t - a) / 120
    return 1.0 if t < a + 1200 else 0.15


def local_hour(t: float) -> float:
    return ((T0 + t + 8 * HOUR) % 86400) / HOUR


Msg = tuple[float, str, bytes]      # (measured at, topic, payload)


def reading(t: float, metrics: dict) -> bytes:
    return json.dumps({"ts": int((T0 + t) * 1000), "metrics": metrics}).encode()


def schedule(city, registry, rng: np.random.Generator) -> tuple[list[Msg], list[tuple[float, dict]], dict]:  # noqa: ANN001, PLR0915
    """(MQTT messages by measurement time, human reports by time, what was staged): the bad day."""
    s, cams = registry.sensors, registry.cameras
    msgs: list[Msg] = []

    def sensor_feed(row: dict, until: float, ctx: Callable[[float], tuple[float, float]],
                    every: Callable[[float], float]) -> None:
        """A sensor's readings from its kind's own simulator, from a random phase until ``until``."""
        kind = KINDS[row["type"]]
        meta = json.loads(row["meta"] or "{}")
        state: dict = {}
        dev_rng = np.random.default_rng([SEED, int(rng.integers(1 << 31))])
        t = float(dev_rng.uniform(0, float(row["interval_s"])))
        while t < min(until, END):
            r_, f_ = ctx(t)
            m = kind.simulate(dev_rng, meta, SimContext(T0 + t, local_hour(t), rain=r_, fire=f_), state)
            msgs.append((t, topics.telemetry(row["type"], row["id"]), reading(t, m)))
            t += every(t)

    def heartbeat(cam_id: str, until: float) -> None:
        """A camera's 5-minute ``online`` status from the video platform's gateway."""
        t = float(rng.uniform(0, 300))
        while t < min(until, END):
            msgs.append((t, topics.status(cam_id), b"online"))
            t += 300

    def detections(cam_id: str, label: str, start: float, n: int, conf: float) -> None:
        for k in range(n):                       # one a minute while the camera sees it
            t = start + 60 * k
            msgs.append((t, topics.ai(cam_id), json.dumps(
                {"ts": int((T0 + t) * 1000), "label": label, "confidence": conf,
                 "snapshot_url": f"https://vms.local/snap/{cam_id}/{int(T0 + t)}.jpg"}).encode()))

    cols = ["id", "type", "lon", "lat", "interval_s", "meta", "town_code"]
    # the flood: the town's rain gauges, water levels and manholes, ×4 during the surge
    flood = s[(s["town_code"] == FLOOD_TOWN) & s["type"].isin(list(FLOOD_KINDS))]
    for row in flood[cols].to_dict("records"):
        iv = float(row["interval_s"])
        sensor_feed(row, END, lambda t: (rain(t), 0.0),
                    lambda t, iv=iv: iv / 4 if SURGE[0] <= t < SURGE[1] else iv)
    fcams = cams[cams["town_code"] == FLOOD_TOWN].iloc[:3]["id"].tolist()
    for k, cam in enumerate(fcams):
        heartbeat(cam, END)
        for n in range(4):                       # 3 min of 积水 every 11 min (it clears between)
            detections(cam, "water_on_road", 0.4 * HOUR + 660 * n + 20 * k, 3, 0.8 + 0.05 * k)
    # the fire: every fire sensor of one building, a nearby camera confirms (烟火)
    bld = s[(s["type"] == "fire") & (s["town_code"] == FIRE_TOWN)]
    first = json.loads(bld.iloc[0]["meta"])["building"]
    bld = bld[bld["meta"].map(lambda m: json.loads(m).get("building") == first)]
    for row in bld[cols].to_dict("records"):
        sensor_feed(row, END, lambda t: (0.0, fire(t)), lambda t, iv=float(row["interval_s"]): iv)
    b_lon, b_lat = float(bld["lon"].mean()), float(bld["lat"].mean())
    fixed = cams[~cams["mobile"].astype(bool)]
    near = ((fixed["lon"] - b_lon) ** 2 + (fixed["lat"] - b_lat) ** 2).idxmin()
    fire_cam = str(fixed.loc[near, "id"])
    heartbeat(fire_cam, END)
    detections(fire_cam, "smoke_fire", 0.25 * HOUR + 90, 10, 0.91)
    # the outage: 200 devices of one town report as usual, then fall silent within five minutes
    out_s = s[s["town_code"] == OUTAGE_TOWN]
    out_c = cams[cams["town_code"] == OUTAGE_TOWN]
    n_s = min(len(out_s), 200)
    silent = {}
    for row in out_s.iloc[:n_s][cols].to_dict("records"):
        until = OUTAGE_AT + float(rng.uniform(0, 300))
        silent[row["id"]] = until
        sensor_feed(row, until, lambda t: (0.0, 0.0), lambda t, iv=float(row["interval_s"]): iv)
    for cam in out_c.iloc[:200 - n_s]["id"].tolist():
        until = OUTAGE_AT + float(rng.uniform(0, 300))
        silent[cam] = until
        heartbeat(cam, until)
    # 50 reports by people: 10 about the flood (in the flooded town), 40 elsewhere
    cells = city.cells
    pts = cells.geometry.representative_point()
    flood_cells = [i for i, t in enumerate(cells["town_code"]) if t == FLOOD_TOWN]
    other_cells = [i for i, t in enumerate(cells["town_code"]) if t not in (FLOOD_TOWN, OUTAGE_TOWN)]
    humans: list[tuple[float, dict]] = []
    for n in range(50):
        flood_call = n < 10
        i = int(rng.choice(flood_cells if flood_call else other_cells))
        t = (0.35 + 0.05 * n) * HOUR if flood_call else float(rng.uniform(0.05, 1.2)) * HOUR
        cat_ = "0302" if flood_call else str(rng.choice(["0101", "0104", "0106", "0107", "1201",
                                                         "1202", "0202", "1001"]))
        humans.append((t, {"n": n, "flood": flood_call, "category": cat_, "lon": float(pts.x.iloc[i]),
                           "lat": float(pts.y.iloc[i]), "hotline": n % 2 == 0,
                           "worker": str(cells["worker_id"].iloc[i]), "cell": str(cells["code"].iloc[i]),
                           "town": str(cells["town_code"].iloc[i]),
                           "text": "路面积水严重，有车辆被困" if flood_call else "市民反映"}))
    msgs.sort(key=lambda m: m[0])
    humans.sort(key=lambda x: x[0])
    staged = {"flood": len(flood), "flood_cams": len(fcams), "fire": len(bld), "fire_cam": fire_cam,
              "outage": len(silent), "outage_cams": 200 - n_s}
    return msgs, humans, staged


def publish_step(t: float) -> float:
    """The step at which a message measured at ``t`` is published: the next step, or during the
    burst the next 10-step boundary (a gateway flushing what it buffered)."""
    if BURST[0] <= t < BURST[1]:
        return float(np.ceil(t / (10 * STEP)) * 10 * STEP)
    return float(np.ceil(t / STEP) * STEP)


def operator(center: str) -> Actor:
    role = ("city_operator" if center == "CITY" else
            "town_operator" if center.startswith("T") else "dept_operator")
    return Actor(f"op-{center}", role, center, "值班员")


def kind_of(inc) -> str:  # noqa: ANN001
    """What a work item is, for the breakdown of a view: a situation, a person's report, a
    machine case (one alarm), or a task."""
    if inc.situation:
        return "situation"
    if inc.kind == "task":
        return "task"
    return "human" if inc.channel in HUMAN_CHANNELS else f"machine:{inc.channel}"


STEPS = ("accept", "dispatch", "start")
"""A clerk's ordinary day, in the order it looks for them on one case: 受理 a new case, 派遣 a
case accepted (or 立案) and not yet out, 开始处置 a sub-task dispatched to its center. Nothing
else: no 立案 alone (派遣 registers implicitly), no 追加派遣 on a case already out, no
反馈/核查/结案, no void or merge."""


def clerk_step(svc: IncidentService, inc, actor: Actor) -> str | None:  # noqa: ANN001
    """The next step of the ordinary path that the policy offers ``actor`` on ``inc``
    (``available_actions``), done; the action's name, or None when it offers none of them."""
    offers = {o.action: o for o in svc.available_actions(inc, actor)}
    if "accept" in offers:
        svc.accept(inc.id, actor, note="storm bench clerk")
        return "accept"
    if "dispatch" in offers and inc.state in PRE_DISPATCH:
        choices = list(offers["dispatch"].choices)
        suggested = [d["center"] for d in svc.suggest_routing(inc.id, actor)["departments"]]
        # the first suggested department the policy lets this clerk send it to, else the
        # offer's first choice (as a console's dispatch dialog preselects)
        target = next((c for c in suggested if c in choices), choices[0])
        svc.dispatch(inc.id, actor, [target], note="storm bench clerk")
        return f"dispatch→{target}"
    if "start" in offers:
        svc.start(inc.id, actor, note="storm bench clerk")
        return "start"
    return None


def clerk_turn(svc: IncidentService, actor: Actor) -> tuple[str, str] | None:
    """One clerk's turn: read the default view from the top and do the ordinary next step on the
    first case the policy lets it act on (``clerk_step``); one action per turn. (case id,
    action), or None when the view holds nothing it may act on."""
    for inc in svc.list_queue(actor, VIEW, limit=10000):
        done = clerk_step(svc, inc, actor)
        if done is not None:
            return inc.id, done
    return None


def queue_stays(svc: IncidentService, r: redis.Redis, place: str) -> list[tuple[str, str, float, float, str]]:
    """From the audit trails: every stretch a case sat at ``place`` (``after.place`` of its
    entries): (id, title, from ts, to ts, where it went and by which action)."""
    out = []
    for inc in svc.store.load_many(r.zrange(keys.ALL, 0, -1)):
        if inc is None:
            continue
        since = None
        for e in audit.timeline(r, inc.id):
            where = (e.get("after") or {}).get("place")
            if where is None:
                continue
            if where == place and since is None:
                since = float(e["ts"])
            elif where != place and since is not None:
                out.append((inc.id, inc.title, since, float(e["ts"]), f"{e['action']} → {where}"))
                since = None
        if since is not None:
            out.append((inc.id, inc.title, since, float(svc.clock()), "still there"))
    return out


def describe(inc) -> str:  # noqa: ANN001
    return f"{inc.id} {kind_of(inc)} {inc.state}"


def wait_for(pred: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait until ``pred()`` holds (an event: a counter in Redis reaching a number); a
    pipeline that loses a message fails here, naming it, instead of measuring a wrong day."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"storm: {what} not reached in {timeout:.0f} s")
        tick.wait(0.001)


def ingested(r: redis.Redis) -> int:
    return int(r.hget(skeys.INGEST_STATS, "messages") or 0)


def main() -> None:  # noqa: PLR0915
    from grid.build import build_city  # noqa: PLC0415
    from sensors.registry import generate  # noqa: PLC0415

    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-storm-"))
    rs = start_redis_server(tmp / "redis")
    ms = start_mosquitto(tmp / "mqtt")
    workers: list[IngestWorker] = []
    pub = None
    try:
        t_wall = time.perf_counter()
        city = build_city("高州市")
        registry = generate(city)
        devices = compile_registry(registry)            # the production rules, as `onemap ingest`
        rng = np.random.default_rng(SEED)
        msgs, humans, staged = schedule(city, registry, rng)
        by_step: dict[float, list[Msg]] = {}
        for m in msgs:
            by_step.setdefault(publish_step(m[0]), []).append(m)
        print(f"bad day: {len(msgs)} MQTT messages ({staged['flood']} flood devices + "
              f"{staged['flood_cams']} cameras, {staged['fire']} fire sensors + camera "
              f"{staged['fire_cam']}, {staged['outage']} devices falling silent of which "
              f"{staged['outage_cams']} cameras), {len(humans)} human reports; default view {VIEW!r}")
        clock = Clock()
        base = rs.url.split("://", 1)[1].split("/", 1)[0]          # host:port
        r1 = redis.Redis.from_url(f"redis://{base}/0", decode_responses=True)
        r2 = redis.Redis.from_url(f"redis://{base}/1", decode_responses=True)   # the naive city
        onemap = IncidentService(r1, city, clock=clock)
        naive_cfg = IncidentConfig(situations=(), correlate=False, channel_min_stage_seconds={},
                                   recovery_quiet_s=1e12,         # today: cleared cases stay open
                                   escalation_limit=10**9)
        naive = IncidentService(r2, city, config=naive_cfg, clock=clock)
        intakes = [AlarmIntake(onemap, "storm"), AlarmIntake(naive, "storm")]
        deadlines = [DeadlineWorker(onemap), DeadlineWorker(naive)]
        # one pipeline per policy: its ingest group (each group gets every message) and health
        for group, db in (("onemap", 0), ("naive", 1)):
            raw = redis.Redis.from_url(f"redis://{base}/{db}")
            workers.append(IngestWorker(raw, devices, ms.url, group=group,
                                        client_id=f"storm-{group}", clock=clock).start())
        health = [HealthChecker(r, registry, devices=devices, clock=clock) for r in (r1, r2)]
        for w in workers:
            if not w.wait_subscribed(30):
                raise TimeoutError("storm: an ingest worker did not subscribe")
        pub, host, port = mqtt_client(ms.url, "storm-replay")
        pub.max_inflight_messages_set(1000)
        pub.connect(host, port)
        pub.loop_start()
        city_op = operator("CITY")
        towns = {FLOOD_TOWN: operator(f"T{FLOOD_TOWN}"), OUTAGE_TOWN: operator(f"T{OUTAGE_TOWN}")}
        peak = {"city": 0, "naive": 0, "town": 0, "open": 0, "naive_open": 0}
        peak_at = {"city": 0.0, "naive": 0.0}
        peak_mix: dict[str, Counter] = {"city": Counter(), "naive": Counter()}
        peak_people: dict[str, Counter] = {"city": Counter(), "naive": Counter()}
        town_peak = dict.fromkeys(towns, 0)
        clerks = [operator(c) for c in city.centers]      # one per center, both policies
        # per policy: the clerks' steps (accept/dispatch/start) by what the case was, by center,
        # whom they dispatched to
        did: list[dict[str, Counter]] = [{a: Counter() for a in STEPS} for _ in range(2)]
        by_center: list[Counter] = [Counter(), Counter()]
        targets: list[Counter] = [Counter(), Counter()]
        human_ids: list[dict[str, float]] = [{}, {}]       # per policy: a person's case → reported at
        # per policy: a person's report → 受理 / → 派遣 (s)
        human_wait: list[dict[str, list[float]]] = [{"accept": [], "dispatch": []} for _ in range(2)]
        joined = [0, 0]                   # per policy: people's reports into a case taken up
        esc = [0, 0]
        ranks: list[tuple[dict, str, str, int, list[str]]] = []   # (report, owner, view, #, ahead)
        published, hi = 0, 0
        for st in np.arange(0, END + STEP, STEP):
            st = float(st)
            while hi < len(humans) and humans[hi][0] <= st:
                # a person reports at their own time (the clock between the last step and this
                # one): two calls never share a timestamp by the bench's rounding
                clock.t = T0 + humans[hi][0]
                h = humans[hi][1]
                hi += 1
                for svc in (onemap, naive):
                    actor = (Actor("op-12345", "city_operator", "CITY", "12345话务员") if h["hotline"]
                             else Actor(h["worker"], "grid_worker", f"T{h['town']}", "网格员", cell=h["cell"]))
                    inc = svc.report(actor, h["category"], h["lon"], h["lat"], description=h["text"],
                                     channel="hotline" if h["hotline"] else "grid_worker",
                                     idempotency_key=f"call-{h['n']}")
                    k = 0 if svc is onemap else 1
                    if inc.state == "reported":      # else it joined a case a person took up
                        human_ids[k].setdefault(inc.id, clock.t)
                    else:
                        joined[k] += 1
                    if svc is onemap:
                        # its center: the owner while the case waits in the owner's queue; once
                        # the case is out (派遣), the handlers of its open sub-tasks, where it
                        # waits now (a call that joins a dispatched situation); the best of these
                        where = [inc.center] + sorted({t.center for t in inc.tasks if t.open})
                        seen = []
                        for c in where:
                            view = onemap.list_queue(operator(c), VIEW, limit=10000)
                            pos = next((n + 1 for n, i in enumerate(view) if i.id == inc.id), 10**6)
                            seen.append((pos, c, [describe(i) for i in view[:pos - 1]]))
                        pos, c, ahead = min(seen, key=lambda x: x[0])
                        ranks.append((h, inc.center, c, pos, ahead))
            clock.t = T0 + st
            for _, topic, payload in by_step.get(st, []):
                pub.publish(topic, payload, qos=1)
                published += 1
            for r in (r1, r2):
                wait_for(lambda r=r, n=published: ingested(r) >= n, f"ingest of {published} messages")
            for h in health:
                h.run_once()
            for intake in intakes:
                while intake.poll(block_ms=None, count=500):
                    pass
            for k, w in enumerate(deadlines):
                esc[k] += w.tick().get("escalate", 0)
            if st % CLERK_EVERY == 0:           # the clerks act at fixed times of the day
                for k, svc in enumerate((onemap, naive)):
                    for actor in clerks:
                        done = clerk_turn(svc, actor)
                        if done is None:
                            continue
                        inc_id, action = done
                        what = kind_of(svc.store.load(inc_id)).split(":")[0]
                        step = action.split("→")[0]
                        did[k][step][what] += 1
                        by_center[k][f"{step}:{actor.center}"] += 1
                        if step == "dispatch":
                            targets[k][action.split("→")[1]] += 1
                        if inc_id in human_ids[k] and step in ("accept", "dispatch"):
                            human_wait[k][step].append(clock.t - human_ids[k][inc_id])
            for key, svc in (("city", onemap), ("naive", naive)):
                view = svc.list_queue(city_op, VIEW, limit=10000)
                if len(view) > peak[key]:
                    peak[key], peak_at[key] = len(view), st
                    peak_mix[key] = Counter(kind_of(i) for i in view)
                    peak_people[key] = Counter(
                        f"{i.state}, {'escalated' if i.escalations else 'reported to the city'}"
                        for i in view if kind_of(i) == "human")
            peak["open"] = max(peak["open"], r1.zcard(keys.OPEN))
            peak["naive_open"] = max(peak["naive_open"], r2.zcard(keys.OPEN))
            for code, op in towns.items():
                town_peak[code] = max(town_peak[code], len(onemap.list_queue(op, VIEW, limit=10000)))
        peak["town"] = max(town_peak.values())

        def raises(r: redis.Redis) -> list[str]:
            return [f["episode"] for _, f in r.xrange(keys.ALARMS) if f["event"] == "raise"]
        raised, raised_naive = raises(r1), raises(r2)
        linked = sum(bool(onemap.reported_with(SYSTEM, episode_key(e))) for e in raised)
        naive_linked = sum(bool(naive.reported_with(SYSTEM, episode_key(e))) for e in raised_naive)
        sources: dict[str, int] = {}
        for _, f in r1.xrange(keys.ALARMS):
            if f["event"] == "raise":
                sources[f["source"]] = sources.get(f["source"], 0) + 1
        print(f"pipeline: ingest {[dict(w.stats) for w in workers]}; dead letters "
              f"{[r.hgetall(skeys.DLQ_BY_REASON) for r in (r1, r2)]}")
        print(f"alarm episodes raised {len(raised)} ({sources}), distinct {len(set(raised))}, "
              f"linked to a case {linked}; naive pipeline raised {len(raised_naive)}, linked "
              f"{naive_linked}; intake {intakes[0].stats}, naive {intakes[1].stats}")
        for i in r1.zrange(keys.OPEN, 0, -1):
            s = onemap.store.load(i)
            if s is not None and s.situation:
                first = audit.timeline(r1, s.id)[0]
                print(f"  situation {s.id} {s.title}: {len(s.sources)} sources, {s.severity}, "
                      f"owner {s.center}, state {s.state}; opened at "
                      f"{(first['ts'] - T0) / 60:.1f} min as {first['after'].get('severity')} → "
                      f"{first['after'].get('center')} ({first['reason'].split(' (')[0]})")
        print(f"city center's {VIEW!r} view at the peak: OneMap {peak['city']} "
              f"(t={peak_at['city'] / 60:.0f} min), naive {peak['naive']} "
              f"(t={peak_at['naive'] / 60:.0f} min)")
        for key in ("city", "naive"):
            print(f"  {key}: {dict(peak_mix[key].most_common())}; people's reports: "
                  f"{dict(peak_people[key].most_common())}")
        print(f"  for context, open cases city-wide at the peak: OneMap {peak['open']}, "
              f"naive {peak['naive_open']}")
        print(f"towns' {VIEW!r} views at the peak (OneMap): "
              + ", ".join(f"T{c} {n}" for c, n in town_peak.items()))
        if peak["town"] == 0:           # say why from the day's own cases, not another measure
            sits = [s for s in (onemap.store.load(i) for i in r1.zrange(keys.OPEN, 0, -1))
                    if s is not None and s.situation]
            to_towns = Counter(c for _, c, _, _, _ in ranks if c[1:] in towns)
            print("  0: at no step did a case wait for either storm town's action. The storm's "
                  "situations: " + "; ".join(f"{s.title} owner {s.center} ({s.state}"
                                             + (f", tasks at {sorted({t.center for t in s.tasks})}"
                                                if s.tasks else "") + ")" for s in sits)
                  + f" (a dispatched case waits in its handlers' views, not its owner's); people's "
                  f"reports routed to these towns: {sum(to_towns.values())} (the flood calls went "
                  f"to {dict(Counter(c for h, c, _, _, _ in ranks if h['flood']))})")
        # the check that 0 is the day's truth, not a view read at the wrong time or center: from
        # the audit, every stretch a case spent in a storm town's own queue (place q:T<town>)
        for code in towns:
            stays = queue_stays(onemap, r1, f"q:T{code}")
            longest = max(stays, key=lambda x: x[3] - x[2], default=None)
            print(f"  audit: cases that were ever in q:T{code}: {len({s_[0] for s_ in stays})}"
                  + (f", longest stay {longest[3] - longest[2]:.0f} s ({longest[1]}, then "
                     f"{longest[4]})" if longest else "")
                  + f"; stays across a measured step: "
                  f"{sum(int((b - T0) // STEP) != int((a - T0) // STEP) for _, _, a, b, _ in stays)}")
        print(f"clerks (one per center, one step of the ordinary path every {CLERK_EVERY:.0f} s "
              f"of the day: 受理, else 派遣, else 开始处置, on the top case of {VIEW!r} it may act on):")
        for k, name in enumerate(("OneMap", "naive")):
            n_h = len(human_ids[k])
            waits = []
            for step, cn in (("accept", "受理"), ("dispatch", "派遣")):
                w = sorted(human_wait[k][step])
                waits.append(f"→ {cn} {len(w)} of {n_h}"
                             + (f" (median {np.median(w) / 60:.1f} min, max {w[-1] / 60:.1f} min)"
                                if w else ""))
            tiers = Counter(f"{s_}:{'city' if c == 'CITY' else 'town' if c.startswith('T') else 'dept'}"
                            for s_c, n in by_center[k].items() for s_, c in [s_c.split(":")]
                            for _ in range(n))
            print(f"  {name}: " + "; ".join(f"{a} {sum(did[k][a].values())} "
                                           f"{dict(did[k][a].most_common())}" for a in STEPS)
                  + f"; by tier {dict(sorted(tiers.items()))}; dispatched to "
                  f"{dict(targets[k].most_common(6))}")
            print(f"    people's own cases: report {', '.join(waits)}; {joined[k]} more joined a "
                  f"case a person had already taken up")
        def escalated(svc: IncidentService, r: redis.Redis) -> Counter:
            """The audited ``escalate`` entries by what the case is and whether it moved a tier
            (at the city, the top tier, the entry records the overdue and nothing moves)."""
            out: Counter = Counter()
            for i in svc.store.load_many(r.zrange(keys.ALL, 0, -1)):
                for e in (audit.timeline(r, i.id) if i is not None else []):
                    if e["action"] == "escalate":
                        moved = "严重超时，上提一级" in (e.get("reason") or "")
                        out[f"{kind_of(i).split(':')[0]} {'moved up' if moved else 'at the top'}"] += 1
            return out
        print(f"escalations fired: OneMap {esc[0]} ({dict(escalated(onemap, r1))}), "
              f"naive {esc[1]} ({dict(escalated(naive, r2))})")
        print("human reports, position in their center's default view on arrival:")
        for h, owner, center, pos, ahead in ranks:
            print(f"  #{h['n']:02d} {'flood ' if h['flood'] else ''}{h['category']} → {owner}"
                  + (f" (out: in {center}'s view)" if center != owner else "") + f": {pos}"
                  + (f" (behind {', '.join(ahead)})" if ahead else ""))
        away = [(h, o, c) for h, o, c, _, _ in ranks if c != o]
        if away:
            print(f"  {len(away)} of {len(ranks)} joined a case already dispatched: not in the "
                  f"owner's view ({dict(Counter(o for _, o, _ in away))}), first in the handlers' "
                  f"({dict(Counter(c for _, _, c in away))}); the owner's notice went to "
                  f"{keys.NOTICES} ({sum(1 for _, f in r1.xrange(keys.NOTICES) if 'human_source' in f['e'])} "
                  f"human_source notices)")
        ratio = round(peak["naive"] / max(1, peak["city"]), 1)
        print(f"({time.perf_counter() - t_wall:.0f} s)")
        print(json.dumps({"bench": "storm", "alarms": len(raised), "alarms_linked": linked,
                          "city_items_peak": peak["city"], "naive_city_items_peak": peak["naive"],
                          "town_items_peak": peak["town"],
                          "human_rank_max": max(p for _, _, _, p, _ in ranks), "escalations": esc[0],
                          "ratio": ratio}, ensure_ascii=False))
    finally:
        if pub is not None:
            pub.loop_stop()
            pub.disconnect()
        for w in workers:
            w.stop(drain_s=1.0)
        ms.stop()
        rs.stop()


if __name__ == "__main__":
    main()
