"""Ingest worker (接入): MQTT telemetry, status and video-AI detections → Redis (S1, S4, S5, S9).

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``), MQTT 5, a shared subscription
``$share/<group>/om/v1/...`` so that several workers split one feed, ``clean_start=False`` with a
session expiry so that a worker that comes back gets every QoS 1 message published while it was
away, automatic reconnect with exponential back-off, resubscribe on every connect.

Messages are batched in the network thread (up to ``BATCH_MAX``, or ``BATCH_WAIT_S`` old; a
flusher thread takes a partial batch when traffic stops), validated at the edge
(``sensors.schemas``) and handed to a writer thread, which writes the batch in ONE round trip: one
``ingest.lua`` call (history, last value, device state, rules, alarms) plus the dead-letter
entries, while the network thread reads the next batch. Only then are the messages acknowledged
(manual PUBACK, all of a batch in one write), so a worker killed mid-batch loses nothing: the
broker redelivers what was not acknowledged (at-least-once; a redelivered reading is stored again,
the alarm rules ignore it).

Run it as ``onemap ingest`` (a process) or, in ``onemap demo``, as a thread: ``start()`` /
``stop()``; ``subscribed`` is an Event that is set while the worker is subscribed.
"""

from __future__ import annotations

import gc
import json
import logging
import queue
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from sensors import deadletter, defaults, keys, topics
from sensors.kinds.camera import AI_LABELS
from sensors.registry import DeviceRegistry
from sensors.rules import Batch, DeviceEntry, RuleEngine, compile_registry
from sensors.schemas import (
    Rejected,
    check_reading,
    parse_detection,
    parse_position,
    parse_reading,
    parse_status,
)

log = logging.getLogger("onemap.ingest")
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
LINGER_S = defaults.BATCH_WAIT_S
_PUBACK = 0x40
_PUBACK_PACK = struct.Struct("!BBH").pack
try:
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - redis-py works without hiredis, only slower
    _pack = None


def mqtt_client(url: str, client_id: str = "", **kw) -> tuple[mqtt.Client, str, int]:
    """A paho v2 / MQTT 5 client for ``mqtt://[user:pass@]host[:port]`` (not yet connected)."""
    u = urlparse(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=MQTTProtocolVersion.MQTTv5, **kw)
    if u.username:
        c.username_pw_set(u.username, u.password)
    if u.scheme in ("mqtts", "ssl"):
        c.tls_set()
    return c, u.hostname or "127.0.0.1", u.port or (8883 if u.scheme in ("mqtts", "ssl") else 1883)


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
                 clock: Callable[[], float] = time.time) -> None:
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
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.stats: Counter[str] = Counter()
        # Messages wait here until the batch is full or LINGER_S old; the network thread then
        # writes it itself (no hand-over to another thread: with one GIL that hand-over made the
        # network thread wait for the GIL after every packet); a flusher thread writes what is
        # left when traffic stops.
        # (topic, payload, mid, qos): paho's message objects are let go at once, so the garbage
        # collector does not walk them while they wait (measured: it mattered)
        self._pending: list[tuple[str, bytes, int, int]] = []
        self._oldest = 0.0
        self._lock = threading.Lock()
        self._has = threading.Event()
        self._wq: queue.Queue = queue.Queue(maxsize=1)   # prepared batch → writer thread
        self._writer_gone = threading.Event()   # set by stop(): nobody takes batches any more
        self._topics: dict[str, tuple[str, str, str] | None] = {}
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._sha: str | None = None
        self._max_future_ms = int(defaults.MAX_FUTURE_S * 1000)

    # --- MQTT -------------------------------------------------------------------------------
    def start(self) -> IngestWorker:
        """Connect (in the background, retrying) and start the processing thread."""
        c, host, port = mqtt_client(self.mqtt_url, self.client_id, manual_ack=True)
        c.on_connect, c.on_subscribe = self._on_connect, self._on_subscribe
        c.on_disconnect, c.on_message = self._on_disconnect, self._on_message
        c.reconnect_delay_set(max(1, int(defaults.RECONNECT_MIN_S)), int(defaults.RECONNECT_MAX_S))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = defaults.MAX_INFLIGHT
        c.connect_async(host, port, keepalive=defaults.KEEPALIVE_S, clean_start=False,
                        properties=props)
        self._client = c
        self._halt.clear()
        self._writer_gone.clear()
        self._thread = threading.Thread(target=self._flusher, name=f"ingest-{self.client_id}",
                                        daemon=True)
        self._thread.start()
        self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                        name=f"ingest-w-{self.client_id}")
        self._writer.start()
        c.loop_start()
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
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        self.connected.clear()
        self.subscribed.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("ingest %s: connect refused: %s", self.client_id, reason_code)
            return
        self.connected.set()
        # resubscribe every time: harmless with a kept session, needed after it expired
        client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.filters])

    def _on_subscribe(self, client, userdata, mid, reason_code_list, properties) -> None:  # noqa: ANN001
        if all(not rc.is_failure for rc in reason_code_list):
            self.subscribed.set()
        else:
            log.error("ingest %s: subscribe refused: %s", self.client_id, reason_code_list)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected.clear()
        self.subscribed.clear()
        if not self._halt.is_set():
            log.warning("ingest %s: disconnected (%s); reconnecting", self.client_id, reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        item = (msg.topic, msg.payload, msg.mid, msg.qos)
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
            msgs.append((t, p, 0, 0))
        now_ms = int(self.clock() * 1000)
        item = (msgs, now_ms, Batch(), [], [])
        self._prepare(msgs, now_ms, *item[2:])
        self._write(*item)
        return dict(self.stats)

    def _prepare(self, batch: list[tuple[str, bytes, int, int]], now_ms: int, out: Batch, dlq: list,
                 extra: list[tuple[str, str, str]]) -> None:
        """Validate ``batch`` into ``out`` (script records), ``dlq`` (rejections) and ``extra``
        (("offline", id, "") status changes, ("pos", id, "lon,lat,heading,ts") positions)."""
        for topic, payload, _mid, _qos in batch:
            try:
                self._one(topic, payload, now_ms, out, extra)
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

    def _one(self, topic: str, payload: bytes, now_ms: int, out: Batch,
             extra: list[tuple[str, str, str]]) -> None:
        t = self._parse_topic(topic)
        if len(payload) > defaults.MAX_PAYLOAD_BYTES:
            raise Rejected("oversized", f"{len(payload)} bytes > {defaults.MAX_PAYLOAD_BYTES}",
                           t[2] if t else "")
        if t is None:
            raise Rejected("bad_topic", "not an om/v1 topic")
        ch, dtype, did = t
        dev = self.devices.get(did)
        if dev is None:
            raise Rejected("unknown_device", f"{did!r} is not in the registry", did)
        if ch == "tele":
            if dtype != dev.type:
                raise Rejected("bad_topic", f"{did} is a {dev.type}, topic says {dtype}", did)
            try:
                ts, metrics, units = parse_reading(payload)
                values = check_reading(dev.kind, metrics, units, ts or now_ms, now_ms,
                                       self._max_future_ms)
            except Rejected as e:
                e.device_id = did
                raise
            out.reading(dev, ts or now_ms, _compact(metrics), values)
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

    def _write(self, batch: list[tuple[str, bytes, int, int]], now_ms: int, args: Batch, dlq: list,
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
                dlq = [("internal", t, bytes(p), str(e)[:300], "") for t, p, _, _ in batch]
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
            cmds.evalsha(self._sha, 0, *self.engine.args(now_ms, args))
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

    def _ack_all(self, batch: list[tuple[str, bytes, int, int]]) -> None:
        """PUBACK every QoS 1 message of the batch in ONE socket write (one queued packet that
        holds them all) instead of a packet, a wake-up and a write per message."""
        c = self._client
        if c is None:
            return
        mids = [mid for _, _, mid, qos in batch if qos == 1]
        if not mids:
            return
        try:
            queue_packet = c._packet_queue   # paho 2.x internal; falls back to ack() below
        except AttributeError:
            for mid in mids:
                c.ack(mid, 1)
            return
        queue_packet(_PUBACK, b"".join(_PUBACK_PACK(_PUBACK, 2, mid) for mid in mids), 0, 0)


class _Commands:
    """Redis commands packed by hiredis and sent in one write, replies read in order: a pipeline
    without redis-py's per-argument Python work (thousands of arguments per batch)."""

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
        if _pack is None:   # no hiredis: the ordinary pipeline
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
