"""Script: one Lua script, called many times in one round trip, packed by hiredis; and
``exchange``: the one small seam where OneMap talks to Redis below redis-py's command API.

The incident store sends every change as one call of ``scripts/apply.lua`` with ~50–150
arguments. redis-py's pipeline spends more client CPU on those arguments than on anything
else (a generator and isinstance per argument, plus its observability hooks), so this sends
``EVALSHA`` calls packed by ``hiredis.pack_command`` down a connection of redis-py's pool and
reads the replies in order.

**The seam, and why it is here.** Everything below the command API goes through redis-py's
*public* connection-pool API only: ``pool.get_connection()`` / ``pool.release(conn)``,
``conn.send_packed_command``, ``conn.read_response``, ``conn.disconnect`` and
``conn.retry.call_with_retry``; no second pool or free list beside redis-py's (there was one;
redis-py's checkout is what checks a connection for a dead socket or unread data). The seam
lives in incidents because incidents is its only user that needs it: sensors, which may not
import incidents, writes one ``ingest.lua`` batch per round trip with redis-py's ordinary
pipeline (a handful of commands, so the per-command cost does not matter there; measured in
bench/README.md), so OneMap has one Redis transport, redis-py's pool, and one place that packs
commands itself. ``tests/incidents/test_redis_seam.py`` is its contract test against the
installed redis-py (pinned ``redis>=8.1,<9`` in setup.cfg): replies in order, a
``ResponseError`` per call that does not stop the others, a broken connection disconnected
before it goes back to the pool (its socket and unread replies are dropped; the pool
reconnects it), and ``NOSCRIPT`` after a server restart (the script is loaded and the calls
that missed it are sent again, in order). A broken connection under redis-py's retry policy
sends the whole batch again: every script call is version-guarded, so a call that had landed
answers 'conflict' instead of acting twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, ResponseError

try:
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis is a declared dependency
    pack_command = None

Call = tuple[str, Sequence[str]]
"""(key, args): one script call on one key."""


class Script:
    """An atomic Lua script on one key, run one call or many calls per round trip."""

    def __init__(self, r: redis.Redis, source: str) -> None:
        self.r = r
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._fallback = r.register_script(source)   # without hiredis: redis-py's own path

    def __call__(self, key: str, args: Sequence[str]) -> list:
        res = self.run_many([(key, args)])[0]
        if isinstance(res, Exception):
            raise res
        return res

    def run_many(self, calls: Sequence[Call]) -> list:
        """Run every call in order in ONE round trip; each result is the script's reply or the
        ``ResponseError`` it ended with (a call's error never stops the others)."""
        if not calls:
            return []
        if pack_command is None:  # pragma: no cover
            p = self.r.pipeline(transaction=False)
            for key, args in calls:
                self._fallback(keys=[key], args=list(args), client=p)
            return p.execute(raise_on_error=False)
        return self._reload_missed(calls, self._send(calls))

    def _reload_missed(self, calls: Sequence[Call], out: list) -> list:
        """``out`` with the calls that found no script (the server restarted: an empty script
        cache) sent again, in order, after loading it."""
        missed = [i for i, res in enumerate(out) if isinstance(res, NoScriptError)]
        if missed:
            self.r.script_load(self.source)
            for i, res in zip(missed, self._send([calls[i] for i in missed]), strict=True):
                out[i] = res
        return out

    def _send(self, calls: Sequence[Call]) -> list:
        return exchange(self.r, self._commands(calls))

    def _commands(self, calls: Sequence[Call]) -> list[tuple]:
        sha = self.sha
        return [("EVALSHA", sha, "1", key, *args) for key, args in calls]

    def stream(self) -> ScriptStream:
        """Calls sent as they are ready, their replies read once at the end (see ScriptStream)."""
        return ScriptStream(self)


class ScriptStream:
    """Script calls sent in chunks as a caller prepares them, on a connection of their own,
    with every reply read at the end (``results``): the server runs the first chunk while the
    caller prepares the next, instead of idling until the whole batch is ready and the caller
    then idling while the server runs it. The same guarantees as ``Script.run_many``: results
    in order, a call's error is its result, a broken connection sends everything again (the
    calls are version-guarded), ``NOSCRIPT`` loads the script and sends the calls that missed."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: list[Call] = []
        self._chunks: list[bytes] = []
        self._conn: redis.connection.AbstractConnection | None = None
        self._pool: redis.ConnectionPool | None = None
        self._broken = False

    def send(self, calls: Sequence[Call]) -> None:
        if not calls:
            return
        self.calls.extend(calls)
        if pack_command is None:  # pragma: no cover - sent at the end by run_many
            return
        data = _packed(self.script._commands(calls))
        self._chunks.append(data)
        if self._broken:
            return                # sent again with the rest at the end
        try:
            if self._conn is None:
                self._pool = _pool(self.script.r, self.script._commands(calls[:1])[0])
                self._conn = self._pool.get_connection()
            self._conn.send_packed_command([data])
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            self._broken = True

    def results(self) -> list:
        """Every call's reply (or its ``ResponseError``), in order; the connection goes back."""
        if pack_command is None or not self._chunks:  # pragma: no cover
            return self.script.run_many(self.calls)
        pool = self._pool or _pool(self.script.r, self.script._commands(self.calls[:1])[0])
        n = len(self.calls)
        conn = self._conn or pool.get_connection()
        try:
            out = None
            if not self._broken:
                try:
                    out = _read_replies(conn, n)
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    conn.disconnect()
            if out is None:       # all again on a fresh connection, under the retry policy
                out = _send_and_read(conn, b"".join(self._chunks), n)
        except BaseException:
            conn.disconnect()     # replies may still be unread
            raise
        finally:
            pool.release(conn)
            self._conn, self._pool, self._chunks = None, None, []
        return self.script._reload_missed(self.calls, out)


def _read_replies(conn: redis.connection.AbstractConnection, n: int) -> list:
    """``n`` replies in order; a command's error is its reply (the rest still answer)."""
    out: list = []
    for _ in range(n):
        try:
            out.append(conn.read_response())
        except ResponseError as exc:
            out.append(exc)
    return out


def exchange(r: redis.Redis, commands: Sequence[Sequence]) -> list:
    """Send ``commands`` in ONE round trip, packed by hiredis on a pooled connection, and return
    the server's raw replies in order (no response callbacks: HGETALL answers a flat list on
    RESP2); a command's error is its reply (``ResponseError``) and never stops the others.
    Under redis-py's retry policy a broken connection sends the whole batch again: only for
    commands that are safe to repeat (reads, and the version-guarded script calls)."""
    if pack_command is None:  # pragma: no cover - hiredis is a declared dependency
        p = r.pipeline(transaction=False)
        for c in commands:
            p.execute_command(*c)
        return p.execute(raise_on_error=False)
    pool = _pool(r, commands[0])
    conn = pool.get_connection()
    try:
        return _send_and_read(conn, _packed(commands), len(commands))
    finally:
        pool.release(conn)   # disconnected by _send_and_read if it failed


def _pool(r: redis.Redis | RedisCluster, command: Sequence) -> redis.ConnectionPool:
    """The pool to send ``command`` (and the rest of its batch) down: the client's own, or on a
    Redis Cluster that of the primary holding the command's key. A batch is one city's (one hash
    slot: grid/keyspace.py), so its first key routes it all."""
    if isinstance(r, RedisCluster):
        key = command[3] if str(command[0]).upper() == "EVALSHA" else command[1]
        return r.get_redis_connection(r.get_node_from_key(key)).connection_pool
    return r.connection_pool


def _packed(commands: Sequence[Sequence]) -> bytes:
    return b"".join(pack_command(tuple(c)) for c in commands)


def _send_and_read(conn: redis.connection.AbstractConnection, data: bytes, n: int) -> list:
    """Send ``data`` (``n`` packed commands) and read their replies, under redis-py's retry
    policy: a broken connection sends it all again."""
    def once() -> list:
        conn.send_packed_command([data])
        return _read_replies(conn, n)

    try:
        return conn.retry.call_with_retry(once, lambda _err: conn.disconnect())
    except BaseException:
        conn.disconnect()   # replies may still be unread: the next exchange must not get them
        raise


__all__ = ["Script", "ScriptStream", "Call", "exchange"]
