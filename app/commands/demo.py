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

from app import demo_reset
from app.config import Settings, load_settings
from app.context import AppContext
from app.runtime import Runtime, ensure_mqtt, ensure_redis, serve_web, tune_gc
from app.secret_files import masked, private_dir, write_private
from app.termtable import table
from app.timefmt import setup_logging
from app.workers import start_background_workers

log = logging.getLogger("onemap")


@click.command("demo")
@click.option("--host", default=None, help="Listen address (default ONEMAP_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default ONEMAP_PORT, 8050).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data directory (default ONEMAP_DATA_DIR, ./var).")
@click.option("--no-simulate", is_flag=True, help="Do not run the telemetry simulator.")
@click.option("--reset", is_flag=True,
              help="Start over: stop what runs on the data dir and wipe its demo data (Redis, "
                   "broker, PostgreSQL, secrets, accounts; the city model stays), then start.")
@click.option("--yes", "-y", is_flag=True, help="With --reset: do not ask for confirmation.")
def command(host: str | None, port: int | None, data_dir: Path | None, no_simulate: bool,
            reset: bool = False, yes: bool = False) -> None:
    """Run the whole system on embedded defaults (demo city, simulator, no outside services)."""
    setup_logging()   # Beijing time, the zone shown (app.timefmt)
    overrides = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items()
                 if v is not None}
    if no_simulate:
        overrides["simulate"] = False
    settings = load_settings(**overrides)   # a bad configuration stops here, before anything starts
    if reset:
        reset_data(Path(settings.data_dir), yes)
    private_dir(Path(settings.data_dir))    # 0700: passwords, keys, Redis's AOF (issue 19)
    demo_reset.write_pid(Path(settings.data_dir))   # what a later --reset stops first
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

        record = Said()
        start_record_soon(ctx, runtime, record)   # PostgreSQL/PostGIS history (issue 20)
        started = start_background_workers(ctx, runtime, simulate=settings.simulate)
        from app.video import start_demo_video  # noqa: PLC0415

        if start_demo_video(ctx, runtime, click.echo):   # cameras, gateway, snapshots (issue 23)
            started.append("video")

        from app.server import create_server  # noqa: PLC0415  (after the city exists)

        serve_web(create_server(ctx), ctx, settings.host, settings.port, runtime)
        tune_gc()
        click.echo(f"Background workers: {', '.join(started) or 'none'}")
        # the record's line before the table, so the URLs and accounts are the last lines
        if not record.wait(RECORD_WAIT_S):
            click.echo("  PostgreSQL (history) is still starting; its line follows when it is up")
        click.echo(final_block(settings, ctx.city, accounts))
        stopped.wait()
    finally:
        runtime.stop()
        demo_reset.clear_pid(Path(settings.data_dir))
        click.echo("stopped.")


RECORD_WAIT_S = 90.0
"""How long the last block waits for the record's start (initdb the first time) to report."""

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("wall", "/wall/?kiosk={kiosk}", "video wall (kiosk link, no login)"),
    ("console", "/console/", "city, town and department desks (1 + 28 + N)"),
    ("m", "/m/", "phone: grid workers, responders"),
    ("analytics", "/analytics/", "assessment (考核评价)"),
    ("replay", "/replay/", "after-action replay (复盘)"),
    ("ops", "/ops/", "administrators"),
)
"""The screens the last block lists (name from app.screens.nav), their path and who they serve."""


class Said:
    """A ``say`` for a background start: prints at once after the last block, and until then
    keeps the line for the block to print first (``wait``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.event = threading.Event()
        self.shown = False

    def __call__(self, line: str) -> None:
        if self.shown:
            click.echo(line)
        else:
            self.lines.append(line)
        self.event.set()

    def wait(self, timeout: float) -> bool:
        """Wait for the first line, print the kept ones; whether it came."""
        came = self.event.wait(timeout)
        for line in self.lines:
            click.echo(f"  {line}")
        self.shown = True
        return came


def final_block(settings: Settings, city, accounts: list[dict]) -> str:  # noqa: ANN001
    """The last lines of the start: the screens' URLs, then the demo accounts with the center
    each belongs to by name, aligned in a terminal (Chinese is two columns wide)."""
    from app.screens.nav import SCREEN_NAMES  # noqa: PLC0415

    base = f"http://{settings.host}:{settings.port}"
    screens = table(("屏幕", "地址", "用途"),
                    [(SCREEN_NAMES.get(s, s), base + path.format(kiosk=settings.kiosk_token), what)
                     for s, path, what in SCREENS])
    out = ["", "OneMap is running. Screens:", screens]
    if accounts:
        out += ["", "Demo accounts (passwords kept in the data dir; onemap demo --reset starts over):",
                accounts_table(accounts, city)]
    out += ["", "Ctrl-C stops everything."]
    return "\n".join(out)


def accounts_table(accounts: list[dict], city) -> str:  # noqa: ANN001
    """账号 / 密码 / 角色 / 所属 (the center's name: 东岸镇, 城管局, not a code) / 姓名."""
    from incidents.roles import ROLE_NAMES  # noqa: PLC0415

    centers = city.centers
    rows = []
    for a in accounts:
        center = centers.get(a.get("center", ""))
        rows.append((a["user"], a["password"], ROLE_NAMES.get(a["role"], a["role"]),
                     center.name if center else a.get("center", ""), a.get("name", "")))
    return table(("账号", "密码", "角色", "所属", "名称"), rows)


def reset_data(data_dir: Path, yes: bool) -> None:
    """--reset: say what goes, ask (unless ``yes``), stop what runs there, wipe it."""
    there = demo_reset.present(data_dir)
    if not there:
        click.echo(f"--reset: nothing to wipe in {data_dir}")
        return
    click.echo(f"--reset wipes the demo's data in {data_dir.resolve()}: "
               f"{', '.join(p.name for p in there)} (the city model stays)")
    if not yes:
        click.confirm("Stop what runs there and wipe it?", abort=True)
    try:
        removed = demo_reset.reset(data_dir, say=click.echo)
    except demo_reset.ResetRefused as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"--reset: removed {', '.join(removed) or 'nothing'}; starting over")


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
