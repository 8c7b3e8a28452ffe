"""Ingest worker (接入): MQTT telemetry, status and video-AI detections → Redis (S1, S4, S5, S9).

The MQTT side (paho, the persistent MQTT 5 session, reconnect, resubscribe, acknowledgement) is
``sensors.mqtt_client.Session``: this module never sees paho. It subscribes to a shared
subscription ``$share/<group>/om/v1/...`` so that several workers split one feed.

Messages are batched in the network thread (up to ``BATCH_MAX``, or ``BATCH_WAIT_S`` old; a
flusher thread takes a partial batch when traffic stops), validated at the edge
(``sensors.schemas``) and handed to a writer thread, which writes the batch in ONE round trip: one
``ingest.lua`` call (history, last value, device state, rules, alarms) plus the dead-letter
entries, while the network thread reads the next batch. Only then are the messages acknowledged
(manual PUBACK through paho's public ``ack``), so a worker killed mid-batch loses nothing: the
broker redelivers what was not acknowledged (at-least-once; a redelivered reading is stored again,
the alarm rules ignore it).

Run it as ``onemap ingest`` (a process) or, in ``onemap demo``, as a thread: ``start()`` /
``stop()``; ``subscribed`` is an Event that is set while the worker is subscribed.

Issue 19 (SEC11): the worker logs in with its own account (``login``: ``onemap-ingest``, read
only); a retained message on a telemetry, video-AI or position topic is dead-lettered
(``retained``), never stored (the broker's retained copies of those topics are not even asked
for); a reading dated more than ``MAX_PAST_S`` before the server clock is dead-lettered
(``stale_ts``), as one more than ``MAX_FUTURE_S`` ahead already was (``future_ts``).
"""

from __future__ import annotations

import gc
import json
import logging
import queue
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable

import redis
from redis.cluster import RedisCluster

from sensors import deadletter, defaults, keys, topics
from sensors.kinds.camera import AI_LABELS
from sensors.mqtt_client import MqttLogin, Session
from sensors.registry import DeviceRegistry
from sensors.rules import Batch, DeviceEntry, RuleEngine, compile_registry
from sensors.schemas import (
    Rejected,
    check_reading,
    merge_readings,
    parse_detection,
    parse_position,
    parse_reading,
    parse_status,
)

log = logging.getLogger("onemap.ingest")
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
LINGER_S = defaults.BATCH_WAIT_S
try:
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - redis-py works without hiredis, only slower
    _pack = None


def settle_heap() -> None:
    """Move everything alive now (registry, compiled rules, pandas…) out of the garbage
    collector's reach (``gc.freeze``). Call it once after loading, before ingesting: in-flight
    messages live a few ms, get promoted, and trigger full collections that would otherwise walk
    the whole registry every time (measured: the ingest path ran 2–3× slower)."""
    gc.collect()
    gc.freeze()


def default_client_id(group: str, index: int = 0) -> str:
    """Stable per host and index: the broker keeps this worker's session across restarts."""
    return f"onemap-ingest-{group}-{socket.gethostname()}-{index}"


class IngestWorker:
    """接入工作进程: one MQTT session feeding Redis in batches."""

    def __init__(self, r: redis.Redis, registry: DeviceRegistry | dict[str, DeviceEntry],
                 mqtt_url: str, group: str = "onemap", client_id: str | None = None,
                 history_maxlen: int = defaults.HISTORY_MAXLEN, batch_max: int = defaults.BATCH_MAX,
                 session_expiry_s: int = defaults.SESSION_EXPIRY_S,
                 topic_filters: Iterable[str] = topics.FILTERS, shared: bool = True,
                 clock: Callable[[], float] = time.time, login: MqttLogin | None = None) -> None:
        self.redis = r
        self.devices = registry if isinstance(registry, dict) else compile_registry(registry)
        self.mobile = {d for d, e in self.devices.items() if e.mobile}
        self.mqtt_url, self.group = mqtt_url, group
        self.client_id = client_id or f"onemap-ingest-{group}-{uuid.uuid4().hex[:8]}"
        self.batch_max, self.session_expiry_s, self.clock = batch_max, session_expiry_s, clock
        # shared=False: a plain subscription, for a single worker. mosquitto 2.0 does not restore
        # $share subscriptions from its persistence file, so only a plain one survives a broker
        # restart with the messages published before the worker is back (docs/mqtt.md).
        self.filters = [topics.shared(group, f) if shared else f for f in topic_filters]
        self.engine = RuleEngine(r, history_maxlen)
        # retained device status (the last will) is wanted at subscribe; retained telemetry is not
        fresh = [f for f in self.filters if f"{topics.STATUS}/" not in f]
        self.session = Session(mqtt_url, self.client_id, self.filters, self._on_message,
                               session_expiry_s=session_expiry_s, login=login, fresh_only=fresh)
        self.connected = self.session.connected
        self.subscribed = self.session.subscribed
        self.stats: Counter[str] = Counter()
        # Messages wait here until the batch is full or LINGER_S old; the network thread then
        # writes it itself (no hand-over to another thread: with one GIL that hand-over made the
        # network thread wait for the GIL after every packet); a flusher thread writes what is
        # left when traffic stops.
        # (topic, payload, mid, qos, retain): paho's message objects are let go at once, so the
        # garbage collector does not walk them while they wait (measured: it mattered)
        self._pending: list[tuple[str, bytes, int, int, bool]] = []
        self._oldest = 0.0
        self._lock = threading.Lock()
        self._has = threading.Event()
        self._wq: queue.Queue = queue.Queue(maxsize=1)   # prepared batch → writer thread
        self._writer_gone = threading.Event()   # set by stop(): nobody takes batches any more
        self._topics: dict[str, tuple[str, str, str] | None] = {}
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._sha: str | None = None
        self._max_future_ms = int(defaults.MAX_FUTURE_S * 1000)
        self._max_past_ms = int(defaults.MAX_PAST_S * 1000)

    # --- MQTT -------------------------------------------------------------------------------
    def start(self) -> IngestWorker:
        """Connect (in the background, retrying) and start the processing thread."""
        self._halt.clear()
        self._writer_gone.clear()
        self._thread = threading.Thread(target=self._flusher, name=f"ingest-{self.client_id}",
                                        daemon=True)
        self._thread.start()
        self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                        name=f"ingest-w-{self.client_id}")
        self._writer.start()
        self.session.start()
        return self

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return self.subscribed.wait(timeout)

    def stop(self, drain_s: float = 5.0) -> None:
        """Write and acknowledge what is queued (up to ``drain_s``), then disconnect. The session
        stays on the broker: what arrives meanwhile waits there for the next start."""
        deadline = time.monotonic() + drain_s
        while (self._pending or not self._wq.empty()) and time.monotonic() < deadline:
            time.sleep(0.01)
        self._halt.set()
        self._has.set()
        if self._thread is not None:
            self._thread.join(drain_s + 5)
            self._wq.put(None)
            self._writer.join(drain_s + 5)
            self._writer_gone.set()   # a batch the network thread still hands over is left unacked
        self.session.stop()

    def _on_message(self, topic: str, payload: bytes, mid: int, qos: int,
                    retain: bool = False) -> None:
        """A message from the session (paho's network thread): into the pending batch."""
        item = (topic, payload, mid, qos, retain)
        with self._lock:
            p = self._pending
            p.append(item)
            if len(p) == 1:
                self._oldest = time.monotonic()
                self._has.set()
            elif len(p) >= self.batch_max or time.monotonic() - self._oldest >= LINGER_S:
                self._flush_locked()

    # --- processing -------------------------------------------------------------------------
    def _flusher(self) -> None:
        """Write a partial batch that nobody else will: traffic stopped before it filled."""
        while not self._halt.is_set():
            if not self._has.wait(0.5):
                continue
            time.sleep(LINGER_S)
            with self._lock:
                if self._pending and time.monotonic() - self._oldest >= LINGER_S:
                    self._flush_locked()
                if not self._pending:
                    self._has.clear()
        with self._lock:
            if self._pending:
                self._flush_locked()

    def _flush_locked(self) -> None:
        """Validate, write (one round trip) and acknowledge the pending messages (lock held)."""
        batch, self._pending = self._pending, []
        now_ms = int(self.clock() * 1000)
        item = (batch, now_ms, Batch(), [], [])
        self._prepare(batch, now_ms, *item[2:])
        # the writer waits for Redis while this (network) thread reads the next batch
        while True:
            try:
                self._wq.put(item, timeout=0.2)
                return
            except queue.Full:
                if self._writer_gone.is_set():
                    # stopping, the writer has gone: this batch stays unacknowledged and the
                    # broker delivers it again to the next session (QoS 1, kept session)
                    return

    def _write_loop(self) -> None:
        while True:
            item = self._wq.get()
            if item is None:
                return
            try:
                if self._write(*item):
                    self._ack_all(item[0])
            except Exception:  # keep the writer alive; unacknowledged messages come back
                log.exception("ingest: writing a batch failed")

    def process(self, batch: list[tuple[str, bytes]]) -> dict:
        """Validate and store (topic, payload) pairs without MQTT (tests, replays, benchmarks)."""
        msgs = []
        for t, p in batch:
            msgs.append((t, p, 0, 0, False))
        now_ms = int(self.clock() * 1000)
        item = (msgs, now_ms, Batch(), [], [])
        self._prepare(msgs, now_ms, *item[2:])
        self._write(*item)
        return dict(self.stats)

    def _prepare(self, batch: list[tuple[str, bytes, int, int, bool]], now_ms: int, out: Batch,
                 dlq: list, extra: list[tuple[str, str, str]]) -> None:
        """Validate ``batch`` into ``out`` (script records), ``dlq`` (rejections) and ``extra``
        (("offline", id, "") status changes, ("pos", id, "lon,lat,heading,ts") positions)."""
        for topic, payload, _mid, _qos, retain in batch:
            try:
                self._one(topic, payload, now_ms, out, extra, retain)
            except Rejected as e:
                dlq.append((e.reason, topic, bytes(payload), e.detail, e.device_id))
            except Exception as e:  # a bug must not stop ingest: keep the message for a look
                log.exception("ingest: unexpected error on %s", topic)
                dlq.append(("internal", topic, bytes(payload), repr(e)[:300], ""))

    def _mobile(self, camera_id: str) -> bool:
        return camera_id in self.mobile

    def _parse_topic(self, topic: str) -> tuple[str, str, str] | None:
        t = self._topics.get(topic)
        if t is None:
            t = topics.parse(topic)
            if t is not None and t[2] in self.devices:   # cache only ours: bounded by the registry
                self._topics[topic] = t
        return t

    def _stale(self, ts: int, now_ms: int, did: str) -> None:
        """时间过旧: a time more than MAX_PAST_S before the server clock (issue 19: 1970)."""
        if now_ms - ts > self._max_past_ms:
            self.stats["stale"] += 1
            raise Rejected("stale_ts", f"时间过旧：比服务器时钟早 {(now_ms - ts) / 3.6e6:.1f} 小时 / "
                           f"ts {ts} is {(now_ms - ts) / 1000:.0f} s old "
                           f"(> {defaults.MAX_PAST_S:.0f} s)", did)

    def _one(self, topic: str, payload: bytes, now_ms: int, out: Batch,
             extra: list[tuple[str, str, str]], retain: bool = False) -> None:
        t = self._parse_topic(topic)
        if len(payload) > defaults.MAX_PAYLOAD_BYTES:
            raise Rejected("oversized", f"{len(payload)} bytes > {defaults.MAX_PAYLOAD_BYTES}",
                           t[2] if t and t[2] in self.devices else "")
        if t is None:
            raise Rejected("bad_topic", "not an om/v1 topic")
        ch, dtype, did = t
        if retain and ch != "status":
            # mosquitto's ACL cannot forbid retain per topic: refused here, and kept with why
            self.stats["retained"] += 1
            raise Rejected("retained", "保留消息：遥测、视频AI、位置主题不接受 retain / retained "
                           "message on a telemetry topic", did if did in self.devices else "")
        dev = self.devices.get(did)
        if dev is None:
            # counted under "?" (the per-device counter is bounded by the registry: 3,000 bogus
            # ids must not make 3,000 fields, issue 19); the claimed id stays in the detail
            raise Rejected("unknown_device", f"{did[:128]!r} is not in the registry", "")
        if ch == "tele":
            if dtype != dev.type:
                raise Rejected("bad_topic", f"{did} is a {dev.type}, topic says {dtype}", did)
            try:   # a SenML pack is many readings (RFC 8428): all checked before any is stored
                checked = []
                for ts, metrics, units in merge_readings(dev.kind, parse_reading(payload, now_ms),
                                                         now_ms):
                    self._stale(ts, now_ms, did)
                    checked.append((ts, metrics, check_reading(
                        dev.kind, metrics, units, ts, now_ms, self._max_future_ms)))
            except Rejected as e:
                e.device_id = did
                raise
            for ts, metrics, values in checked:
                out.reading(dev, ts, _compact(metrics), values)
                self.stats["readings"] += 1
        elif ch == "ai":
            if dev.type != "camera":
                raise Rejected("bad_topic", f"{did} is not a camera", did)
            try:
                d = parse_detection(payload)
            except Rejected as e:
                e.device_id = did
                raise
            if d.label not in AI_LABELS:
                raise Rejected("schema", f"unknown label {d.label!r}", did)
            if d.ts - now_ms > self._max_future_ms:
                raise Rejected("future_ts", f"ts {d.ts} ahead of the server clock", did)
            self._stale(d.ts, now_ms, did)
            if d.confidence >= defaults.AI_MIN_CONFIDENCE:
                out.detection(dev, d.ts, d.label, float(d.confidence), d.snapshot_url)
            self.stats["detections"] += 1
        elif ch == "pos":
            if dev.type != "camera" or not self._mobile(did):
                raise Rejected("bad_topic", f"{did} is not a mobile camera", did)
            try:
                p = parse_position(payload)
            except Rejected as e:
                e.device_id = did
                raise
            if p.ts - now_ms > self._max_future_ms:
                raise Rejected("future_ts", f"ts {p.ts} ahead of the server clock", did)
            self._stale(p.ts, now_ms, did)
            h = "" if p.heading_deg is None else f"{float(p.heading_deg):.1f}"
            extra.append(("pos", did, f"{float(p.lon):.6f},{float(p.lat):.6f},{h},{p.ts}"))
            out.heard(dev, now_ms)
            self.stats["positions"] += 1
        else:
            try:
                st = parse_status(payload)
            except Rejected as e:
                e.device_id = did
                raise
            if st.state == "offline":
                extra.append(("offline", did, ""))
            else:   # back online: a reading without rules (seen, state, fault cleared)
                out.heard(dev, now_ms)
            self.stats["status"] += 1

    def _write(self, batch: list[tuple[str, bytes, int, int, bool]], now_ms: int, args: Batch, dlq: list,
               extra: list[tuple[str, str, str]]) -> bool:
        """One round trip for the batch; retried while Redis is away. False: stopped meanwhile."""
        delay = 0.1
        while True:
            try:
                self._execute(now_ms, args, dlq, extra, len(batch))
                break
            except redis.exceptions.NoScriptError:
                self._sha = None
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as e:
                if self._halt.is_set():
                    return False
                log.warning("ingest: Redis unavailable (%s); retrying in %.1fs", e, delay)
                self.stats["redis_retries"] += 1
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except redis.ResponseError as e:
                # a bug, not bad input: keep the messages where an operator can see them
                log.exception("ingest: batch failed in Redis")
                args, extra = Batch(), []
                dlq = [("internal", t, bytes(p), str(e)[:300], "") for t, p, *_ in batch]
        self.stats["messages"] += len(batch)
        self.stats["rejected"] += len(dlq)
        self.stats["batches"] += 1
        return True

    def _execute(self, now_ms: int, args: Batch, dlq: list, extra: list[tuple[str, str, str]],
                 n: int) -> None:
        r = self.redis
        if self._sha is None:
            self._sha = r.script_load(self.engine.script.script)
        cmds = _Commands()
        if args:
            cmds.evalsha(self._sha, 1, self.engine.route, *self.engine.args(now_ms, args))
        for what, did, value in extra:
            if what == "offline":
                cmds.hset(keys.DEV_STATE, did, "offline")
                cmds.hset(keys.dev_last(did), "online", "0")
                cmds.hset(keys.DEV_LWT, did, now_ms)
            else:
                cmds.hset(keys.CAM_POS, did, value)
        for reason, topic, raw, detail, did in dlq:
            deadletter.record(cmds, reason, topic, raw, detail, did, now_ms)
        cmds.hincrby(keys.INGEST_STATS, "messages", n)
        if dlq:
            cmds.hincrby(keys.INGEST_STATS, "rejected", len(dlq))
        res = cmds.run(r)
        if args and isinstance(res[0], int) and res[0]:
            self.stats["alarms"] += res[0]

    def _ack_all(self, batch: list[tuple[str, bytes, int, int, bool]]) -> None:
        """Acknowledge the batch's QoS 1 messages: Redis has them now."""
        self.session.ack([mid for _, _, mid, qos, _ in batch if qos == 1])


class _Commands:
    """The commands of one batch, sent in ONE write and their replies read in order, on a
    connection of redis-py's own pool through its public API (``get_connection``/``release``,
    ``send_packed_command``, ``read_response``: the one Redis transport, as in
    ``incidents.script``), packed by hiredis: thousands of arguments per batch without redis-py's
    per-argument Python work (a pipeline costs ≈ 15 % of ingest's rate: bench/README.md)."""

    def __init__(self) -> None:
        self.cmds: list[tuple] = []

    def evalsha(self, *a) -> None:  # noqa: ANN002
        self.cmds.append(("EVALSHA", *a))

    def hset(self, key: str, field: str, value: object) -> None:
        self.cmds.append(("HSET", key, field, value))

    def hincrby(self, key: str, field: str, n: int) -> None:
        self.cmds.append(("HINCRBY", key, field, n))

    def xadd(self, key: str, fields: dict, maxlen: int, approximate: bool = True) -> None:
        self.cmds.append(("XADD", key, "MAXLEN", "~" if approximate else "=", maxlen, "*",
                          *(x for kv in fields.items() for x in kv)))

    def run(self, r: redis.Redis) -> list:
        """Every reply in order; the first ``ResponseError`` (e.g. NOSCRIPT) is raised after
        all replies were read, so the connection goes back to the pool clean; a broken
        connection is disconnected before it is released (the pool makes a new socket)."""
        if _pack is None or isinstance(r, RedisCluster):   # the ordinary pipeline (a cluster's routes)
            p = r.pipeline(transaction=False)
            for c in self.cmds:
                p.execute_command(*c)
            return p.execute()
        pool = r.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([_pack(c) for c in self.cmds])
            out, err = [], None
            for _ in self.cmds:
                try:
                    out.append(conn.read_response())
                except redis.ResponseError as e:   # read every reply, then raise the first error
                    err = err or e
                    out.append(e)
            if err is not None:
                raise err
            return out
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            raise
        finally:
            pool.release(conn)
