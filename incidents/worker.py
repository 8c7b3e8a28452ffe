"""DispatchWorker: what ``onemap dispatch`` runs (and ``onemap demo`` in threads): the deadline
worker and the alarm intake, side by side. Several may run at once (atomic claims, consumer
groups); none keeps state another needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

from grid.model import City
from incidents.config import IncidentConfig
from incidents.deadlines import DeadlineWorker
from incidents.intake import AlarmIntake
from incidents.service import IncidentService


class DispatchWorker:
    """Deadline worker + alarm intake for one process. ``run(stop_event)`` blocks until set."""

    def __init__(self, redis: redis.Redis, city: City, config: IncidentConfig | None = None,
                 clock: Callable[[], float] = time.time, name: str | None = None,
                 poll_s: float = 1.0) -> None:
        self.service = IncidentService(redis, city, config, clock)
        self.deadlines = DeadlineWorker(self.service)
        self.intake = AlarmIntake(self.service, consumer=name)
        self.poll_s = poll_s

    @property
    def stats(self) -> dict[str, int]:
        """Counters since start: alarms taken in (created/correlated/duplicate/severity/note),
        deadline events fired (warn/urge/escalate), errors."""
        return {**{f"alarm_{k}": v for k, v in self.intake.stats.items()},
                **{f"deadline_{k}": v for k, v in self.deadlines.stats.items()}}

    def run(self, stop: threading.Event) -> None:
        t = threading.Thread(target=self.deadlines.run, args=(stop, self.poll_s),
                             name="deadlines", daemon=True)
        t.start()
        try:
            self.intake.run(stop)
        finally:
            stop.set()
            t.join(5)
