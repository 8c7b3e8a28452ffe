"""KPI rows per center and day (考核 over a year in milliseconds, issue 20).

``kpi_daily``: one row per (center, CST day of ``created_at``): the cases the center owns that
were created that day, how many are closed / voided, accepted within an hour, the close times
(closed − reported, seconds: their sum and the sorted values, so that a period's mean and p90
are exact). Kept by the archiver in the same transaction as the incidents it writes
(``incidents.record.kpi_daily.refresh``: the groups a batch touches are recomputed from
``incidents``, so a re-archive changes nothing). Existing rows are filled here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE kpi_daily (
    center text NOT NULL,            -- the owning center (incidents.center)
    day date NOT NULL,               -- the CST (UTC+8) day of created_at
    received integer NOT NULL,
    closed integer NOT NULL,
    voided integer NOT NULL,
    accepted_1h integer NOT NULL,    -- accepted within an hour of the report
    close_n integer NOT NULL,
    close_s_sum double precision NOT NULL,
    close_s double precision[] NOT NULL,   -- every close time (s), sorted: exact percentiles
    PRIMARY KEY (center, day)
)""")
    op.execute("CREATE INDEX kpi_daily_day ON kpi_daily (day)")
    op.execute("""
INSERT INTO kpi_daily
SELECT center, ((created_at AT TIME ZONE 'UTC') + interval '8 hours')::date, count(*),
       count(closed_at), count(voided_at),
       count(*) FILTER (WHERE accepted_at - reported_at <= interval '1 hour'),
       count(closed_at - reported_at),
       coalesce(sum(extract(epoch FROM closed_at - reported_at)), 0),
       coalesce(array_agg(extract(epoch FROM closed_at - reported_at)::float8
                          ORDER BY closed_at - reported_at)
                FILTER (WHERE closed_at - reported_at IS NOT NULL), '{}')
FROM incidents GROUP BY 1, 2""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS kpi_daily")
