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

A feed trimmed past what the archiver had read (it was stopped, or slowed, longer than the
feed's MAXLEN covers: checked before every batch), or a group created on a Redis that already
has incidents, is caught up by ``sweep``: every incident whose Redis version is newer than the
record's is copied.

The connection is opened by ``app/`` and handed in as ``connect`` (a function returning a new
psycopg 3 connection), so that the archiver can open another after a failure. The Redis client
must decode responses (``decode_responses=True``), as every OneMap client does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import orjson
import psycopg
import redis

from grid import keyspace
from incidents import keys
from incidents.feed import fields as feed_fields
from incidents.incident import Incident
from incidents.record import kpi_daily, places, rows, scope
from incidents.record.stream import Connect, Entry, StreamWorker, sid

log = logging.getLogger(__name__)

_LAST_AUDIT = """
SELECT DISTINCT ON (incident_id) incident_id, seq, stream_id FROM incident_audit
WHERE city = %s AND incident_id = ANY(%s) ORDER BY incident_id, seq DESC
"""


class Archiver(StreamWorker):
    """归档: the feed → the record. ``run(stop)`` until stopped; ``drain()`` once (tests, CLI);
    the loop, retries and pending entries are ``StreamWorker``'s."""

    stream = keys.FEED
    group = keys.ARCHIVE_GROUP

    def __init__(self, r: redis.Redis, connect: Connect, **kw) -> None:
        super().__init__(r, connect, **kw)
        self.stream = keys.FEED      # the city it was made for (grid/keyspace.py: self.city)
        self._swept = False

    def created(self, new_group: bool) -> None:
        # a new group: what happened before it is swept in; an old one: only after a gap
        self._swept = not (new_group or self._gap())

    def step(self, block_ms: int = 0) -> int:
        with keyspace.use(self.city):
            self._ensure_group()
            # a gap while running too: at the full rate a feed capped at 10,000 entries is
            # trimmed in seconds, so an archiver slowed by a busy PostgreSQL falls past it
            if not self._swept or self._gap():
                self.sweep()
                self._swept = True
        return super().step(block_ms)

    def handle(self, entries: list[Entry]) -> None:
        ids: dict[str, None] = {}       # incident ids in order of first appearance
        bad = []
        for eid, f in entries:
            iid = _feed_id(f)
            if iid:
                ids[iid] = None
            elif f:                     # (no fields: trimmed while pending, nothing to keep)
                bad.append((eid, f))
        if bad:                         # kept with the reason, where an operator sees them
            conn = self.connection()
            with conn.transaction():
                for eid, f in bad:
                    self._reject_row(conn, eid, "动态条目无事件编号 / feed entry without an "
                                     "incident id", f, source="feed")
        if ids:
            self.archive(list(ids))

    def _gap(self) -> bool:
        """The feed lost entries the group had not read (trimmed while the archiver was away)."""
        info = self.r.xinfo_stream(keys.FEED)
        group = next((g for g in self.r.xinfo_groups(keys.FEED)
                      if g["name"] == keys.ARCHIVE_GROUP), None)
        if group is None:
            return False
        seen = sid(group["last-delivered-id"])
        if int(info.get("entries-added") or 0) <= int(info.get("length") or 0):
            return False            # never trimmed
        first = info.get("first-entry")
        if not first:               # trimmed empty: lost whatever came after what it read
            return sid(info["last-generated-id"]) > seen
        # the oldest entry left is newer than what the group read: maybe some went unread
        # (a false alarm costs a sweep, a missed one a case never archived)
        return sid(first[0]) > seen

    # --- writing the record -------------------------------------------------------------------------
    def archive(self, ids: list[str]) -> None:
        """Copy these incidents (newest snapshot + audit tail) in one PostgreSQL transaction."""
        conn = self.connection()
        try:
            with keyspace.use(self.city):
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
            last = {i: (seq, eid) for i, seq, eid in conn.execute(_LAST_AUDIT, (self.city, ids))}
            pipe = self.r.pipeline(transaction=True)   # one snapshot of hashes and trails
            for i in ids:
                pipe.hgetall(keys.incident(i))
                pipe.xrange(keys.audit(i), min=f"({last[i][1]}" if i in last else "-")
            got = pipe.execute()
            incs, tasks, audit = [], [], []
            for k, i in enumerate(ids):
                h, tail = _mapping(got[2 * k]), got[2 * k + 1]
                if h:
                    try:
                        inc = Incident.from_hash(h)
                    except (ValueError, TypeError, KeyError) as e:
                        self._reject_row(conn, i, f"无法读取事件 / unreadable hash: {e}", h)
                        continue
                    incs.append(rows.incident_row(inc, self.city))
                    tasks += rows.task_rows(inc, self.city)
                else:
                    self.stats["gone"] += 1    # not in Redis (any more): nothing newer to copy
                seq = last[i][0] if i in last else 0
                for eid, raw in tail:
                    seq += 1
                    audit.append(rows.audit_row(i, seq, eid, _mapping(raw), self.city))
            write_rows(conn, incs, tasks, audit, self.city)
        self.stats["incidents"] += len(incs)
        self.stats["audit"] += len(audit)
        self.stats["batches"] += 1

    def _reject(self, conn: psycopg.Connection, incident_id: str, reason: str) -> None:
        with keyspace.use(self.city):
            h = self.r.hgetall(keys.incident(incident_id))
        with conn.transaction():
            self._reject_row(conn, incident_id, reason, h)

    def _reject_row(self, conn: psycopg.Connection, key: str, reason: str, raw: dict,
                    source: str = "incident") -> None:
        conn.execute(rows.INSERT_REJECT, (source, key, reason[:2000],
                                          orjson.dumps(raw, default=str).decode(), self.city))
        self.stats["rejected"] += 1
        log.error("归档拒收 archive rejected %s %s: %s", source, key, reason)

    # --- catching up --------------------------------------------------------------------------
    def sweep(self, page: int = 1000) -> int:
        """Copy every incident whose Redis version is newer than the record's (or missing
        there): the catch-up after a feed gap or when the archiver starts on an existing
        Redis. Returns how many incidents it copied."""
        with keyspace.use(self.city):
            return self._sweep(page)

    def _sweep(self, page: int) -> int:
        conn = self.connection()
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
                held = dict(conn.execute("SELECT id, version FROM incidents WHERE city = %s "
                                         "AND id = ANY(%s)", (self.city, list(live))).fetchall())
            behind = [i for i, v in live.items() if held.get(i, 0) < v]
            for chunk in _chunks(behind, self.batch):
                self.archive(chunk)
            copied += len(behind)
        self.stats["swept"] += copied
        return copied


def bulk_load(conn: psycopg.Connection, items: Iterable[tuple[Incident, list[Entry]]],
              city: str | None = None) -> tuple[int, int]:
    """归档导入: incidents with their whole audit trails (stream id, fields) straight into the
    record of ``city`` (default: the city the code works for, ``scope.writer_city``), from the
    feed path's own rows (``rows.incident_row``/``task_rows``/``audit_row``) COPYed into
    temporary tables, then upserted with the same keys and version guard (``COPY_UPSERTS``:
    idempotent, a repeat changes nothing), in one transaction: history Redis never held (an
    older system's cases, ``bench/history.py``'s year). Returns (incidents, audit entries)."""
    city = scope.writer_city() if city is None else city
    incs, tasks, audit = [], [], []
    for inc, trail in items:
        incs.append(rows.incident_row(inc, city))
        tasks += rows.task_rows(inc, city)
        audit += [rows.audit_row(inc.id, seq, eid, raw, city)
                  for seq, (eid, raw) in enumerate(trail, 1)]
    with conn.transaction():
        write_rows(conn, incs, tasks, audit, city, copy=True)
    return len(incs), len(audit)


_STAGE_TYPES = ", ".join(f"{c} timestamptz" for c in rows.STAGE_COLUMNS.values())
_STAGING = {
    "incidents": f"""CREATE TEMP TABLE IF NOT EXISTS bulk_incidents (id text, version integer,
        kind text, state text, category text, severity text, channel text, center text,
        reporter_center text, tier text, centers text[], town_code text, village_code text,
        cell_code text, priority integer, lon float8, lat float8, created_at timestamptz,
        updated_at timestamptz, {_STAGE_TYPES}, record jsonb, city text) ON COMMIT DELETE ROWS""",
    "tasks": """CREATE TEMP TABLE IF NOT EXISTS bulk_tasks (incident_id text, n integer,
        version integer, center text, state text, handler text, dispatched_at timestamptz,
        started_at timestamptz, handled_at timestamptz, due_at timestamptz, record jsonb,
        city text) ON COMMIT DELETE ROWS""",
    "audit": """CREATE TEMP TABLE IF NOT EXISTS bulk_audit (incident_id text, seq integer,
        stream_id text, ts timestamptz, actor text, action text, entry jsonb, city text)
        ON COMMIT DELETE ROWS""",
}
_STAGES = ", ".join(rows.STAGE_COLUMNS.values())
COPY_UPSERTS = {
    "incidents": f"""INSERT INTO incidents (id, version, kind, state, category, severity, channel,
    center, reporter_center, tier, centers, town_code, village_code, cell_code, priority, geom,
    created_at, updated_at, {_STAGES}, record, city)
SELECT DISTINCT ON (city, id) id, version, kind, state, category, severity, channel, center,
    reporter_center, tier, centers, town_code, village_code, cell_code, priority,
    ST_SetSRID(ST_MakePoint(lon, lat), 4326), created_at, updated_at, {_STAGES}, record, city
FROM bulk_incidents ORDER BY city, id, version DESC
{rows.UPSERT_INCIDENT[rows.UPSERT_INCIDENT.index("ON CONFLICT"):]}""",
    "tasks": f"""INSERT INTO incident_tasks (incident_id, n, version, center, state, handler,
    dispatched_at, started_at, handled_at, due_at, record, city)
SELECT DISTINCT ON (city, incident_id, n) * FROM bulk_tasks ORDER BY city, incident_id, n, version DESC
{rows.UPSERT_TASK[rows.UPSERT_TASK.index("ON CONFLICT"):]}""",
    "audit": """INSERT INTO incident_audit (incident_id, seq, stream_id, ts, actor, action, entry, city)
SELECT * FROM bulk_audit ON CONFLICT DO NOTHING""",
}
"""The bulk path's upserts from its COPYed temporary tables: the feed path's conflict keys and
version guard (``rows.UPSERT_INCIDENT``/``UPSERT_TASK``/``INSERT_AUDIT``)."""


_DIRECT = {
    "incidents": f"""COPY incidents (id, version, kind, state, category, severity, channel, center,
    reporter_center, tier, centers, town_code, village_code, cell_code, priority, geom, created_at,
    updated_at, {_STAGES}, record, city) FROM STDIN""",
    "tasks": """COPY incident_tasks (incident_id, n, version, center, state, handler, dispatched_at,
    started_at, handled_at, due_at, record, city) FROM STDIN""",
    "audit": """COPY incident_audit (incident_id, seq, stream_id, ts, actor, action, entry, city)
    FROM STDIN""",
}
"""A batch the record holds nothing of yet (an import's usual case) is COPYed straight into the
tables: no temporary table, no conflict handling (the keys' unique indexes still guard)."""

_HELD_ANY = """
SELECT EXISTS (SELECT 1 FROM incidents WHERE city = %(city)s AND id = ANY(%(ids)s))
    OR EXISTS (SELECT 1 FROM incident_audit WHERE city = %(city)s AND incident_id = ANY(%(ids)s))
"""
_LON = rows.INCIDENT_COLUMNS.index("lon")


def _point(row: tuple) -> tuple:
    """An incident row with its lon/lat as the ``geom`` column's EWKT (COPY's text input)."""
    lon, lat = row[_LON], row[_LON + 1]
    geom = None if lon is None else f"SRID=4326;POINT({lon!r} {lat!r})"
    return (*row[:_LON], geom, *row[_LON + 2:])


def _copy_fresh(conn: psycopg.Connection, incs: list, tasks: list, audit: list, city: str) -> bool:
    """COPY a batch straight into the tables when the record holds none of its incidents (in a
    savepoint: a concurrent writer of the same ids makes it fall back). False: not fresh."""
    ids = sorted({r[0] for r in incs} | {r[0] for r in audit})
    if conn.execute(_HELD_ANY, {"city": city, "ids": ids}).fetchone()[0]:
        return False
    try:
        with conn.transaction(), conn.cursor() as cur:
            for what, data in (("incidents", [_point(r) for r in incs]), ("tasks", tasks),
                               ("audit", audit)):
                if data:
                    with cur.copy(_DIRECT[what]) as cp:
                        for row in data:
                            cp.write_row(row)
    except psycopg.errors.UniqueViolation:
        return False
    return True


def _copy(cur: psycopg.Cursor, what: str, data: list) -> None:
    cur.execute(_STAGING[what])
    table = {"incidents": "bulk_incidents", "tasks": "bulk_tasks", "audit": "bulk_audit"}[what]
    with cur.copy(f"COPY {table} FROM STDIN") as cp:
        for row in data:
            cp.write_row(row)
    cur.execute(COPY_UPSERTS[what])


def write_rows(conn: psycopg.Connection, incs: list, tasks: list, audit: list, city: str = "",
               *, copy: bool = False) -> None:
    """The rows of a batch of ``city``, in the caller's transaction: incidents and sub-tasks
    upserted by (city, id) and version, audit entries inserted by (city, incident, seq) (a repeat
    changes nothing), and the ``kpi_daily`` rows of the (center, day) groups the incidents were
    and are in and the ``place_daily`` rows of those days, recomputed. ``copy`` (the bulk path:
    many rows at once): COPY, straight into the tables when the record holds none of the batch
    (``_copy_fresh``), else through temporary tables and the upserts; else one statement per
    row."""
    groups = kpi_daily.held(conn, [r[0] for r in incs], city) | kpi_daily.groups_of(incs)
    if copy and _copy_fresh(conn, incs, tasks, audit, city):
        incs = tasks = audit = []           # all in: only the daily rows are left to count
    with conn.cursor() as cur:
        for what, data, sql in (("incidents", incs, rows.UPSERT_INCIDENT),
                                ("tasks", tasks, rows.UPSERT_TASK),
                                ("audit", audit, rows.INSERT_AUDIT)):
            if not data:
                continue
            if copy:
                _copy(cur, what, data)
            else:
                cur.executemany(sql, data)
    kpi_daily.refresh(conn, groups, city)
    places.refresh_daily(conn, {day for _, day in groups}, city)


def _mapping(raw: dict | list) -> dict:
    """A hash or a stream entry's fields as a dict: a Redis Cluster's MULTI pipeline gives them
    as the server's flat [field, value, …] list (no response callback on its transactions)."""
    if isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=True)) if raw else {}


def _feed_id(f: dict) -> str:
    try:
        return str(feed_fields(f).get("id") or "")
    except (orjson.JSONDecodeError, TypeError):
        return ""


def _chunks(seq: list[str], n: int) -> Iterable[list[str]]:
    for k in range(0, len(seq), n):
        yield seq[k:k + n]


__all__ = ["Archiver", "Connect", "bulk_load"]
