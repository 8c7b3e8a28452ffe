"""Login throttling (登录限速): growing delays per account, per source and per (source, account).

Each failed login counts in three scopes, each with its own free attempts, then a delay that
doubles with every further failure (``base_s * 2**(n - free)``, capped). While a scope's delay
runs, an attempt is answered 429 with Retry-After *before the password is checked* (a guesser
learns nothing and costs no argon2 hash). Counters end ``window_s`` after the last failure.

- ``pair`` (source, account): the usual guesser; a few tries, then quickly long waits.
- ``source``: password spraying, one address trying many accounts (40 grid-worker ids).
- ``account``: many addresses against one account. Its threshold is high and its cap short,
  so a stranger's failures cannot lock the real user out (no hard lockout anyone can trigger):
  at worst the user waits ``cap_s`` before an attempt.

A successful login clears the account's and the pair's counters, never the source's (one
valid account must not wash a spraying address clean). The source is the client address as
``ProxyFix`` resolved it (``settings.trusted_proxies``), so behind a load balancer users do not
share one counter (issue 19; SEC11).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from app.keys import failures_key


@dataclass(frozen=True)
class Backoff:
    """``free`` failures cost nothing; the next waits ``base_s``, doubling up to ``cap_s``."""

    scope: str
    free: int
    base_s: float
    cap_s: float

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures before the next attempt is checked."""
        if failures < self.free:
            return 0.0
        return min(self.cap_s, self.base_s * 2 ** (failures - self.free))


PAIR = Backoff("pair", free=3, base_s=2, cap_s=900)
"""One address against one account: 3 free tries, then 2 s, 4 s, … up to 15 min. Demo default."""
SOURCE = Backoff("source", free=10, base_s=2, cap_s=900)
"""One address over all accounts (spraying): 10 free failures, then doubling. Demo default."""
ACCOUNT = Backoff("account", free=20, base_s=1, cap_s=60)
"""One account from all addresses: 20 free, then at most a minute's wait (never a lockout)."""
WINDOW_S = 900
"""Failures are forgotten this long after the last one (s). Demo default."""
RULES = (PAIR, SOURCE, ACCOUNT)


def _who(rule: Backoff, source: str, account: str) -> str:
    return {"pair": f"{source}|{account}", "source": source, "account": account}[rule.scope]


def wait_s(r: redis.Redis, source: str, account: str, now: float) -> float:
    """Seconds before this (source, account) may try again; 0: check the password now."""
    pipe = r.pipeline(transaction=False)
    for rule in RULES:
        pipe.hmget(failures_key(rule.scope, _who(rule, source, account)), "n", "last")
    waits = [0.0]
    for rule, (n, last) in zip(RULES, pipe.execute(), strict=True):
        if n is not None:
            waits.append(float(last) + rule.delay(int(n)) - now)
    return max(waits)


def failed(r: redis.Redis, source: str, account: str, now: float) -> None:
    """Count one failed login in every scope."""
    pipe = r.pipeline(transaction=False)
    for rule in RULES:
        key = failures_key(rule.scope, _who(rule, source, account))
        pipe.hincrby(key, "n", 1)
        pipe.hset(key, "last", repr(now))
        pipe.expire(key, WINDOW_S)
    pipe.execute()


def succeeded(r: redis.Redis, source: str, account: str) -> None:
    """A good login: the account's and the pair's delays end (the source's stay)."""
    r.delete(failures_key("pair", _who(PAIR, source, account)),
             failures_key("account", account))
