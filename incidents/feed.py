"""The incident feed (实时动态, ``keys.FEED``): one entry per change of any incident, read by the
wall and the console for live updates (contract in docs/architecture.md).

An entry is one stream field ``e``: a JSON object with ``id, state, action, center, category,
severity, lon, lat, town_code, ts`` (epoch ms), written by ``store.Store.prepare`` in the same
atomic script as the change. One field instead of ten: the server's cost of an XADD grows with
its fields. One entry per atomic call: steps that share one (a batch's accept + dispatch) write
the last step's entry with ``steps`` listing them all (``store._joined``).
"""

from __future__ import annotations

import orjson


def fields(raw: dict) -> dict:
    """A feed entry's fields as a dict (entries of the older one-field-per-key layout too)."""
    e = raw.get("e")
    if e is None:
        return raw
    return orjson.loads(e)


__all__ = ["fields"]
