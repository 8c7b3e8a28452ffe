"""The city of every row a city writes (issue 20: several cities in one deployment, T13,
T27–T29). Case numbers are per city (``E…000001`` exists in each), devices and towns of two
cities may share codes: ``city`` (the city's keyspace tag, grid/keyspace.py; ``''`` on an
untagged single-city deployment, which every existing row gets) joins the keys of
``incidents``, ``incident_audit``, ``incident_tasks``, ``kpi_daily``, ``places``,
``place_daily`` and ``alarm_episodes``; ``archive_rejects`` says whose a rejected row was.
Reads filter by the reader's city (``incidents.record.scope``); the prefecture reads all.

Not here: ``telemetry_hourly`` (device ids carry no city yet; its writer, ``sensors.rollup``,
keys its upsert on (device, metric, hour)), ``security_audit`` (one deployment-wide stream)
and the ledger's tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_KEYS = {
    # table: (old primary key columns, other unique constraints' columns)
    "incidents": (("id",), ()),
    "incident_audit": (("incident_id", "seq"), (("incident_id", "stream_id"),)),
    "incident_tasks": (("incident_id", "n"), ()),
    "kpi_daily": (("center", "day"), ()),
    "places": (("kind", "code"), ()),
    "place_daily": (("kind", "code", "day"), ()),
    "alarm_episodes": (("id",), ()),
}


def _rekey(table: str, pk: tuple[str, ...], uniques: tuple[tuple[str, ...], ...], city: bool) -> None:
    lead = ("city",) if city else ()
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY "
               f"({', '.join(lead + pk)})")
    for cols in uniques:
        old = f"{table}_{'_'.join(cols)}_key"
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {old}")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_city_{'_'.join(cols)}_key")
        name = f"{table}_city_{'_'.join(cols)}_key" if city else old
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({', '.join(lead + cols)})")


def upgrade() -> None:
    for table, (pk, uniques) in _KEYS.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN city text NOT NULL DEFAULT ''")
        _rekey(table, pk, uniques, city=True)
    op.execute("ALTER TABLE archive_rejects ADD COLUMN city text NOT NULL DEFAULT ''")
    # the readers' usual paths start with the city
    op.execute("CREATE INDEX incidents_city_created ON incidents (city, created_at)")
    op.execute("CREATE INDEX kpi_daily_city_day ON kpi_daily (city, day)")
    op.execute("CREATE INDEX place_daily_city_day ON place_daily (city, day)")


def downgrade() -> None:
    for ix in ("incidents_city_created", "kpi_daily_city_day", "place_daily_city_day"):
        op.execute(f"DROP INDEX IF EXISTS {ix}")
    op.execute("ALTER TABLE archive_rejects DROP COLUMN city")
    for table, (pk, uniques) in _KEYS.items():
        # back to one city: only the default city's rows fit the old keys
        op.execute(f"DELETE FROM {table} WHERE city <> ''")
        _rekey(table, pk, uniques, city=False)
        op.execute(f"ALTER TABLE {table} DROP COLUMN city")
