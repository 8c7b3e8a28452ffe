"""Background workers of the embedded demo, each in a thread: ingest, device health, dispatch
(deadlines + alarm intake) and the simulator. Production runs them as separate processes
(``onemap ingest``, ``onemap dispatch``, ``onemap simulate``).
"""

from __future__ import annotations

import logging
import threading

from app.context import AppContext
from app.runtime import Runtime

log = logging.getLogger("onemap")


def start_background_workers(ctx: AppContext, runtime: Runtime, simulate: bool = True) -> list[str]:
    """Start what this checkout has; returns the names of the workers started."""
    started: list[str] = []
    for name, starter in (("ingest", _start_ingest), ("dispatch", _start_dispatch),
                          ("simulator", _start_simulator)):
        if name == "simulator" and not simulate:
            continue
        starter(ctx, runtime)
        started.append(name)
    return started


def _thread(name: str, target, runtime: Runtime) -> threading.Thread:  # noqa: ANN001
    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    return t


def _start_ingest(ctx: AppContext, runtime: Runtime) -> None:
    raise NotImplementedError  # wired once sensors/ lands


def _start_dispatch(ctx: AppContext, runtime: Runtime) -> None:
    raise NotImplementedError  # wired once incidents/ lands


def _start_simulator(ctx: AppContext, runtime: Runtime) -> None:
    raise NotImplementedError  # wired once sensors/ lands
