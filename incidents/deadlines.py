"""Deadline worker (时限监控): before a stage deadline it warns (预警), at the deadline it urges
(督办), past a further limit it escalates one tier (上报); each recorded in the audit trail.

Deadline events live in one zset (``keys.DUE``: ``id|stage|phase`` → fire time), the running
stage's next event only: firing warn arms urge, firing urge arms escalate. Automatic escalations
are rate-limited per center (``IncidentConfig.escalation_limit`` per window; a situation
escalates once): what waits is summarised in ONE notice per center and tick
(``om:inc:notices``, kind ``escalation_summary``: "另有 N 件超期事件待上报"). The same tick closes
the machine cases that are due as 自动恢复 (``om:inc:recover``, ``IncidentService.recover_due``). Any number of
workers may run: each event is claimed inside the same atomic script that acts on it (the
script refuses if the member is gone), so it happens exactly once. Time comes from the
service's injectable clock, so tests never wait.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

import redis

from incidents import defaults as D
from incidents import keys
from incidents.incident import to_json
from incidents.service import IncidentService

log = logging.getLogger(__name__)


class DeadlineWorker:
    """Fires due deadline events. ``tick()`` once, or ``run(stop_event)`` in a loop."""

    def __init__(self, service: IncidentService, batch: int = 200) -> None:
        self.service = service
        self.batch = batch
        self.stats: Counter = Counter()   # outcomes so far (for the heartbeat / ops page)
        # 回访 (issue 24): a ``incidents.callback.CallbackDesk`` the app attaches: closings taken
        # in and overdue callbacks urged on each tick, like any deadline
        self.callbacks = None

    def tick(self) -> Counter:
        """Act on every event due by now; returns counts by outcome (warn/urge/escalate/...)."""
        out: Counter = Counter()
        now = self.service.clock()
        limited: Counter = Counter()
        try:
            self._fire(out, limited, now)
        finally:
            self._summarise(limited, now)
        if self.callbacks is not None:
            try:
                for what, n in self.callbacks.tick().items():
                    out[f"callback_{what}"] += n
                    self.stats[f"callback_{what}"] += n
            except redis.RedisError:
                raise
            except Exception:    # the callbacks never stop the deadlines; logged, counted
                log.exception("callback desk tick failed")
                out["callback_error"] += 1
                self.stats["callback_error"] += 1
        recovered = self.service.recover_due()
        if recovered:
            out["recovered"] += recovered
            self.stats["recovered"] += recovered
        return out

    def _summarise(self, limited: Counter, now: float) -> None:
        """One notice per center whose escalations waited this tick (not one entry per case)."""
        cfg = self.service.config
        for center, n in limited.items():
            mins = int(cfg.escalation_window_s // 60)
            self.service.r.xadd(keys.NOTICES, {"e": to_json({
                "kind": "escalation_summary", "center": center, "n": n, "ts": now,
                "text": f"另有 {n} 件超期事件待上报（自动上报限流：每 {mins} 分钟 "
                        f"{cfg.escalation_limit} 件） ({n} more cases overdue, escalation "
                        f"rate-limited)"})}, maxlen=D.NOTICES_MAXLEN, approximate=True)

    def _fire(self, out: Counter, limited: Counter, now: float) -> None:
        r = self.service.r
        while True:
            due = r.zrangebyscore(keys.DUE, "-inf", repr(now), start=0, num=self.batch)
            if not due:
                return
            armed = 0   # a fired warn/urge arms the stage's next event: it may be due already
            for member in due:
                try:
                    what = self.service.fire_deadline(member, limited)
                    out[what] += 1
                    self.stats[what] += 1
                    armed += what in ("warn", "urge")
                except Exception:  # one bad event must not stop the worker; it stays due
                    log.exception("deadline %s failed", member)
                    out["error"] += 1
            if out["error"] or (len(due) < self.batch and not armed):
                return

    def run(self, stop: threading.Event, poll_s: float = D.DEADLINE_POLL_S) -> None:
        """Tick every ``poll_s`` until ``stop``. Redis away (a restart, a full pool) or any other
        failure of a tick is logged and counted (``stats['unavailable']``, ``['error']``) and the
        next tick tries again: the worker never dies of it (what is due stays due)."""
        while not stop.is_set():
            try:
                self.tick()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self.stats["unavailable"] += 1
                log.warning("deadline worker: redis unavailable (%s); retrying", exc)
            except Exception:
                self.stats["error"] += 1
                log.exception("deadline worker: tick failed; retrying")
            stop.wait(poll_s)
