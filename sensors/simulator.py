"""Telemetry simulator (仿真): drives the device registry over MQTT like the real city would.

Rate: ``rate`` messages/s (steady), ``burst()`` ×10 for a while, ``rate=0`` flat out (every
device on every tick, as fast as the broker takes them: load tests). Every sensor reports on its
kind's behaviour (``sensors/kinds/<kind>.py``: daily cycles, noise,
type-specific dynamics); cameras send a status heartbeat. Devices drop out now and then and come
back; a few messages are malformed (they must end in the dead letter). Rates: steady (≈90 msg/s,
5,400 sensors at 1/min, seed-requirements §11), bursts (×10) and flat out (load tests).

Scenarios tell a story for the demo and the tests (``run_scenario``):

- ``flood``  heavy rain and flooding in a town: rain gauges, rising rivers and manholes (the
  town's devices switch to 加密上报, 6× more often), then video-AI ``water_on_road``;
- ``fire``   fire in a building: its smoke sensors, then a camera that sees it detects smoke;
- ``outage`` device outage in a town: its sensors fall silent, its cameras report offline.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sensors import defaults, topics
from sensors.cameras import cameras_seeing
from sensors.kinds import KINDS
from sensors.kinds.base import Kind, SimContext
from sensors.mqtt_client import MqttLogin, mqtt_client
from sensors.registry import DeviceRegistry

log = logging.getLogger("onemap.simulator")
SCENARIOS = ("flood", "fire", "outage")
SCENARIO_DENSIFY = 6.0      # devices under a scenario report this much more often (加密上报)
RAMP_S = 120.0              # scenarios ramp up over this many seconds


@dataclass
class _Dev:
    id: str
    kind: Kind
    topic: str
    town: str
    meta: dict
    interval: float
    senml: bool
    state: dict = field(default_factory=dict)
    next_due: float = 0.0
    silent_until: float = 0.0


@dataclass
class Scenario:
    name: str
    town_code: str
    start: float
    duration_s: float
    building: str | None = None
    cameras: list[str] = field(default_factory=list)
    next_ai: float = 0.0

    def intensity(self, t: float) -> float:
        """0 → 1 over RAMP_S, hold, 1 → 0 over the last RAMP_S."""
        if t < self.start or t > self.start + self.duration_s:
            return 0.0
        return max(0.0, min(1.0, (t - self.start) / RAMP_S,
                            (self.start + self.duration_s - t) / RAMP_S))


class Simulator:
    """Publishes the city's telemetry. ``start()``/``stop()`` run it in a thread."""

    def __init__(self, registry: DeviceRegistry, mqtt_url: str, rate: float = defaults.SIM_RATE,
                 seed: int = 0, client_id: str | None = None,
                 dropout_p: float = defaults.SIM_DROPOUT_P,
                 malformed_p: float = defaults.SIM_MALFORMED_P, cameras: bool = True,
                 clock: Callable[[], float] = time.time, login: MqttLogin | None = None) -> None:
        self.registry, self.mqtt_url, self.clock = registry, mqtt_url, clock
        # its own scoped account (onemap-simulator, issue 19): it speaks for every demo device
        # over one connection, may publish on device topics only and read nothing
        self.login = login
        self.rate = float(rate)
        self.rng = np.random.default_rng(seed)
        self.dropout_p, self.malformed_p = dropout_p, malformed_p
        self.client_id = client_id or f"onemap-sim-{seed}-{int(time.time() * 1000) % 10**8}"
        self.scenarios: list[Scenario] = []
        self.stats = {"published": 0, "malformed": 0, "dropouts": 0, "detections": 0}
        self._burst_until = 0.0
        self._last_tick = 0.0
        self._burst_factor = defaults.SIM_BURST_FACTOR
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._client = None
        now = clock()
        devs = []
        s = registry.sensors
        for did, typ, town, meta, interval in zip(s["id"], s["type"], s["town_code"], s["meta"],
                                                  s["interval_s"], strict=True):
            devs.append(_Dev(did, KINDS[typ], topics.telemetry(typ, did), town,
                             json.loads(meta or "{}"), float(interval),
                             senml=zlib.crc32(did.encode()) % 10 == 0))
        self.devices = devs
        self._nominal = sum(1.0 / d.interval for d in devs) or 1.0   # msg/s at real intervals
        # spread first reports over one (scaled) interval so the feed is steady from the start
        speed = (self.rate if self.rate > 0 else 1e6) / self._nominal
        for d in devs:
            d.next_due = now + float(self.rng.uniform(0, d.interval / speed))
        self.cameras = list(registry.cameras["id"]) if cameras else []
        self._cam_town = dict(zip(registry.cameras["id"], registry.cameras["town_code"],
                                  strict=True))
        self._cam_next = {c: now + float(self.rng.uniform(0, defaults.CAMERA_HEARTBEAT_S))
                          for c in self.cameras}
        cams = registry.cameras
        self._mobile = {c: [float(x), float(y), float(h)] for c, x, y, h, m in zip(
            cams["id"], cams["lon"], cams["lat"], cams["heading_deg"], cams["mobile"], strict=True)
            if m and cameras}

    # --- control ------------------------------------------------------------------------------
    def start(self, thread: bool = True) -> Simulator:
        """Connect and (``thread``) publish in the background; without it, call ``tick`` yourself."""
        c, host, port = mqtt_client(self.mqtt_url, self.client_id, self.login)
        c.max_inflight_messages_set(1000)
        c.reconnect_delay_set(1, 30)
        c.connect_async(host, port, keepalive=30)
        c.loop_start()
        self._client = c
        self._stop.clear()
        if thread:
            self._thread = threading.Thread(target=self._loop, name="simulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def burst(self, seconds: float, factor: float = defaults.SIM_BURST_FACTOR) -> None:
        """×``factor`` the rate for ``seconds`` (flood-season surge)."""
        self._burst_factor, self._burst_until = factor, self.clock() + seconds

    def run_scenario(self, name: str, town_code: str | None = None, building: str | None = None,
                     duration_s: float = 1800.0) -> Scenario:
        """Start scenario ``flood`` | ``fire`` | ``outage`` now (see the module docstring).

        ``town_code`` defaults to a rural town (flood, outage) or the building's town (fire);
        ``building`` (fire) is a ``bld-NNN`` id from the fire sensors' meta, default one in town.
        """
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; known: {SCENARIOS}")
        towns = self.registry.sensors["town_code"].unique().tolist()
        if name == "fire":
            # a fire breaks out in a building: any device placed in one (meta "building")
            fire = [d for d in self.devices if d.meta.get("building")
                    and (town_code is None or d.town == town_code)]
            if building is None:
                if not fire:
                    raise ValueError(f"no fire-IoT building in town {town_code}")
                building = str(fire[int(self.rng.integers(len(fire)))].meta["building"])
            in_bld = [d for d in self.devices if d.meta.get("building") == building]
            if not in_bld:
                raise ValueError(f"unknown building {building!r}")
            town_code = in_bld[0].town
        town_code = town_code or str(self.rng.choice(sorted(towns)[5:] or towns))
        sc = Scenario(name, town_code, self.clock(), duration_s, building)
        if name == "fire":
            row = self.registry.sensors[self.registry.sensors["id"] == in_bld[0].id].iloc[0]
            sc.cameras = [c["id"] for c in cameras_seeing(self.registry, float(row["lon"]),
                                                          float(row["lat"]), 500, 3)]
            if not sc.cameras:   # nobody sees it: the nearest camera of the town will do
                sc.cameras = [c for c, t in self._cam_town.items() if t == town_code][:1]
        elif name == "flood":
            town_cams = [c for c, t in self._cam_town.items() if t == town_code]
            k = min(3, len(town_cams))
            sc.cameras = list(self.rng.choice(town_cams, k, replace=False)) if k else []
        sc.next_ai = sc.start + (20.0 if name == "fire" else 60.0)
        with self._lock:
            self.scenarios.append(sc)
        if name == "outage":
            for c, t in self._cam_town.items():
                if t == town_code:
                    self._publish(topics.status(c), b"offline")
        log.info("scenario %s in town %s started (%s)", name, town_code, building or "")
        return sc

    # --- loop -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = self.clock()
            self.tick(t0)
            if self.rate > 0:
                self._stop.wait(max(0.0, 0.1 - (self.clock() - t0)))

    def tick(self, now: float) -> int:
        """Publish what is due at ``now`` (rate-limited); returns how many were published."""
        with self._lock:
            self.scenarios = [s for s in self.scenarios if now <= s.start + s.duration_s]
            active = list(self.scenarios)
        rate = self.rate * (self._burst_factor if now < self._burst_until else 1.0)
        # the nominal feed is Σ 1/interval; scale time so that the feed matches ``rate``
        flat_out = rate <= 0          # as fast as it can: every device every tick, no cap
        speed = 1e6 if flat_out else rate / self._nominal
        elapsed = min(5.0, max(0.1, now - self._last_tick)) if self._last_tick else 0.1
        self._last_tick = now
        budget = len(self.devices) if flat_out else max(1, int(rate * elapsed * 1.5))
        hour = ((now / 3600.0) + 8.0) % 24.0                  # China Standard Time
        n = 0
        # most overdue first, so that a rate cap delays devices fairly instead of starving some
        due = sorted((d for d in self.devices if d.next_due <= now), key=lambda d: d.next_due)
        for d in due:
            sc_rain, sc_fire, out = 0.0, 0.0, False
            for s in active:
                if s.town_code == d.town:
                    if s.name == "flood":
                        sc_rain = max(sc_rain, s.intensity(now))
                    elif s.name == "outage":
                        out = True
                if s.name == "fire" and d.meta.get("building") == s.building:
                    sc_fire = max(sc_fire, s.intensity(now))
            dens = SCENARIO_DENSIFY if (sc_rain > 0 or sc_fire > 0) else 1.0
            if n >= budget and dens == 1.0:
                continue      # over the rate: stays due; 加密上报 devices are not held back
            d.next_due = now + d.interval / speed / dens
            if out or d.silent_until > now:
                continue
            if self.rng.random() < self.dropout_p:
                d.silent_until = now + float(self.rng.uniform(*defaults.SIM_DROPOUT_S))
                self.stats["dropouts"] += 1
                continue
            ctx = SimContext(now, hour, rain=sc_rain, fire=sc_fire)
            metrics = d.kind.simulate(self.rng, d.meta, ctx, d.state)
            if self.rng.random() < self.malformed_p:
                self._publish(*self._malformed(d, now, metrics))
                self.stats["malformed"] += 1
            else:
                self._publish(d.topic, self._payload(d, now, metrics))
            n += 1
        n += self._cameras(now, active, speed)
        n += self._detections(now, active)
        return n

    def _cameras(self, now: float, active: list[Scenario], speed: float) -> int:
        out_towns = {s.town_code for s in active if s.name == "outage"}
        n = 0
        for c, due in self._cam_next.items():
            if due > now:
                continue
            self._cam_next[c] = now + defaults.CAMERA_HEARTBEAT_S / speed
            if self._cam_town[c] not in out_towns:
                self._publish(topics.status(c), b"online")
                n += 1
                pos = self._mobile.get(c)
                if pos is not None:   # a tour bus / boat moves a little between heartbeats
                    pos[2] = (pos[2] + float(self.rng.normal(0, 20))) % 360.0
                    step = float(self.rng.uniform(0, 300)) / 111_000.0
                    pos[0] += step * np.sin(np.radians(pos[2]))
                    pos[1] += step * np.cos(np.radians(pos[2]))
                    self._publish(topics.position(c), json.dumps({
                        "ts": int(now * 1000), "lon": round(pos[0], 6), "lat": round(pos[1], 6),
                        "heading_deg": round(pos[2], 1)}).encode())
                    n += 1
        return n

    def _detections(self, now: float, active: list[Scenario]) -> int:
        n = 0
        for s in active:
            if s.name not in ("flood", "fire") or now < s.next_ai or s.intensity(now) < 0.3:
                continue
            s.next_ai = now + 30.0
            label = "water_on_road" if s.name == "flood" else "smoke_fire"
            for cam in s.cameras:
                conf = round(float(self.rng.uniform(0.75, 0.98)), 2)
                self._publish(topics.ai(cam), json.dumps({
                    "ts": int(now * 1000), "label": label, "confidence": conf,
                    "snapshot_url": f"/snapshots/{cam}/{int(now)}.jpg"}).encode())
                self.stats["detections"] += 1
                n += 1
        return n

    # --- payloads -------------------------------------------------------------------------------
    def _payload(self, d: _Dev, now: float, metrics: dict) -> bytes:
        if d.senml:
            recs: list[dict] = []
            mm = d.kind.metric_map
            for i, (k, v) in enumerate(metrics.items()):
                rec: dict = {"n": k}
                if i == 0:
                    rec = {"bn": f"urn:dev:id:{d.id}:", "bt": round(now, 3), **rec}
                if isinstance(v, bool):
                    rec["vb"] = v
                else:
                    rec["v"] = v
                    m = mm[k]
                    rec["u"] = m.senml_unit or m.unit
                recs.append(rec)
            return json.dumps(recs, ensure_ascii=False).encode()
        return json.dumps({"ts": int(now * 1000), "metrics": metrics},
                          ensure_ascii=False, separators=(",", ":")).encode()

    def _malformed(self, d: _Dev, now: float, metrics: dict) -> tuple[str, bytes]:
        """A realistic bad message: truncated JSON, a string value, an impossible value, a device
        nobody registered, a clock far ahead."""
        k = int(self.rng.integers(5))
        first = next(iter(metrics), "x")
        if k == 0:
            return d.topic, json.dumps({"ts": int(now * 1000), "metrics": metrics}).encode()[:-7]
        if k == 1:
            return d.topic, json.dumps({"ts": int(now * 1000), "metrics": {first: "ERR"}}).encode()
        if k == 2:
            return d.topic, json.dumps({"ts": int(now * 1000), "metrics": {first: 1e9}}).encode()
        if k == 3:
            return (topics.telemetry(d.kind.name, d.id + "x"),
                    json.dumps({"ts": int(now * 1000), "metrics": metrics}).encode())
        return d.topic, json.dumps({"ts": int((now + 86400 * 365) * 1000), "metrics": metrics}).encode()

    def _publish(self, topic: str, payload: bytes) -> None:
        c = self._client
        if c is None:
            return
        c.publish(topic, payload, qos=1)
        self.stats["published"] += 1
