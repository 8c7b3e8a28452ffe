"""Audit trail (留痕, E32): one append-only stream per incident, read as a timeline.

Entries are written only by ``store.Store.commit`` (one per change, in the same atomic script)
and ``Store.audit_denied`` (refused attempts, ``action = denied:<action>``). Each entry is one
field ``e``: a JSON object (ts, actor, name, role, center, action, reason, task, state,
from_state, v, before, after); entries of the older one-field-per-key layout still read.
"""

from __future__ import annotations

import orjson
import redis

from incidents import keys


def timeline(r: redis.Redis, incident_id: str) -> list[dict]:
    """Oldest first: ts (float), actor, name, role, center, action, reason, task, from_state,
    state, v, before/after (dicts), entry (stream id)."""
    return [entry(entry_id, f) for entry_id, f in r.xrange(keys.audit(incident_id))]


def entry(entry_id: str, fields: dict) -> dict:
    """One audit stream entry as a dict (see ``timeline``)."""
    if "e" in fields:
        d = orjson.loads(fields["e"])
    else:   # the older layout: one stream field per key, before/after as JSON strings
        d = dict(fields)
        for k in ("before", "after"):
            d[k] = orjson.loads(d.get(k) or "{}")
    d["entry"] = entry_id
    d["ts"] = float(d.get("ts") or 0)
    return d
