"""The queue streams (调度队列): what a consumer acts on (at least once, idempotent)."""

from __future__ import annotations

import threading

from incidents.queue import QueueConsumer, current_many


def test_an_entry_stays_current_while_its_item_is_with_the_center(redis_client, svc, who, here,
                                                                   clock):
    """A warning, an urge or a note changes the version but not where the case is: the entry
    that announced it must still say "yours" (a consumer that skipped it would leave the case
    in the queue with nobody told). Once the case has moved on, it says no more."""
    qc = QueueConsumer(redis_client, [f"T{here.town}", "DCG"], "c1", group="current-test")
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    svc.urge(inc.id, who.city, "请尽快受理")
    svc.note(inc.id, who.town, "已联系网格员")
    [entry] = qc.read(block_ms=None)
    assert entry.incident_id == inc.id and entry.version == 1
    assert entry.current(redis_client)
    svc.accept(inc.id, who.town)
    svc.dispatch(inc.id, who.town, ["CG"])
    [task_entry] = qc.read(block_ms=None)
    assert (task_entry.center, task_entry.task) == ("DCG", "1")
    svc.start(inc.id, who.cg)
    assert current_many(redis_client, [entry, task_entry]) == [True, True]   # out, supervised
    svc.handle(inc.id, who.cg)
    svc.close(svc.verify(inc.id, who.town, passed=True).id, who.town)
    assert current_many(redis_client, [entry, task_entry]) == [False, False]


def test_run_hands_over_current_entries_and_acks_all(redis_client, svc, who, here):
    qc = QueueConsumer(redis_client, [f"T{here.town}"], "c1", group="run-test")
    a = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    b = svc.report(who.worker, "0104", here.lon, here.lat, correlate=False)
    svc.void(b.id, who.town, "重复上报")                 # gone before the consumer runs
    seen: list[str] = []
    stop = threading.Event()

    def handle(e) -> None:
        seen.append(e.incident_id)
        stop.set()

    guard = threading.Timer(20, stop.set)            # a broken run() fails, never hangs
    guard.start()
    qc.run(handle, stop, block_ms=100)
    guard.cancel()
    assert seen == [a.id] and qc.pending() == 0
