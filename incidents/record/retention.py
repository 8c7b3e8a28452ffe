"""保留期 (retention): a closed case leaves Redis once the record holds it (issue 20: Redis keeps
what is live, PostgreSQL is the record; SEC9/E32 trails kept for good in the record).

A closed (结案) or voided (作废) incident whose last change is older than the retention
(``incidents.defaults.RETENTION_DAYS``, ``Settings.retention_days``) leaves Redis — its hash,
its audit stream and its memberships of every index (``om:inc:all``, ``om:inc:geo:hist``, the
open/geo/town/overdue indexes it should already have left, ``om:inc:by:{reporter}``,
``om:inc:involved:{center}`` of every center involved and of its town's territory,
``om:inc:recover``) — ONLY once the record has confirmed it:

- the archived row's version ≥ the version Redis holds, and
- the archived trail holds as many entries as the Redis audit stream, ending with the same
  stream id (a refusal ``denied:*`` appended after the close has no feed entry: the retention
  asks the archiver to copy such a case first, and evicts it on a later pass).

The eviction of one case is one Lua script (``_EVICT``) guarded by what was confirmed: the same
version, still closed or voided, the same last audit entry. A case changed after the check (a
回访, a 重新打开, a refusal on its trail) is left alone and looked at again on the next pass, so
a reopened case is never evicted and nothing is ever in neither place: until the script runs
the case is whole in Redis, after it the record holds all of it. KPI counters are not touched
(``om:inc:kpi:*`` are per day, not per case). Reads by id fall through to the record
(``IncidentService.get``/``timeline``); ``list_queue(view="all")`` lists what Redis holds (open
cases and those closed within the retention); older history is the record's (SQL, docs/record.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

import psycopg
import redis

from grid import keyspace
from grid.model import town_center_code
from incidents import keys
from incidents.incident import FINAL_STATES, Incident
from incidents.record import scope
from incidents.record.stream import RETRY_FIRST_S, RETRY_MAX_S, Connect

log = logging.getLogger(__name__)

_EVICT = """
-- KEYS[1] the hash, KEYS[2] the audit stream, KEYS[3..] indexes the id is removed from
-- ARGV[1] id, ARGV[2] the confirmed version, ARGV[3] the confirmed last audit id, ARGV[4..] final states
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return 0 end
if v ~= ARGV[2] then return -1 end
local st = redis.call('HGET', KEYS[1], 'state')
local final = false
for i = 4, #ARGV do if st == ARGV[i] then final = true end end
if not final then return -2 end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local lid = ''
if last[1] then lid = last[1][1] end
if lid ~= ARGV[3] then return -3 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""

_HELD = """
SELECT i.id, i.version,
       (SELECT count(*) FROM incident_audit a WHERE a.city = i.city AND a.incident_id = i.id),
       (SELECT a.stream_id FROM incident_audit a WHERE a.city = i.city AND a.incident_id = i.id
        ORDER BY a.seq DESC LIMIT 1)
FROM incidents i WHERE i.city = %s AND i.id = ANY(%s)
"""


def index_keys(inc: Incident) -> list[str]:
    """Every index an incident may be a member of (keys catalogue, ``incidents.keys``; written
    by ``incidents.store.Store.prepare``): removed with the case."""
    out = [keys.ALL, keys.GEO_HIST, keys.GEO, keys.OPEN, keys.RECOVER, keys.overdue(inc.center)]
    if inc.reporter:
        out.append(keys.by_user(inc.reporter))
    if inc.town_code:
        out.append(keys.town(inc.town_code))
        out.append(keys.involved(town_center_code(inc.town_code)))
    out += [keys.involved(c) for c in inc.centers]
    return list(dict.fromkeys(out))


class Retention:
    """保留期: evicts closed cases the record confirmed, older than ``retention_s`` (by their
    last change, ``updated_ts``). ``run(stop)`` every ``every_s`` until stopped; ``pass_()``
    once (tests, bench). ``archive``: an archiver's ``archive(ids)`` (one of its own: a psycopg
    connection is not shared between threads), asked to copy a case the record lags behind on
    (then evicted on a later pass). ``clock``: injected (tests)."""

    def __init__(self, r: redis.Redis, connect: Connect, retention_s: float, *,
                 clock: Callable[[], float] = time.time,
                 archive: Callable[[list[str]], None] | None = None,
                 page: int = 1000, every_s: float = 60.0) -> None:
        self.r = r
        self.connect = connect
        self.retention_s = retention_s
        self.clock = clock
        self.archive = archive
        self.page = page
        self.every_s = every_s
        self.stats: Counter[str] = Counter()
        self._conn: psycopg.Connection | None = None
        self._evict = r.register_script(_EVICT)
        self.city = scope.writer_city()     # the city it was made for: its keys and rows

    # --- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop``; a failure is retried with a growing pause, never ends
        the loop (Redis or PostgreSQL away: nothing is evicted, which is safe)."""
        pause = RETRY_FIRST_S
        while not stop.is_set():
            try:
                self.pass_()
                pause = RETRY_FIRST_S
                stop.wait(self.every_s)
            except Exception as e:  # noqa: BLE001  (retention must never stop the archiver's process)
                self.close()
                self.stats["retries"] += 1
                log.warning("保留期清理重试 retention retries in %.1fs: %s", pause, e)
                stop.wait(pause)
                pause = min(pause * 2, RETRY_MAX_S)
        self.close()

    def pass_(self, limit: int = 100_000) -> int:
        """Evict every confirmed case past the retention (at most ``limit``); returns how many."""
        with keyspace.use(self.city):       # its city's keys, in whatever thread it runs
            return self._pass(limit)

    def _pass(self, limit: int) -> int:
        cutoff = self.clock() - self.retention_s
        evicted = offset = 0
        while evicted < limit:
            # by creation time: a case created after the cutoff cannot have been closed before it
            ids = self.r.zrangebyscore(keys.ALL, "-inf", int(cutoff), start=offset, num=self.page)
            if not ids:
                break
            due = self.due(ids, cutoff)
            confirmed = self.confirmed(due)
            lagging = [i.id for i in due if i.id not in confirmed]
            if lagging and self.archive is not None:
                self.archive(lagging)           # copied now, evicted on a later pass
                self.stats["archived"] += len(lagging)
            n = self.evict([(i, confirmed[i.id]) for i in due if i.id in confirmed])
            evicted += n
            offset += len(ids) - n             # what was evicted left the index
        return evicted

    # --- the steps ------------------------------------------------------------------------------
    def due(self, ids: list[str], cutoff: float) -> list[Incident]:
        """The cases among ``ids`` closed or voided with no change since ``cutoff``."""
        pipe = self.r.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(keys.incident(i))
        out = []
        for h in pipe.execute():
            if not h:
                continue
            try:
                inc = Incident.from_hash(h)
            except (ValueError, TypeError, KeyError):
                continue            # unreadable: the archiver keeps it in archive_rejects; stays
            if inc.state in FINAL_STATES and inc.updated_ts <= cutoff:
                out.append(inc)
        return out

    def confirmed(self, incs: list[Incident]) -> dict[str, str]:
        """id → the last audit stream id, for the cases the record holds whole: its version ≥
        Redis's, and its trail as long as the audit stream, ending with the same entry."""
        if not incs:
            return {}
        pipe = self.r.pipeline(transaction=True)     # one snapshot of the trails
        for i in incs:
            pipe.xlen(keys.audit(i.id))
            pipe.xrevrange(keys.audit(i.id), count=1)
        got = pipe.execute()
        conn = self.connection()
        held = {i: (v, n, last) for i, v, n, last in
                conn.execute(_HELD, (self.city, [i.id for i in incs])).fetchall()}
        out = {}
        for k, inc in enumerate(incs):
            n, tail = got[2 * k], got[2 * k + 1]
            last = tail[0][0] if tail else ""
            rec = held.get(inc.id)
            if rec and rec[0] >= inc.version and rec[1] == n and (rec[2] or "") == last:
                out[inc.id] = last
            else:
                self.stats["unconfirmed"] += 1
        return out

    def evict(self, cases: list[tuple[Incident, str]]) -> int:
        """Remove each case (one guarded script each); returns how many left Redis."""
        if not cases:
            return 0
        for attempt in (1, 2):
            pipe = self.r.pipeline(transaction=False)
            for inc, last in cases:
                self._evict(keys=[keys.incident(inc.id), keys.audit(inc.id), *index_keys(inc)],
                            args=[inc.id, str(inc.version), last, *sorted(FINAL_STATES)],
                            client=pipe)
            try:
                res = pipe.execute()
                break
            except redis.exceptions.NoScriptError:
                # a Redis Cluster's pipeline does not load the script first (a plain one does);
                # loaded, the pass is run again (each eviction is guarded: a repeat is a no-op)
                if attempt == 2:
                    raise
                self.r.script_load(_EVICT)
        n = sum(1 for x in res if x == 1)
        self.stats["evicted"] += n
        self.stats["changed"] += sum(1 for x in res if x in (-1, -2, -3))
        return n

    # --- the connection -------------------------------------------------------------------------
    def connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
            self._conn.autocommit = True
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


__all__ = ["Retention", "index_keys"]
