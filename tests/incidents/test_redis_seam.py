"""Contract test of the one seam below redis-py's command API (incidents.script: exchange,
Script, ScriptStream) against the installed redis-py and a real redis-server: pipelined replies
in order, a ResponseError per call that does not stop the others, a broken connection's socket
dropped before the connection goes back to redis-py's pool, NOSCRIPT reloaded, and the pinned
redis-py range with the public pool/connection API the seam uses."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from incidents.script import Script, exchange

ROOT = Path(__file__).resolve().parents[2]
INCR_OR_FAIL = """
if ARGV[1] == 'fail' then return redis.error_reply('refused ' .. KEYS[1]) end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


def test_replies_come_in_order_and_an_error_stays_with_its_command(redis_client):
    out = exchange(redis_client, [("SET", "seam:s", "x"), ("INCR", "seam:s"), ("SET", "seam:n", "4"),
                                  ("INCRBY", "seam:n", "3"), ("GET", "seam:n")])
    assert out[0] in (b"OK", "OK", True) and out[3] == 7 and out[4] in (b"7", "7")
    assert isinstance(out[1], redis.ResponseError) and "not an integer" in str(out[1])


def test_a_timed_out_exchange_drops_its_socket_and_the_next_gets_no_stale_reply(redis_service):
    r = redis.Redis.from_url(redis_service.url, socket_timeout=0.2, retry=Retry(NoBackoff(), 0),
                             max_connections=1)
    try:
        (before,) = exchange(r, [("CLIENT", "ID")])
        with pytest.raises(redis.TimeoutError):
            exchange(r, [("BLPOP", "seam:empty", "1"), ("PING",)])   # replies still unread
        # the only connection of the pool came back without its socket: a new one, clean
        after, pong = exchange(r, [("CLIENT", "ID"), ("PING",)])
        assert after != before and pong in (b"PONG", "PONG", True)
    finally:
        r.close()


def test_a_killed_connection_is_replaced_and_the_batch_answers_once(redis_service):
    r = redis.Redis.from_url(redis_service.url, decode_responses=True, max_connections=2)
    try:
        (cid,) = exchange(r, [("CLIENT", "ID")])
        redis.Redis.from_url(redis_service.url).client_kill_filter(_id=cid)
        out = exchange(r, [("INCR", "seam:k"), ("CLIENT", "ID")])   # retried on a fresh socket
        assert out[0] == 1 and out[1] != cid
        assert r.get("seam:k") == "1"
    finally:
        r.close()


def test_noscript_reloads_for_run_many_and_for_a_stream(redis_client):
    s = Script(redis_client, INCR_OR_FAIL)
    redis_client.script_flush()
    assert s.run_many([("seam:x", ["1"]), ("seam:x", ["fail"]), ("seam:x", ["2"])])[::2] == [1, 3]
    redis_client.script_flush()
    st = s.stream()
    st.send([("seam:y", ["1"])])
    st.send([("seam:y", ["fail"]), ("seam:y", ["5"])])
    out = st.results()
    assert out[0] == 1 and isinstance(out[1], redis.ResponseError) and out[2] == 6
    assert int(redis_client.get("seam:y")) == 6          # every call ran exactly once


def test_the_pinned_redis_py_range_and_its_public_pool_api():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    pins = [ln.strip() for ln in cfg["options"]["install_requires"].splitlines()
            if ln.strip().startswith("redis")]
    assert pins == ["redis>=8.1,<9"]
    major, minor = (int(x) for x in redis.__version__.split(".")[:2])
    assert (8, 1) <= (major, minor) < (9, 0)
    for name in ("get_connection", "release"):
        assert callable(getattr(redis.ConnectionPool, name))
    for name in ("send_packed_command", "read_response", "disconnect", "can_read"):
        assert callable(getattr(redis.Connection, name))
    assert callable(redis.Connection().retry.call_with_retry)   # not connected: no I/O
