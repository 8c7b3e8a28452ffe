"""The city's places in the record: towns/streets and grid cells as PostGIS polygons (issue 20),
so that history is broken down by town and grid cell in SQL (``ST_Within`` on ``incidents.geom``)
and analysts' tools (QGIS) see the same areas as the screens.

Filled from the city model by ``incidents.record.places.sync`` (the app, when it first needs them;
again when the model changes). ``place_daily``: the cases created each CST day per town and cell,
placed by ``ST_Within`` when the archiver writes them (``places.refresh_daily``, in the batch's
transaction): a year's breakdown by town reads 365 × towns rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE places (
    kind text NOT NULL,              -- 'town' (镇/街道) | 'cell' (网格)
    code text NOT NULL,
    name text NOT NULL,
    town_code text NOT NULL,         -- the town (itself for a town)
    geom geometry(MultiPolygon, 4326) NOT NULL,
    PRIMARY KEY (kind, code)
)""")
    op.execute("CREATE INDEX places_geom ON places USING gist (geom)")
    op.execute("""
CREATE TABLE place_daily (
    kind text NOT NULL,
    code text NOT NULL,
    day date NOT NULL,               -- the CST day of created_at
    received integer NOT NULL,
    closed integer NOT NULL,
    voided integer NOT NULL,
    PRIMARY KEY (kind, code, day)
)""")
    op.execute("CREATE INDEX place_daily_day ON place_daily (day)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS place_daily")
    op.execute("DROP TABLE IF EXISTS places")
