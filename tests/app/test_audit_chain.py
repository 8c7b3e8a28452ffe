"""The security audit is hash-chained (SEC9, SEC21): ``onemap audit verify`` finds an edited
entry, a removed entry and removed newest entries; appends from many workers keep one chain."""

from __future__ import annotations

import threading

import pytest
import redis
from click.testing import CliRunner

from app import keys, security


@pytest.fixture
def verify(redis_service, monkeypatch):
    from app.cli import main

    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    return lambda *args: CliRunner().invoke(main, ["audit", *args])


def _fill(r: redis.Redis, n: int) -> list[str]:
    return [security.audit(r, "login", user=f"u{i}", role="city_operator", path="/login")
            for i in range(n)]


def test_clean_chain_verifies(redis_client, verify):
    ids = _fill(redis_client, 5)
    rows = redis_client.xrange(keys.SECURITY_AUDIT)
    assert [i for i, _ in rows] == ids
    assert rows[0][1]["prev"] == "" and rows[0][1]["seq"] == "1"
    for (_, a), (_, b) in zip(rows, rows[1:], strict=False):
        assert b["prev"] == a["hash"] and int(b["seq"]) == int(a["seq"]) + 1
    assert redis_client.get(keys.SECURITY_AUDIT_HEAD) == f"5|{rows[-1][1]['hash']}"
    r = verify("verify")
    assert r.exit_code == 0, r.output
    assert "5 entries checked" in r.output


def test_edited_entry_is_named(redis_client, verify):
    ids = _fill(redis_client, 5)
    # an insider rewrites who logged in: same id, one field changed, chain fields untouched
    # (a stream has no in-place edit: the stream is rebuilt with the same ids)
    rows = redis_client.xrange(keys.SECURITY_AUDIT)
    redis_client.delete(keys.SECURITY_AUDIT)
    for i, f in rows:
        redis_client.xadd(keys.SECURITY_AUDIT, {**f, "user": "someone_else"} if i == ids[2] else f,
                          id=i)
    r = verify("verify")
    assert r.exit_code == 1
    assert f"broken at entry {ids[2]}" in r.output and "altered" in r.output
    assert "1 problem(s)" in r.output   # the entries after it still chain onto its stored hash


def test_removed_entry_is_named(redis_client, verify):
    ids = _fill(redis_client, 6)
    redis_client.xdel(keys.SECURITY_AUDIT, ids[2], ids[3])
    r = verify("verify")
    assert r.exit_code == 1
    assert f"broken at entry {ids[4]}" in r.output
    assert "2 entries removed before it (seq 3..4)" in r.output


def test_removed_newest_entry_is_found(redis_client, verify):
    ids = _fill(redis_client, 4)
    redis_client.xdel(keys.SECURITY_AUDIT, ids[-1])
    r = verify("verify")
    assert r.exit_code == 1
    assert f"broken at entry {ids[-2]}" in r.output and "newest entry removed" in r.output


def test_concurrent_writers_keep_one_chain(redis_client, redis_service, verify):
    def worker(n: int) -> None:
        c = redis.Redis.from_url(redis_service.url, decode_responses=True)
        for i in range(40):
            security.audit(c, "denied", user=f"w{n}", reason=str(i))
        c.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = security.verify_chain(redis_client)
    assert rep.ok, rep.problems
    assert rep.checked == redis_client.xlen(keys.SECURITY_AUDIT) == 240
    assert rep.head.startswith("240|")


def test_trim_leaves_an_anchor(redis_client, verify):
    ids = _fill(redis_client, 10)
    r = verify("trim", "--keep", "4", "--yes")
    assert r.exit_code == 0 and "removed 6" in r.output
    rows = redis_client.xrange(keys.SECURITY_AUDIT)
    assert [i for i, _ in rows][:4] == ids[6:] and rows[-1][1]["event"] == "audit_trimmed"
    assert verify("verify").exit_code == 0
    redis_client.xdel(keys.SECURITY_AUDIT, ids[6])   # the first kept entry: still noticed
    r = verify("verify")
    assert r.exit_code == 1 and f"broken at entry {ids[7]}" in r.output


def test_older_unchained_entries_are_counted_not_failed(redis_client, verify):
    redis_client.xadd(keys.SECURITY_AUDIT, {"event": "login", "user": "old", "ts": "1"})
    _fill(redis_client, 2)
    r = verify("verify")
    assert r.exit_code == 0 and "1 older unchained entries" in r.output
    redis_client.xadd(keys.SECURITY_AUDIT, {"event": "login", "user": "forged", "ts": "2"})
    r = verify("verify")
    assert r.exit_code == 1 and "chain fields missing" in r.output
