"""The city's places in the record: towns/streets and grid cells as PostGIS polygons (issue 20),
so that history is broken down by town and grid cell in SQL (``ST_Within`` on ``incidents.geom``)
and analysts' tools (QGIS) see the same areas as the screens.

Filled from the city model by ``incidents.record.places.sync`` (the app, when it first needs them;
again when the model changes).

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


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS places")
