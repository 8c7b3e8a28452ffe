"""The notification outbox (通知发件箱): a Redis stream of deliveries plus a dedup set, so that an
event reaches each person once per channel (at least once, never twice where the channel can
tell), with every send attempt and acknowledgement audited (T25, X21).

- ``enqueue``: one atomic script: ``SADD dedup event|person|channel``; only if new, the
  delivery hash, its stream entry and an audit entry. Enqueueing the same triple again (a feed
  entry read twice, an escalation step retried) creates nothing.
- the worker (``incidents.notify.worker``) records ``sending`` with the idempotency key before
  it sends and ``sent`` after; a worker killed in between leaves the stream entry pending, and
  whoever takes it over sends again with the same key, which the gateway dedups on.
- ``acknowledge``: 确认收到: stops the event's escalation chain; audited.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
import redis

from incidents import defaults as D
from incidents import keys
from incidents.notify.model import CHANNEL_NAMES, Message, delivery_id

AUDIT_MAXLEN = 200_000

_ENQUEUE = """
-- KEYS: delivery hash, outbox stream, audit stream, today's dedup set, earlier days' sets
for i = 5, #KEYS do
  if redis.call('SISMEMBER', KEYS[i], ARGV[1]) == 1 then return 0 end
end
if redis.call('SADD', KEYS[4], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('XADD', KEYS[2], '*', 'd', ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'e', cjson.encode({
  what = 'queued', did = ARGV[2], member = ARGV[1]}))
return 1
"""

_RELEASE = """
-- move due deferred deliveries back into the stream, atomically (none lost, none doubled)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, did in ipairs(due) do
  redis.call('ZREM', KEYS[1], did)
  redis.call('HSET', ARGV[3] .. did, 'status', 'queued')
  redis.call('XADD', KEYS[2], '*', 'd', did)
end
return #due
"""


@dataclass(frozen=True)
class NotifyConfig:
    """Notification tunables (defaults: incidents/defaults.py; a deployment overrides them in
    its settings, ``app.config``): ack minutes by category × severity, the channels by
    severity, quiet hours, the per-person rate limit, the retry backoff."""

    ack_minutes: dict[str, dict[str, float]] = field(default_factory=lambda: D.NOTIFY_ACK_MINUTES)
    channels: dict[str, tuple[str, ...]] = field(default_factory=lambda: D.NOTIFY_CHANNELS)
    quiet_hours: tuple[int, int] = D.NOTIFY_QUIET_HOURS
    rate_limit: tuple[int, float] = D.NOTIFY_RATE_LIMIT
    retry_s: tuple[float, ...] = D.NOTIFY_RETRY_S
    priority_severities: frozenset[str] = D.NOTIFY_PRIORITY_SEVERITIES
    chain: tuple[str, ...] = D.NOTIFY_CHAIN

    @classmethod
    def from_table(cls, table: dict | None) -> NotifyConfig:
        """A deployment's table (``ack_minutes``: {prefix: {severity: minutes}} merged over the
        defaults; ``channels``, ``quiet_hours``, ``rate_limit``, ``retry_s``); ValueError names
        the bad key."""
        table = dict(table or {})
        kw: dict = {}
        if "ack_minutes" in table:
            merged = {p: dict(v) for p, v in D.NOTIFY_ACK_MINUTES.items()}
            for prefix, row in dict(table.pop("ack_minutes")).items():
                for sev, minutes in dict(row).items():
                    if sev not in D.SEVERITIES:
                        raise ValueError(f"ack_minutes.{prefix}.{sev}: 未知级别 (unknown severity)")
                    if not isinstance(minutes, int | float) or minutes <= 0:
                        raise ValueError(f"ack_minutes.{prefix}.{sev}: 应为正数分钟 (minutes > 0)")
                    merged.setdefault(prefix, {})[sev] = float(minutes)
            kw["ack_minutes"] = merged
        if "channels" in table:
            ch = {s: tuple(v) for s, v in dict(table.pop("channels")).items()}
            for s, v in ch.items():
                bad = [c for c in v if c not in CHANNEL_NAMES]
                if s not in D.SEVERITIES or bad:
                    raise ValueError(f"channels.{s}: 级别或渠道未知 {bad or s}")
            kw["channels"] = {**D.NOTIFY_CHANNELS, **ch}
        for name in ("quiet_hours", "rate_limit", "retry_s"):
            if name in table:
                kw[name] = tuple(table.pop(name))
        if table:
            raise ValueError(f"未知配置项 (unknown key): {', '.join(sorted(table))}")
        return cls(**kw)

    def ack_seconds(self, category: str, severity: str) -> float:
        """How long a priority notification waits for an acknowledgement before the next step:
        the longest category prefix with a value for the severity wins."""
        best = ""
        for prefix, row in self.ack_minutes.items():
            if category.startswith(prefix) and severity in row and len(prefix) >= len(best):
                best = prefix
        row = self.ack_minutes.get(best, {})
        return 60.0 * float(row.get(severity, D.NOTIFY_ACK_MINUTES[""]["一般"]))

    def is_priority(self, severity: str, priority: int = 0) -> bool:
        return bool(priority) or severity in self.priority_severities


class Contacts:
    """How to reach a person (联系方式): phone, e-mail, name, their own quiet hours. Stored by
    account id; the account store (``app.users``) keeps no phone."""

    CSV_COLUMNS = ("person", "name", "phone", "email")

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def set(self, person: str, *, name: str = "", phone: str = "", email: str = "",
            quiet: tuple[int, int] | None = None) -> None:
        self.r.hset(keys.NOTIFY_CONTACTS, person, orjson.dumps(
            {"name": name, "phone": phone, "email": email, "quiet": list(quiet) if quiet else None}))

    def get(self, person: str) -> dict:
        raw = self.r.hget(keys.NOTIFY_CONTACTS, person)
        return orjson.loads(raw) if raw else {}

    def address(self, person: str, channel: str) -> str:
        """The person's address on a channel ("" if none): in-app is the account itself."""
        if channel == "inapp":
            return person
        return (self.get(person).get({"sms": "phone", "email": "email"}.get(channel, "")) or "")

    def import_csv(self, text: str) -> int:
        """Columns person,name,phone,email; a bad row refuses the file (row named)."""
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        problems = [f"第{n}行 person: 为空" for n, row in enumerate(rows, start=2)
                    if not (row.get("person") or "").strip()]
        problems += [f"第{n}行 email={row['email']!r}: 不是邮箱" for n, row in enumerate(rows, start=2)
                     if (row.get("email") or "").strip() and "@" not in row["email"]]
        if problems:
            raise ValueError("；".join(problems))
        for row in rows:
            self.set(row["person"].strip(), name=(row.get("name") or "").strip(),
                     phone=(row.get("phone") or "").strip(), email=(row.get("email") or "").strip())
        return len(rows)


class Outbox:
    """The outbox in Redis (see the module docstring)."""

    def __init__(self, r: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.clock = clock
        self._enqueue = r.register_script(_ENQUEUE)
        self._release = r.register_script(_RELEASE)

    def enqueue(self, event: str, person: str, channel: str, *, subject: str, body: str,
                chain: str = "", template: str = "notice", params: dict | None = None,
                priority: bool = False, center: str = "", category: str = "",
                severity: str = "", trigger_ts: float | None = None) -> str | None:
        """Queue one delivery; None if this (event, person, channel) is already queued/sent."""
        if channel not in CHANNEL_NAMES:
            raise ValueError(f"未知渠道 (unknown channel): {channel}")
        did = delivery_id(event, person, channel)
        now = self.clock()
        fields = {"did": did, "event": event, "chain": chain or event, "person": person,
                  "channel": channel, "subject": subject, "body": body, "template": template,
                  "params": orjson.dumps(params or {}).decode(), "priority": int(priority),
                  "center": center, "category": category, "severity": severity,
                  "status": "queued", "attempts": 0, "created_ts": now,
                  "trigger_ts": trigger_ts if trigger_ts is not None else now}
        flat = [str(x) for kv in fields.items() for x in kv]
        day = int(now // 86400)
        dedup = [keys.notify_dedup(day - k) for k in range(D.NOTIFY_DEDUP_DAYS)]
        new = self._enqueue(keys=[keys.notify_delivery(did), keys.NOTIFY_OUTBOX, keys.NOTIFY_AUDIT,
                                  *dedup],
                            args=[f"{event}|{person}|{channel}", did, AUDIT_MAXLEN,
                                  (D.NOTIFY_DEDUP_DAYS + 1) * 86400, *flat])
        return did if new else None

    def enqueue_many(self, event: str, persons: Iterable[str], channels: Iterable[str],
                     **kw: object) -> list[str]:
        channels = list(channels)
        return [did for p in dict.fromkeys(persons) for c in channels
                if (did := self.enqueue(event, p, c, **kw)) is not None]  # type: ignore[arg-type]

    def delivery(self, did: str) -> dict:
        return self.r.hgetall(keys.notify_delivery(did))

    def message(self, d: dict, address: str) -> Message:
        return Message(did=d["did"], event=d["event"], chain=d.get("chain") or d["event"],
                       person=d["person"], channel=d["channel"], address=address,
                       subject=d.get("subject", ""), body=d.get("body", ""),
                       template=d.get("template", "notice"),
                       params=orjson.loads(d.get("params") or "{}"),
                       priority=d.get("priority") == "1",
                       created_ts=float(d.get("created_ts") or 0))

    def release_due(self, now: float, limit: int = 500) -> int:
        """Deferred deliveries whose time has come go back into the stream."""
        return int(self._release(keys=[keys.NOTIFY_LATER, keys.NOTIFY_OUTBOX],
                                 args=[now, limit, keys.notify_delivery("")]))

    def compact(self) -> int:
        """Trim the outbox stream below the oldest entry still pending or unread (an acked
        entry is done: its delivery hash keeps its state). Returns entries removed."""
        try:
            groups = {g["name"]: g for g in self.r.xinfo_groups(keys.NOTIFY_OUTBOX)}
        except redis.ResponseError:
            return 0
        g = groups.get(keys.NOTIFY_GROUP)
        if g is None:
            return 0
        pending = self.r.xpending(keys.NOTIFY_OUTBOX, keys.NOTIFY_GROUP)
        if pending["pending"]:
            floor = pending["min"]              # the oldest entry a notifier still holds
        else:                                   # everything read is done: just past the last
            ms, seq = str(g["last-delivered-id"]).split("-")
            if ms == "0" and seq == "0":
                return 0
            floor = f"{ms}-{int(seq) + 1}"
        return int(self.r.xtrim(keys.NOTIFY_OUTBOX, minid=floor, approximate=False))

    def audit(self, what: str, pipe: redis.client.Pipeline | None = None, **info: object) -> None:
        """Append to the notification audit (every send attempt, result, acknowledgement)."""
        entry = {"what": what, "ts": self.clock(), **info}
        (pipe or self.r).xadd(keys.NOTIFY_AUDIT, {"e": orjson.dumps(entry)}, maxlen=AUDIT_MAXLEN,
                              approximate=True)

    def audit_entries(self, count: int = 10_000) -> list[dict]:
        return [orjson.loads(f["e"]) if f["e"].startswith("{") else f
                for _, f in self.r.xrange(keys.NOTIFY_AUDIT, count=count)]

    def acknowledge(self, chain: str, person: str, via: str = "inapp") -> bool:
        """确认收到: ``person`` acknowledges the event ``chain``; its escalation stops. False if
        it was acknowledged already (the first acknowledgement stands; each one is audited)."""
        now = self.clock()
        key = keys.notify_chain(chain)
        c = self.r.hgetall(key)
        if c:   # an escalation chain: only someone it reached may stop it
            reached = {p for f, v in c.items() if f == "notified" or (f.startswith("step") and
                       f[4:].isdigit()) for p in v.split(",") if p}
            if person not in reached:
                self.audit("ack_refused", chain=chain, person=person, via=via)
                raise PermissionError(f"{person} 未收到此通知，不能确认 (not notified)")
        first = self.r.hsetnx(key, "acked_by", person)
        pipe = self.r.pipeline(transaction=True)
        if first:
            pipe.hset(key, mapping={"acked_ts": now, "acked_via": via})
            pipe.zrem(keys.NOTIFY_ESC, chain)
            pipe.expire(key, D.NOTIFY_KEEP_S)
        self.audit("ack", pipe, chain=chain, person=person, via=via, first=bool(first))
        pipe.execute()
        return bool(first)

    def chain(self, chain: str) -> dict:
        return self.r.hgetall(keys.notify_chain(chain))


__all__ = ["Contacts", "NotifyConfig", "Outbox"]
