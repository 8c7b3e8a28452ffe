"""incidents.script.Script: many calls of one Lua script per round trip, packed by hiredis, on a
real redis-server: replies in order, one call's error leaves the others alone, and a server that
lost its script cache (restart, SCRIPT FLUSH) gets the script again without losing a call."""

from __future__ import annotations

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
