"""The broker's credentials on disk (设备凭据, issue 19, SEC11): issue and revoke MQTT accounts,
write mosquitto 2's password and ACL files, make the broker reload.

One directory (``Settings.mqtt_auth_dir``, default ``<data_dir>/mqtt-auth``, mode 0700) holds:

| file | mode | what |
|---|---|---|
| ``credentials.json`` | 0600 | every account: role, device type, when issued, **its password** (to give to the device once, and for OneMap's own services); never in Redis |
| ``passwd`` | 0600 | mosquitto's ``password_file``: PBKDF2-SHA512 hashes (``$7$``), made by mosquitto's own ``mosquitto_passwd -U`` (the clear passwords go through a 0600 file, never a command line) |
| ``acl`` | 0600 | mosquitto's ``acl_file``, rendered by ``sensors.credentials`` |

mosquitto re-reads both files on SIGHUP and disconnects a client whose account is gone (tested
with 2.0.11): ``reload_broker``. The rights themselves (who may publish where) are the pure
module ``sensors.credentials``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from app.services import ACL_FILE, PASSWD_FILE, PIDFILE, system_binary
from sensors.credentials import SERVICE_ROLES, CredentialError, acl_text, check_name, grant
from sensors.mqtt_client import MqttLogin

if TYPE_CHECKING:
    from app.config import Settings

STORE_FILE = "credentials.json"
PASSWORD_BYTES = 24
"""Random bytes of a generated password (32 URL-safe characters)."""


def auth_dir(settings: Settings) -> Path:
    """Where the broker's credentials live: ``mqtt_auth_dir`` or ``<data_dir>/mqtt-auth``."""
    return Path(settings.mqtt_auth_dir or Path(settings.data_dir) / "mqtt-auth").resolve()


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` atomically, readable by its owner only (0600, also when it existed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class BrokerAuth:
    """The accounts of one broker, kept in ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.store = self.dir / STORE_FILE
        self.passwd = self.dir / PASSWD_FILE
        self.acl = self.dir / ACL_FILE

    # --- reading ----------------------------------------------------------------------------
    def accounts(self) -> dict[str, dict]:
        """Every account: ``{name: {"role", "type", "issued", "password"}}`` (empty: none yet)."""
        try:
            data = json.loads(self.store.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise CredentialError(f"凭据文件无法读取：{self.store} / unreadable: {e}") from None
        return dict(data.get("accounts", {}))

    def login(self, account: str, ca_file: str | None = None) -> MqttLogin | None:
        """The login of ``account`` (None when it has none)."""
        a = self.accounts().get(account)
        if a is None:
            return None
        return MqttLogin(account, a["password"], ca_file)

    # --- changing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict]]:
        """Read-modify-write under an exclusive lock (two admins issuing at once), then write
        the store, the password file and the ACL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            accounts = self.accounts()
            yield accounts
            self._write(accounts)

    def issue(self, account: str, device_type: str = "") -> str:
        """签发: a new random password for ``account`` (a device of ``device_type``, or a service
        account); an existing one's password is replaced (rotation). Returns the password."""
        g = grant(account, device_type)           # checks the names, refuses a typeless device
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        with self._locked() as accounts:
            accounts[account] = {"role": g.role, "type": device_type if g.role == "device" else "",
                                 "issued": int(time.time()), "password": password}
        return password

    def revoke(self, account: str) -> bool:
        """吊销: remove ``account`` (its password and its ACL). False: it had none."""
        check_name(account)
        with self._locked() as accounts:
            return accounts.pop(account, None) is not None

    def ensure_service_accounts(self) -> BrokerAuth:
        """OneMap's own accounts (ingest, simulator) exist and the broker's files are written
        (the demo's broker starts on them)."""
        have = self.accounts()
        if all(a in have for a in SERVICE_ROLES) and self.passwd.exists() and self.acl.exists():
            return self
        with self._locked() as accounts:
            for name, role in SERVICE_ROLES.items():
                accounts.setdefault(name, {"role": role, "type": "", "issued": int(time.time()),
                                           "password": secrets.token_urlsafe(PASSWORD_BYTES)})
        return self

    def _write(self, accounts: dict[str, dict]) -> None:
        """The store, then the hashed password file, then the ACL (each atomic, 0600)."""
        _write_private(self.store, json.dumps({"accounts": accounts}, ensure_ascii=False, indent=1))
        exe = system_binary("mosquitto_passwd")
        if exe is None:
            raise CredentialError("找不到 mosquitto_passwd（apt-get install mosquitto） / "
                                  "mosquitto_passwd is not on PATH")
        clear = self.dir / f".passwd.{os.getpid()}.new"
        _write_private(clear, "".join(f"{n}:{a['password']}\n" for n, a in sorted(accounts.items())))
        try:
            # -U hashes the file in place (PBKDF2-SHA512, the format mosquitto 2 reads)
            done = subprocess.run([exe, "-U", str(clear)], capture_output=True, text=True,
                                  timeout=60, check=False)
            if done.returncode != 0:
                raise CredentialError(f"mosquitto_passwd 失败 / failed: {done.stderr.strip()}")
            os.chmod(clear, 0o600)
            os.replace(clear, self.passwd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                clear.unlink()
        _write_private(self.acl, acl_text(grant(n, a.get("type", "")) for n, a in accounts.items()))


def reload_broker(pid_file: Path) -> int | None:
    """SIGHUP the mosquitto whose pid ``pid_file`` holds: it re-reads the password file and the
    ACL and disconnects clients whose account is gone. Returns the pid, or None when no such
    broker runs (the caller says how to reload by hand)."""
    try:
        pid = int(Path(pid_file).read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    if b"mosquitto" not in cmdline:
        return None            # a stale pid file: the number is some other process's now
    os.kill(pid, signal.SIGHUP)
    return pid


def demo_pid_file(settings: Settings) -> Path:
    """The pid file of the broker ``onemap demo`` started in this data dir (app.services)."""
    return Path(settings.data_dir) / "mqtt" / PIDFILE


def demo_broker_auth(settings: Settings) -> Path:
    """For ``onemap demo``'s private broker: the service accounts exist, the files are
    written; returns the directory to start mosquitto with (``start_mosquitto(auth_dir=…)``)."""
    return BrokerAuth(auth_dir(settings)).ensure_service_accounts().dir


def client_login(settings: Settings, account: str) -> MqttLogin | None:
    """The MQTT login of one of OneMap's own clients (``account``: ``sensors.credentials.INGEST``
    or ``SIMULATOR``): ``mqtt_username`` + the first line of ``mqtt_password_file`` when set
    (production), else ``account``'s password kept in the credentials directory (the demo's
    broker), else none (a broker that takes the URL's user, or anonymous clients). ``mqtt_tls_ca``
    goes with it for ``mqtts://``."""
    ca = str(settings.mqtt_tls_ca) if settings.mqtt_tls_ca else None
    if settings.mqtt_username:
        password = None
        if settings.mqtt_password_file:
            lines = Path(settings.mqtt_password_file).read_text().splitlines()
            password = lines[0].strip() if lines else ""
        return MqttLogin(settings.mqtt_username, password, ca)
    kept = BrokerAuth(auth_dir(settings)).login(account, ca)
    if kept is not None:
        return kept
    return MqttLogin(None, None, ca) if ca else None


__all__ = ["BrokerAuth", "auth_dir", "client_login", "demo_broker_auth", "demo_pid_file",
           "reload_broker"]
