"""备份与恢复 (SEC29–SEC33, issue 20: "`onemap backup` then `onemap restore` into fresh services
gives back every incident, audit entry, user and device"): cases (open, closed, and closed ones
the retention already took out of Redis: in the record only), an account, devices' broker
credentials and the session key are backed up from the private Redis (ACL'd: the admin user)
and PostgreSQL, then restored into a fresh redis-server, a fresh database and an empty data
dir; everything is back, found through the same service paths."""

from __future__ import annotations

import subprocess

import pytest

from app.backup import BackupError, Sources, backup, restore, verify
from app.broker_auth import BrokerAuth
from app.pg import connector
from app.services import start_redis_server
from app.users import UserStore
from incidents import keys
from incidents.record.archiver import Archiver
from incidents.record.reader import ArchiveReader
from incidents.record.retention import Retention
from incidents.service import IncidentService

from .helpers import make_cases

DAY = 86400.0
PASSWORD = "Backup-Test-2026!x"


@pytest.mark.slow
def test_backup_then_restore_into_fresh_services_gives_everything_back(
        svc, who, here, clock, demo_city, redis_client, redis_service, record_url, pg_url,
        tmp_path):
    r = redis_client
    old = make_cases(svc, who, demo_city, 6, clock, here.town)
    Archiver(r, connector(record_url)).drain()
    clock.advance(8 * DAY)
    assert Retention(r, connector(record_url), 7 * DAY, clock=clock).pass_() == 2
    hot = make_cases(svc, who, demo_city, 3, clock, here.town)   # not archived yet
    ids = old + hot
    reader = ArchiveReader(connector(record_url))
    svc.archive, svc.archive_trail = reader, reader.trail
    before = {i: (svc.get(i, who.town).version, svc.timeline(i, who.town)) for i in ids}
    UserStore(r, demo_city).add("backup.user", PASSWORD, "town_operator", who.town.center, "备份员")

    data = tmp_path / "data"
    auth = BrokerAuth(data / "mqtt-auth").ensure_service_accounts()
    device_pw = auth.issue("WL-backup-1", "water_level")
    (data / "secrets").mkdir(mode=0o700)
    (data / "secrets" / "session-key").write_text("k" * 64)
    accounts = auth.accounts()

    dest = tmp_path / "backup"
    m = backup(dest, Sources(redis_service.url, record_url, data))
    assert m["redis"]["keys"] == r.dbsize()
    assert m["postgres"]["rows"]["incidents"] == 6 and m["postgres"]["alembic_revision"]
    assert {f["path"] for f in m["files"]} >= {"secrets/session-key",
                                              "mqtt-auth/credentials.json", "mqtt-auth/passwd"}
    assert verify(dest)["finished_at"]

    # a file changed after the backup is refused before anything is touched
    bad = tmp_path / "bad"
    subprocess.run(["cp", "-a", str(dest), str(bad)], check=True)
    (bad / "files" / "secrets" / "session-key").write_text("x")
    with pytest.raises(BackupError, match="checksum"):
        verify(bad)

    fresh = start_redis_server(tmp_path / "fresh-redis")       # fresh services, own users
    try:
        new_data = tmp_path / "new-data"
        done = restore(dest, Sources(fresh.url, pg_url, new_data))
        assert done["rows"] == m["postgres"]["rows"]
        with pytest.raises(BackupError, match="非空"):          # twice: the target is not fresh
            restore(dest, Sources(fresh.url, pg_url, new_data))

        import redis  # noqa: PLC0415

        r2 = redis.Redis.from_url(fresh.urls["web"], decode_responses=True)
        svc2 = IncidentService(r2, demo_city, clock=clock)
        reader2 = ArchiveReader(connector(pg_url))
        svc2.archive, svc2.archive_trail = reader2, reader2.trail
        for i in ids:                                           # hot and archived alike
            assert (svc2.get(i, who.town).version, svc2.timeline(i, who.town)) == before[i], i
        assert sum(1 for i in ids if r2.exists(keys.incident(i))) == len(ids) - 2
        assert UserStore(r2, demo_city).verify("backup.user", PASSWORD) is not None
        restored = BrokerAuth(new_data / "mqtt-auth")
        assert restored.accounts() == accounts
        assert restored.accounts()["WL-backup-1"]["password"] == device_pw
        assert (new_data / "secrets" / "session-key").read_text() == "k" * 64
        assert (new_data / "mqtt-auth" / "credentials.json").stat().st_mode & 0o077 == 0
        r2.close()
    finally:
        fresh.stop()


def test_the_cli_refuses_a_directory_that_is_not_a_backup(tmp_path):
    from click.testing import CliRunner  # noqa: PLC0415

    from app.commands.restore import command  # noqa: PLC0415

    (tmp_path / "x").mkdir()
    done = CliRunner().invoke(command, [str(tmp_path / "x"), "--redis-url", "redis://127.0.0.1:1/0",
                                        "--pg-url", "postgresql://u@127.0.0.1:1/x"])
    assert done.exit_code != 0
    assert "无法读取备份清单" in done.output and "manifest" in done.output
