"""The Redis keyspace: the one place that decides how every key name begins (issue 20, T13,
T27–T29: several cities in one deployment, Redis Cluster).

Every keys module (``incidents/keys.py``, ``sensors/keys.py``, ``grid/keys.py``, ``app/keys.py``)
starts its names with ``city()`` (the keys of one city: its incidents, queues, devices, resources)
or ``shared()`` (the keys of the deployment: accounts, sessions, the security audit).

- Untagged (the default, a single-city deployment): both are ``om:``, the names OneMap has
  always used, so an existing single Redis or Sentinel deployment runs unchanged.
- Tagged (``configure(city="gz")``, required on Redis Cluster, and for several cities): a city's
  keys are ``om:{gz}:…`` and the shared keys ``om:{g}:…``. The braces are a Redis Cluster hash
  tag: every key of a city hashes to one slot, so each atomic Lua script and MULTI of the city
  (which only ever touches that city's keys, some of them named inside the script) runs on one
  shard, and different cities spread across the cluster's shards.

Which city a piece of code works for is a ``contextvars`` value (``use(city)``), defaulting to the
deployment's city (``configure``): a worker of one city never names it; the prefecture's view
of all cities reads each one under ``use(code)``.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager

ROOT = "om:"
SHARED_TAG = "g"      # the hash tag of the deployment's shared keys (accounts, sessions, audit)

_TAG_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_default: str = ""    # "" = untagged (legacy single-city names)
_tagged: bool = False
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("onemap_city", default=None)


def valid_tag(tag: str) -> bool:
    """A city tag: letters, digits, ``_.-`` (no braces, no colon), at most 32 characters."""
    return bool(_TAG_RE.match(tag)) and tag != SHARED_TAG


def configure(city: str = "", *, tagged: bool | None = None) -> None:
    """Set the deployment's default city tag. ``city=""`` and not ``tagged``: legacy ``om:``
    names (single Redis). A city (or ``tagged=True``) turns the hash tags on."""
    global _default, _tagged  # noqa: PLW0603 (one process-wide setting, set by app/ at start)
    if city and not valid_tag(city):
        raise ValueError(f"city tag {city!r}: letters, digits and _.- only, not {SHARED_TAG!r}")
    _default = city
    _tagged = bool(city) if tagged is None else tagged
    if _tagged and not _default:
        raise ValueError("a tagged keyspace needs a default city tag")


def tagged() -> bool:
    """Whether keys carry hash tags (Redis Cluster, several cities)."""
    return _tagged


def current() -> str:
    """The city tag the code is working for now ("" when untagged)."""
    c = _current.get()
    return _default if c is None else c


@contextmanager
def use(city: str) -> Iterator[None]:
    """Work for ``city`` inside the block (this thread/task only)."""
    if _tagged and not valid_tag(city):
        raise ValueError(f"unknown city tag {city!r}")
    token = _current.set(city)
    try:
        yield
    finally:
        _current.reset(token)


def city() -> str:
    """The prefix of the current city's keys: ``om:`` (untagged) or ``om:{<city>}:``."""
    if not _tagged:
        return ROOT
    c = _current.get()
    return f"om:{{{_default if c is None else c}}}:"


def city_pattern() -> str:
    """A glob for the prefix of every city's keys (Redis ACL key patterns): ``om:`` untagged,
    ``om:{*}:`` tagged (braces are literal in a glob)."""
    return "om:{*}:" if _tagged else ROOT


def shared() -> str:
    """The prefix of the deployment's shared keys: ``om:`` (untagged) or ``om:{g}:``."""
    return f"om:{{{SHARED_TAG}}}:" if _tagged else ROOT


def lazy_names(module_globals: dict, city_names: dict[str, str], shared_names: dict[str, str] | None = None):
    """A module ``__getattr__`` that spells the constant key names of a keys module at each
    access (``keys.OPEN`` → ``city() + "inc:open"``), so they follow ``use(city)``."""
    shared_names = shared_names or {}

    def __getattr__(name: str) -> str:  # noqa: N807 (PEP 562)
        if name in city_names:
            return city() + city_names[name]
        if name in shared_names:
            return shared() + shared_names[name]
        raise AttributeError(f"module {module_globals['__name__']!r} has no attribute {name!r}")

    return __getattr__


class Bound:
    """``obj`` working for one city: every method call runs under ``use(city)`` (a service of
    each city in one process: ``incidents.cities``). Build ``obj`` under ``use(city)`` too, so
    what it spells at construction is that city's."""

    __slots__ = ("_obj", "city")

    def __init__(self, obj: object, city: str) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "city", city)

    def __getattr__(self, name: str):  # noqa: ANN204
        with use(self.city):
            value = getattr(self._obj, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            with use(self.city):
                return value(*args, **kwargs)

        return call

    def __repr__(self) -> str:
        return f"Bound({self._obj!r}, city={self.city!r})"
