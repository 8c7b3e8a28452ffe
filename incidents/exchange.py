"""上报省平台: the outbox of the upper-platform exchange (issue 18; T30–T36, SEC42–SEC46).

What goes up, in what order, and how far each item got. The delivery itself (HTTP, signing) is
the composition root's (``app/exchange_client.py``); this module holds the meaning:

- **Items.** One per thing sent up, each with an idempotency key (``key``: the upper platform
  drops a key it has already seen, so a retry never reports twice), the incident it belongs to
  and its ``seq`` within that incident.
- **Order per incident.** Each incident has a queue (``keys.exchange_queue``); only its head is
  ever in flight (``claim`` takes the head and leases the incident), the next item goes once the
  head is delivered or given up. Different incidents go in parallel.
- **States.** ``pending`` → ``sending`` → ``delivered``, or ``failed`` with its reason, its
  attempt count and the next attempt (exponential backoff); ``failed`` with no next attempt is
  given up (a permanent refusal or too many attempts) and shown on /ops, where ``retry`` queues
  it again. Nothing is dropped.
- **Rules** (``ExchangeRules``): cases of 重大 and above go up on acceptance and on every state
  change after it; every approved 首报/续报/终报 (``keys.REPORTS_UP_OUTBOX``, written by
  ``incidents.reports_upward``) goes up; a manual 上报省平台 from the console feeds the same
  outbox (``push_manual``).

Redis is passed in, the clock is injected (tests move time).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
import redis

from incidents import defaults as D
from incidents import keys
from incidents.feed import fields as feed_fields
from incidents.vocab import State

log = logging.getLogger(__name__)

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
STATE_NAMES: dict[str, str] = {PENDING: "待发送", SENDING: "发送中", DELIVERED: "已送达",
                               FAILED: "失败"}
KIND_NAMES: dict[str, str] = {"state": "事件状态", "report": "信息报送", "manual": "人工上报"}
ITEMS_KEPT = 50_000
"""Items listed in ``keys.EXCHANGE_ITEMS`` (the index is trimmed, delivered items expire)."""
DELIVERED_TTL_S = 30 * 86400
"""A delivered item's hash is kept this long (the record of what went up). Demo default."""


@dataclass(frozen=True)
class ExchangeRules:
    """Which cases and reports go up automatically (configurable; demo defaults).

    ``severities``: cases of these severities go up on acceptance and every state change after
    (default 重大 and above); ``reports``: every approved 首报/续报/终报 goes up;
    ``backoff_s``/``backoff_cap_s``: the retry delay doubles from ``backoff_s`` up to the cap;
    ``max_attempts``: then the item is given up (shown on /ops, ``retry`` queues it again);
    ``lease_s``: how long one attempt may take before another worker may try the head again."""

    severities: frozenset[str] = field(default_factory=lambda: frozenset(D.MAJOR_SEVERITIES))
    reports: bool = True
    backoff_s: float = 2.0
    backoff_cap_s: float = 600.0
    max_attempts: int = 20
    lease_s: float = 60.0

    def backoff(self, attempts: int) -> float:
        """The wait before attempt ``attempts + 1`` (exponential, capped)."""
        return min(self.backoff_cap_s, self.backoff_s * 2 ** max(0, attempts - 1))


# Enqueue once per key (the key is the item's identity: a change seen twice is queued once).
# KEYS: item, queue, ready, items, stats, seq. ARGV: key, incident, kind, payload, now, kept.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local seq = redis.call('HINCRBY', KEYS[6], ARGV[2], 1)
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'incident', ARGV[2], 'kind', ARGV[3],
           'payload', ARGV[4], 'seq', seq, 'state', 'pending', 'attempts', 0, 'next_ts', ARGV[5],
           'created_ts', ARGV[5], 'reason', '')
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
if redis.call('ZCARD', KEYS[4]) > tonumber(ARGV[6]) then
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[6]) - 1)
end
redis.call('HINCRBY', KEYS[5], 'enqueued', 1)
redis.call('HINCRBY', KEYS[5], 'backlog', 1)
return seq
"""

# Take the head of every due incident's queue and lease the incident (its score moves to the
# lease's end), so no two attempts of one incident are ever in flight. KEYS: ready.
# ARGV: now, lease end, count, item key prefix, queue key prefix.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, inc in ipairs(ids) do
  local key = redis.call('LINDEX', ARGV[5] .. inc, 0)
  if key then
    redis.call('ZADD', KEYS[1], ARGV[2], inc)
    local item = ARGV[4] .. key
    redis.call('HSET', item, 'state', 'sending', 'lease_ts', ARGV[2])
    redis.call('HINCRBY', item, 'attempts', 1)
    table.insert(out, key)
  else
    redis.call('ZREM', KEYS[1], inc)
  end
end
return out
"""

# The outcome of one attempt. KEYS: item, queue, ready, stats.
# ARGV: key, incident, now, outcome (delivered|retry|give_up), reason, next attempt ts, ttl.
_DONE = """
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[1] then return 0 end
if ARGV[4] == 'retry' then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'reason', ARGV[5], 'next_ts', ARGV[6])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
  redis.call('HINCRBY', KEYS[4], 'failures', 1)
  return 1
end
redis.call('LPOP', KEYS[2])
if ARGV[4] == 'delivered' then
  redis.call('HSET', KEYS[1], 'state', 'delivered', 'done_ts', ARGV[3], 'next_ts', '')
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
  redis.call('HINCRBY', KEYS[4], 'delivered', 1)
else
  redis.call('HSET', KEYS[1], 'state', 'failed', 'reason', ARGV[5], 'done_ts', ARGV[3],
             'next_ts', '')
  redis.call('HINCRBY', KEYS[4], 'failures', 1)
  redis.call('HINCRBY', KEYS[4], 'gave_up', 1)
end
redis.call('HINCRBY', KEYS[4], 'backlog', -1)
if redis.call('LLEN', KEYS[2]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
else
  redis.call('ZREM', KEYS[3], ARGV[2])
end
return 1
"""


class Exchange:
    """The outbox (see the module docstring). ``r``: Redis (decoded responses)."""

    def __init__(self, r: redis.Redis, rules: ExchangeRules | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.rules = rules or ExchangeRules()
        self.clock = clock
        self._enqueue = r.register_script(_ENQUEUE)
        self._claim = r.register_script(_CLAIM)
        self._done = r.register_script(_DONE)

    # --- feeding the outbox ---------------------------------------------------------------
    def enqueue(self, key: str, incident_id: str, kind: str, payload: dict) -> int:
        """Queue one item behind the incident's others; returns its ``seq`` (0: the key was
        queued before — a change seen twice goes up once)."""
        if not key or len(key) > 200 or any(c.isspace() for c in key):
            raise ValueError(f"幂等键无效 {key!r} (bad idempotency key)")
        now = self.clock()
        return int(self._enqueue(
            keys=[keys.exchange_item(key), keys.exchange_queue(incident_id), keys.EXCHANGE_READY,
                  keys.EXCHANGE_ITEMS, keys.EXCHANGE_STATS, keys.EXCHANGE_SEQ],
            args=[key, incident_id, kind, orjson.dumps(payload).decode(), now, ITEMS_KEPT]))

    def push_manual(self, incident: dict, by: str) -> str:
        """人工上报省平台: the console's action, into the same outbox; returns the item key."""
        # one key per push (two pushes in one millisecond are two items)
        key = f"{incident['id']}:manual:{int(self.clock() * 1000)}-{uuid.uuid4().hex[:8]}"
        self.enqueue(key, incident["id"], "manual", {"incident": incident, "by": by})
        return key

    def on_change(self, entry_id: str, incident: dict) -> int:
        """Rule: a case of the configured severities goes up on acceptance and every state
        change after it (one item per new state; notes and other same-state changes don't)."""
        state = incident.get("state")
        if incident.get("severity") not in self.rules.severities or state == State.REPORTED:
            return 0
        if self.r.hget(keys.EXCHANGE_LAST_STATE, incident["id"]) == state:
            return 0
        seq = self.enqueue(f"{incident['id']}:state:{entry_id}", incident["id"], "state",
                           {"incident": incident})
        self.r.hset(keys.EXCHANGE_LAST_STATE, incident["id"], state)
        return seq

    def on_report(self, entry_id: str, report: dict) -> int:
        """Rule: every approved 首报/续报/终报 goes up (its id is the report's, so once)."""
        if not self.rules.reports:
            return 0
        return self.enqueue(f"report:{report['id']}", report["incident"], "report",
                            {"report": report})

    # --- delivering -----------------------------------------------------------------------
    def claim(self, count: int = 50) -> list[dict]:
        """The items to attempt now: the head of each due incident's queue, leased (state
        ``sending``) — never two of one incident at once."""
        now = self.clock()
        got = self._claim(keys=[keys.EXCHANGE_READY],
                          args=[now, now + self.rules.lease_s, count, keys.exchange_item(""),
                                keys.exchange_queue("")])
        return [it for k in got if (it := self.get(k)) is not None]

    def delivered(self, item: dict) -> bool:
        """送达: the upper platform acknowledged the item; the incident's next item is due."""
        return self._finish(item, "delivered", "", 0)

    def failed(self, item: dict, reason: str, *, permanent: bool = False) -> bool:
        """One attempt failed: retried after the backoff, or given up (``permanent``, or the
        attempts are spent) — kept with its reason and shown on /ops either way."""
        attempts = int(item.get("attempts") or 1)
        give_up = permanent or attempts >= self.rules.max_attempts
        nxt = 0.0 if give_up else self.clock() + self.rules.backoff(attempts)
        return self._finish(item, "give_up" if give_up else "retry", reason[:300], nxt)

    def _finish(self, item: dict, outcome: str, reason: str, next_ts: float) -> bool:
        return bool(self._done(
            keys=[keys.exchange_item(item["key"]), keys.exchange_queue(item["incident"]),
                  keys.EXCHANGE_READY, keys.EXCHANGE_STATS],
            args=[item["key"], item["incident"], self.clock(), outcome, reason, next_ts,
                  DELIVERED_TTL_S]))

    def retry(self, key: str) -> bool:
        """重新上报: queue a given-up item again (at the end of its incident's queue)."""
        it = self.get(key)
        if it is None or it["state"] != FAILED or it.get("next_ts"):
            return False
        self.r.hset(keys.exchange_item(key), mapping={"state": PENDING, "attempts": 0,
                                                      "next_ts": self.clock()})
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(keys.exchange_queue(it["incident"]), key)
        pipe.zadd(keys.EXCHANGE_READY, {it["incident"]: self.clock()}, nx=True)
        pipe.hincrby(keys.EXCHANGE_STATS, "backlog", 1)
        pipe.execute()
        return True

    # --- reading --------------------------------------------------------------------------
    def get(self, key: str) -> dict | None:
        """One item, its payload decoded; None if unknown (or expired after delivery)."""
        h = self.r.hgetall(keys.exchange_item(key))
        if not h:
            return None
        h["payload"] = orjson.loads(h.get("payload") or "{}")
        for f in ("seq", "attempts"):
            h[f] = int(h.get(f) or 0)
        for f in ("created_ts", "next_ts", "done_ts", "lease_ts"):
            h[f] = float(h[f]) if h.get(f) else None
        return h

    def items(self, count: int = 100) -> list[dict]:
        """The latest items, newest first."""
        got = self.r.zrevrange(keys.EXCHANGE_ITEMS, 0, count - 1)
        return [it for k in got if (it := self.get(k)) is not None]

    def stats(self) -> dict:
        """交换量: enqueued, delivered, failures (attempts), gave_up, backlog, inbound, refused;
        plus the incidents waiting and the oldest waiting item's age (s)."""
        s = {k: int(v) for k, v in self.r.hgetall(keys.EXCHANGE_STATS).items()}
        for k in ("enqueued", "delivered", "failures", "gave_up", "backlog", "inbound",
                  "inbound_refused"):
            s.setdefault(k, 0)
        s["incidents_waiting"] = self.r.zcard(keys.EXCHANGE_READY)
        oldest = self.r.zrange(keys.EXCHANGE_READY, 0, 0, withscores=True)
        s["next_attempt_ts"] = oldest[0][1] if oldest else None
        return s

    def given_up(self, count: int = 20) -> list[dict]:
        """Failed items no longer retried (for /ops), newest first."""
        return [it for it in self.items(500) if it["state"] == FAILED and not it["next_ts"]][:count]

    def count(self, name: str, n: int = 1) -> None:
        """Bump an exchange counter (inbound, inbound_refused…)."""
        self.r.hincrby(keys.EXCHANGE_STATS, name, n)


class ExchangeWatcher:
    """The automatic rules: reads the incident feed and the approved-reports stream (consumer
    group ``keys.EXCHANGE_GROUP``) and feeds the outbox. ``describe``: an incident id → its
    record (``Incident.to_dict()``) or None, passed in by the composition root."""

    def __init__(self, r: redis.Redis, exchange: Exchange, describe: Callable[[str], dict | None],
                 consumer: str = "exchange-1") -> None:
        self.r = r
        self.exchange = exchange
        self.describe = describe
        self.consumer = consumer
        self.stats = {"queued": 0, "errors": 0}

    def ensure_groups(self) -> None:
        # the feed from now on; the approved reports from the start (none is left behind)
        for stream, start in ((keys.FEED, "$"), (keys.REPORTS_UP_OUTBOX, "0")):
            try:
                self.r.xgroup_create(stream, keys.EXCHANGE_GROUP, id=start, mkstream=True)
            except redis.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise

    def tick(self, block_ms: int | None = None, count: int = 200) -> int:
        """Read new entries once (each acked after it is handled); returns the items queued."""
        got = self.r.xreadgroup(keys.EXCHANGE_GROUP, self.consumer,
                                {keys.FEED: ">", keys.REPORTS_UP_OUTBOX: ">"}, count=count,
                                block=block_ms)
        n = 0
        for stream, entries in got or []:
            for entry_id, raw in entries:
                try:
                    n += 1 if self._handle(stream, entry_id, raw) else 0
                except Exception:  # noqa: BLE001 (one bad entry must not stop the rules)
                    self.stats["errors"] += 1
                    log.exception("exchange: entry %s of %s", entry_id, stream)
                self.r.xack(stream, keys.EXCHANGE_GROUP, entry_id)
        self.stats["queued"] += n
        return n

    def _handle(self, stream: str, entry_id: str, raw: dict) -> int:
        if stream == keys.REPORTS_UP_OUTBOX:
            return self.exchange.on_report(entry_id, orjson.loads(raw["report"]))
        e = feed_fields(raw) if raw else {}
        if not e.get("id") or (e.get("severity") and
                               e["severity"] not in self.exchange.rules.severities):
            return 0
        inc = self.describe(e["id"])
        return self.exchange.on_change(entry_id, inc) if inc else 0

    def run(self, stop: threading.Event, block_ms: int = 1000) -> None:
        self.ensure_groups()
        while not stop.is_set():
            try:
                self.tick(block_ms)
            except redis.ConnectionError:
                stop.wait(1.0)       # Redis restarting (supervised): try again


def severities(names: Iterable[str]) -> frozenset[str]:
    """Configured severities, checked against the scheme (一般/较大/重大/特别重大)."""
    out = frozenset(names)
    bad = out - set(D.SEVERITIES)
    if bad:
        raise ValueError(f"未知的事件级别 {sorted(bad)} (unknown severities)")
    return out


__all__ = ["DELIVERED", "FAILED", "KIND_NAMES", "PENDING", "SENDING", "STATE_NAMES", "Exchange",
           "ExchangeRules", "ExchangeWatcher", "severities"]
