"""Deadline worker (时限监控): before a stage deadline it warns (预警), at the deadline it urges
(督办), past a further limit it escalates one tier (上报); each recorded in the audit trail.

Deadline events live in one zset (``keys.DUE``: ``id|stage|phase`` → fire time), the running
stage's next event only: firing warn arms urge, firing urge arms escalate. Any number of
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
from incidents.service import IncidentService

log = logging.getLogger(__name__)


class DeadlineWorker:
    """Fires due deadline events. ``tick()`` once, or ``run(stop_event)`` in a loop."""

    def __init__(self, service: IncidentService, batch: int = 200) -> None:
        self.service = service
        self.batch = batch
        self.stats: Counter = Counter()   # outcomes so far (for the heartbeat / ops page)

    def tick(self) -> Counter:
        """Act on every event due by now; returns counts by outcome (warn/urge/escalate/...)."""
        out: Counter = Counter()
        r, now = self.service.r, self.service.clock()
        while True:
            due = r.zrangebyscore(keys.DUE, "-inf", repr(now), start=0, num=self.batch)
            if not due:
                return out
            armed = 0   # a fired warn/urge arms the stage's next event: it may be due already
            for member in due:
                try:
                    what = self.service.fire_deadline(member)
                    out[what] += 1
                    self.stats[what] += 1
                    armed += what in ("warn", "urge")
                except Exception:  # one bad event must not stop the worker; it stays due
                    log.exception("deadline %s failed", member)
                    out["error"] += 1
            if out["error"] or (len(due) < self.batch and not armed):
                return out

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
