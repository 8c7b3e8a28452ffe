"""The grid worker's ledger (辖区对象花名册, G8, E2/G6 人-房-单位; issue 24): people, houses and
units, each in one grid cell (``cell_code``, checked against the city model on import) and its
town (``town_code``: a town's scope is one index scan). Houses and units have their place as a
PostGIS point. Written by ``grid.ledger.store.import_rows`` (COPY into a staging table, then a
validated INSERT … SELECT in one transaction); re-importing a key updates its row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE ledger_people (
    id_number text PRIMARY KEY,      -- 居民身份证号 (personal: masked, unmasked reads audited)
    name text NOT NULL,
    phone text NOT NULL DEFAULT '',  -- personal
    tags text[] NOT NULL DEFAULT '{}',   -- 重点人群 categories
    cell_code text NOT NULL,
    town_code text NOT NULL,
    house_code text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
)""")
    op.execute("CREATE INDEX ledger_people_cell ON ledger_people (cell_code)")
    op.execute("CREATE INDEX ledger_people_town ON ledger_people (town_code)")
    op.execute("""
CREATE TABLE ledger_houses (
    code text PRIMARY KEY,
    address text NOT NULL,
    kind text NOT NULL DEFAULT '',
    cell_code text NOT NULL,
    town_code text NOT NULL,
    geom geometry(Point, 4326) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)""")
    op.execute("CREATE INDEX ledger_houses_cell ON ledger_houses (cell_code)")
    op.execute("CREATE INDEX ledger_houses_geom ON ledger_houses USING gist (geom)")
    op.execute("""
CREATE TABLE ledger_units (
    code text PRIMARY KEY,           -- 统一社会信用代码
    name text NOT NULL,
    kind text NOT NULL,
    phone text NOT NULL DEFAULT '',
    cell_code text NOT NULL,
    town_code text NOT NULL,
    geom geometry(Point, 4326) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)""")
    op.execute("CREATE INDEX ledger_units_cell ON ledger_units (cell_code)")
    op.execute("CREATE INDEX ledger_units_geom ON ledger_units USING gist (geom)")


def downgrade() -> None:
    for t in ("ledger_units", "ledger_houses", "ledger_people"):
        op.execute(f"DROP TABLE IF EXISTS {t}")
