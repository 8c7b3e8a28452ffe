"""An incident as the record's rows (``incidents``, ``incident_tasks``, ``incident_audit``) and
back (issue 20). The columns are for queries (考核, 复盘, spatial breakdowns); ``record`` (jsonb)
is the whole incident, from which ``incident_of`` rebuilds it exactly."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import orjson

from incidents.audit import entry as audit_entry
from incidents.incident import Incident, Task
from incidents.vocab import State

STAGE_COLUMNS: dict[str, str] = {s.value: f"{s.value}_at" for s in State}
"""State → the column of the time it was first reached (migrations/versions/0001_record.py)."""

INCIDENT_COLUMNS: tuple[str, ...] = (
    "id", "version", "kind", "state", "category", "severity", "channel", "center",
    "reporter_center", "tier", "centers", "town_code", "village_code", "cell_code", "priority",
    "lon", "lat", "created_at", "updated_at", *STAGE_COLUMNS.values(), "record", "city")
"""The parameters of one incident row, in ``UPSERT_INCIDENT``'s order (``lon``/``lat`` become
``geom``; ``city``: the city's keyspace tag, ``incidents.record.scope``)."""

_FIELDS = {f.name for f in fields(Incident)} - {"intake"}
_TASK_FIELDS = {f.name for f in fields(Task)}


def when(ts: float | None) -> datetime | None:
    """Epoch seconds as a UTC ``timestamptz`` (0 or none: NULL, never 1970)."""
    return datetime.fromtimestamp(ts, UTC) if ts else None


_RECORD_FIELDS = tuple(f.name for f in fields(Incident) if f.name != "intake")
_TASK_NAMES = tuple(f.name for f in fields(Task))


def task_of(t: Task) -> dict[str, Any]:
    """A sub-task as its ``record`` object (``dataclasses.asdict`` without the deep copy)."""
    return {k: getattr(t, k) for k in _TASK_NAMES}


def record_of(inc: Incident) -> dict[str, Any]:
    """The whole incident as JSON (``record``): every field, sub-tasks as objects. The same as
    ``dataclasses.asdict`` less ``intake``, without its deep copy (a third of the bulk path's
    time): the lists and dicts are the incident's own, for dumping, not for changing."""
    d = {k: getattr(inc, k) for k in _RECORD_FIELDS}
    d["tasks"] = [task_of(t) for t in inc.tasks]
    return d


def incident_of(record: dict[str, Any]) -> Incident:
    """The incident back from its ``record`` (fields it lacks take their defaults; keys this
    code does not know, written by a newer one, are ignored)."""
    d = {k: v for k, v in record.items() if k in _FIELDS}
    d["tasks"] = [Task(**{k: v for k, v in t.items() if k in _TASK_FIELDS})
                  for t in d.get("tasks") or ()]
    return Incident(**d)


def incident_row(inc: Incident, city: str = "") -> tuple:
    """The ``incidents`` row's parameters (``INCIDENT_COLUMNS``) for ``city``'s record."""
    stage = [when(inc.times.get(s)) for s in STAGE_COLUMNS]
    has_point = bool(inc.lon or inc.lat)
    return (inc.id, inc.version, inc.kind, inc.state, inc.category, inc.severity, inc.channel,
            inc.center, inc.reporter_center, inc.tier, list(inc.centers), inc.town_code,
            inc.village_code, inc.cell_code, inc.priority,
            inc.lon if has_point else None, inc.lat if has_point else None,
            when(inc.created_ts) or when(inc.updated_ts), when(inc.updated_ts) or when(inc.created_ts),
            *stage, orjson.dumps(record_of(inc)).decode(), city)


def task_rows(inc: Incident, city: str = "") -> list[tuple]:
    """The ``incident_tasks`` rows of the incident's sub-tasks (子任务)."""
    return [(inc.id, t.n, inc.version, t.center, t.state, t.handler, when(t.dispatched_ts),
             when(t.started_ts), when(t.handled_ts), when(t.due_ts),
             orjson.dumps(task_of(t)).decode(), city) for t in inc.tasks]


def audit_row(incident_id: str, seq: int, stream_id: str, raw: dict[str, str],
              city: str = "") -> tuple:
    """An ``incident_audit`` row from an audit stream entry (the hash chain's link ``c``/``d``
    kept in ``entry``, so a copied trail can still be verified)."""
    e = audit_entry(stream_id, raw)
    for k, v in raw.items():
        if k != "e":
            e.setdefault(k, v)
    return (incident_id, seq, stream_id, when(e["ts"]) or datetime.fromtimestamp(
        int(stream_id.split("-")[0]) / 1000, UTC), str(e.get("actor") or ""),
        str(e.get("action") or ""), orjson.dumps(e).decode(), city)


_STAGES_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in STAGE_COLUMNS.values())
UPSERT_INCIDENT = f"""
INSERT INTO incidents (id, version, kind, state, category, severity, channel, center,
    reporter_center, tier, centers, town_code, village_code, cell_code, priority, geom,
    created_at, updated_at, {", ".join(STAGE_COLUMNS.values())}, record, city)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
    ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, {", ".join(["%s"] * len(STAGE_COLUMNS))},
    %s::jsonb, %s)
ON CONFLICT (city, id) DO UPDATE SET version = EXCLUDED.version, kind = EXCLUDED.kind,
    state = EXCLUDED.state, category = EXCLUDED.category, severity = EXCLUDED.severity,
    channel = EXCLUDED.channel, center = EXCLUDED.center,
    reporter_center = EXCLUDED.reporter_center, tier = EXCLUDED.tier,
    centers = EXCLUDED.centers, town_code = EXCLUDED.town_code,
    village_code = EXCLUDED.village_code, cell_code = EXCLUDED.cell_code,
    priority = EXCLUDED.priority, geom = EXCLUDED.geom, created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at, {_STAGES_SET}, record = EXCLUDED.record, archived_at = now()
WHERE incidents.version < EXCLUDED.version
"""
"""Keyed by (city, id) and version: a lower (or equal) version never overwrites a higher one."""

UPSERT_TASK = """
INSERT INTO incident_tasks (incident_id, n, version, center, state, handler, dispatched_at,
    started_at, handled_at, due_at, record, city)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)
ON CONFLICT (city, incident_id, n) DO UPDATE SET version = EXCLUDED.version, center = EXCLUDED.center,
    state = EXCLUDED.state, handler = EXCLUDED.handler, dispatched_at = EXCLUDED.dispatched_at,
    started_at = EXCLUDED.started_at, handled_at = EXCLUDED.handled_at, due_at = EXCLUDED.due_at,
    record = EXCLUDED.record
WHERE incident_tasks.version < EXCLUDED.version
"""

INSERT_AUDIT = """
INSERT INTO incident_audit (incident_id, seq, stream_id, ts, actor, action, entry, city)
VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s)
ON CONFLICT DO NOTHING
"""
"""Append-only, keyed by (city, incident, seq) and (city, incident, stream id): a copy made twice is one."""

INSERT_REJECT = """
INSERT INTO archive_rejects (source, key, reason, raw, city) VALUES (%s, %s, %s, %s::jsonb, %s)
"""

__all__ = ["INCIDENT_COLUMNS", "STAGE_COLUMNS", "UPSERT_INCIDENT", "UPSERT_TASK", "INSERT_AUDIT",
           "INSERT_REJECT", "incident_row", "task_rows", "audit_row", "record_of", "incident_of",
           "when"]
