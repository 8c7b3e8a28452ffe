"""``onemap web``: the web screens alone, against real Redis (production: one of several workers)."""

from __future__ import annotations

import click

from app.config import Settings
from app.context import AppContext
from app.runtime import tune_gc


@click.command("web")
@click.option("--host", default=None, help="Listen address (default ONEMAP_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default ONEMAP_PORT).")
def command(host: str | None, port: int | None) -> None:
    """Serve the screens (wall, console, mobile, analytics, ops); needs ONEMAP_REDIS_URL."""
    from werkzeug.serving import run_simple  # noqa: PLC0415

    from app.server import create_server  # noqa: PLC0415

    settings = Settings()
    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL (or run `onemap demo`)")
    ctx = AppContext(settings, settings.redis_url, settings.mqtt_url)
    server = create_server(ctx)
    tune_gc()
    run_simple(host or settings.host, port or settings.port, server, threaded=True)
