"""回访 (callback) after 结案: its deadline, its queue (回访待办) and its urging (E4 按时反馈回访,
E10 事件回访, issue 24).

A case of the public's channels (``HotlineConfig.channels``: 12345, 来访) that closes is due a
callback by the end (24:00, UTC+8) of the Nth working day after 结案 (``working_days``; a
working-day calendar: weekends skipped, a deployment's 法定节假日 ``holidays`` skipped, its 调休
``workdays`` counted). The desk (``CallbackDesk``) learns of closings from the incident feed
(``keys.FEED``, its own consumer group: nothing is missed while it is down, the feed keeps what
it has not read) and keeps one record per case (``keys.callback``), the center's queue and the
cell's (a grid worker calls back on the phone), and the due index.

A callback past its deadline is urged once, like any deadline: a 督办 note in the case's trail
through the incident service (the one write path, audited) and a notice to the owning center
(``keys.NOTICES``, kind ``callback_overdue``: the console's 通知). The result is an action of the
service (``actions.FOLLOW_UP``: 满意 keeps the score, 不满意 reopens with the reason) or the
operator's 回访 (``callback``); either marks the record done, on time or late. Time comes from an
injectable clock (tests never wait).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from grid import centers as cc
from incidents import defaults as D
from incidents import keys
from incidents.actor import SYSTEM, Actor
from incidents.feed import fields
from incidents.incident import Incident, to_json

log = logging.getLogger(__name__)

TZ_S = 8 * 3600
"""UTC+8: the working day is Beijing's."""
PENDING, DONE, REOPENED = "pending", "done", "reopened"
STATUS_NAMES = {PENDING: "待回访", DONE: "已回访", REOPENED: "不满意重办"}
TARGET_KEYS = tuple(D.RATE_TARGETS)
CLAIM_IDLE_MS = 60_000
"""A feed entry another desk read and did not finish for this long is taken over (it died)."""


@dataclass(frozen=True)
class HotlineConfig:
    """The ``[hotline]`` table: 回访 deadline and calendar, 好差评 links, the rates' targets."""

    working_days: int = D.CALLBACK_WORKING_DAYS
    channels: tuple[str, ...] = D.CALLBACK_CHANNELS
    holidays: frozenset[str] = frozenset()
    workdays: frozenset[str] = frozenset()
    evaluation_ttl_s: float = D.EVALUATION_TTL_S
    public_url: str = ""
    targets: dict[str, tuple[float, bool]] = field(default_factory=lambda: dict(D.RATE_TARGETS))

    @classmethod
    def from_table(cls, table: dict[str, Any] | None) -> HotlineConfig:
        """Validated key by key: an unknown key or a bad value raises ValueError naming it.
        ``targets``: ``{rate = {target = 1.0, binding = true}}``."""
        t = dict(table or {})
        known = {"working_days", "channels", "holidays", "workdays", "evaluation_ttl_s",
                 "public_url", "targets"}
        unknown = sorted(set(t) - known)
        if unknown:
            raise ValueError(f"[hotline] 未知配置项 {unknown} (unknown keys)")
        out: dict[str, Any] = {}
        if "working_days" in t:
            n = t["working_days"]
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 30:
                raise ValueError("[hotline] working_days 应为 0–30 的整数 (an integer 0..30)")
            out["working_days"] = n
        if "channels" in t:
            out["channels"] = tuple(str(c) for c in t["channels"])
        for k in ("holidays", "workdays"):
            if k in t:
                days = [str(d) for d in t[k]]
                for d in days:
                    try:
                        date.fromisoformat(d)
                    except ValueError:
                        raise ValueError(f"[hotline] {k}: {d!r} 不是日期 YYYY-MM-DD (not a date)") from None
                out[k] = frozenset(days)
        if "evaluation_ttl_s" in t:
            v = float(t["evaluation_ttl_s"])
            if v <= 0:
                raise ValueError("[hotline] evaluation_ttl_s 应为正数 (positive seconds)")
            out["evaluation_ttl_s"] = v
        if "public_url" in t:
            out["public_url"] = str(t["public_url"]).rstrip("/")
        if "targets" in t:
            targets = dict(D.RATE_TARGETS)
            for k, v in dict(t["targets"]).items():
                if k not in targets:
                    raise ValueError(f"[hotline] targets: 未知指标 {k!r}，应为 {'、'.join(TARGET_KEYS)}")
                target = float(v.get("target", targets[k][0]))
                if not 0 <= target <= 1:
                    raise ValueError(f"[hotline] targets.{k}.target 应在 0–1 之间 (a share)")
                targets[k] = (target, bool(v.get("binding", targets[k][1])))
            out["targets"] = targets
        return cls(**out)


# --- the working-day calendar -----------------------------------------------------------------
def local_day(ts: float) -> date:
    """The Beijing date of an epoch time."""
    return datetime.fromtimestamp(ts + TZ_S, tz=UTC).date()


def is_working_day(day: date, cfg: HotlineConfig) -> bool:
    """Monday to Friday, unless a 法定节假日; a weekend day listed as 调休 works."""
    iso = day.isoformat()
    if iso in cfg.workdays:
        return True
    if iso in cfg.holidays:
        return False
    return day.weekday() < 5


def callback_due(closed_ts: float, cfg: HotlineConfig) -> float:
    """When a callback of a case closed at ``closed_ts`` is due: 24:00 (UTC+8) of the
    ``working_days``-th working day after the closing day (0: the closing day's end)."""
    day = local_day(closed_ts)
    n = 0
    while n < cfg.working_days:
        day += timedelta(days=1)
        if is_working_day(day, cfg):
            n += 1
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() - TZ_S
    return midnight + 86400


# --- the desk -----------------------------------------------------------------------------------
def _cell_queue(cell: str) -> str:
    return keys.callback_queue(cc.worker_code(cell))


class CallbackDesk:
    """The 回访 queue over Redis. ``service``: the incident service (its clock, its store, its
    one write path); ``sync()`` reads the feed, ``urge_due()`` urges what is late; the deadline
    worker calls ``tick()``."""

    def __init__(self, r: redis.Redis, service: Any, config: HotlineConfig | None = None,
                 clock: Callable[[], float] | None = None, consumer: str = "callback-1",
                 on_closed: Callable[[Incident], object] | None = None,
                 claim_idle_ms: int = CLAIM_IDLE_MS) -> None:
        self.r = r
        self.claim_idle_ms = claim_idle_ms
        self.on_closed = on_closed      # e.g. the 好差评 SMS (``evaluation.Evaluations.send``)
        self.service = service
        self.config = config or HotlineConfig()
        self.clock = clock or service.clock
        self.consumer = consumer

    def ensure_group(self) -> None:
        """The desk's consumer group on the feed, from its start (a first run takes in the
        closings the feed still holds)."""
        try:
            self.r.xgroup_create(keys.FEED, keys.CALLBACK_GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def tick(self) -> dict[str, int]:
        """Take in the feed, then urge the overdue: counts by outcome."""
        return {"synced": self.sync(), "urged": len(self.urge_due())}

    # --- taking in ------------------------------------------------------------------------------
    def sync(self, count: int = 500) -> int:
        """Read the feed's new entries (pending ones of this consumer first) and keep each case's
        record in step with it. Returns the records changed."""
        self.ensure_group()
        # entries a desk that died had read but not finished: taken over after a minute
        self.r.xautoclaim(keys.FEED, keys.CALLBACK_GROUP, self.consumer, self.claim_idle_ms,
                          start_id="0-0", count=count)
        changed = 0
        for start in ("0", ">"):
            while True:
                got = self.r.xreadgroup(keys.CALLBACK_GROUP, self.consumer, {keys.FEED: start},
                                        count=count)
                entries = got[0][1] if got else []
                if not entries:
                    break
                for eid, raw in entries:
                    if raw:   # a pending entry trimmed from the stream comes back empty
                        changed += self._take(fields(raw))
                    self.r.xack(keys.FEED, keys.CALLBACK_GROUP, eid)
                if start == "0" or len(entries) < count:
                    break
        return changed

    def _take(self, e: dict) -> int:
        steps = e.get("steps") or [e.get("action")]
        iid = str(e.get("id") or "")
        if not iid or not ({"close", "callback", "follow_up"} & set(steps)):
            return 0
        inc = self.service.store.load(iid)
        if inc is None:
            return 0
        ts = float(e.get("ts") or 0) / 1000 or self.clock()
        if "close" in steps and inc.state == "closed":
            return int(self.enqueue(inc, ts))
        return int(self.settle(inc, ts))

    def needs_callback(self, inc: Incident) -> bool:
        """A case of the public (its channel, or a source's, one of ``channels``), not a task."""
        if inc.kind == "task":
            return False
        return inc.channel in self.config.channels or any(
            s.get("channel") in self.config.channels for s in inc.sources)

    def enqueue(self, inc: Incident, closed_ts: float) -> bool:
        """A closing: the case is due a callback (again, after a reopen). Idempotent per
        closing (the same closing read twice changes nothing)."""
        if not self.needs_callback(inc):
            return False
        k = keys.callback(inc.id)
        old = self.r.hgetall(k)
        if old and float(old.get("closed_ts") or 0) >= closed_ts:
            return False
        due = callback_due(closed_ts, self.config)
        rnd = int(old.get("round") or 0) + 1 if old else 1
        p = self.r.pipeline(transaction=True)
        if old:
            self._unqueue(p, inc.id, old)
        p.delete(k)
        p.hset(k, mapping={"id": inc.id, "center": inc.center, "cell": inc.cell_code or "",
                           "town": inc.town_code or "", "channel": inc.channel,
                           "closed_ts": repr(closed_ts), "due_ts": repr(due), "status": PENDING,
                           "round": rnd, "title": inc.title[:200]})
        p.zadd(keys.CALLBACK_ALL, {inc.id: closed_ts})
        p.zadd(keys.CALLBACK_DUE, {inc.id: due})
        p.zadd(keys.callback_queue(inc.center), {inc.id: due})
        if inc.cell_code:
            p.zadd(_cell_queue(inc.cell_code), {inc.id: due})
        p.execute()
        if self.on_closed is not None:
            try:
                self.on_closed(inc)
            except Exception:      # the queue entry stands; the SMS failure is logged and counted
                log.exception("after-closing hook of %s failed", inc.id)
        return True

    def settle(self, inc: Incident, ts: float) -> bool:
        """A callback happened (``callback`` or ``follow_up``): the record is done (or 不满意
        重办 when the case reopened), on time or late, out of the queues."""
        k = keys.callback(inc.id)
        rec = self.r.hgetall(k)
        if not rec or rec.get("status") != PENDING:
            return False
        reopened = inc.state != "closed"
        if not reopened and not inc.satisfaction:
            return False
        p = self.r.pipeline(transaction=True)
        self._unqueue(p, inc.id, rec)
        p.hset(k, mapping={"status": REOPENED if reopened else DONE, "done_ts": repr(ts),
                           "on_time": int(ts <= float(rec["due_ts"])),
                           "score": 0 if reopened else int(inc.satisfaction),
                           "satisfied": int(not reopened)})
        p.execute()
        return True

    def _unqueue(self, p: Any, iid: str, rec: dict) -> None:
        p.zrem(keys.CALLBACK_DUE, iid)
        p.zrem(keys.callback_queue(rec.get("center", "")), iid)
        if rec.get("cell"):
            p.zrem(_cell_queue(rec["cell"]), iid)

    # --- doing it ---------------------------------------------------------------------------------
    def record(self, incident_id: str, actor: Actor, satisfaction: int | None, reason: str = ""
               ) -> Incident:
        """回访 result by ``actor`` (an operator of the owning center, or the cell's grid worker):
        through the incident service (``follow_up``: 满意 keeps the score, 不满意 reopens with the
        reason); the record follows at once."""
        body: dict[str, Any] = {"reason": reason}
        if satisfaction is not None:
            body["satisfaction"] = satisfaction
        inc = self.service.perform(incident_id, actor, "follow_up", body)
        self.settle(inc, self.clock())
        return inc

    def urge_due(self) -> list[str]:
        """Urge every callback past its deadline, once (the due index entry is the claim: two
        desks never urge one twice): a 督办 note in the case's trail and a notice to its center."""
        now = self.clock()
        urged: list[str] = []
        for iid in self.r.zrangebyscore(keys.CALLBACK_DUE, "-inf", repr(now), start=0, num=500):
            if not self.r.zrem(keys.CALLBACK_DUE, iid):
                continue                  # another desk took it
            rec = self.r.hgetall(keys.callback(iid))
            if rec.get("status") != PENDING:
                continue
            due = float(rec["due_ts"])
            text = (f"督办: 回访超时（应于 {_cst(due)} 前回访，{self.config.working_days} 个工作日）"
                    f" (callback overdue)")
            try:
                self.service.note(iid, SYSTEM, text, idempotency_key=f"cb-urge:{iid}:{rec.get('round')}")
            except Exception:   # the case left Redis (archived) or a refusal: kept, said, retried
                log.exception("callback urge of %s failed", iid)
                self.r.zadd(keys.CALLBACK_DUE, {iid: due})
                continue
            self.r.hset(keys.callback(iid), mapping={"urged_ts": repr(now)})
            self.r.xadd(keys.NOTICES, {"e": to_json({
                "kind": "callback_overdue", "center": rec.get("center", ""), "id": iid, "ts": now,
                "text": f"回访超时：{iid} {rec.get('title', '')} 应于 {_cst(due)} 前回访"})},
                maxlen=D.NOTICES_MAXLEN, approximate=True)
            urged.append(iid)
        return urged

    # --- reading ----------------------------------------------------------------------------------
    def queue(self, center: str | None = None, cell: str | None = None) -> list[dict]:
        """回访待办 of a center (or of a grid worker's cell), the soonest due first; each with
        ``overdue`` (now past its deadline)."""
        k = _cell_queue(cell) if cell else keys.callback_queue(center or "")
        ids = self.r.zrange(k, 0, -1)
        return [dict(r, overdue=float(r["due_ts"]) < self.clock()) for r in self.records(ids)
                if r.get("status") == PENDING]

    def records(self, ids: Iterable[str]) -> list[dict]:
        ids = list(ids)
        p = self.r.pipeline(transaction=False)
        for i in ids:
            p.hgetall(keys.callback(i))
        return [r for r in p.execute() if r]

    def closed_between(self, since: float, until: float) -> list[dict]:
        """The records of cases closed in [since, until) (the rates' population)."""
        return self.records(self.r.zrangebyscore(keys.CALLBACK_ALL, repr(since), f"({until!r}"))


def _cst(ts: float) -> str:
    return datetime.fromtimestamp(ts + TZ_S, tz=UTC).strftime("%m-%d %H:%M")


__all__ = ["CallbackDesk", "HotlineConfig", "callback_due", "is_working_day", "local_day"]
