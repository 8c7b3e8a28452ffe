"""The private Redis's ACL users (issue 19 "services authenticate"; 等保 访问控制, SEC4).

``onemap demo`` and the tests start redis-server with an ACL file written from ``USERS``: the
``default`` user needs the admin's password (a client without one is refused: ``NOAUTH``; it
is not switched off, see ``write_acl_file``), and each component
connects as its own user with the least it needs:

| user | keys | commands |
|---|---|---|
| ``admin`` | all | all: the operator's CLI, backups, tests |
| ``web`` | ``om:*`` | reads, writes, scripts, streams; ``INFO`` for /ops; never ``FLUSHALL``, ``FLUSHDB``, ``KEYS``, ``CONFIG``, ``DEBUG``, ``SHUTDOWN``, ``ACL``, ``MONITOR``, ``SCRIPT FLUSH``, … (``-@dangerous``) |
| ``ingest`` | the sensors keys (``sensors/keys.py``), ``om:alarms``, ``om:hb`` | as web, without ``INFO`` |
| ``dispatch`` | the incidents keys (``incidents/keys.py``), ``om:alarms``, ``om:hb`` | as ingest |

Key patterns are checked by Redis on every command, inside Lua scripts too (the store's and the
ingest scripts compute keys from prefixes they are handed: the patterns are prefixes for that
reason). The web user reads every ``om:`` key: the screens show devices, incidents, accounts and
the audit; no secret that could sign a session is kept in Redis (``app.secret_files``).

Passwords are random (256 bits), generated on the first start into ``<dir>/acl/<user>.password``
(0600, the directory 0700); the ACL file Redis reads holds only their SHA-256 (``#<hex>``).
A later start reuses them, so the URLs (and the running workers' reconnects) stay valid.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from app.secret_files import private_dir, read_or_create

_NEVER = ("-@dangerous", "-script|flush", "-script|kill", "-function")
"""Taken from every component user (after the grants): the commands that wipe, reconfigure, spy
on or stop the server (ACL category @dangerous: FLUSHALL, FLUSHDB, KEYS, CONFIG, DEBUG, SHUTDOWN,
ACL, MONITOR, CLIENT KILL/LIST, SAVE, REPLICAOF, MODULE, SWAPDB, SORT, …), dropping every cached
script, and functions (OneMap has none)."""

_GRANTS = ("-@all", "+@read", "+@write", "+@keyspace", "+@string", "+@hash", "+@list", "+@set",
           "+@sortedset", "+@stream", "+@geo", "+@hyperloglog", "+@bitmap", "+@scripting",
           "+@transaction", "+@connection", "+@fast")
"""What a component may run: data commands of every type, scripts (EVALSHA/SCRIPT LOAD),
MULTI/EXEC/WATCH, PING/AUTH/HELLO/CLIENT SETNAME; then ``_NEVER`` removes the dangerous ones."""


@dataclass(frozen=True)
class AclUser:
    """One Redis user: its key patterns (``~…``) and command rules, in Redis ACL syntax."""

    name: str
    keys: tuple[str, ...]
    commands: tuple[str, ...]

    def rule(self, password_sha256: str) -> str:
        """Its line in an ACL file (``user NAME on #SHA256 ~pattern … +cmd …``)."""
        return " ".join(("user", self.name, "on", f"#{password_sha256}", "resetchannels",
                         *(f"~{k}" for k in self.keys), *self.commands))


def _ingest_keys() -> tuple[str, ...]:
    """The sensors package's keys (``sensors/keys.py``: device state/last/history/levels, alarm
    episodes and conditions, cameras, dead letter, ingest stats, health lock) and the two shared
    ones it writes: the ``om:alarms`` stream (grid/contracts.py) and heartbeats (app/keys.py)."""
    from app.keys import HEARTBEATS  # noqa: PLC0415
    from grid.keyspace import city_pattern  # noqa: PLC0415

    c = city_pattern()      # om: (untagged), om:{*}: every city of a tagged keyspace (issue 20)
    return (f"{c}dev:*", f"{c}alarm:*", f"{c}cam:*", f"{c}dlq", f"{c}dlq:*", f"{c}ingest:*",
            f"{c}health:*", f"{c}alarms", HEARTBEATS)


def _dispatch_keys() -> tuple[str, ...]:
    """Every incidents key (``incidents/keys.py``: ``om:inc:`` prefix), the alarm stream it
    consumes (group ``intake``) and heartbeats."""
    from app.keys import HEARTBEATS  # noqa: PLC0415
    from grid.keyspace import city_pattern  # noqa: PLC0415

    c = city_pattern()
    return (f"{c}inc:*", f"{c}alarms", HEARTBEATS)


def users() -> tuple[AclUser, ...]:
    """OneMap's Redis users, ``admin`` first (the Service's own URL)."""
    base = (*_GRANTS, *_NEVER)
    return (AclUser("admin", ("*",), ("+@all",)),
            AclUser("web", ("om:*",), (*base, "+info")),   # INFO: /ops shows memory, clients
            AclUser("ingest", _ingest_keys(), base),
            AclUser("dispatch", _dispatch_keys(), base))


COMPONENTS = ("admin", "web", "ingest", "dispatch")
"""The users' names (``Service.urls`` keys)."""


def passwords(data_dir: Path) -> dict[str, str]:
    """Each user's password, generated on the first start (``<data_dir>/acl/<user>.password``,
    0600 in a 0700 directory), the same ones later."""
    d = private_dir(data_dir / "acl")
    return {u: read_or_create(d / f"{u}.password", lambda: secrets.token_hex(32)) for u in COMPONENTS}


def write_acl_file(data_dir: Path, pw: dict[str, str]) -> Path:
    """``<data_dir>/users.acl`` (0600): ``default`` behind the admin's password, each user with
    its password's SHA-256."""
    from app.secret_files import write_private  # noqa: PLC0415

    admin = hashlib.sha256(pw["admin"].encode()).hexdigest()
    # ``default`` is on, with the admin's password and rights, never without a password: Redis
    # 7.0 replays the AOF as ``default`` and re-checks ACLs at each EXEC, so a ``default off``
    # silently drops every MULTI/EXEC and script effect on restart (data loss: redis#14541,
    # fixed in later releases; valkey#3983). A client that sends no password is still refused.
    lines = [f"user default on #{admin} resetchannels ~* &* +@all"]
    lines += [u.rule(hashlib.sha256(pw[u.name].encode()).hexdigest()) for u in users()]
    path = data_dir / "users.acl"
    write_private(path, "\n".join(lines) + "\n")
    return path


def url(host: str, port: int, user: str, password: str, db: int = 0) -> str:
    """``redis://user:password@host:port/db`` (quoted: a password may hold any character)."""
    return f"redis://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{db}"
