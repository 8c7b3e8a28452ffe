"""Serving the web process with uvicorn: ``run`` (``onemap web``, the main thread) and
``start`` (the demo, a thread stopped with the runtime)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from app.live import logs
from app.live.asgi import LiveApp
from app.timefmt import uvicorn_log_config

if TYPE_CHECKING:
    from flask import Flask

    from app.context import AppContext

GRACE_S = 3     # open streams are closed after this long on shutdown (they never end by themselves)


class _Server(uvicorn.Server):
    """uvicorn's server, stopped by SIGINT/SIGTERM with exit status 0: uvicorn re-raises the
    signal after its graceful shutdown (exit -15), but a process manager's stop is a clean stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def config(server: Flask, ctx: AppContext, host: str, port: int, threads: int,
           access_log: bool = True) -> uvicorn.Config:
    """uvicorn's configuration for the OneMap ASGI app (``app.live.asgi.LiveApp``)."""
    cfg = uvicorn.Config(LiveApp(server, ctx, threads), host=host, port=port, lifespan="on",
                         access_log=access_log, proxy_headers=False, server_header=False,
                         timeout_graceful_shutdown=GRACE_S, backlog=2048,
                         log_config=uvicorn_log_config())   # Beijing time (app.timefmt)
    logs.install()     # after uvicorn configured its loggers
    return cfg


def run(server: Flask, ctx: AppContext, host: str, port: int, threads: int) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's handlers: a clean exit)."""
    _Server(config(server, ctx, host, port, threads)).run()


class Background:
    """uvicorn in a thread of this process (the demo; tests)."""

    def __init__(self, server: Flask, ctx: AppContext, host: str, port: int, threads: int = 16,
                 access_log: bool = True) -> None:
        self.server = uvicorn.Server(config(server, ctx, host, port, threads, access_log))
        self.thread = threading.Thread(target=self._run, name="web", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve()
        asyncio.run(serve())    # not the main thread: no signal handlers

    @property
    def app(self) -> LiveApp:
        return self.server.config.app

    @property
    def port(self) -> int:
        """The bound port (``port=0`` asks the kernel for a free one)."""
        return self.server.servers[0].sockets[0].getsockname()[1]

    def start(self, timeout: float = 20.0) -> Background:
        self.thread.start()
        end = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self.server.started:
                return self
            if not self.thread.is_alive():
                break
            end.wait(0.02)
        raise RuntimeError("the web server did not start")

    def stop(self) -> None:
        """Close the open streams (no signal reaches a server in a thread, so sse-starlette
        does not know it is stopping), then stop the server: a clean shutdown, nothing left
        to cancel after ``GRACE_S``."""
        if self.loop is not None and self.thread.is_alive():
            with contextlib.suppress(RuntimeError):     # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self.app.hub.close_all)
        self.server.should_exit = True
        self.thread.join(timeout=GRACE_S + 5)
