"""归档 (the archiver): copies every incident change from Redis into the record (issue 20).

What changes is announced on the incident feed (``keys.FEED``, one entry per atomic change,
``incidents.feed``); the archiver reads it through the consumer group ``keys.ARCHIVE_GROUP``,
so what it was given and did not acknowledge is given again after a crash or a restart.

For each batch of feed entries it takes, in ONE Redis transaction (MULTI), the current hash of
every incident named and the tail of its audit stream after the last entry the record holds,
then writes them to PostgreSQL in ONE transaction, then acknowledges the entries. Hence:

- **at least once**: an entry is acknowledged only after COMMIT; a crash in between gives it
  again, and nothing is taken from Redis (retention is a later step, and deletes only what the
  record confirms);
- **idempotent**: incidents are upserted keyed by id and version (a lower or equal version never
  overwrites a higher one); audit entries are keyed by (incident, seq) and (incident, stream
  id), inserted ``ON CONFLICT DO NOTHING``; sub-tasks by (incident, n) under the same version
  guard. Replaying the feed twice changes nothing;
- **in order per incident**: the record holds an incident's newest snapshot and its audit trail
  in stream order (seq 1, 2, …), whatever order the entries of a batch come in;
- **retries**: PostgreSQL or Redis away (restart, failover) → the batch is kept and tried again
  with a growing pause; a row PostgreSQL refuses (bad data) is kept in ``archive_rejects`` with
  its reason and counted, never stopping the rest.

A feed trimmed past what the archiver had read (it was stopped longer than the feed's MAXLEN
covers), or a group created on a Redis that already has incidents, is caught up by ``sweep``:
every incident whose Redis version is newer than the record's is copied.

The connection is opened by ``app/`` and handed in as ``connect`` (a function returning a new
psycopg 3 connection), so that the archiver can open another after a failure. The Redis client
must decode responses (``decode_responses=True``), as every OneMap client does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

import orjson
import psycopg
import redis

from incidents import keys
from incidents.feed import fields as feed_fields
from incidents.incident import Incident
from incidents.record import rows

log = logging.getLogger(__name__)

Connect = Callable[[], psycopg.Connection]
"""Opens a new psycopg connection to the record (``app.pg`` / ``onemap db archive``)."""

_LAST_AUDIT = """
SELECT DISTINCT ON (incident_id) incident_id, seq, stream_id FROM incident_audit
WHERE incident_id = ANY(%s) ORDER BY incident_id, seq DESC
"""

_RETRY_FIRST_S, _RETRY_MAX_S = 0.2, 5.0


def _sid(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


class Archiver:
    """归档: the feed → the record. ``run(stop)`` until stopped; ``drain()`` once (tests, CLI)."""

    def __init__(self, r: redis.Redis, connect: Connect, *, consumer: str = "archiver",
                 batch: int = 500, block_ms: int = 1000, claim_idle_ms: int = 60_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.r = r
        self.connect = connect
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.clock = clock
        self.stats: Counter[str] = Counter()
        self._conn: psycopg.Connection | None = None
        self._pending = True        # own entries given before a crash come first
        self._swept = False
        self._group_ok = False

    # --- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Archive until ``stop`` is set; every failure is retried, none ends the loop."""
        pause = _RETRY_FIRST_S
        while not stop.is_set():
            try:
                self.step(self.block_ms, stop)
                pause = _RETRY_FIRST_S
            except (redis.ConnectionError, redis.TimeoutError, psycopg.OperationalError,
                    psycopg.InterfaceError) as e:
                self._drop_conn()
                # the batch read stays pending on this consumer: read it again first
                self._pending, self._group_ok = True, False
                self.stats["retries"] += 1
                log.warning("归档重试 archiver retries in %.1fs: %s", pause, e)
                stop.wait(pause)
                pause = min(pause * 2, _RETRY_MAX_S)
            except Exception:   # a bug must not stop archiving: counted, logged, tried again
                self._drop_conn()
                self._pending, self._group_ok = True, False
                self.stats["errors"] += 1
                log.exception("归档出错 archiver error")
                stop.wait(_RETRY_MAX_S)
        self._drop_conn()

    def drain(self) -> int:
        """Archive everything the feed holds now (no blocking read); returns entries done."""
        total = 0
        while n := self.step(0):
            total += n
        return total

    def step(self, block_ms: int = 0, stop: threading.Event | None = None) -> int:
        """One batch: read, copy, commit, acknowledge. Returns the entries it handled (0: none).
        Raises on a connection failure (``run`` retries the batch: it was not acknowledged)."""
        self._ensure_group()
        if not self._swept:
            self.sweep()
            self._swept = True
        entries = self._read(block_ms)
        if not entries:
            return 0
        ids: dict[str, None] = {}       # incident ids in order of first appearance
        for _, f in entries:
            iid = _feed_id(f)
            if iid:
                ids[iid] = None
            else:
                self.stats["feed_bad"] += 1
        if ids:
            self.archive(list(ids))
        self.r.xack(keys.FEED, keys.ARCHIVE_GROUP, *[eid for eid, _ in entries])
        self.stats["entries"] += len(entries)
        return len(entries)

    # --- reading the feed -------------------------------------------------------------------------
    def _ensure_group(self) -> None:
        if self._group_ok:
            return
        try:
            self.r.xgroup_create(keys.FEED, keys.ARCHIVE_GROUP, id="0", mkstream=True)
            self._swept = False         # a new group: what happened before it is swept in
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
            if self._gap():
                self._swept = False
            else:
                self._swept = True
        self._group_ok = True

    def _gap(self) -> bool:
        """The feed lost entries the group had not read (trimmed while the archiver was away)."""
        info = self.r.xinfo_stream(keys.FEED)
        group = next((g for g in self.r.xinfo_groups(keys.FEED)
                      if g["name"] == keys.ARCHIVE_GROUP), None)
        if group is None:
            return False
        seen = _sid(group["last-delivered-id"])
        if int(info.get("entries-added") or 0) <= int(info.get("length") or 0):
            return False            # never trimmed
        first = info.get("first-entry")
        if not first:               # trimmed empty: lost whatever came after what it read
            return _sid(info["last-generated-id"]) > seen
        # the oldest entry left is newer than what the group read: maybe some went unread
        # (a false alarm costs a sweep, a missed one a case never archived)
        return _sid(first[0]) > seen

    def _read(self, block_ms: int) -> list[tuple[str, dict]]:
        if self._pending:
            # what this consumer was given and never acknowledged (it crashed), then what a
            # consumer gone for ``claim_idle_ms`` holds
            got = self._xread("0", None)
            if got:
                return got
            claimed = self.r.xautoclaim(keys.FEED, keys.ARCHIVE_GROUP, self.consumer,
                                        self.claim_idle_ms, "0-0", count=self.batch)
            self._pending = False
            if claimed[1]:
                return [(eid, f) for eid, f in claimed[1] if f is not None]
        return self._xread(">", block_ms or None)

    def _xread(self, start: str, block_ms: int | None) -> list[tuple[str, dict]]:
        res = self.r.xreadgroup(keys.ARCHIVE_GROUP, self.consumer, {keys.FEED: start},
                                count=self.batch, block=block_ms)
        if not res:
            return []
        entries = res[0][1] if isinstance(res, list) else next(iter(res.values()))[0]
        # an entry trimmed from the stream while pending comes back without fields: nothing to
        # read, acknowledged (the sweep copies what the feed lost)
        return [(eid, f or {}) for eid, f in entries]

    # --- writing the record -------------------------------------------------------------------------
    def archive(self, ids: list[str]) -> None:
        """Copy these incidents (newest snapshot + audit tail) in one PostgreSQL transaction."""
        conn = self._connection()
        try:
            self._archive(conn, ids)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as e:
            # bad data in the batch: one by one, so that only the rows at fault are set aside
            conn.rollback()
            if len(ids) == 1:
                self._reject(conn, ids[0], str(e))
                return
            for i in ids:
                self.archive([i])

    def _archive(self, conn: psycopg.Connection, ids: list[str]) -> None:
        with conn.transaction():
            last = {i: (seq, sid) for i, seq, sid in conn.execute(_LAST_AUDIT, (ids,))}
            pipe = self.r.pipeline(transaction=True)   # one snapshot of hashes and trails
            for i in ids:
                pipe.hgetall(keys.incident(i))
                pipe.xrange(keys.audit(i), min=f"({last[i][1]}" if i in last else "-")
            got = pipe.execute()
            incs, tasks, audit = [], [], []
            for k, i in enumerate(ids):
                h, tail = got[2 * k], got[2 * k + 1]
                if h:
                    try:
                        inc = Incident.from_hash(h)
                    except (ValueError, TypeError, KeyError) as e:
                        self._reject_row(conn, i, f"无法读取事件 / unreadable hash: {e}", h)
                        continue
                    incs.append(rows.incident_row(inc))
                    tasks += rows.task_rows(inc)
                else:
                    self.stats["gone"] += 1    # not in Redis (any more): nothing newer to copy
                seq = last[i][0] if i in last else 0
                for sid, raw in tail:
                    seq += 1
                    audit.append(rows.audit_row(i, seq, sid, raw))
            with conn.cursor() as cur:
                if incs:
                    cur.executemany(rows.UPSERT_INCIDENT, incs)
                if tasks:
                    cur.executemany(rows.UPSERT_TASK, tasks)
                if audit:
                    cur.executemany(rows.INSERT_AUDIT, audit)
        self.stats["incidents"] += len(incs)
        self.stats["audit"] += len(audit)
        self.stats["batches"] += 1

    def _reject(self, conn: psycopg.Connection, incident_id: str, reason: str) -> None:
        h = self.r.hgetall(keys.incident(incident_id))
        with conn.transaction():
            self._reject_row(conn, incident_id, reason, h)

    def _reject_row(self, conn: psycopg.Connection, key: str, reason: str, raw: dict) -> None:
        conn.execute(rows.INSERT_REJECT, ("incident", key, reason[:2000],
                                          orjson.dumps(raw, default=str).decode()))
        self.stats["rejected"] += 1
        log.error("归档拒收 archive rejected incident %s: %s", key, reason)

    # --- catching up --------------------------------------------------------------------------
    def sweep(self, page: int = 1000) -> int:
        """Copy every incident whose Redis version is newer than the record's (or missing
        there): the catch-up after a feed gap or when the archiver starts on an existing
        Redis. Returns how many incidents it copied."""
        conn = self._connection()
        copied = start = 0
        while True:
            ids = self.r.zrange(keys.ALL, start, start + page - 1)
            if not ids:
                break
            start += len(ids)
            pipe = self.r.pipeline(transaction=False)
            for i in ids:
                pipe.hget(keys.incident(i), "version")
            live = {i: int(v) for i, v in zip(ids, pipe.execute(), strict=True) if v}
            with conn.transaction():
                held = dict(conn.execute("SELECT id, version FROM incidents WHERE id = ANY(%s)",
                                         (list(live),)).fetchall())
            behind = [i for i, v in live.items() if held.get(i, 0) < v]
            for chunk in _chunks(behind, self.batch):
                self.archive(chunk)
            copied += len(behind)
        self.stats["swept"] += copied
        return copied

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
            self._conn.autocommit = True    # each ``transaction()`` block is BEGIN … COMMIT
        return self._conn

    def _drop_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def _feed_id(f: dict) -> str:
    try:
        return str(feed_fields(f).get("id") or "")
    except (orjson.JSONDecodeError, TypeError):
        return ""


def _chunks(seq: list[str], n: int) -> Iterable[list[str]]:
    for k in range(0, len(seq), n):
        yield seq[k:k + n]


__all__ = ["Archiver", "Connect"]
