"""``onemap web``: the web screens alone, against real Redis (production: one of several workers)."""

from __future__ import annotations

import click

from app.config import load_settings
from app.context import AppContext
from app.runtime import tune_gc


@click.command("web")
@click.option("--host", default=None, help="Listen address (default ONEMAP_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default ONEMAP_PORT).")
def command(host: str | None, port: int | None) -> None:
    """Serve the screens (wall, console, mobile, analytics, ops); needs ONEMAP_REDIS_URL.

    Served by uvicorn (``app.live.serve``): the Flask app in a fixed pool of request threads
    (ONEMAP_WEB_THREADS), as under waitress before, and beside it ``/events``, the screens'
    push stream, on asyncio: an open screen costs a socket, not a thread (issue 15)."""
    settings = load_settings()    # a bad configuration stops here, before Redis is needed
    from app.live import serve  # noqa: PLC0415
    from app.server import create_server  # noqa: PLC0415

    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL (or run `onemap demo`)")
    ctx = AppContext(settings, settings.redis_url, settings.mqtt_url)
    if settings.pg_url:     # a case Redis no longer holds is read from the record (issue 20)
        from app.record import attach_reader  # noqa: PLC0415

        attach_reader(ctx, settings.pg_url)
    server = create_server(ctx)
    tune_gc()
    # SIGTERM (a process manager's stop) and Ctrl-C: uvicorn closes the streams, exits 0
    serve.run(server, ctx, host or settings.host, port or settings.port, settings.web_threads)
