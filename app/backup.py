"""备份与恢复 (backup and recovery, SEC29–SEC33, issue 20): the whole system in one directory.

``backup(dest, …)`` writes

| file | what |
|---|---|
| ``redis.rdb`` | a point-in-time snapshot of Redis (``redis-cli --rdb``: the server forks and streams its RDB; works on a remote server too). Incidents still live, queues, feeds, device state, **the accounts (users)**, KPI counters |
| ``redis-<n>.rdb`` | on a Redis Cluster (``redis+cluster://``) instead: one snapshot per master, each its slots' keys (manifest ``redis.nodes``) |
| ``record.dump`` | the record: ``pg_dump -Fc`` (one consistent snapshot of every table: a REPEATABLE READ transaction) |
| ``files/…`` | what the data dir holds that is neither: ``secrets/`` (the session key), the broker's credentials (``mqtt-auth/``: devices' passwords, passwd, acl), ``kiosk-token``, ``demo-accounts.json``, the ``ONEMAP_CONFIG`` file (as ``files/config/onemap.toml``), ``cities/`` (an imported city model) |
| ``manifest.json`` | versions (Redis, PostgreSQL, pg_dump, the schema's Alembic revision, OneMap), times, sizes, SHA-256 of every file, key and row counts |

Order matters: Redis is snapshotted first, the record second. The retention evicts a case from
Redis only after the record holds it, so a case gone from the Redis snapshot was in the record
before the dump began: every case is in at least one of the two (the restored archiver copies
what the snapshot holds newer than the dump, idempotently).

``restore(src, …)`` goes into FRESH services: it verifies every checksum first, refuses a Redis
that holds keys or a record that holds incidents (unless ``force``), loads the snapshot into a
private throw-away redis-server (ACL'd, loopback, in a 0700 temporary dir) and copies every key
to the target with DUMP/RESTORE (TTLs kept; the target is reached through its URL, so any
Redis a user with the rights reaches), restores the dump with ``pg_restore`` (the PostGIS
extension itself is left to the target, which has it), and puts the files back (0600/0700).
The Redis URL must be a user allowed ``SYNC`` and ``RESTORE`` (``admin`` of the private Redis,
``app.redis_acl``). This module is ``app/``: it opens the connections and runs the tools.

Redis Cluster (issue 20): ``backup`` asks the cluster for its masters and snapshots each
(``redis-cli --rdb`` against that master; the same user and password, as ACLs are per node but
the cluster's users are set alike); ``restore`` loads each snapshot in turn into the throw-away
server and RESTOREs its keys through a cluster client, so each key lands on whichever master
owns its slot in the TARGET (a cluster of another shape, or a single Redis, works as well).
Each master's snapshot is a point in time of its own: a city's keys (one hash slot,
grid/keyspace.py) are consistent together; two masters' snapshots are some seconds apart, as
the record is from Redis, and the order argument above holds per city (its archiver and its
retention work on its own slot).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app.context import connect, is_cluster_url
from app.pg import pg_bindir
from app.secret_files import private_dir
from app.services import start_redis_server, system_binary

FORMAT = 1
MANIFEST = "manifest.json"
REDIS_FILE = "redis.rdb"
PG_FILE = "record.dump"
FILES = "files"

DATA_DIR_ITEMS = ("secrets", "kiosk-token", "demo-accounts.json", "cities")
"""What ``files/`` keeps from the data dir (beside the broker's credentials and the config)."""


class BackupError(RuntimeError):
    """A backup or restore that cannot be done (Chinese first)."""


@dataclass(frozen=True)
class Sources:
    """Where a deployment keeps what a backup takes: Redis (a URL of a user allowed SYNC and
    RESTORE), the record (None: history off), the data dir, the broker's credentials, the
    config file."""

    redis_url: str
    pg_url: str | None
    data_dir: Path
    mqtt_auth_dir: Path | None = None
    config_file: Path | None = None


# --- backup -----------------------------------------------------------------------------------
def backup(dest: Path, src: Sources) -> dict:
    """备份 the whole system into ``dest`` (created; must be empty). Returns the manifest."""
    dest = private_dir(Path(dest).resolve())
    if any(dest.iterdir()):
        raise BackupError(f"备份目录非空 / backup directory not empty: {dest}")
    started = _now()
    manifest: dict = {"format": FORMAT, "onemap": _onemap_version(), "started_at": started,
                      "order": "redis snapshot first, then the record"}
    manifest["redis"] = (_cluster_snapshot(src.redis_url, dest) if is_cluster_url(src.redis_url)
                         else _redis_snapshot(src.redis_url, dest / REDIS_FILE))
    manifest["postgres"] = _pg_dump(src.pg_url, dest / PG_FILE) if src.pg_url else None
    manifest["files"] = _copy_files(src, dest / FILES)
    manifest["finished_at"] = _now()
    (dest / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    os.chmod(dest / MANIFEST, 0o600)
    return manifest


def _redis_snapshot(url: str, out: Path) -> dict:
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        info = r.info("server")
        keys = r.dbsize()
        used = r.info("memory")["used_memory"]
    finally:
        r.close()
    exe = system_binary("redis-cli")
    if exe is None:
        raise BackupError("找不到 redis-cli / redis-cli not on PATH (apt-get install redis-tools)")
    args, env = _redis_cli(url)
    at = _now()
    done = subprocess.run([exe, *args, "--rdb", str(out)], env=env, capture_output=True,
                          text=True, timeout=3600, check=False)
    if done.returncode or not out.exists():
        raise BackupError(f"Redis 快照失败 / Redis snapshot failed: "
                          f"{(done.stderr or done.stdout).strip()[-500:]}")
    os.chmod(out, 0o600)
    return {"file": REDIS_FILE, "version": info.get("redis_version"), "snapshot_at": at,
            "keys": keys, "used_memory": used, **_digest(out)}


def _cluster_snapshot(url: str, dest: Path) -> dict:
    """One ``redis-cli --rdb`` per master of the cluster ``url`` names (``redis-<n>.rdb``)."""
    rc = connect(url)
    try:
        masters = sorted((n.host, int(n.port)) for n in rc.get_primaries())
        slots = rc.cluster_slots()
    finally:
        rc.close()
    nodes = []
    for n, (host, port) in enumerate(masters, 1):
        node = _redis_snapshot(_node_url(url, host, port), dest / f"redis-{n}.rdb")
        node["file"] = f"redis-{n}.rdb"
        node["node"] = f"{host}:{port}"
        node["slots"] = sorted([int(a), int(b)] for (a, b), v in slots.items()
                               if (str(v["primary"][0]), int(v["primary"][1])) == (host, port))
        nodes.append(node)
    return {"cluster": True, "version": nodes[0]["version"] if nodes else None,
            "keys": sum(n["keys"] for n in nodes), "used_memory": sum(n["used_memory"] for n in nodes),
            "nodes": nodes}


def _node_url(url: str, host: str, port: int) -> str:
    """The plain ``redis://`` URL of one node of the cluster ``url`` (same user and password)."""
    scheme, rest = url.split("://", 1)
    u = urlparse(f"{'rediss' if scheme.lower().startswith('rediss') else 'redis'}://{rest}")
    cred = u.netloc.rpartition("@")[0]
    return f"{u.scheme}://{cred + '@' if cred else ''}{host}:{port}/0"


def _redis_files(manifest: dict) -> list[tuple[str, dict]]:
    """(file, its entry) of every Redis snapshot of a backup (one, or one per cluster master)."""
    red = manifest["redis"]
    return [(n["file"], n) for n in red["nodes"]] if red.get("cluster") else [(red["file"], red)]


def _dbsize(r: redis.Redis) -> int:
    """Keys held (a cluster: every master's)."""
    if hasattr(r, "get_primaries"):
        return sum(int(r.dbsize(target_nodes=node)) for node in r.get_primaries())
    return int(r.dbsize())


def _redis_cli(url: str) -> tuple[list[str], dict[str, str]]:
    """redis-cli's arguments for ``url``; the password through REDISCLI_AUTH (never argv)."""
    u = urlparse(url)
    args = ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 6379)]
    if u.scheme == "rediss":
        args.append("--tls")
    env = dict(os.environ)
    if u.username:
        args += ["--user", unquote(u.username)]
    if u.password:
        env["REDISCLI_AUTH"] = unquote(u.password)
    return args, env


def _pg_tool(url: str) -> tuple[str, dict[str, str]]:
    """A libpq conninfo without the password (PGPASSWORD carries it: never argv)."""
    params = conninfo_to_dict(url)
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = str(params.pop("password"))
    return make_conninfo(**params), env


def _bin(name: str) -> str:
    bindir = pg_bindir()
    exe = str(bindir / name) if bindir and (bindir / name).exists() else system_binary(name)
    if not exe:
        raise BackupError(f"找不到 {name} / {name} not found (apt-get install postgresql-client)")
    return exe


def _pg_dump(url: str, out: Path) -> dict:
    with psycopg.connect(url, autocommit=True) as c:
        server = c.execute("SHOW server_version").fetchone()[0]
        revision = _revision(c)
        counts = _counts(c)
    conninfo, env = _pg_tool(url)
    exe = _bin("pg_dump")
    at = _now()
    done = subprocess.run([exe, "-Fc", "-f", str(out), "-d", conninfo], env=env,
                          capture_output=True, text=True, timeout=6 * 3600, check=False)
    if done.returncode:
        raise BackupError(f"pg_dump 失败 / pg_dump failed: {done.stderr.strip()[-500:]}")
    os.chmod(out, 0o600)
    tool = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    return {"file": PG_FILE, "server_version": server, "pg_dump": tool.strip(), "dumped_at": at,
            "alembic_revision": revision, "rows": counts, **_digest(out)}


_TABLES = ("incidents", "incident_audit", "incident_tasks", "security_audit", "alarm_episodes",
           "telemetry_hourly")


def _revision(c: psycopg.Connection) -> str | None:
    if c.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is None:
        return None
    row = c.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _counts(c: psycopg.Connection) -> dict[str, int]:
    out = {}
    for t in _TABLES:
        if c.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is not None:
            out[t] = c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 (our names)
    return out


def _file_items(src: Sources) -> list[tuple[Path, str]]:
    """(what, its name under files/) for every file item that exists."""
    data = Path(src.data_dir).resolve()
    items = [(data / n, n) for n in DATA_DIR_ITEMS]
    items.append((Path(src.mqtt_auth_dir or data / "mqtt-auth").resolve(), "mqtt-auth"))
    if src.config_file:
        items.append((Path(src.config_file).resolve(), "config/onemap.toml"))
    return [(p, n) for p, n in items if p.exists()]


def _copy_files(src: Sources, out: Path) -> list[dict]:
    listed = []
    for path, name in _file_items(src):
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if f.name.startswith(".") and f.name.endswith((".lock", ".tmp", ".new")):
                continue        # a lock or a half-written file of a running writer
            rel = name if f == path else f"{name}/{f.relative_to(path).as_posix()}"
            target = out / rel
            private_dir(target.parent)
            shutil.copy2(f, target)
            os.chmod(target, 0o600)
            listed.append({"path": rel, "mode": f"{f.stat().st_mode & 0o777:o}", **_digest(target)})
    return listed


# --- restore ----------------------------------------------------------------------------------
def verify(src: Path) -> dict:
    """The manifest of the backup in ``src`` once every file's size and SHA-256 match."""
    src = Path(src).resolve()
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise BackupError(f"无法读取备份清单 / no readable manifest in {src}: {e}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"备份格式不支持 / unsupported backup format {manifest.get('format')}")
    wanted = _redis_files(manifest)
    if manifest.get("postgres"):
        wanted.append((manifest["postgres"]["file"], manifest["postgres"]))
    wanted += [(f"{FILES}/{f['path']}", f) for f in manifest.get("files", [])]
    for rel, meta in wanted:
        p = src / rel
        if not p.is_file() or _digest(p) != {"bytes": meta["bytes"], "sha256": meta["sha256"]}:
            raise BackupError(f"备份文件缺失或校验不符 / missing or checksum mismatch: {rel}")
    return manifest


def restore(src: Path, dst: Sources, *, force: bool = False) -> dict:
    """恢复 the backup in ``src`` into fresh services and the data dir of ``dst``. Returns what
    was restored (keys, rows, files)."""
    src = Path(src).resolve()
    manifest = verify(src)
    target = connect(dst.redis_url, decode_responses=False, health_check_interval=0)
    try:
        if _dbsize(target) and not force:
            raise BackupError("目标 Redis 非空 / the target Redis holds keys: restore goes into a "
                              "fresh one (or force)")
        if manifest.get("postgres") and not dst.pg_url:
            raise BackupError("备份含档案库，请给出 PostgreSQL / the backup holds the record: "
                              "give the PostgreSQL URL")
        if manifest.get("postgres"):
            _check_fresh_pg(dst.pg_url, force)
        keys = sum(_restore_redis(src / f, target, replace=force)
                   for f, _ in _redis_files(manifest))
    finally:
        target.close()
    rows = _pg_restore(src / manifest["postgres"]["file"], dst.pg_url) \
        if manifest.get("postgres") else {}
    files = _restore_files(src / FILES, manifest.get("files", []), dst)
    return {"keys": keys, "rows": rows, "files": files, "manifest": manifest}


def _check_fresh_pg(url: str, force: bool) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        held = _counts(c)
        if _revision(c) is not None or c.execute(
                "SELECT to_regclass('incidents')").fetchone()[0] is not None:
            if any(held.values()) and not force:
                raise BackupError("目标档案库非空 / the target record holds rows: restore goes "
                                  "into a fresh database (or force)")
            # an empty schema (migrated already): dropped, the dump brings its own
            for t in (*_TABLES, "archive_rejects", "alembic_version"):
                c.execute(f"DROP TABLE IF EXISTS {t} CASCADE")


def _restore_redis(rdb: Path, target: redis.Redis, *, replace: bool) -> int:
    """Load ``rdb`` into a throw-away private redis-server, then DUMP/RESTORE every key into
    ``target`` (a cluster client: each key to the master of its slot). Returns the keys copied."""
    tmp = Path(tempfile.mkdtemp(prefix="onemap-restore-"))
    try:
        private_dir(tmp)
        shutil.copy2(rdb, tmp / "dump.rdb")   # redis-server loads dump.rdb at start (no AOF)
        svc = start_redis_server(tmp, appendonly=False)
        try:
            source = redis.Redis.from_url(svc.url)
            _wait_loaded(source)
            n = 0
            for chunk in _scan_chunks(source):
                p = source.pipeline(transaction=False)
                for k in chunk:
                    p.dump(k)
                    p.pttl(k)
                got = p.execute()
                w = target.pipeline(transaction=False)
                for j, k in enumerate(chunk):
                    value, ttl = got[2 * j], got[2 * j + 1]
                    if value is None:
                        continue
                    w.restore(k, max(int(ttl), 0), value, replace=replace)
                    n += 1
                w.execute()
            source.close()
            return n
        finally:
            svc.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_loaded(r: redis.Redis, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.BusyLoadingError):
            if int(r.info("persistence").get("loading", 0)) == 0:
                return
        if time.monotonic() > deadline:
            raise BackupError("Redis 快照载入超时 / the snapshot did not load in time")
        time.sleep(0.05)


def _scan_chunks(r: redis.Redis, n: int = 500):  # noqa: ANN202
    chunk = []
    for k in r.scan_iter(count=1000):
        chunk.append(k)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _pg_restore(dump: Path, url: str) -> dict[str, int]:
    """pg_restore everything but the extensions themselves (the target has PostGIS: a role
    that may not create or comment on it still restores)."""
    conninfo, env = _pg_tool(url)
    exe = _bin("pg_restore")
    toc = subprocess.run([exe, "-l", str(dump)], capture_output=True, text=True, check=True).stdout
    keep = "\n".join(line for line in toc.splitlines() if " EXTENSION " not in line)
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as f:
        f.write(keep + "\n")
        listing = f.name
    try:
        done = subprocess.run([exe, "--no-owner", "--no-privileges", "--exit-on-error",
                               "--single-transaction", "-L", listing, "-d", conninfo, str(dump)],
                              env=env, capture_output=True, text=True, timeout=6 * 3600,
                              check=False)
    finally:
        os.unlink(listing)
    if done.returncode:
        raise BackupError(f"pg_restore 失败 / pg_restore failed: {done.stderr.strip()[-800:]}")
    with psycopg.connect(url, autocommit=True) as c:
        return _counts(c)


def _restore_files(src: Path, files: list[dict], dst: Sources) -> int:
    data = Path(dst.data_dir).resolve()
    mqtt = Path(dst.mqtt_auth_dir or data / "mqtt-auth").resolve()
    n = 0
    for f in files:
        rel = f["path"]
        if rel.startswith("config/"):
            if dst.config_file is None:
                continue                # kept in the backup; the operator places it
            target = Path(dst.config_file)
        elif rel == "mqtt-auth" or rel.startswith("mqtt-auth/"):
            target = mqtt / rel.removeprefix("mqtt-auth").lstrip("/")
        else:
            target = data / rel
        private_dir(target.parent)
        shutil.copy2(src / rel, target)
        os.chmod(target, int(f.get("mode", "600"), 8) & 0o700)
        n += 1
    return n


# --- helpers ----------------------------------------------------------------------------------
def _digest(path: Path) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _onemap_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("onemap")
    except PackageNotFoundError:
        return "unknown"


__all__ = ["Sources", "backup", "restore", "verify", "BackupError"]
