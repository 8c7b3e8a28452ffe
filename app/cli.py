"""``onemap``: the command line, a thin layer over the library.

Subcommands live one per module in ``app/commands/``; each exports a click command ``command``.
"""

from __future__ import annotations

import importlib
import pkgutil

import click
from pydantic import ValidationError

from app import commands
from app.config import ConfigError, config_origin, config_problems, describe_settings

EPILOG = "Settings (environment variables; or a TOML file named by ONEMAP_CONFIG):\n\n" + describe_settings()


class _Group(click.Group):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write("\n" + EPILOG + "\n")

    def invoke(self, ctx: click.Context) -> object:
        # any command that reads Settings: a bad configuration is a clean error naming the key
        # (exit 2), never a traceback
        try:
            return super().invoke(ctx)
        except ValidationError as e:
            if e.title != "Settings":
                raise
            raise ConfigError(config_problems(e), config_origin()) from None


@click.group(cls=_Group)
@click.version_option(package_name="onemap")
def main() -> None:
    """OneMap: city-operations "one map" command center (一网统管 / 城市运行"一张图")."""


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"app.commands.{info.name}")
        cmd = getattr(module, "command", None)
        if isinstance(cmd, click.Command):
            main.add_command(cmd)


_register()

if __name__ == "__main__":
    main()
