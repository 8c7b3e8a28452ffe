"""Alarm episodes in the record (issue 20; 复盘 E18: what the sensors raised, when, how high,
until when). The ``om:alarms`` stream (contract: ``grid.contracts``) carries each episode's
events — raise, level, clear — and is capped (``ALARMS_MAXLEN``); ``AlarmEpisodeCopier`` folds
them into one ``alarm_episodes`` row per episode through the consumer group ``archive``.

Idempotent and order-free, so a replayed or re-delivered event changes nothing: the row keeps
the earliest start, the latest clear and the highest level seen, and the record (jsonb) of its
earliest event."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from grid import contracts
from grid.contracts import LEVELS, Event, Field
from incidents import keys
from incidents.record.stream import Entry, StreamWorker

_LEVELS_SQL = "ARRAY[" + ", ".join(f"'{x}'" for x in LEVELS) + "]"

UPSERT_EPISODE = f"""
INSERT INTO alarm_episodes (id, device_id, kind, rule, level, started_at, cleared_at, geom, record,
                            city)
VALUES (%s, %s, %s, %s, %s, %s, %s,
        CASE WHEN %s::float8 IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint(%s::float8, %s::float8), 4326) END, %s::jsonb, %s)
ON CONFLICT (city, id) DO UPDATE SET
    level = CASE WHEN coalesce(array_position({_LEVELS_SQL}, EXCLUDED.level), 0)
                      > coalesce(array_position({_LEVELS_SQL}, alarm_episodes.level), 0)
                 THEN EXCLUDED.level ELSE alarm_episodes.level END,
    record = CASE WHEN EXCLUDED.started_at < alarm_episodes.started_at
                  THEN EXCLUDED.record ELSE alarm_episodes.record END,
    started_at = LEAST(alarm_episodes.started_at, EXCLUDED.started_at),
    cleared_at = GREATEST(alarm_episodes.cleared_at, EXCLUDED.cleared_at)
"""
"""Highest level, earliest start (and its record), latest clear: the same whatever the order
or the number of times an event arrives."""


class AlarmEpisodeCopier(StreamWorker):
    """告警归档: ``om:alarms`` → ``alarm_episodes`` (one row per episode)."""

    group = keys.ARCHIVE_GROUP

    def __init__(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
        super().__init__(*a, **kw)
        self.stream = contracts.ALARMS_STREAM    # the city it was made for (grid/keyspace.py)

    def handle(self, entries: list[Entry]) -> None:
        rows = [r for r in (episode_row(e, self.city) for e in entries) if r is not None]
        if rows:
            conn = self.connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(UPSERT_EPISODE, rows)
        self.stats["events"] += len(rows)
        self.stats["bad"] += len(entries) - len(rows)


def episode_row(entry: Entry, city: str = "") -> tuple | None:
    """The upsert's parameters for one stream entry of ``city`` (None: not an episode event)."""
    eid, f = entry
    episode = f.get(Field.EPISODE)
    if not episode:
        return None
    try:
        ts = datetime.fromtimestamp(int(float(f.get(Field.TS) or eid.split("-")[0])) / 1000, UTC)
    except ValueError:
        ts = datetime.fromtimestamp(int(eid.split("-")[0]) / 1000, UTC)
    lon, lat = _num(f.get(Field.LON)), _num(f.get(Field.LAT))
    point = lon is not None and lat is not None and (lon or lat)
    cleared = ts if f.get(Field.EVENT) == Event.CLEAR else None
    # a clear carries no level worth keeping: the highest comes from raise / level events
    level = "" if f.get(Field.EVENT) == Event.CLEAR else str(f.get(Field.LEVEL) or "")
    return (episode, str(f.get(Field.DEVICE_ID) or ""), str(f.get(Field.DEVICE_TYPE) or ""),
            str(f.get(Field.METRIC) or f.get(Field.SOURCE) or ""), level, ts, cleared,
            lon if point else None, lon if point else None, lat if point else None,
            orjson.dumps({**f, "stream_id": eid}).decode(), city)


def _num(raw: str | None) -> float | None:
    try:
        return float(raw) if raw not in (None, "") else None
    except ValueError:
        return None


__all__ = ["AlarmEpisodeCopier", "episode_row", "UPSERT_EPISODE"]
