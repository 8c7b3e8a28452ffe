"""Secrets of a deployment, kept in owner-only files or the environment, never in Redis (issue 19
"services authenticate"; 等保 数据保密性, SEC4).

The session-signing key used to live in Redis (``om:web:secret``): anyone who could read Redis
(a backup, a replica, a component's password) could sign a session cookie for any user. It now
comes, in this order, from

1. ``ONEMAP_SECRET_KEY`` (Settings ``secret_key``): the key itself;
2. ``ONEMAP_SECRET_KEY_FILE`` (Settings ``secret_key_file``): a file holding it (a Docker/K8s
   secret, a systemd credential); every web process of a deployment reads the same file;
3. ``<data_dir>/secrets/session-key``: generated (256 bits) on the first start, 0600 in a 0700
   directory; the web processes of one host share it.

The helpers here are the one way OneMap writes a private file (passwords of the Redis users,
the kiosk token, the demo accounts).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from app.config import Settings

SESSION_KEY_FILE = Path("secrets") / "session-key"
"""Under the data dir: the generated session-signing key."""

MIN_KEY_CHARS = 32
"""A configured session key shorter than this is refused (a guessable key signs anyone in)."""


def private_dir(path: Path) -> Path:
    """``path`` created if needed and made 0700 (only its owner may list or enter it)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only (0600, also when it existed before)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret in ``path``; when there is none yet, ``make()``'s, written 0600. Several
    processes starting at once agree on one: the new file is written aside and linked into
    place, which fails for all but the first (they read the winner's)."""
    with contextlib.suppress(FileNotFoundError):
        text = path.read_text().strip()
        if text:
            os.chmod(path, 0o600)         # an older, looser file is tightened
            return text
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    value = make()
    write_private(tmp, value + "\n")
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            text = path.read_text().strip()
            if text:
                return text
            os.replace(tmp, path)          # an empty left-over file: ours replaces it
            return value
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return value


class SecretError(ValueError):
    """A configured secret that cannot be used (missing file, too short)."""


def session_key(settings: Settings) -> str:
    """The Flask session-signing key: the environment, a file, or the data dir (module docstring).
    Never read from or written to Redis."""
    if settings.secret_key:
        key = settings.secret_key
    elif getattr(settings, "secret_key_file", None):
        try:
            key = Path(settings.secret_key_file).read_text().strip()
        except OSError as e:
            raise SecretError(f"ONEMAP_SECRET_KEY_FILE 无法读取 / cannot be read: {e}") from None
    else:
        d = private_dir(Path(settings.data_dir) / SESSION_KEY_FILE.parent)
        return read_or_create(d / SESSION_KEY_FILE.name, lambda: secrets.token_hex(32))
    if len(key) < MIN_KEY_CHARS:
        raise SecretError(f"会话密钥太短 / session key shorter than {MIN_KEY_CHARS} characters")
    return key


def masked(url: str | None) -> str | None:
    """``url`` with its password replaced by ``***``: what a banner or a log line may show of a
    service URL (``redis://web:***@host:6379/0``)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
