"""Alarm intake (物联/视频告警接入): reads ``om:alarms`` (consumer group ``intake``) and turns
alarm episodes into incidents: ``raise`` → a new incident, or one more source of the open
situation of its family in its area (``incidents.situations``: a flood, an outage, a fire is ONE
case listing its alarms), or of a correlated open case; ``level`` → the case keeps the highest
severity it reached (a falling level never lowers it: only a person's 定级 does); ``clear`` → the
source is marked cleared, and a machine case whose every source cleared is 已恢复 (closed as
自动恢复 after a quiet period by the deadline worker, unless a person acted on it). The entry's field names,
events, sources and the level → severity table are the stream contract in ``grid.contracts``
(shared with the producer, sensors).

Idempotent: the episode id is the incident's idempotency key, and each level/clear entry carries
its own key, so a re-delivered entry (at-least-once, XAUTOCLAIM after a crash) changes nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import redis

from grid.contracts import Event, Field, Source, severity_of
from incidents import defaults as D
from incidents import keys
from incidents.actor import SYSTEM
from incidents.errors import IncidentError
from incidents.service import IncidentService

log = logging.getLogger(__name__)
CHANNEL = {Source.IOT: "iot", Source.VIDEO_AI: "video_ai", Source.DEVICE_FAULT: "device_fault"}
"""Alarm source → incident channel."""


def episode_key(episode: str) -> str:
    return f"alarm:{episode}"


class AlarmIntake:
    """Consumer of ``om:alarms`` in group ``intake``."""

    def __init__(self, service: IncidentService, consumer: str | None = None) -> None:
        self.service = service
        self.r: redis.Redis = service.r
        self.consumer = consumer or f"intake-{socket.gethostname()}-{os.getpid()}"
        self.stats: dict[str, int] = {"alarms": 0, "errors": 0}
        self._ensure_group()

    def _ensure_group(self) -> None:
        """The consumer group on ``om:alarms`` (made again when a Redis without its data came
        back: NOGROUP)."""
        try:
            self.r.xgroup_create(keys.ALARMS, keys.ALARMS_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def handle(self, entry_id: str, f: dict) -> str:
        """Apply one alarm entry; returns what happened."""
        ev, episode = f.get(Field.EVENT, ""), f.get(Field.EPISODE, "")
        if not episode:
            return "ignored"
        svc = self.service
        key = episode_key(episode)
        msg = f.get(Field.MESSAGE, "")
        if ev == Event.RAISE:
            lon, lat = float(f.get(Field.LON) or 0), float(f.get(Field.LAT) or 0)
            cat = f.get(Field.CATEGORY) or "1101"
            sev = severity_of(f) or "一般"
            if sev not in D.SEVERITIES:
                sev = "一般"
            snap = f.get(Field.SNAPSHOT_URL)
            inc = svc.report(SYSTEM, cat, lon, lat, severity=sev,
                             description=msg, title=msg[:40],
                             channel=CHANNEL.get(f.get(Field.SOURCE, ""), "iot"),
                             idempotency_key=key, ref=f.get(Field.DEVICE_ID, ""),
                             attachments=[snap] if snap else [],
                             gateway=f.get("gateway", ""))   # optional: an outage behind one
            return inc.intake
        inc_id = svc.reported_with(SYSTEM, key)
        if not inc_id:
            return "unknown-episode"
        if ev == Event.LEVEL:
            sev = severity_of(f) or ""
            if sev in D.SEVERITIES:
                done = svc.alarm_level(inc_id, key, sev, reason=msg,
                                       idempotency_key=f"alarmev:{entry_id}")
                return "severity" if done is not None else "severity-kept"
            return "ignored"
        if ev == Event.CLEAR:
            done = svc.alarm_clear(inc_id, key, f"告警解除: {msg}".strip(),
                                   idempotency_key=f"alarmev:{entry_id}")
            return "recovered" if done is not None and done.recovered_ts else "cleared"
        return "ignored"

    def process(self, entries: list[tuple[str, dict]]) -> None:
        for entry_id, f in entries:
            try:
                what = self.handle(entry_id, f)
                self.stats["alarms"] += 1
                self.stats[what] = self.stats.get(what, 0) + 1
            except (IncidentError, ValueError) as exc:  # a bad alarm must not block the rest
                log.warning("alarm %s not taken in: %s", entry_id, exc)
                self.stats["errors"] += 1
            self.r.xack(keys.ALARMS, keys.ALARMS_GROUP, entry_id)

    def poll(self, block_ms: int | None = D.ALARM_BLOCK_MS, count: int = 200,
             reclaim_idle_ms: int | None = None) -> int:
        """Reclaim abandoned entries (when asked), read new ones, apply them; returns how many."""
        entries: list[tuple[str, dict]] = []
        if reclaim_idle_ms is not None:
            res = self.r.xautoclaim(keys.ALARMS, keys.ALARMS_GROUP, self.consumer, reclaim_idle_ms,
                                    start_id="0-0", count=count)
            entries += [(i, f) for i, f in res[1] if f]     # res has 2 items on 6.2, 3 on 7
        res = self.r.xreadgroup(keys.ALARMS_GROUP, self.consumer, {keys.ALARMS: ">"},
                                count=count, block=block_ms)
        for _, items in res or []:
            entries += [(i, f) for i, f in items if f]
        self.process(entries)
        return len(entries)

    def own_pending(self) -> int:
        """Re-apply what this consumer name read but never acked (a restart under the same
        name picks its work up at once, without waiting for the idle reclaim)."""
        res = self.r.xreadgroup(keys.ALARMS_GROUP, self.consumer, {keys.ALARMS: "0"}, count=1000)
        entries = [(i, f) for _, items in res or [] for i, f in items if f]
        self.process(entries)
        return len(entries)

    def run(self, stop: threading.Event, reclaim_every: int = 20) -> None:
        """Take alarms in until ``stop``: first what this consumer name held unacked, then new
        ones (and, now and then, entries a dead consumer held). Redis away, a lost consumer
        group or any other failure is logged and counted, and the loop goes on: the intake
        never dies of it (unacked entries are delivered again)."""
        n, resumed = 0, False
        while not stop.is_set():
            try:
                if not resumed:
                    self.own_pending()
                    resumed = True
                self.poll(reclaim_idle_ms=D.RECLAIM_IDLE_MS if n % reclaim_every == 0 else None)
            except (redis.ConnectionError, redis.TimeoutError):
                self.stats["unavailable"] = self.stats.get("unavailable", 0) + 1
                log.warning("redis unavailable; retrying")
                stop.wait(1.0)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    log.warning("alarm intake: consumer group gone (%s); making it again", exc)
                    self._ensure_group()
                    continue
                self.stats["errors"] += 1
                log.exception("alarm intake: poll failed; retrying")
                stop.wait(1.0)
            except Exception:
                self.stats["errors"] += 1
                log.exception("alarm intake: poll failed; retrying")
                stop.wait(1.0)
            n += 1
