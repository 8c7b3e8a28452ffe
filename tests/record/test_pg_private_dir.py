"""The demo keeps its data dir private (0700, issue 19) and still runs its own PostgreSQL as root
(issue 20): PostgreSQL refuses root, so its ``postgres`` user is let through that one directory
(group postgres, 0710) and nobody else."""

from __future__ import annotations

import os
import pwd
import stat
import tempfile
from pathlib import Path

import psycopg

from app import pg


def test_a_private_data_dir_lets_only_postgres_through(tmp_path_factory):
    base = Path(tempfile.mkdtemp(prefix="onemap-var-"))   # /tmp/…: reachable above, as in var/
    base.chmod(0o755)
    var = base / "var"
    var.mkdir(mode=0o700)
    secret = var / "secrets"
    secret.mkdir(mode=0o700)
    pg.let_through(var)
    svc = pg.start_postgres(var / "pg")
    try:
        with psycopg.connect(svc.url) as c:
            assert c.execute("select postgis_version()").fetchone()[0]
        mode = stat.S_IMODE(var.stat().st_mode)
        if os.geteuid() == 0:
            assert mode == 0o710 and var.stat().st_gid == pwd.getpwnam("postgres").pw_gid
        else:
            assert mode == 0o700              # the server runs as ourselves: nothing to open
        assert stat.S_IMODE(secret.stat().st_mode) == 0o700   # what lies inside stays private
    finally:
        svc.stop()
