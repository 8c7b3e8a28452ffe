"""incidents.script.Script: many calls of one Lua script per round trip, packed by hiredis, on a
real redis-server: replies in order, one call's error leaves the others alone, and a server that
lost its script cache (restart, SCRIPT FLUSH) gets the script again without losing a call."""

from __future__ import annotations

import threading

import redis

from incidents.script import Script

INCR_OR_FAIL = """
if ARGV[1] == 'fail' then return redis.error_reply('refused ' .. KEYS[1]) end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


def test_replies_in_order_and_errors_stay_with_their_call(redis_client):
    s = Script(redis_client, INCR_OR_FAIL)
    out = s.run_many([("t:a", ["2"]), ("t:b", ["fail"]), ("t:a", ["3"]), ("t:c", ["1"])])
    assert out[0] == 2 and out[2] == 5 and out[3] == 1
    assert isinstance(out[1], redis.ResponseError) and "refused t:b" in str(out[1])
    assert s("t:a", ["10"]) == 15


def test_lost_script_cache_is_refilled_and_every_call_runs_once(redis_client):
    s = Script(redis_client, INCR_OR_FAIL)
    s.run_many([("t:x", ["1"])])
    redis_client.script_flush()                 # what a restarted server looks like
    out = s.run_many([("t:x", ["1"]), ("t:y", ["5"]), ("t:x", ["1"])])
    assert out == [2, 5, 3]                     # each ran exactly once, in order
    assert redis_client.script_exists(s.sha) == [True]


def test_a_killed_connection_is_replaced_and_the_call_runs_once(redis_client, redis_service):
    """Idle connections are kept between exchanges (in redis-py's pool): when the server drops
    one (restart, CLIENT KILL, idle timeout) the next call reconnects and runs exactly once."""
    s = Script(redis_client, INCR_OR_FAIL)
    assert s("t:kill", ["1"]) == 1
    admin = redis.Redis.from_url(redis_service.url)   # not from the pool whose connection dies
    killed = admin.client_kill_filter(_type="normal", skipme=True)
    admin.close()
    assert killed >= 1                          # the pooled connection among them
    assert s("t:kill", ["1"]) == 2
    assert int(redis_client.get("t:kill")) == 2


def test_threads_exchange_on_their_own_connections(redis_client):
    """Web threads share one client: replies never cross from one thread's batch to another's."""
    s = Script(redis_client, INCR_OR_FAIL)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for n in range(1, 101):
                out = s.run_many([(f"t:th{k}", ["1"]), (f"t:th{k}:b", ["2"])])
                assert out == [n, 2 * n], (k, n, out)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:2]
    assert [int(redis_client.get(f"t:th{k}")) for k in range(8)] == [100] * 8


def test_a_thread_per_request_never_exhausts_the_pool(redis_service):
    """A web server that starts a thread per request (werkzeug's threaded server does): a
    thousand requests in turn, each on a new thread, on a pool of 20 connections. Each exchange
    gives its connection back: the server sees a handful of clients, not one per thread ever
    run (which ended in MaxConnectionsError, the web app and the deadline worker down)."""
    r = redis.Redis.from_url(redis_service.url, decode_responses=True, max_connections=20)
    s = Script(r, INCR_OR_FAIL)
    errors: list[BaseException] = []

    def request() -> None:
        try:
            s("t:req", ["1"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for _ in range(1000):
        t = threading.Thread(target=request)
        t.start()
        t.join(10)
    assert not errors, errors[:1]
    assert int(r.get("t:req")) == 1000
    assert r.info("clients")["connected_clients"] <= 5
    r.close()
