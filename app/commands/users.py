"""``onemap users``: administer accounts (add, disable, enable, reset, revoke, token, list, demo),
their TOTP second factor (totp enable/disable, SEC11) and the wall kiosk token (kiosk-rotate)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import click
import segno

from app import security
from app.config import Settings
from app.context import AppContext
from app.sessions import rotate_kiosk
from app.users import UserError, UserStore, ensure_demo_users, format_accounts, totp_uri
from incidents.actor import ROLES


def _store(with_city: bool = False) -> tuple[UserStore, AppContext]:
    settings = Settings()
    if not settings.redis_url:
        raise click.UsageError("set ONEMAP_REDIS_URL to the Redis of the running system")
    ctx = AppContext(settings, settings.redis_url)
    return UserStore(ctx.redis, ctx.city if with_city else None), ctx


@contextmanager
def _user_errors() -> Iterator[None]:
    """A refused account change (UserError) becomes a clean CLI error, not a traceback."""
    try:
        yield
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("users")
def command() -> None:
    """Accounts (账号管理): add, disable, enable, reset, list; TOTP (totp enable/disable)."""


@command.command("add")
@click.argument("user_id")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--center", default="CITY", show_default=True, help="CITY, T<town code>, D<dept>.")
@click.option("--name", default="", help="Display name.")
@click.option("--cell", default=None, help="Grid workers: their grid cell code.")
@click.password_option(help="Password (prompted when omitted).")
def add(user_id: str, role: str, center: str, name: str, cell: str | None, password: str) -> None:
    """Add an account."""
    store, _ = _store(with_city=True)
    with _user_errors():
        u = store.add(user_id, password, role, center, name, cell)
    click.echo(f"added {u.user_id} ({u.role} @ {u.center})")


@command.command("disable")
@click.argument("user_id")
def disable(user_id: str) -> None:
    """Disable an account (its sessions end at once)."""
    store, _ = _store()
    with _user_errors():
        store.set_disabled(user_id, True)
    click.echo(f"disabled {user_id}")


@command.command("enable")
@click.argument("user_id")
def enable(user_id: str) -> None:
    """Enable a disabled account."""
    store, _ = _store()
    with _user_errors():
        store.set_disabled(user_id, False)
    click.echo(f"enabled {user_id}")


@command.command("reset")
@click.argument("user_id")
@click.option("--password", default=None, help="New password (default: generate and print one).")
def reset(user_id: str, password: str | None) -> None:
    """Reset a password (its sessions end at once)."""
    store, _ = _store()
    with _user_errors():
        pw = store.reset(user_id, password)
    click.echo(f"{user_id}: new password {pw}" if password is None else f"{user_id}: password set")


@command.command("revoke")
@click.argument("user_id")
def revoke(user_id: str) -> None:
    """End every login session of USER_ID now (the account stays usable)."""
    store, _ = _store()
    with _user_errors():
        n = store.revoke_sessions(user_id, by="cli")
    click.echo(f"已注销 {user_id} 的 {n} 个会话 (revoked {n} session(s) of {user_id})")


@command.command("kiosk-rotate")
def kiosk_rotate() -> None:
    """Replace the wall kiosk token: the old link stops working and open kiosk sessions end.
    Prints the new token once (open /wall/?kiosk=<token> on the wall's browser)."""
    store, _ = _store()
    token = rotate_kiosk(store.r)
    security.audit(store.r, "kiosk_rotated", user="cli")
    click.echo(token)


@command.command("token")
@click.argument("user_id")
@click.option("--revoke", is_flag=True, help="Revoke every token of the user instead.")
def token(user_id: str, revoke: bool) -> None:
    """Issue an API bearer token for another system acting as USER_ID (shown once)."""
    store, _ = _store()
    with _user_errors():
        if revoke:
            click.echo(f"revoked {store.revoke_tokens(user_id)} token(s) of {user_id}")
            return
        click.echo(store.issue_token(user_id))


@command.group("totp")
def totp() -> None:
    """双因素认证 (TOTP, SEC11): enrol or remove an account's authenticator."""


@totp.command("enable")
@click.argument("user_id")
def totp_enable(user_id: str) -> None:
    """Give USER_ID a new TOTP secret and print its otpauth URI and QR code (for the
    authenticator app); from the next login, the 6-digit code is asked after the password.
    Replaces an earlier one."""
    store, _ = _store()
    with _user_errors():
        secret = store.enable_totp(user_id)
    uri = totp_uri(user_id, secret)
    click.echo(f"已为 {user_id} 启用双因素认证 (TOTP enabled for {user_id}); 请用验证器扫描或输入:")
    qr = io.StringIO()
    segno.make(uri, error="l").terminal(out=qr, compact=True)   # the QR code, as text
    click.echo(qr.getvalue())
    click.echo(uri)
    click.echo(f"secret {secret}")


@totp.command("disable")
@click.argument("user_id")
def totp_disable(user_id: str) -> None:
    """Remove USER_ID's TOTP secret (a lost phone: enable again to enrol the new one)."""
    store, _ = _store()
    with _user_errors():
        store.disable_totp(user_id)
    click.echo(f"已停用 {user_id} 的双因素认证 (TOTP disabled for {user_id})")


@command.command("list")
def list_() -> None:
    """List accounts."""
    store, _ = _store()
    for u in store.list():
        flag = " (disabled)" if u.disabled else ""
        click.echo(f"{u.user_id:<20} {u.role:<16} {u.center:<12} {u.cell or '':<16} {u.name}{flag}")


@command.command("demo")
def demo() -> None:
    """(Re)create the demo accounts with fresh passwords and print them."""
    _, ctx = _store()
    click.echo(format_accounts(ensure_demo_users(ctx.redis, ctx.city)))
