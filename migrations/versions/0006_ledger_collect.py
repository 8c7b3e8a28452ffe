"""信息采集 and 民情日志 (issue 24; E10, G7, G8).

``ledger_collect``: a grid worker's new or changed register object (people/houses/units, the
import's columns, validated like the import: ``grid.ledger.model.validate``), PENDING until the
cell's town reviews it; approve moves it into its register in the same transaction
(``grid.ledger.collect.approve``), reject keeps the reason for the worker. ``(author,
client_key)`` is unique: a replay of the phone's offline outbox never inserts twice.

``ledger_minqing``: 民情日志, what residents say (a category from a fixed list, tags, the place
and cell, the text); ``incident_id`` is the report it was turned into (one tap: the incident's
source ``ref`` names the entry back). ``(author, client_key)`` unique, as above.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE ledger_collect (
    id bigserial PRIMARY KEY,
    author text NOT NULL,
    client_key text NOT NULL,
    kind text NOT NULL,              -- 'people' | 'houses' | 'units'
    op text NOT NULL,                -- 'new' | 'change' (the key was in the register at submit)
    obj_key text NOT NULL,           -- id_number / code
    data jsonb NOT NULL,             -- the register's columns, normalised (personal: masked on read)
    cell_code text NOT NULL,
    town_code text NOT NULL,
    status text NOT NULL DEFAULT 'pending',   -- 'pending' | 'approved' | 'rejected'
    reason text NOT NULL DEFAULT '',
    reviewer text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    reviewed_at timestamptz,
    UNIQUE (author, client_key)
)""")
    op.execute("CREATE INDEX ledger_collect_town ON ledger_collect (town_code, status, id)")
    op.execute("""
CREATE TABLE ledger_minqing (
    id bigserial PRIMARY KEY,
    author text NOT NULL,
    client_key text NOT NULL,
    category text NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    cell_code text NOT NULL,
    town_code text NOT NULL,
    place text NOT NULL DEFAULT '',
    lon double precision,
    lat double precision,
    body text NOT NULL,
    incident_id text,                -- the report it became (one tap), NULL until then
    created_at timestamptz NOT NULL DEFAULT now(),
    reported_at timestamptz,
    UNIQUE (author, client_key)
)""")
    op.execute("CREATE INDEX ledger_minqing_town ON ledger_minqing (town_code, created_at)")


def downgrade() -> None:
    for t in ("ledger_minqing", "ledger_collect"):
        op.execute(f"DROP TABLE IF EXISTS {t}")
