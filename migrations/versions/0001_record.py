"""The record: incidents, their audit trails and sub-tasks, the security audit, alarm episodes and
hourly telemetry rollups (issue 20; E32 audit kept for good, SEC9 complete security audit, E18 /
M37–M39 复盘 and 考核 over history).

Explicit SQL, frozen here: a revision never imports the code of the day (a state added later is
a later revision). Times are ``timestamptz``; geometry is PostGIS ``geometry(Point, 4326)``
(WGS 84 lon/lat, as the map and Redis GEO keep them); the whole incident as Python wrote it is
``record`` (jsonb), so nothing is lost when a field has no column yet.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STAGE_COLUMNS = ("reported_at", "accepted_at", "registered_at", "dispatched_at", "in_progress_at",
                 "handled_at", "verified_at", "closed_at", "voided_at")
"""When the incident first reached each state (``Incident.times``), one column each: the
stage durations of 考核 are differences of columns, not jsonb lookups."""


def upgrade() -> None:
    # PostGIS: a production DBA may have created it already (CREATE EXTENSION needs rights)
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    stage_cols = ",\n".join(f"    {c} timestamptz" for c in STAGE_COLUMNS)
    op.execute(f"""
CREATE TABLE incidents (
    id text PRIMARY KEY,
    version integer NOT NULL,
    kind text NOT NULL,
    state text NOT NULL,
    category text NOT NULL,
    severity text NOT NULL,
    channel text NOT NULL,
    center text NOT NULL,            -- the owning center at this version
    reporter_center text NOT NULL,
    tier text NOT NULL,
    centers text[] NOT NULL,         -- every center involved so far (块 and 条)
    town_code text NOT NULL,
    village_code text NOT NULL,
    cell_code text NOT NULL,
    priority integer NOT NULL,
    geom geometry(Point, 4326),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
{stage_cols},
    record jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
)""")
    op.execute("CREATE INDEX incidents_geom ON incidents USING gist (geom)")
    op.execute("CREATE INDEX incidents_created ON incidents (created_at)")
    op.execute("CREATE INDEX incidents_center_created ON incidents (center, created_at)")
    op.execute("CREATE INDEX incidents_town_created ON incidents (town_code, created_at)")
    op.execute("CREATE INDEX incidents_state ON incidents (state)")

    op.execute("""
CREATE TABLE incident_audit (
    incident_id text NOT NULL,
    seq integer NOT NULL,            -- 1, 2, … in the order of the incident's audit stream
    stream_id text NOT NULL,         -- the Redis stream entry id it came from
    ts timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    entry jsonb NOT NULL,
    PRIMARY KEY (incident_id, seq),
    UNIQUE (incident_id, stream_id)
)""")
    op.execute("CREATE INDEX incident_audit_ts ON incident_audit (ts)")
    op.execute("CREATE INDEX incident_audit_actor ON incident_audit (actor, ts)")

    op.execute("""
CREATE TABLE incident_tasks (
    incident_id text NOT NULL,
    n integer NOT NULL,
    version integer NOT NULL,        -- the incident's version this row was written from
    center text NOT NULL,
    state text NOT NULL,
    handler text NOT NULL,
    dispatched_at timestamptz,
    started_at timestamptz,
    handled_at timestamptz,
    due_at timestamptz,
    record jsonb NOT NULL,
    PRIMARY KEY (incident_id, n)
)""")
    op.execute("CREATE INDEX incident_tasks_center ON incident_tasks (center, dispatched_at)")

    op.execute("""
CREATE TABLE security_audit (
    stream_id text PRIMARY KEY,      -- the Redis stream entry id: idempotent copies
    ts timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    outcome text NOT NULL,
    entry jsonb NOT NULL
)""")
    op.execute("CREATE INDEX security_audit_ts ON security_audit (ts)")
    op.execute("CREATE INDEX security_audit_actor ON security_audit (actor, ts)")

    op.execute("""
CREATE TABLE alarm_episodes (
    id text PRIMARY KEY,             -- the episode's key (device, rule, start)
    version integer NOT NULL DEFAULT 1,
    device_id text NOT NULL,
    kind text NOT NULL,
    rule text NOT NULL,
    level text NOT NULL,             -- the highest level reached
    incident_id text,
    started_at timestamptz NOT NULL,
    cleared_at timestamptz,
    geom geometry(Point, 4326),
    record jsonb NOT NULL
)""")
    op.execute("CREATE INDEX alarm_episodes_device ON alarm_episodes (device_id, started_at)")
    op.execute("CREATE INDEX alarm_episodes_started ON alarm_episodes (started_at)")
    op.execute("CREATE INDEX alarm_episodes_geom ON alarm_episodes USING gist (geom)")

    op.execute("""
CREATE TABLE telemetry_hourly (
    device_id text NOT NULL,
    metric text NOT NULL,
    hour timestamptz NOT NULL,       -- the hour's start
    min double precision NOT NULL,
    max double precision NOT NULL,
    mean double precision NOT NULL,
    count integer NOT NULL,
    UNIQUE (device_id, metric, hour)
)""")
    op.execute("CREATE INDEX telemetry_hourly_hour ON telemetry_hourly (hour)")

    # what the archiver could not store (a hash it cannot read): kept with its reason, counted,
    # never blocking the rest (nothing lost, nothing crashes)
    op.execute("""
CREATE TABLE archive_rejects (
    id bigserial PRIMARY KEY,
    source text NOT NULL,            -- e.g. 'incident'
    key text NOT NULL,
    reason text NOT NULL,
    raw jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
)""")


def downgrade() -> None:
    for t in ("archive_rejects", "telemetry_hourly", "alarm_episodes", "security_audit",
              "incident_tasks", "incident_audit", "incidents"):
        op.execute(f"DROP TABLE IF EXISTS {t}")
