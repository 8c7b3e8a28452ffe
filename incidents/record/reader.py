"""Reading the record: an incident by id when Redis no longer holds it (issue 20: 查询穿透 —
the console, the API and Open311 find a case whatever its age). ``IncidentService.get`` asks
``ArchiveReader`` after a miss in Redis; ``app/`` builds it with the record's connection."""

from __future__ import annotations

import contextlib
import logging
import threading

import psycopg

from incidents.audit import CHANGE, DENIAL
from incidents.incident import Incident
from incidents.record import scope
from incidents.record.archiver import Connect
from incidents.record.rows import incident_of

log = logging.getLogger(__name__)


def load(conn: psycopg.Connection, incident_id: str, city: str | None = None) -> Incident | None:
    """The archived incident of ``city`` (its newest archived version), or None. ``city``:
    default the city the code works for (``grid.keyspace.current``): a case number names a
    case of one city (each city numbers its own)."""
    city = scope.writer_city() if city is None else city
    row = conn.execute("SELECT record FROM incidents WHERE city = %s AND id = %s",
                       (city, incident_id)).fetchone()
    return incident_of(row[0]) if row else None


def trail(conn: psycopg.Connection, incident_id: str, city: str | None = None) -> list[dict]:
    """The archived audit trail of ``city``'s case (default as ``load``), oldest first, as
    ``incidents.audit.timeline`` gives it (the hash-chain links ``c``/``d`` the record keeps
    beside are left out)."""
    city = scope.writer_city() if city is None else city
    out = []
    for (e,) in conn.execute("SELECT entry FROM incident_audit WHERE city = %s AND "
                             "incident_id = %s ORDER BY seq", (city, incident_id)):
        e.pop(CHANGE, None)
        e.pop(DENIAL, None)
        out.append(e)
    return out


class ArchiveReader:
    """``reader(id) -> Incident | None`` over one connection shared by a process's threads
    (opened on first use, opened again after a failure). The record unreachable: None and a
    warning, as if the case were unknown — a read never hangs the screen on the archive."""

    def __init__(self, connect: Connect) -> None:
        self.connect = connect
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def __call__(self, incident_id: str) -> Incident | None:
        return self._read(load, incident_id, None)

    def trail(self, incident_id: str) -> list[dict]:
        """The archived audit trail (``trail``); [] when the record is unreachable."""
        return self._read(trail, incident_id, [])

    def query(self, fn, arg, missing):  # noqa: ANN001, ANN201
        """``fn(connection, arg)`` on the reader's connection (复盘, the history screens):
        ``missing`` when the record is unreachable."""
        return self._read(fn, arg, missing)

    def _read(self, fn, incident_id: str, missing):  # noqa: ANN001, ANN202
        with self._lock:
            for attempt in (1, 2):      # a connection the server dropped: once more, anew
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self.connect()
                        self._conn.autocommit = True
                    return fn(self._conn, incident_id)
                except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                    self.close()
                    if attempt == 2:
                        log.warning("档案库不可用 record unreachable reading %s: %s", incident_id, e)
            return missing

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


__all__ = ["ArchiveReader", "load", "trail"]
