"""The dispatch queue (调度队列): one Redis stream per center, consumer group ``ops``.

The place zsets (``keys.place``) say where each work item IS; the stream of a center says what
ARRIVED there (one entry per move, written by the same atomic script as the move; not the moves a
center makes itself into its own ``x:`` list when it dispatches: nothing arrived). Consoles and
workers are consumers of their center's stream: delivery is at least once, so consumers are
idempotent: ``QueueEntry.current(r)`` tells whether the item is still where the entry says it
arrived (still there → act; the service refuses an action that no longer applies; moved on →
just ack). Entries a crashed consumer held are
reclaimed with XAUTOCLAIM (redis-py returns 3 items on Redis ≥ 7, 2 on 6.2: both handled).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis

from incidents import defaults as D
from incidents import keys


@dataclass(frozen=True)
class QueueEntry:
    """One queue-stream entry: incident ``id`` (sub-task ``task``) arrived at ``center``."""

    center: str
    entry_id: str
    incident_id: str
    task: str
    action: str
    version: int
    ts_ms: float

    def current(self, r: redis.Redis) -> bool:
        """True while the item is still where this entry says it arrived (one of this center's
        places): then it is this center's to act on. Not "at the version announced": a
        warning, an urge or a note changes the version without moving the item, and an entry
        skipped for that would leave the item in the queue with nobody told."""
        return current_many(r, [self])[0]

    @property
    def places(self) -> tuple[str, ...]:
        """The places this entry's item can have arrived at: a sub-task at its handler
        (``h:``), an incident in the center's queue (``q:``) or out with its handlers under the
        center's supervision (``x:``, an escalation of a dispatched case)."""
        if self.task:
            return (f"h:{self.center}",)
        return (f"q:{self.center}", f"x:{self.center}")

    @property
    def item(self) -> str:
        return f"{self.incident_id}#{self.task}" if self.task else self.incident_id


def current_many(r: redis.Redis, entries: list[QueueEntry]) -> list[bool]:
    """``QueueEntry.current`` of many entries in one round trip."""
    if not entries:
        return []
    p = r.pipeline(transaction=False)
    for e in entries:
        for pl in e.places:
            p.zscore(keys.place(pl), e.item)
    found = iter(p.execute())
    return [any([next(found) is not None for _ in e.places]) for e in entries]


def ensure_groups(r: redis.Redis, centers: Iterable[str], group: str = keys.QUEUE_GROUP) -> None:
    """Create the consumer group of each center's stream (idempotent; from the start: 0)."""
    p = r.pipeline(transaction=False)
    for c in centers:
        p.xgroup_create(keys.queue(c), group, id="0", mkstream=True)
    for res in p.execute(raise_on_error=False):
        if isinstance(res, Exception) and "BUSYGROUP" not in str(res):
            raise res


def _entry(stream: str, entry_id: str, f: dict) -> QueueEntry:
    """A stream entry: one field ``e`` = ``id|task|action|version|ts_ms`` (written by
    ``store.Store.prepare``; one field is much cheaper for the server than five), or the older
    one-field-per-key layout."""
    center = stream.removeprefix(keys.queue(""))
    if "e" in f:
        inc, task, action, v, ts = f["e"].split("|")
        return QueueEntry(center, entry_id, inc, task, action, int(v or 0), float(ts or 0))
    return QueueEntry(center, entry_id, f.get("id", ""), f.get("task", ""), f.get("action", ""),
                      int(f.get("v") or 0), float(f.get("ts") or 0))


class QueueConsumer:
    """A consumer of one or more centers' queues (an operator console, a worker)."""

    def __init__(self, r: redis.Redis, centers: Iterable[str], consumer: str,
                 group: str = keys.QUEUE_GROUP) -> None:
        self.r = r
        self.centers = list(centers)
        self.consumer = consumer
        self.group = group
        ensure_groups(r, self.centers, group)

    def read(self, count: int = 100, block_ms: int | None = 1000) -> list[QueueEntry]:
        """New entries for this consumer (they stay pending until ``ack``)."""
        res = self.r.xreadgroup(self.group, self.consumer,
                                {keys.queue(c): ">" for c in self.centers}, count=count,
                                block=block_ms)
        out: list[QueueEntry] = []
        for stream, entries in res or []:
            for entry_id, f in entries:
                if f:
                    out.append(_entry(stream, entry_id, f))
        return out

    def ack(self, entries: Iterable[QueueEntry]) -> int:
        """Acknowledge entries: one XACK per stream, in one round trip."""
        by_stream: dict[str, list[str]] = {}
        for e in entries:
            by_stream.setdefault(keys.queue(e.center), []).append(e.entry_id)
        if by_stream:
            p = self.r.pipeline(transaction=False)
            for stream, ids in by_stream.items():
                p.xack(stream, self.group, *ids)
            p.execute()
        return sum(len(ids) for ids in by_stream.values())

    def reclaim(self, min_idle_ms: int = D.RECLAIM_IDLE_MS, count: int = 100) -> list[QueueEntry]:
        """XAUTOCLAIM entries idle longer than ``min_idle_ms`` (their consumer died)."""
        out: list[QueueEntry] = []
        for c in self.centers:
            stream, start = keys.queue(c), "0-0"
            while True:
                res = self.r.xautoclaim(stream, self.group, self.consumer, min_idle_ms,
                                        start_id=start, count=count)
                nxt, claimed = res[0], res[1]          # res[2] (deleted ids) only on Redis ≥ 7
                for entry_id, f in claimed:
                    if f:
                        out.append(_entry(stream, entry_id, f))
                    else:  # trimmed away meanwhile: nothing to do but ack
                        self.r.xack(stream, self.group, entry_id)
                if nxt in ("0-0", b"0-0") or not claimed:
                    break
                start = nxt
        return out

    def pending(self) -> int:
        """Entries delivered to any consumer of the group and not acked yet, over all centers."""
        total = 0
        for c in self.centers:
            info = self.r.xpending(keys.queue(c), self.group)
            total += int(info["pending"] if isinstance(info, dict) else info[0])
        return total

    def run(self, handle: Callable[[QueueEntry], None], stop: threading.Event,
            block_ms: int = 500, reclaim_every_s: float = 10.0,
            min_idle_ms: int = D.RECLAIM_IDLE_MS) -> None:
        """Loop: reclaim abandoned entries now and then, read, handle current ones, ack all."""
        last = 0.0
        while not stop.is_set():
            batch: list[QueueEntry] = []
            if time.monotonic() - last > reclaim_every_s:
                batch += self.reclaim(min_idle_ms)
                last = time.monotonic()
            batch += self.read(block_ms=block_ms)
            for e, here in zip(batch, current_many(self.r, batch), strict=True):
                if here:
                    handle(e)
            self.ack(batch)
