"""Escalation chains (升级链, T25 "呼得应"): new work for a center is addressed to the person on
watch; a priority notification that nobody acknowledges within N minutes (``NotifyConfig``:
category × severity) goes to the next person: 值班员 → 值班长 → 带班领导 → the upper center's
watch. Each step is recorded (chain hash + audit); an acknowledgement stops it.

A step is claimed with a short lease before its notifications are queued (a worker killed
between the two leaves the lease to expire, and the step runs again: its notifications are
deduplicated per (event, person, channel), so nobody gets it twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from grid.centers import CITY_CENTER, kind_of
from incidents import defaults as D
from incidents import keys
from incidents.duty import DUTY_ROLE_NAMES, Roster
from incidents.notify.outbox import NotifyConfig, Outbox

LEASE_S = 30.0
"""A claimed step not finished within this time (the worker died) is run again."""

_CLAIM = """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return -2 end
if redis.call('HEXISTS', KEYS[2], 'acked_by') == 1 then
  redis.call('ZREM', KEYS[1], ARGV[1]); return -1
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return tonumber(redis.call('HGET', KEYS[2], 'step') or '0')
"""


def upper_center(center: str) -> str | None:
    """The center one tier up (上级): a town's or a department's is the city center."""
    return None if center == CITY_CENTER or kind_of(center) is None else CITY_CENTER


class Chains:
    """Start chains for new work and run their due steps."""

    def __init__(self, r: redis.Redis, outbox: Outbox, roster: Roster,
                 config: NotifyConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.outbox = outbox
        self.roster = roster
        self.config = config or NotifyConfig()
        self.clock = clock
        self._claim = r.register_script(_CLAIM)

    def recipients(self, center: str, step: int, at: float) -> list[str]:
        """Who is notified at a chain step (``NotifyConfig.chain``), from the roster at ``at``."""
        if step >= len(self.config.chain):
            return []
        role = self.config.chain[step]
        if role == "upper":
            up = upper_center(center)
            if up is None:
                return []
            watch = self.roster.on_duty(up, at)
            return watch["chief"] + watch["leader"] or watch["officer"]
        if role not in DUTY_ROLE_NAMES:
            raise ValueError(f"chain step {role!r}")
        return self.roster.on_duty(center, at)[role]

    def new_work(self, event: str, center: str, *, subject: str, body: str, category: str = "",
                 severity: str = "一般", priority: int = 0, params: dict | None = None,
                 trigger_ts: float | None = None) -> list[str]:
        """新工作: notify the center's on-duty person (值班员; the 值班长 if no 值班员 is on
        watch); a priority item goes to the 带班领导 too and starts an escalation chain."""
        now = self.clock()
        prio = self.config.is_priority(severity, priority)
        watch = self.roster.on_duty(center, now)
        persons = watch["officer"] or watch["chief"]
        if prio:
            persons = persons + watch["leader"]
        channels = self.config.channels.get(severity, ("inapp",))
        kw = {"subject": subject, "body": body, "chain": event, "priority": prio,
              "center": center, "category": category, "severity": severity,
              "params": params or {}, "trigger_ts": trigger_ts}
        dids = self.outbox.enqueue_many(event, persons, channels, **kw)
        if prio:
            first = 0 if watch["officer"] else 1      # the 值班长 already had it: next is 带班领导
            key = keys.notify_chain(event)
            if self.r.hsetnx(key, "event", event):
                pipe = self.r.pipeline(transaction=True)
                pipe.hset(key, mapping={"center": center, "category": category,
                                        "severity": severity, "subject": subject, "body": body,
                                        "step": first, "started_ts": now,
                                        "notified": ",".join(persons)})
                # nobody on watch at the center: the next step (its upper watch) is due at once
                wait = self.config.ack_seconds(category, severity) if persons else 0.0
                pipe.zadd(keys.NOTIFY_ESC, {event: now + wait})
                self.outbox.audit("chain_start", pipe, chain=event, center=center, step=first,
                                  persons=persons)
                pipe.execute()
        if not persons:
            self.outbox.audit("nobody_on_duty", chain=event, center=center)
        return dids

    def tick(self, limit: int = 100) -> int:
        """Run every due step; returns how many steps were taken."""
        now = self.clock()
        taken = 0
        for event in self.r.zrangebyscore(keys.NOTIFY_ESC, "-inf", now, start=0, num=limit):
            step = int(self._claim(keys=[keys.NOTIFY_ESC, keys.notify_chain(event)],
                                   args=[event, now, LEASE_S]))
            if step < 0:
                continue
            self._escalate(event, step, now)
            taken += 1
        return taken

    def _escalate(self, event: str, step: int, now: float) -> None:
        c = self.r.hgetall(keys.notify_chain(event))
        if c.get("acked_by"):                     # acknowledged while this step was claimed
            self.r.zrem(keys.NOTIFY_ESC, event)
            return
        center, category, severity = c.get("center", ""), c.get("category", ""), c.get("severity", "一般")
        wait = self.config.ack_seconds(category, severity)
        nxt = step + 1
        persons: list[str] = []
        while nxt < len(self.config.chain):
            persons = self.recipients(center, nxt, now)
            if persons:
                break
            self.outbox.audit("escalate_skip", chain=event, step=nxt, role=self.config.chain[nxt],
                              reason="无人值守 (nobody on duty)")
            nxt += 1
        why = (f"{round(wait / 60)}分钟无人确认" if c.get("notified") or step > 1
               else f"{center}无人值守")
        if persons:
            step_event = f"{event}~{nxt}"
            self.outbox.enqueue_many(
                step_event, persons, self.config.channels.get(severity, ("inapp",)),
                subject=f"【升级】{c.get('subject', '')}（{why}）",
                body=c.get("body", ""), chain=event, priority=True, center=center,
                category=category, severity=severity)
        pipe = self.r.pipeline(transaction=True)
        last = not persons or nxt >= len(self.config.chain) - 1
        pipe.hset(keys.notify_chain(event), mapping={"step": nxt, f"step{nxt}_ts": now,
                                                     f"step{nxt}": ",".join(persons)})
        if last:
            pipe.zrem(keys.NOTIFY_ESC, event)
            pipe.expire(keys.notify_chain(event), D.NOTIFY_KEEP_S)
        else:
            pipe.zadd(keys.NOTIFY_ESC, {event: now + wait})
        self.outbox.audit("escalate" if persons else "chain_end", pipe, chain=event, step=nxt,
                          role=self.config.chain[nxt] if nxt < len(self.config.chain) else "",
                          persons=persons)
        pipe.execute()


__all__ = ["Chains", "upper_center"]
