"""Reading a Redis stream into the record through a consumer group, at least once (issue 20):
the loop the archiver and the stream copies share. What a consumer was given and did not
acknowledge (it crashed, or PostgreSQL went away mid-batch) is read again first, by itself
after a restart under the same consumer name or by another after ``claim_idle_ms``; a failure
is retried with a growing pause and never ends the loop."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import orjson
import psycopg
import redis

from grid import keyspace
from incidents import keys

log = logging.getLogger(__name__)

Connect = Callable[[], psycopg.Connection]
"""Opens a new psycopg connection to the record (``app.pg.connector``)."""

Entry = tuple[str, dict]
"""A stream entry: (id, fields)."""

RETRY_FIRST_S, RETRY_MAX_S = 0.2, 5.0


def sid(stream_id: str) -> tuple[int, int]:
    """A stream id as a comparable (ms, seq)."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


class StreamWorker:
    """A consumer of ``stream`` in ``group``; subclasses ``handle`` each batch (it returns only
    once the batch is committed). ``run(stop)`` until stopped, ``drain()`` what is there now."""

    stream: str = ""
    group: str = ""

    def __init__(self, r: redis.Redis, connect: Connect, *, consumer: str = "archiver",
                 batch: int = 500, block_ms: int = 1000, claim_idle_ms: int = 60_000) -> None:
        self.r = r
        self.connect = connect
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.stats: Counter[str] = Counter()
        self._conn: psycopg.Connection | None = None
        self._pending = True        # own entries given before a crash come first
        self._group_ok = False
        self.city = keyspace.current()  # the city it was made for: its keys (in any thread)

    def handle(self, entries: list[Entry]) -> None:
        raise NotImplementedError

    def created(self, new_group: bool) -> None:
        """Called once the group is known to exist (``new_group``: made just now)."""

    # --- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; every failure is retried, none ends the loop."""
        pause = RETRY_FIRST_S
        while not stop.is_set():
            try:
                self.step(self.block_ms)
                pause = RETRY_FIRST_S
            except (redis.ConnectionError, redis.TimeoutError, psycopg.OperationalError,
                    psycopg.InterfaceError) as e:
                self._reset()
                self.stats["retries"] += 1
                log.warning("归档重试 %s retries in %.1fs: %s", self.stream, pause, e)
                stop.wait(pause)
                pause = min(pause * 2, RETRY_MAX_S)
            except Exception:   # a bug must not stop archiving: counted, logged, tried again
                self._reset()
                self.stats["errors"] += 1
                log.exception("归档出错 %s error", self.stream)
                stop.wait(RETRY_MAX_S)
        self.close()

    def drain(self) -> int:
        """Handle everything the stream holds now (no blocking read); returns entries done."""
        total = 0
        while n := self.step(0):
            total += n
        return total

    def step(self, block_ms: int = 0) -> int:
        """One batch: read, handle (commit), acknowledge. Returns the entries it handled.
        Raises on a connection failure (``run`` retries: nothing was acknowledged)."""
        with keyspace.use(self.city):
            return self._step(block_ms)

    def _step(self, block_ms: int) -> int:
        self._ensure_group()
        entries = self._read(block_ms)
        if not entries:
            return 0
        self.handle(entries)
        self.r.xack(self.stream, self.group, *[eid for eid, _ in entries])
        self.stats["entries"] += len(entries)
        return len(entries)

    def _reset(self) -> None:
        self.close()
        # the batch read stays pending on this consumer: read it again first
        self._pending, self._group_ok = True, False

    # --- reading --------------------------------------------------------------------------------
    def _ensure_group(self) -> None:
        if self._group_ok:
            return
        try:
            self.r.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            new = True
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
            new = False
        self.created(new)
        self._group_ok = True

    def _read(self, block_ms: int) -> list[Entry]:
        if self._pending:
            # what this consumer was given and never acknowledged (it crashed), then what a
            # consumer gone for ``claim_idle_ms`` holds
            got = self._xread("0", None)
            if got:
                return got
            claimed = self.r.xautoclaim(self.stream, self.group, self.consumer,
                                        self.claim_idle_ms, "0-0", count=self.batch)
            self._pending = False
            if claimed[1]:
                return [(eid, f or {}) for eid, f in claimed[1]]
        return self._xread(">", block_ms or None)

    def _xread(self, start: str, block_ms: int | None) -> list[Entry]:
        res = self.r.xreadgroup(self.group, self.consumer, {self.stream: start},
                                count=self.batch, block=block_ms)
        if not res:
            return []
        entries = res[0][1] if isinstance(res, list) else next(iter(res.values()))[0]
        # an entry trimmed from the stream while pending comes back without fields: nothing to
        # read, acknowledged with the rest
        return [(eid, f or {}) for eid, f in entries]

    # --- the connection -------------------------------------------------------------------------
    def connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
            self._conn.autocommit = True    # each ``transaction()`` block is BEGIN … COMMIT
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


SECURITY_INSERT = """
INSERT INTO security_audit (stream_id, ts, actor, action, outcome, entry)
VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING
"""


class SecurityAuditCopier(StreamWorker):
    """安全审计归档 (SEC9): the security audit stream, every entry once in ``security_audit``
    (keyed by its stream id), hash-chain fields kept in ``entry``: the record holds the whole
    audit however the stream is trimmed later. ``stream``: the key (``app.keys``)."""

    group = keys.ARCHIVE_GROUP

    def __init__(self, r: redis.Redis, connect: Connect, stream: str, **kw) -> None:
        super().__init__(r, connect, **kw)
        self.stream = stream

    def handle(self, entries: list[Entry]) -> None:
        rows = list(_security_rows(entries))
        if rows:
            conn = self.connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(SECURITY_INSERT, rows)
        self.stats["copied"] += len(rows)


def _security_rows(entries: list[Entry]) -> Iterable[tuple]:
    for eid, f in entries:
        if not f:
            continue
        try:
            ts = datetime.fromtimestamp(int(f.get("ts") or eid.split("-")[0]) / 1000, UTC)
        except ValueError:
            ts = datetime.fromtimestamp(sid(eid)[0] / 1000, UTC)
        yield (eid, ts, str(f.get("user", "")), str(f.get("event", "")),
               str(f.get("reason", "")), orjson.dumps(f).decode())


__all__ = ["StreamWorker", "SecurityAuditCopier", "Connect", "Entry", "sid"]
