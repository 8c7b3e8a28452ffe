"""NotifyWorker (通知发送): what ``onemap notify`` runs (and ``onemap demo`` in a thread).

Each pass: deferred deliveries whose time has come go back into the outbox; due escalation
steps run; new work on the incident feed (a new case for a center, a case escalated to one)
becomes notifications to the center's watch (``FeedWatcher``: the lowest-touch hook, the
incident service is not edited); then outbox entries are sent through the channels.

Sending is at least once and never twice where the channel can tell: ``sending`` (with the
attempt and the idempotency key) is recorded before the send and ``sent`` after, and the
stream entry is acknowledged only then. A worker killed mid-send leaves its entry pending: a
restart under the same name reads its own pending entries first, any other worker takes them
over after ``NOTIFY_RECLAIM_IDLE_MS``; both send again with the same key (the SMS gateway's
``out_id``, the inbox's seen-set), so the person gets it once. Quiet hours and the per-person
rate limit hold non-priority SMS/e-mail (deferred, never dropped); a failing channel is retried
with backoff and, after the last try, kept in the failed stream with its reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

import orjson
import redis

from grid.categories import category_name
from incidents import defaults as D
from incidents import keys
from incidents.duty import CST, Roster
from incidents.feed import fields as feed_fields
from incidents.incident import FINAL_STATES
from incidents.notify.chains import Chains
from incidents.notify.model import PermanentError, Sender, TransientError
from incidents.notify.outbox import Contacts, NotifyConfig, Outbox
from incidents.vocab import Action

log = logging.getLogger("onemap.notify")

EXTERNAL = frozenset({"sms", "email"})
"""Channels that quiet hours and rate limits hold (in-app always goes)."""

NEW_WORK_ACTIONS = frozenset({Action.REPORT.value, Action.ESCALATE.value})
"""Feed actions that give a center new work (a new case; a case escalated up to it)."""


class FeedWatcher:
    """新工作 → 值班: reads the incident feed in consumer group ``notify`` and starts the
    notifications of each case that arrives at a center (new, or escalated to it)."""

    def __init__(self, r: redis.Redis, chains: Chains, consumer: str) -> None:
        self.r = r
        self.chains = chains
        self.consumer = consumer
        self._own_pending = True   # a restart first finishes what it had read (enqueue dedups)
        self._last_claim = 0.0

    def ensure_group(self) -> None:
        try:   # from now on: a worker started late does not page people for old cases
            self.r.xgroup_create(keys.FEED, keys.NOTIFY_FEED_GROUP, id="$", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def poll(self, count: int = 200) -> int:
        entries: list = []
        if self._own_pending:
            got = self.r.xreadgroup(keys.NOTIFY_FEED_GROUP, self.consumer, {keys.FEED: "0"}, count=count)
            entries = got[0][1] if got else []
            self._own_pending = bool(entries)
        if not entries and time.monotonic() - self._last_claim > 5.0:
            self._last_claim = time.monotonic()      # a dead notifier's unfinished feed entries
            res = self.r.xautoclaim(keys.FEED, keys.NOTIFY_FEED_GROUP, self.consumer,
                                    D.NOTIFY_RECLAIM_IDLE_MS, "0-0", count=count)
            entries = res[1] if res else []
        if not entries:
            got = self.r.xreadgroup(keys.NOTIFY_FEED_GROUP, self.consumer, {keys.FEED: ">"}, count=count)
            entries = got[0][1] if got else []
        n = 0
        for entry_id, raw in entries:
            try:
                if raw:          # an entry trimmed from the feed comes back empty
                    n += self._one(feed_fields(raw))
            except Exception:  # noqa: BLE001 (one bad entry must not stop the notifier)
                log.exception("feed entry %s", entry_id)
            self.r.xack(keys.FEED, keys.NOTIFY_FEED_GROUP, entry_id)
        return n

    def _one(self, e: dict) -> int:
        actions = set(e.get("steps") or []) | {e.get("action", "")}
        if not actions & NEW_WORK_ACTIONS or not e.get("center") or e.get("state") in FINAL_STATES:
            return 0
        iid, center = e["id"], e["center"]
        title, priority, severity, category = self.r.hmget(
            keys.incident(iid), ["title", "priority", "severity", "category"])
        severity = severity or e.get("severity") or "一般"
        category = category or e.get("category") or ""
        what = "新事件" if Action.REPORT.value in actions else "上报事件"
        name = title or category_name(category)
        ts = float(e.get("ts") or 0) / 1000.0 or None
        self.chains.new_work(
            f"inc:{iid}:{center}", center, subject=f"【{severity}】{what}：{name}",
            body=f"{name}（{iid}）已到{center}，请及时处置。", category=category,
            severity=severity, priority=int(priority or 0),
            params={"id": iid, "title": name, "severity": severity, "center": center},
            trigger_ts=ts)
        return 1


class NotifyWorker:
    """Outbox sender + escalation + feed hook for one process; ``run(stop)`` blocks until set."""

    def __init__(self, r: redis.Redis, senders: Mapping[str, Sender], *,
                 config: NotifyConfig | None = None, clock: Callable[[], float] = time.time,
                 name: str = "notify", roster: Roster | None = None, watch_feed: bool = True,
                 block_ms: int = 200) -> None:
        self.r = r
        self.senders = dict(senders)
        self.config = config or NotifyConfig()
        self.clock = clock
        self.name = name
        self.block_ms = block_ms
        self.outbox = Outbox(r, clock)
        self.contacts = Contacts(r)
        self.roster = roster if roster is not None else Roster(r, clock)
        self.chains = Chains(r, self.outbox, self.roster, self.config, clock)
        self.feed = FeedWatcher(r, self.chains, name) if watch_feed else None
        self.stats: Counter[str] = Counter()
        self._own_pending = True     # first read this consumer's own pending entries (a restart)
        self._last_claim = 0.0
        self._last_compact = time.monotonic()

    def ensure_groups(self) -> None:
        try:
            self.r.xgroup_create(keys.NOTIFY_OUTBOX, keys.NOTIFY_GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        if self.feed is not None:
            self.feed.ensure_group()

    def run(self, stop: threading.Event) -> None:
        self.ensure_groups()
        while not stop.is_set():
            try:
                self.step(self.block_ms)
            except redis.ConnectionError as e:
                log.warning("notify: redis unavailable (%s); retrying", e)
                stop.wait(1.0)
            except Exception:  # noqa: BLE001 (nothing crashes the notifier: logged, counted)
                self.stats["errors"] += 1
                log.exception("notify pass failed")
                stop.wait(0.5)

    def step(self, block_ms: int = 0) -> int:
        """One pass; returns how many deliveries were handled."""
        now = self.clock()
        self.stats["released"] += self.outbox.release_due(now)
        self.stats["escalations"] += self.chains.tick()
        if self.feed is not None:
            self.stats["new_work"] += self.feed.poll()
        if time.monotonic() - self._last_compact > 60.0:
            self._last_compact = time.monotonic()
            self.stats["compacted"] += self.outbox.compact()
        entries: list = []
        if self._own_pending:
            got = self.r.xreadgroup(keys.NOTIFY_GROUP, self.name, {keys.NOTIFY_OUTBOX: "0"}, count=100)
            entries = got[0][1] if got else []
            self._own_pending = bool(entries)
        if not entries and time.monotonic() - self._last_claim > 5.0:
            self._last_claim = time.monotonic()
            res = self.r.xautoclaim(keys.NOTIFY_OUTBOX, keys.NOTIFY_GROUP, self.name,
                                    D.NOTIFY_RECLAIM_IDLE_MS, "0-0", count=100)
            entries = res[1] if res else []
            self.stats["reclaimed"] += len(entries)
        if not entries:
            got = self.r.xreadgroup(keys.NOTIFY_GROUP, self.name, {keys.NOTIFY_OUTBOX: ">"},
                                    count=100, block=block_ms or None)
            entries = got[0][1] if got else []
        for entry_id, raw in entries:
            if raw:      # a trimmed entry comes back as None
                self._deliver(raw.get("d", ""))
            self.r.xack(keys.NOTIFY_OUTBOX, keys.NOTIFY_GROUP, entry_id)
        return len(entries)

    def drain(self, max_passes: int = 50) -> None:
        """Run passes until nothing is left to do now (tests and the bench, injected clock)."""
        for _ in range(max_passes):
            if not self.step(0) and not self.r.zcount(keys.NOTIFY_LATER, "-inf", self.clock()):
                return

    # --- one delivery ---------------------------------------------------------------------------
    def _deliver(self, did: str) -> None:
        d = self.outbox.delivery(did)
        if not d or d.get("status") in ("sent", "failed", "skipped"):
            self.stats["already_done"] += 1
            return
        key = keys.notify_delivery(did)
        now = self.clock()
        ch = d["channel"]
        resend = d.get("status") == "sending"        # killed mid-send: same key, no new checks
        if not resend:
            hold, why = self._hold(d, now)
            if hold:
                self._defer(d, hold, why, "deferred")
                return
        sender = self.senders.get(ch)
        address = self.contacts.address(d["person"], ch)
        if sender is None or not address:
            reason = "渠道未配置 (channel not configured)" if sender is None else "无联系方式 (no address)"
            self._give_up(d, "skipped", reason)
            return
        attempt = int(d.get("attempts") or 0) + 1
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"status": "sending", "attempts": attempt, "idem": did,
                                "sending_ts": now})
        self.outbox.audit("sending", pipe, did=did, event=d["event"], person=d["person"],
                          channel=ch, attempt=attempt, idem=did, resend=resend)
        pipe.execute()
        try:
            receipt = sender.send(self.outbox.message(d, address))
        except TransientError as e:
            self.stats[f"{ch}_transient"] += 1
            retry = self.config.retry_s
            if attempt > len(retry):
                self._give_up(d, "failed", f"重试{attempt}次仍失败: {e}")
            else:
                self._defer(d, now + retry[attempt - 1], f"发送失败，稍后重试: {e}", "retry")
            return
        except Exception as e:  # noqa: BLE001 (PermanentError or a bug: kept with its reason)
            why = str(e) if isinstance(e, PermanentError) else f"{type(e).__name__}: {e}"
            log.warning("notify: %s to %s given up: %s", ch, d["person"], why)
            self._give_up(d, "failed", why)
            return
        done = self.clock()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"status": "sent", "sent_ts": done, "receipt": str(receipt)[:200]})
        pipe.expire(key, D.NOTIFY_KEEP_S)
        self.outbox.audit("sent", pipe, did=did, event=d["event"], person=d["person"], channel=ch,
                          attempt=attempt, receipt=str(receipt)[:200])
        pipe.execute()
        self.stats[f"{ch}_sent"] += 1

    def _hold(self, d: dict, now: float) -> tuple[float, str]:
        """(until, why) if quiet hours or the person's rate limit hold this delivery, else (0, "")."""
        if d.get("priority") == "1" or d["channel"] not in EXTERNAL:
            return 0.0, ""
        quiet = self.contacts.get(d["person"]).get("quiet") or self.config.quiet_hours
        until = _quiet_until(now, int(quiet[0]), int(quiet[1]))
        if until:
            return until, "免打扰时段 (quiet hours)"
        if int(d.get("attempts") or 0):       # a retry: already counted on its first attempt
            return 0.0, ""
        limit, window = self.config.rate_limit
        n = int(now // window)
        rk = keys.notify_rate(d["person"], n)
        pipe = self.r.pipeline(transaction=True)
        pipe.incr(rk)
        pipe.expire(rk, int(window * 2) + 1)
        count = pipe.execute()[0]
        if count > limit:
            return (n + 1) * window, f"频率限制 (over {limit} per {int(window)} s)"
        return 0.0, ""

    def _defer(self, d: dict, until: float, why: str, status: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.notify_delivery(d["did"]), mapping={"status": status, "reason": why,
                                                           "until": until})
        pipe.zadd(keys.NOTIFY_LATER, {d["did"]: until})
        self.outbox.audit(status, pipe, did=d["did"], person=d["person"], channel=d["channel"],
                          until=until, reason=why)
        pipe.execute()
        self.stats[status] += 1

    def _give_up(self, d: dict, status: str, why: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.notify_delivery(d["did"]), mapping={"status": status, "reason": why})
        pipe.expire(keys.notify_delivery(d["did"]), D.NOTIFY_KEEP_S)
        pipe.xadd(keys.NOTIFY_FAILED, {"e": orjson.dumps({
            "did": d["did"], "event": d["event"], "person": d["person"], "channel": d["channel"],
            "status": status, "reason": why, "ts": self.clock()})}, maxlen=100_000, approximate=True)
        self.outbox.audit(status, pipe, did=d["did"], person=d["person"], channel=d["channel"],
                          reason=why)
        pipe.execute()
        self.stats[status] += 1


def _quiet_until(now: float, start_h: int, end_h: int) -> float:
    """When quiet hours [start_h, end_h) (UTC+8) that contain ``now`` end; 0 if not quiet."""
    if start_h == end_h:
        return 0.0
    t = datetime.fromtimestamp(now, CST)
    h = t.hour + t.minute / 60
    inside = (start_h <= h < end_h) if start_h < end_h else (h >= start_h or h < end_h)
    if not inside:
        return 0.0
    end = t.replace(hour=end_h, minute=0, second=0, microsecond=0)
    if end.timestamp() <= now:
        end = datetime.fromtimestamp(end.timestamp() + 86400, CST)   # ends tomorrow morning
    return end.timestamp()


__all__ = ["FeedWatcher", "NotifyWorker"]
