"""``onemap video``: the video gateway process (issue 23): browsers' live views of cameras, one
upstream pull per camera, grants from the web API, the 视频调阅 log, video-AI snapshots."""

from __future__ import annotations

import click

from app.config import load_settings
from app.context import AppContext
from app.timefmt import setup_logging


@click.command("video")
@click.option("--redis-url", default=None, help="Redis URL (default ONEMAP_REDIS_URL).")
@click.option("--host", default=None, help="Listen address (default [video] host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default [video] port, 8060).")
@click.option("--demo-cameras", type=int, default=0,
              help="Also run N simulated RTSP cameras here (every registry camera maps onto them).")
def command(redis_url: str | None, host: str | None, port: int | None, demo_cameras: int) -> None:
    """Serve live video to the screens through OneMap's gateway (RTSP / VMS platforms)."""
    from app.video import DemoCameras, serve  # noqa: PLC0415

    setup_logging()
    settings = load_settings(**({"redis_url": redis_url} if redis_url else {}))
    cams = None
    if demo_cameras:
        cams = DemoCameras(port=0, cameras=demo_cameras).start()
        settings.video = {**settings.video, "demo_rtsp": cams.base, "demo_pool": demo_cameras}
        click.echo(f"demo cameras: {cams.base}live/1..{demo_cameras}")
    cfg = settings.video_config
    ctx = AppContext(settings, settings.redis_url)
    click.echo(f"video gateway on http://{host or cfg.host}:{port or cfg.port}/video/")
    try:
        serve(ctx, host or cfg.host, port or cfg.port)
    finally:
        if cams is not None:
            cams.stop()
