"""``onemap devices credentials``: issue, revoke and list the MQTT accounts of devices and of
OneMap's own services (设备接入凭据, issue 19, SEC11). Files: ``app.broker_auth``; rights:
``sensors.credentials``; the broker reloads on SIGHUP (docs/mqtt.md, "Accounts and ACL")."""

from __future__ import annotations

import time
from pathlib import Path

import click

from app.broker_auth import BrokerAuth, auth_dir, demo_pid_file, reload_broker
from app.config import Settings
from sensors.credentials import CAMERA, SERVICE_ROLES, CredentialError


@click.group("devices")
def command() -> None:
    """Devices (设备): their MQTT credentials."""


@command.group("credentials")
def credentials() -> None:
    """Per-device MQTT accounts (设备凭据): issue, revoke, list."""


def _reload(settings: Settings, pid_file: Path | None, reload: bool) -> None:
    if not reload:
        click.echo("broker not reloaded (--no-reload): send it SIGHUP to apply", err=True)
        return
    target = pid_file or demo_pid_file(settings)
    pid = reload_broker(target)
    if pid is None:
        click.echo(f"未找到运行中的 mosquitto（{target}）：请重载代理 / no broker found: reload it "
                   "yourself (systemctl reload mosquitto, or kill -HUP its pid)", err=True)
    else:
        click.echo(f"broker reloaded (SIGHUP to pid {pid})", err=True)


_pid_option = click.option("--pid-file", type=click.Path(path_type=Path), default=None,
                           help="The broker's pid file (mosquitto pid_file). Default: the "
                                "broker `onemap demo` runs in the data dir.")
_reload_option = click.option("--reload/--no-reload", default=True,
                              help="SIGHUP the broker so it re-reads the files (default).")


@credentials.command("issue")
@click.argument("device")
@click.option("--type", "device_type", default=None,
              help="Device type (kind, or camera). Default: the registry's for DEVICE.")
@_pid_option
@_reload_option
def issue(device: str, device_type: str | None, pid_file: Path | None, reload: bool) -> None:
    """签发: a new password for DEVICE (an existing one is replaced), printed once."""
    settings = Settings()
    if device_type is not None:
        from sensors.kinds import KINDS  # noqa: PLC0415

        if device_type != CAMERA and device_type not in KINDS:
            raise click.ClickException(f"未知设备类型：{device_type} / unknown device type; known: "
                                       f"{', '.join(sorted(KINDS))}, {CAMERA}")
    if device not in SERVICE_ROLES and device_type is None:
        from app.context import AppContext  # noqa: PLC0415  (loads the city: only when needed)

        device_type = AppContext(settings, settings.redis_url or "").devices.device_type(device)
        if device_type is None:
            raise click.ClickException(f"设备未登记：{device} / {device!r} is not in the registry")
    try:
        password = BrokerAuth(auth_dir(settings)).issue(device, device_type or "")
    except CredentialError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{device} {password}")
    click.echo(f"issued: {device} ({device_type or SERVICE_ROLES.get(device)}); the password is "
               f"shown once here and kept 0600 in {auth_dir(settings)}", err=True)
    _reload(settings, pid_file, reload)


@credentials.command("revoke")
@click.argument("device")
@_pid_option
@_reload_option
def revoke(device: str, pid_file: Path | None, reload: bool) -> None:
    """吊销: DEVICE can no longer connect; the broker drops its connection on reload."""
    settings = Settings()
    try:
        gone = BrokerAuth(auth_dir(settings)).revoke(device)
    except CredentialError as e:
        raise click.ClickException(str(e)) from None
    if not gone:
        raise click.ClickException(f"没有该设备的凭据：{device} / no credentials for {device!r}")
    click.echo(f"revoked: {device}", err=True)
    _reload(settings, pid_file, reload)


@credentials.command("list")
def list_() -> None:
    """Accounts with their role, type and issue time (never their passwords)."""
    settings = Settings()
    try:
        accounts = BrokerAuth(auth_dir(settings)).accounts()
    except CredentialError as e:
        raise click.ClickException(str(e)) from None
    for name, a in sorted(accounts.items()):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(int(a.get("issued", 0))))
        click.echo(f"{name:<24} {a.get('role', ''):<10} {a.get('type', ''):<14} {when}")


@command.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--cameras", is_flag=True, help="The file lists cameras (视频点位), not sensors.")
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
def import_(file: Path, cameras: bool, dry_run: bool) -> None:
    """导入设备台账: sensors (or cameras) from CSV, GeoJSON or GeoPackage into the registry.

    Every row is checked first; a refusal names the row and the field and nothing is imported
    (issue 18). Rows with an id already in the registry replace it; new ids are added."""
    from app.context import AppContext  # noqa: PLC0415 (loads the city)
    from sensors.device_import import DeviceImportError  # noqa: PLC0415
    from sensors.registry import import_devices, merge_devices, save  # noqa: PLC0415

    settings = Settings()
    ctx = AppContext(settings, settings.redis_url or "")
    try:
        new = import_devices(file, ctx.city, cameras=cameras)
    except DeviceImportError as e:
        raise click.ClickException(f"导入被拒绝，未写入任何设备 / import refused, nothing written:\n{e}") \
            from None
    reg, added, updated = merge_devices(ctx.devices, new, cameras)
    what = "cameras" if cameras else "sensors"
    if dry_run:
        click.echo(f"dry run: {len(new)} {what} valid ({added} new, {updated} replaced); nothing written")
        return
    save(reg, settings.resolved_city_dir)
    click.echo(f"imported {len(new)} {what} ({added} new, {updated} replaced) from {file.name}")
