"""Audit trail (留痕, E32): one append-only stream per incident, read as a timeline.

Entries are written only by ``store.Store.commit`` (one per change, in the same atomic script)
and ``Store.audit_denied`` (refused attempts, ``action = denied:<action>``).
"""

from __future__ import annotations

import json

import redis

from incidents import keys


def timeline(r: redis.Redis, incident_id: str) -> list[dict]:
    """Oldest first: ts (float), actor, name, role, center, action, reason, task, from_state,
    state, v, before/after (dicts), entry (stream id)."""
    out = []
    for entry_id, f in r.xrange(keys.audit(incident_id)):
        d = dict(f)
        d["entry"] = entry_id
        d["ts"] = float(d.get("ts") or 0)
        for k in ("before", "after"):
            d[k] = json.loads(d.get(k) or "{}")
        out.append(d)
    return out
