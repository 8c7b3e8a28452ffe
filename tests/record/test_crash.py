"""Crash tests of the archiver (issue 20: "kill -9 the archiver mid-batch, restart PostgreSQL
mid-load: no incident or audit entry lost or doubled").

"Mid-batch" is made certain, not hoped for: the test holds a SHARE lock on ``incident_audit``,
so an archiver's transaction stops at its audit INSERT (incidents upserted, nothing committed)
until the test lets go; ``CLIENT PAUSE WRITE`` holds an archiver between its COMMIT and its
XACK. The archiver is killed (SIGKILL) in each of those two places, then restarted."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from app.pg import PgService, connector, restart_postgres
from incidents import keys
from incidents.record.archiver import Archiver

from .conftest import admin_url
from .helpers import make_cases, record_view, redis_view


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def lock_audit(url: str) -> psycopg.Connection:
    """A transaction holding SHARE on incident_audit: every archiver INSERT there waits."""
    c = psycopg.connect(url)
    c.execute("LOCK TABLE incident_audit IN SHARE MODE")
    return c


def waiting_on_lock(url: str, app: str) -> Callable[[], bool]:
    def check() -> bool:
        with psycopg.connect(url, autocommit=True) as c:
            return c.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                             "AND wait_event_type = 'Lock'", (app,)).fetchone()[0] > 0
    return check


def audit_rows(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        return c.execute("SELECT count(*) FROM incident_audit").fetchone()[0]


def spawn(redis_url: str, pg_url: str) -> subprocess.Popen:
    """``onemap db archive`` as its own process (consumer ``crashy``, 10 entries a batch)."""
    return subprocess.Popen([sys.executable, "-m", "app.commands.db", "archive", "--pg-url", pg_url,
                             "--redis-url", redis_url, "--name", "crashy", "--batch", "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def assert_exact_copy(r, url: str, ids: list[str]) -> None:  # noqa: ANN001
    """Every case and audit entry in the record once: same versions, same trails, seq 1..n."""
    assert record_view(url, ids) == redis_view(r, ids)
    with psycopg.connect(url) as c:
        n_inc, n_audit = c.execute("SELECT (SELECT count(*) FROM incidents), "
                                   "(SELECT count(*) FROM incident_audit)").fetchone()
    assert n_inc == len(ids)
    assert n_audit == sum(r.xlen(keys.audit(i)) for i in ids)


@pytest.mark.slow
def test_kill_9_mid_batch_and_between_commit_and_ack(svc, who, here, clock, demo_city,
                                                    redis_client, redis_service, record_url):
    # the group exists before the cases: the feed path, not the sweep, carries them
    Archiver(redis_client, connector(record_url))._ensure_group()
    ids = make_cases(svc, who, demo_city, 12, clock, here.town)
    app = "onemap-archiver-crashy"

    # 1. killed inside its first transaction (incidents upserted, audit INSERT waiting)
    lock = lock_audit(record_url)
    proc = spawn(redis_service.url, record_url)
    try:
        wait_for(waiting_on_lock(record_url, app), what="archiver blocked mid-batch")
        proc.kill()
        proc.wait(10)
    finally:
        lock.commit()
        lock.close()
    with psycopg.connect(record_url) as c:     # its transaction died with it
        assert c.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0
    assert redis_client.xpending(keys.FEED, keys.ARCHIVE_GROUP)["pending"] == 10

    # 2. restarted, killed after its COMMIT and before its XACK
    lock = lock_audit(record_url)
    proc = spawn(redis_service.url, record_url)
    try:
        wait_for(waiting_on_lock(record_url, app), what="archiver blocked again")
        redis_client.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
        lock.commit()
        wait_for(lambda: audit_rows(record_url) > 0, what="the batch committed")
        proc.kill()
        proc.wait(10)
    finally:
        redis_client.execute_command("CLIENT", "UNPAUSE")
        lock.close()
    # committed, never acknowledged: given again
    assert redis_client.xpending(keys.FEED, keys.ARCHIVE_GROUP)["pending"] >= 10

    # 3. restarted once more (same consumer name): it finishes; nothing lost, nothing twice
    Archiver(redis_client, connector(record_url), consumer="crashy", batch=10).drain()
    assert redis_client.xpending(keys.FEED, keys.ARCHIVE_GROUP)["pending"] == 0
    assert_exact_copy(redis_client, record_url, ids)


@pytest.mark.slow
def test_postgres_restarted_mid_load_the_archiver_retries_and_finishes(
        svc, who, here, clock, demo_city, redis_client, record_url, pg_service: PgService):
    ids = make_cases(svc, who, demo_city, 9, clock, here.town)
    app = "archiver-restart"
    archiver = Archiver(redis_client, connector(record_url, app), batch=10, block_ms=100)
    stop = threading.Event()
    lock = lock_audit(record_url)
    t = threading.Thread(target=archiver.run, args=(stop,), daemon=True)
    t.start()
    try:
        wait_for(waiting_on_lock(record_url, app), what="archiver blocked mid-batch")
        # the same cluster and port, in place: the session fixture stops the new process
        pg_service.process = restart_postgres(pg_service, durable=False).process
        wait_for(lambda: redis_client.xpending(keys.FEED, keys.ARCHIVE_GROUP)["pending"] == 0
                 and archiver.stats["entries"] == redis_client.xlen(keys.FEED),
                 what="archiver caught up after the restart")
    finally:
        stop.set()
        t.join(10)
        with contextlib.suppress(psycopg.Error):
            lock.close()
    assert archiver.stats["retries"] >= 1
    assert_exact_copy(redis_client, record_url, ids)
    with psycopg.connect(admin_url(pg_service)) as c:     # the shared instance is back for others
        assert c.execute("SELECT 1").fetchone() == (1,)
