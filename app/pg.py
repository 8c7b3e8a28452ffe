"""A private PostgreSQL 15 + PostGIS instance (the record, issue 20; SEC9, E18, M37–M39).

Like ``app.services`` for Redis and Mosquitto: ``onemap demo`` and the test fixtures start one
on a free loopback port with its cluster in a data dir (``initdb`` once, then ``postgres``),
its unix socket in that data dir, ``trust`` for local connections only (the socket and
127.0.0.1), and a database ``onemap`` with the ``postgis`` extension. Debian's packages
(``postgresql``, ``postgresql-15-postgis-3``) provide the binaries: scripts/install-system.sh.

PostgreSQL refuses to run as root: as root, the cluster belongs to (and the server runs as)
the ``postgres`` user the Debian package creates, so the data dir must be reachable by it
(``tempfile.mkdtemp()`` under /tmp is; pytest's 0700 ``/tmp/pytest-of-root`` is not).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.services import Service, free_port, system_binary

DATABASE = "onemap"
"""The database a private instance creates (the URL names it)."""

SUPERUSER = "postgres"

_TEST_SETTINGS: tuple[str, ...] = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
"""``durable=False`` (tests): no fsync. A clean stop still writes everything out; only a power
cut would lose data, and a test's cluster is thrown away anyway."""


def pg_bindir() -> Path | None:
    """The directory of ``initdb``/``pg_ctl``/``postgres``: Debian keeps them out of PATH in
    /usr/lib/postgresql/<major>/bin (the newest major wins); else wherever ``pg_ctl`` is."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    exe = system_binary("pg_ctl")
    return Path(exe).parent if exe else None


def available() -> bool:
    """PostgreSQL and PostGIS are installed (``onemap demo`` starts history only then)."""
    bindir = pg_bindir()
    if bindir is None or not (bindir / "postgres").exists():
        return False
    share = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True,
                           text=True, check=False).stdout.strip() if (bindir / "pg_config").exists() else ""
    return bool(share) and Path(share, "extension", "postgis.control").exists()


@dataclass
class PgService(Service):
    """A running private PostgreSQL; ``stop`` is a fast shutdown (SIGINT: clients are
    disconnected, everything committed is written out), not the smart one SIGTERM asks for,
    which would wait for every client to leave."""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _run_as() -> str | None:
    """The user to run PostgreSQL as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise RuntimeError("以 root 运行需要 postgres 用户 / running as root needs the 'postgres' "
                           "user (apt-get install postgresql creates it)") from None
    return SUPERUSER


def _check_reachable(data_dir: Path, user: str) -> None:
    """As root, the server runs as ``user``: every directory above ``data_dir`` must let it
    through (a 0700 ``var/`` or pytest's ``/tmp/pytest-of-root`` does not)."""
    uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
    for d in data_dir.parents:
        try:
            st = d.stat()
        except FileNotFoundError:
            continue            # made below, by root, 0755
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)
                or (st.st_gid == gid and st.st_mode & 0o010)):
            raise RuntimeError(
                f"以 root 运行时 {user} 用户须能进入 {d} / as root, PostgreSQL runs as {user}, "
                f"which cannot enter {d} (mode {st.st_mode & 0o777:o}): give ONEMAP_PG_URL, "
                "or run OneMap as a normal user")


def let_through(private_dir: Path, user: str = "postgres") -> None:
    """As root, let the PostgreSQL server's user pass through a private (0700, root) directory
    to the cluster below it, and no one else: the directory's group becomes ``user``'s and its
    mode 0710 (the group may enter, not list; others nothing). What lies inside keeps its own
    0700/0600 modes. A no-op when we are not root (the server then runs as ourselves)."""
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    private_dir.mkdir(parents=True, exist_ok=True)
    os.chown(private_dir, 0, pw.pw_gid)
    private_dir.chmod(0o710)


def _group(user: str | None) -> int | None:
    """The server user's own group (``subprocess``'s ``user=`` sets the uid only: the child
    would keep root's group and not get through a 0710 root:postgres directory)."""
    return pwd.getpwnam(user).pw_gid if user else None


def _groups(user: str | None) -> list[int] | None:
    return [] if user else None


def _hand_over(path: Path, user: str | None) -> None:
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def start_postgres(data_dir: Path | None = None, port: int | None = None, *,
                   durable: bool = True, timeout: float = 60.0) -> PgService:
    """Start PostgreSQL on 127.0.0.1:``port`` with its cluster in ``data_dir/pgdata``
    (``initdb`` the first time), the socket in ``data_dir``, a database ``onemap`` with PostGIS.
    Returns a ``PgService`` whose ``url`` is ``postgresql://postgres@127.0.0.1:PORT/onemap``."""
    bindir = pg_bindir()
    if bindir is None:
        raise FileNotFoundError("未找到 PostgreSQL / PostgreSQL not found (apt-get install "
                                "postgresql postgresql-15-postgis-3)")
    user = _run_as()
    port = port or free_port()
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="onemap-pg-")).resolve()
    if user is not None:
        _check_reachable(data_dir, user)
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)          # the server (another user when we are root) reaches its socket
    _hand_over(data_dir, user)
    pgdata = data_dir / "pgdata"
    if not (pgdata / "PG_VERSION").exists():
        if pgdata.exists():        # an initdb that did not finish: start over
            shutil.rmtree(pgdata)
        done = subprocess.run([str(bindir / "initdb"), "-D", str(pgdata), "-U", SUPERUSER,
                               "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
                               "--no-sync"], capture_output=True, text=True, user=user,
                              group=_group(user), extra_groups=_groups(user), check=False)
        if done.returncode:
            raise RuntimeError(f"initdb 失败 / initdb failed: {done.stderr.strip()[-500:]}")
        # trust only what is local: the socket and loopback (the server listens on nothing else)
        (pgdata / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n")
    _stop_leftover(pgdata)
    settings = ["listen_addresses=127.0.0.1", f"port={port}",
                f"unix_socket_directories={data_dir}", "max_connections=100",
                *(() if durable else _TEST_SETTINGS)]
    args = [str(bindir / "postgres"), "-D", str(pgdata)]
    for s in settings:
        args += ["-c", s]
    log = open(data_dir / "postgres.log", "ab")  # noqa: SIM115  (the child keeps it)
    _hand_over(data_dir / "postgres.log", user)
    proc = subprocess.Popen(args, stdout=log, stderr=log, process_group=0, user=user, group=_group(user),
                            extra_groups=_groups(user))
    log.close()
    svc = PgService("postgres", f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}", port,
                    proc, data_dir)
    try:
        admin = _connect(f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", proc, timeout)
    except BaseException:
        svc.stop()
        raise
    with admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
    with psycopg.connect(svc.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return svc


def restart_postgres(svc: PgService, *, durable: bool = True) -> PgService:
    """Stop and start the same cluster on the same port (crash and retry tests)."""
    svc.stop()
    return start_postgres(svc.data_dir, svc.port, durable=durable)


MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
"""The Alembic revisions of the record (at the top of the repository)."""


def sqlalchemy_url(url: str) -> str:
    """A ``postgresql://`` URL for SQLAlchemy's psycopg 3 driver (Alembic runs on it)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError(f"不是 PostgreSQL URL / not a PostgreSQL URL: {url}")


def alembic_config(url: str):  # noqa: ANN201  (alembic.config.Config, imported when used)
    """Alembic's configuration, built here (no alembic.ini to keep in step with Settings)."""
    from alembic.config import Config  # noqa: PLC0415

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a password with % must be doubled
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> str:
    """Bring the record's schema to ``revision`` (``onemap db upgrade``); returns the revision
    the database is at afterwards. Idempotent: at head already, nothing happens."""
    from alembic import command  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
    from sqlalchemy import create_engine  # noqa: PLC0415

    cfg = alembic_config(url)
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() or ""
    finally:
        engine.dispose()


def connector(url: str, application_name: str = "onemap") -> Callable[[], psycopg.Connection]:
    """A function opening a new autocommit connection to the record: what the archiver and the
    reader are handed (they open another after a failure). ``application_name`` names the
    process in ``pg_stat_activity``."""
    def connect() -> psycopg.Connection:
        return psycopg.connect(url, autocommit=True, connect_timeout=5,
                               application_name=application_name)
    return connect


def _connect(url: str, proc: subprocess.Popen, timeout: float) -> psycopg.Connection:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=2)
        except psycopg.OperationalError:
            if proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({proc.returncode}): see postgres.log") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop_leftover(pgdata: Path) -> None:
    """A server an earlier OneMap left running on this cluster (killed with SIGKILL, it stopped
    nothing) holds postmaster.pid: a fast shutdown first, or the new one refuses to start."""
    pidfile = pgdata / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pidfile.read_text().split()[0])
        if "postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


__all__ = ["PgService", "start_postgres", "restart_postgres", "pg_bindir", "available", "DATABASE", "migrate",
           "sqlalchemy_url", "connector"]
