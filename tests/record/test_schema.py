"""The record's schema (issue 20): the Alembic history applies on an empty PostgreSQL + PostGIS,
twice without change, through ``onemap db upgrade`` too."""

from __future__ import annotations

import psycopg
from click.testing import CliRunner

from app.commands.db import command as db_command
from app.pg import alembic_config, migrate


def _head() -> str:
    """The newest revision in migrations/ (engineers add revisions: not a literal here)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    return ScriptDirectory.from_config(alembic_config("postgresql://unused/x")).get_current_head()


TABLES = {"incidents", "incident_audit", "incident_tasks", "security_audit", "alarm_episodes",
          "telemetry_hourly", "archive_rejects", "kpi_daily", "places", "alembic_version",
          "ledger_people", "ledger_houses", "ledger_units"}


def test_migrations_apply_on_an_empty_database_and_again_change_nothing(pg_url: str) -> None:
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                         "AND tablename <> 'spatial_ref_sys'").fetchone() == (0,)
    assert migrate(pg_url) == _head()
    with psycopg.connect(pg_url) as c:
        tables = {t for (t,) in c.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables >= TABLES
        # the incident's point is PostGIS geometry in WGS 84
        assert c.execute("SELECT type, srid FROM geometry_columns WHERE f_table_name = 'incidents'"
                         ).fetchone() == ("POINT", 4326)
        uniques = {r[0] for r in c.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid IN "
            "('incident_audit'::regclass, 'telemetry_hourly'::regclass)")}
        assert "PRIMARY KEY (city, incident_id, seq)" in uniques   # 0007: per city
        assert "UNIQUE (device_id, metric, hour)" in uniques
    # the CLI: at head already, nothing to do, same revision
    res = CliRunner().invoke(db_command, ["upgrade", "--pg-url", pg_url])
    assert res.exit_code == 0, res.output
    assert _head() in res.output


def test_db_upgrade_without_a_url_is_a_clear_error(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("ONEMAP_PG_URL", raising=False)
    res = CliRunner().invoke(db_command, ["upgrade"])
    assert res.exit_code == 2
    assert "ONEMAP_PG_URL" in res.output
