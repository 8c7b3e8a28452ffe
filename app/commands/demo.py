"""``onemap demo``: the whole system in one process on embedded defaults.

Redis, the MQTT broker, the demo city (高州市), the simulator, the ingest and dispatch workers and
the web screens, all started here and stopped together on Ctrl-C or SIGTERM. Redis and the broker
are supervised (``app.runtime.Supervisor``: restarted on their ports if they die); each
component connects to Redis as its own ACL user (``app.redis_acl``). The screens are
served as ``onemap web`` serves them (``app.runtime.serve_web``: uvicorn, ``/events`` push, the
quiet access log), in a thread of this process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import signal
import threading
from pathlib import Path

import click

from app.config import Settings, load_settings
from app.context import AppContext
from app.runtime import Runtime, ensure_mqtt, ensure_redis, serve_web, tune_gc
from app.secret_files import masked, private_dir, write_private
from app.timefmt import setup_logging
from app.workers import start_background_workers

log = logging.getLogger("onemap")


@click.command("demo")
@click.option("--host", default=None, help="Listen address (default ONEMAP_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default ONEMAP_PORT, 8050).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data directory (default ONEMAP_DATA_DIR, ./var).")
@click.option("--no-simulate", is_flag=True, help="Do not run the telemetry simulator.")
def command(host: str | None, port: int | None, data_dir: Path | None, no_simulate: bool) -> None:
    """Run the whole system on embedded defaults (demo city, simulator, no outside services)."""
    setup_logging()   # Beijing time, the zone shown (app.timefmt)
    overrides = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items()
                 if v is not None}
    if no_simulate:
        overrides["simulate"] = False
    settings = load_settings(**overrides)   # a bad configuration stops here, before anything starts
    private_dir(Path(settings.data_dir))    # 0700: passwords, keys, Redis's AOF (issue 19)
    settings.kiosk_token = kiosk_token(settings)

    runtime = Runtime()
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        click.echo(f"\nsignal {signum}: stopping everything OneMap started…")
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # a closed terminal: the services are in their own process groups (app.services), so only
    # this process hears the hang-up, and it stops them
    signal.signal(signal.SIGHUP, on_signal)
    try:
        redis_url = ensure_redis(settings, runtime)
        mqtt_url = ensure_mqtt(settings, runtime)
        runtime.supervise()     # a crashed Redis or broker comes back on its port (issue 19)
        # the web's own Redis user; ingest and dispatch connect as theirs (app.redis_acl)
        ctx = AppContext(settings, redis_url, mqtt_url, redis_urls=runtime.redis_urls)
        click.echo(f"Redis: {masked(redis_url)}   MQTT: {masked(mqtt_url)}")
        if runtime.redis_urls:
            click.echo(f"  Redis users {', '.join(runtime.redis_urls)}; passwords in "
                       f"{Path(settings.data_dir) / 'redis' / 'acl'}/")
        first = not (Path(settings.resolved_city_dir) / "city.json").exists()
        click.echo(f"City model: {settings.city}" + (" (building it: first run)…" if first else ""))
        city = ctx.city
        click.echo(f"  {len(city.towns)} towns/streets, {len(city.villages)} villages/communities, "
                   f"{len(city.cells)} grid cells, {len(city.centers)} centers")
        accounts = _demo_accounts(ctx)
        from app.demo_data import seed_once  # noqa: PLC0415

        made = seed_once(ctx.redis, city)
        if made:
            click.echo(f"  wrote a demo history of {made} past incidents (demo data)")
        from app.demo_data import seed_roster  # noqa: PLC0415

        click.echo(f"  duty roster (值班): {seed_roster(ctx.redis, city)} demo shifts written")
        from app.emergency import import_demo_plans  # noqa: PLC0415

        click.echo(f"  emergency plans (预案): {import_demo_plans(ctx)} (demo plans, labelled demo)")
        from app.record import start_record_soon  # noqa: PLC0415

        start_record_soon(ctx, runtime, click.echo)   # PostgreSQL/PostGIS history (issue 20)
        started = start_background_workers(ctx, runtime, simulate=settings.simulate)
        from app.video import start_demo_video  # noqa: PLC0415

        if start_demo_video(ctx, runtime, click.echo):   # cameras, gateway, snapshots (issue 23)
            started.append("video")

        from app.server import create_server  # noqa: PLC0415  (after the city exists)

        serve_web(create_server(ctx), ctx, settings.host, settings.port, runtime)
        tune_gc()
        base = f"http://{settings.host}:{settings.port}"
        click.echo("\nOneMap is running. Screens:")
        for path, what in ((f"/wall/?kiosk={settings.kiosk_token}", "wall (video wall, kiosk)"),
                           ("/console/", "console (1 + 28 + N centers)"),
                           ("/m/", "mobile (grid workers)"), ("/analytics/", "analytics (assessment)"),
                           ("/ops/", "ops (administrators)")):
            click.echo(f"  {what + ':':<32}{base}{path}")
        click.echo(f"Background workers: {', '.join(started) or 'none'}")
        if accounts:
            click.echo("Demo accounts (user / password / role / center):")
            for a in accounts:
                click.echo(f"  {a['user']:<12} {a['password']:<14} {a['role']:<15} {a.get('center', '')}")
        click.echo("Ctrl-C stops everything.")
        stopped.wait()
    finally:
        runtime.stop()
        click.echo("stopped.")


def kiosk_token(settings: Settings) -> str:
    """The wall's kiosk token: ``ONEMAP_KIOSK_TOKEN`` when set; otherwise the same as the last
    start's while the data dir keeps it (``kiosk-token``, readable by its owner only), so a wall
    screen's link survives a restart; a new random one the first time."""
    if settings.kiosk_token:
        return settings.kiosk_token
    saved = Path(settings.data_dir) / "kiosk-token"
    try:
        token = saved.read_text().strip()
    except OSError:
        token = ""
    if len(token) >= 16 and all(ch.isalnum() or ch in "-_" for ch in token):
        return token
    token = secrets.token_urlsafe(16)
    with contextlib.suppress(OSError):
        write_private(saved, token)
    return token


def _demo_accounts(ctx: AppContext) -> list[dict]:
    """The demo accounts with their passwords, the same as the last start's while the data dir
    keeps them (``demo-accounts.json``, readable by its owner only)."""
    from app.users import ensure_demo_users  # noqa: PLC0415

    saved = Path(ctx.settings.data_dir) / "demo-accounts.json"
    try:
        kept = json.loads(saved.read_text())
    except (OSError, ValueError):       # none yet, or unreadable: new passwords
        kept = {}
    remembered = {str(k): str(v) for k, v in kept.items()} if isinstance(kept, dict) else {}
    accounts = ensure_demo_users(ctx.redis, ctx.city, remembered=remembered)
    with contextlib.suppress(OSError):
        write_private(saved, json.dumps({a["user_id"]: a["password"] for a in accounts}))
    return accounts
