"""走访/服务记录 (G8 "按巡查任务登记服务记录", E10; issue 24): a grid worker's visit to a roster
object, logged against a patrol task, in PostgreSQL (migration 0005 ``ledger_visits``). The
connection is the caller's (``app`` opens it).

A visit's ``id`` is made on the phone (the offline outbox's key): ``record`` inserts it once and a
replay of the same id returns the stored row unchanged (``ON CONFLICT DO NOTHING``), so a retry
after a lost answer never double-counts. A person is named on the phone by an opaque token
(``person_token``, a keyed hash of the ID number): the phone holds only masked fields, never a
key that would unmask them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import psycopg

VISIT_KINDS = ("走访", "服务")
OBJECT_KINDS = {"person": "ledger_people", "house": "ledger_houses", "unit": "ledger_units",
                "place": ""}
"""The roster object a visit may name (its register's table); the people's key is the ID number,
houses' and units' their ``code``; a place (地: a shelter or warehouse of the emergency resource
register, kept in Redis) its resource id."""
VISIT_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-]{7,63}")
"""A client-generated visit id (the outbox's 32 hex characters; 8–64 letters, digits, '-')."""
TOKEN_CHARS = 20


def person_token(secret: bytes, id_number: str) -> str:
    """The phone's name for a person (``p`` + 20 hex of an HMAC of the ID number): stable per
    deployment, reveals nothing of the number."""
    return "p" + hmac.new(secret, id_number.encode(), hashlib.sha256).hexdigest()[:TOKEN_CHARS]


@dataclass(frozen=True)
class Visit:
    """One 走访/服务记录 as stored."""

    id: str
    cell_code: str
    town_code: str
    task_id: str
    worker: str
    kind: str
    visited_at: datetime
    note: str = ""
    object_kind: str | None = None
    object_ref: str | None = None
    lon: float | None = None
    lat: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["visited_at"] = self.visited_at.astimezone(UTC).isoformat()
        d["ts"] = int(self.visited_at.timestamp() * 1000)
        return d


_COLS = ("id", "cell_code", "town_code", "task_id", "worker", "kind", "visited_at", "note",
         "object_kind", "object_ref", "lon", "lat")
_SELECT = f"SELECT {', '.join(_COLS)} FROM ledger_visits"


def _visit(row: tuple) -> Visit:
    return Visit(**dict(zip(_COLS, row, strict=True)))


def record(conn: psycopg.Connection, v: Visit) -> tuple[Visit, bool]:
    """Insert ``v`` unless its id is stored already: (the stored visit, whether it was new)."""
    if v.kind not in VISIT_KINDS:
        raise ValueError(f"记录类型应为 {'、'.join(VISIT_KINDS)} 之一 (kind: 走访 or 服务)")
    if (v.object_kind is None) != (v.object_ref is None) or (
            v.object_kind is not None and v.object_kind not in OBJECT_KINDS):
        raise ValueError("对象类型应为 person、house、unit 之一 (unknown object kind)")
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO ledger_visits ({', '.join(_COLS)}) VALUES "
                    f"({', '.join(['%s'] * len(_COLS))}) ON CONFLICT (id) DO NOTHING",
                    [getattr(v, c) for c in _COLS])
        if cur.rowcount == 1:
            return v, True
        cur.execute(f"{_SELECT} WHERE id = %s", (v.id,))
        return _visit(cur.fetchone()), False


_LABEL = """
SELECT v.id, v.task_id, v.kind, v.note, v.visited_at, v.object_kind, v.object_ref, v.worker,
       COALESCE(p.name, h.address, u.name, '') AS label
FROM ledger_visits v
LEFT JOIN ledger_people p ON v.object_kind = 'person' AND p.id_number = v.object_ref
LEFT JOIN ledger_houses h ON v.object_kind = 'house' AND h.code = v.object_ref
LEFT JOIN ledger_units u ON v.object_kind = 'unit' AND u.code = v.object_ref
"""
_LABEL_KEYS = ("id", "task_id", "kind", "note", "visited_at", "object_kind", "object_ref",
               "worker", "label")


def listed(conn: psycopg.Connection, *, task_ids: list[str] | None = None,
           worker: str | None = None, limit: int = 200) -> list[dict]:
    """Visits of some tasks and/or one worker, newest first, each with its object's label (a
    person's name unmasked: the caller masks). Personal keys stay here: ``object_ref`` of a
    person is the ID number."""
    where, args = [], []
    if task_ids is not None:
        where.append("v.task_id = ANY(%s)")
        args.append(list(task_ids))
    if worker is not None:
        where.append("v.worker = %s")
        args.append(worker)
    sql = _LABEL + (" WHERE " + " AND ".join(where) if where else "") + \
        " ORDER BY v.visited_at DESC, v.id LIMIT %s"
    with conn.cursor() as cur:
        cur.execute(sql, [*args, limit])
        return [dict(zip(_LABEL_KEYS, r, strict=True)) for r in cur.fetchall()]


__all__ = ["OBJECT_KINDS", "VISIT_ID", "VISIT_KINDS", "Visit", "listed", "person_token",
           "record"]
