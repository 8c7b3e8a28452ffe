"""``onemap demo --reset``: start the demo over (issue 21: there was no documented way).

What a demo keeps in its data dir (``var/``) is stopped and wiped: a demo still running on it
(``demo.pid``) and any server an earlier one left behind (Redis, mosquitto, PostgreSQL: the
pid files in their directories), then the data of Redis, the broker and its accounts, the
record (PostgreSQL), the secrets (session key, Redis ACL passwords), the kiosk token, the
printed accounts' passwords and the camera snapshots. The city model (``cities/``: built once,
minutes on a small machine, no demo data in it) and anything else in the directory stay.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

DEMO_PIDFILE = "demo.pid"
"""In the data dir while ``onemap demo`` runs on it: that process's pid."""

WIPED: tuple[str, ...] = ("redis", "mqtt", "mqtt-auth", "pg", "secrets", "snapshots",
                          "kiosk-token", "demo-accounts.json", DEMO_PIDFILE)
"""The data dir's entries a reset removes; nothing else there is touched."""

STOP_WAIT_S = 60.0
"""How long a running demo has to stop its services before the reset gives up on it."""


class ResetRefused(Exception):
    """The reset would not be safe (a demo still running, a directory that is not a data dir)."""


def present(data_dir: Path) -> list[Path]:
    """The entries a reset of ``data_dir`` would remove, those that exist."""
    return [data_dir / name for name in WIPED if (data_dir / name).exists()
            or (data_dir / name).is_symlink()]


def write_pid(data_dir: Path) -> Path:
    """Note this process as the demo running on ``data_dir``."""
    from app.secret_files import write_private  # noqa: PLC0415

    path = data_dir / DEMO_PIDFILE
    write_private(path, f"{os.getpid()}\n")
    return path


def clear_pid(data_dir: Path) -> None:
    """Forget the note when this process is the one it names."""
    path = data_dir / DEMO_PIDFILE
    with contextlib.suppress(OSError, ValueError, IndexError):
        if int(path.read_text().split()[0]) == os.getpid():
            path.unlink()


def running_demo(data_dir: Path) -> int | None:
    """The pid of an ``onemap demo`` running on ``data_dir`` (not this process), or None."""
    try:
        pid = int((data_dir / DEMO_PIDFILE).read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    if pid == os.getpid() or "demo" not in cmdline or not _alive(pid):
        return None
    return pid


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def stop_running(data_dir: Path, say=print, wait_s: float = STOP_WAIT_S) -> None:  # noqa: ANN001
    """Stop what runs on ``data_dir``: the demo (SIGTERM: it stops its own services), then any
    server an earlier demo left behind (the services' pid files; ``app.services``, ``app.pg``)."""
    pid = running_demo(data_dir)
    if pid is not None:
        say(f"stopping the demo running on {data_dir} (pid {pid})…")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            raise ResetRefused(f"the demo (pid {pid}) did not stop within {wait_s:.0f} s; "
                               "stop it first (Ctrl-C in its terminal)")
    from app.pg import _stop_leftover  # noqa: PLC0415  (a PostgreSQL left on the cluster)
    from app.services import _claim  # noqa: PLC0415  (a Redis or mosquitto left on its dir)

    for sub, name in (("redis", "redis-server"), ("mqtt", "mosquitto")):
        if (data_dir / sub).is_dir():
            _claim((data_dir / sub).resolve(), name)
    if (data_dir / "pg" / "pgdata").is_dir():
        _stop_leftover((data_dir / "pg" / "pgdata").resolve())


def check_data_dir(data_dir: Path) -> None:
    """Refuse a directory that is not a OneMap data dir (a typo must not wipe a home)."""
    resolved = data_dir.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise ResetRefused(f"{resolved} is not a OneMap data directory")


def wipe(data_dir: Path) -> list[str]:
    """Remove the demo's data from ``data_dir`` (``WIPED``); returns the names removed."""
    check_data_dir(data_dir)
    removed = []
    for path in present(data_dir):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path.name)
    return removed


def reset(data_dir: Path, say=print) -> list[str]:  # noqa: ANN001
    """Stop what runs on ``data_dir``, then wipe the demo's data; returns the names removed."""
    check_data_dir(data_dir)
    if not data_dir.exists():
        return []
    stop_running(data_dir, say)
    return wipe(data_dir)
