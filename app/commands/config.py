"""``onemap config``: the effective configuration and where each value came from; a check.

Sources, highest first (pydantic-settings' own sources): the environment (``ONEMAP_<KEY>``; a
table as JSON), the TOML file named by ``ONEMAP_CONFIG``, the default in code. The rules'
defaults are demo assumptions (incidents/defaults.py, sensors/kinds/*.py, grid/categories.py)
and are labelled as such.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click
from pydantic_settings import EnvSettingsSource, TomlConfigSettingsSource

from app.config import ConfigError, Settings, config_origin, load_settings

Row = tuple[str, Any, str]
"""(key, effective value, where it came from)."""

_TABLES = ("incidents", "sensors")


class _Sources:
    """What the environment and the TOML file set, read with pydantic-settings' own sources."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = EnvSettingsSource(Settings)()
        self.toml_path = os.environ.get("ONEMAP_CONFIG") or None
        self.toml: dict[str, Any] = (TomlConfigSettingsSource(Settings, toml_file=self.toml_path)()
                                     if self.toml_path else {})

    def origin(self, path: tuple[str, ...], default: str) -> str:
        """Where the value at ``path`` (e.g. ``("incidents", "stage_seconds", "handle")``) came
        from: the environment wins over the file, the file over the default."""
        if _has(self.env, path):
            return f"env ONEMAP_{path[0].upper()}"
        if _has(self.toml, path):
            return f"toml {self.toml_path}"
        return default


def _has(d: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    for k in path:
        if not isinstance(d, Mapping) or k not in d:
            return False
        d = d[k]
    return True


def _plain(v: Any) -> Any:
    """A value as JSON-friendly data (paths, tuples, sets, rule dataclasses)."""
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (set, frozenset)):
        return sorted(_plain(x) for x in v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):   # a rule (routing, situation)
        return _plain(dataclasses.asdict(v))
    return v


def effective(settings: Settings, src: _Sources) -> Iterator[Row]:
    """Every setting, then the expanded [incidents] and [sensors] tables and the catalogs."""
    for name in Settings.model_fields:
        if name in _TABLES:
            continue
        yield name, _plain(getattr(settings, name)), src.origin((name,), "default")
    yield from _incident_rows(settings, src)
    yield from _sensor_rows(settings, src)
    yield from _catalog_rows(settings, src)


def _incident_rows(settings: Settings, src: _Sources) -> Iterator[Row]:
    from incidents.config import IncidentTable  # noqa: PLC0415

    cfg = settings.incident_config
    demo = "demo default (incidents/defaults.py)"
    for name in IncidentTable.model_fields:
        value = getattr(cfg, name)
        if name == "stage_seconds":
            for stage, per_sev in value.items():
                for sev, s in per_sev.items():
                    yield (f"incidents.stage_seconds.{stage}.{sev}", s,
                           src.origin(("incidents", name, stage, sev), demo))
        elif name in ("category_factor", "correlation"):
            for prefix, v in value.items():
                shown = prefix or '""'     # the catch-all entry of correlation
                yield (f"incidents.{name}.{shown}", _plain(v),
                       src.origin(("incidents", name, prefix), demo))
        elif name == "routing_rules":
            yield (f"incidents.{name}", [{"prefix": r.prefix, "owner": r.owner,
                                          "automatic": r.automatic} for r in value],
                   src.origin(("incidents", name), demo))
        else:
            yield f"incidents.{name}", _plain(value), src.origin(("incidents", name), demo)


def _sensor_rows(settings: Settings, src: _Sources) -> Iterator[Row]:
    from sensors.kinds import KINDS  # noqa: PLC0415

    over = settings.sensor_thresholds
    for kname, kind in KINDS.items():
        for rule in kind.rules:
            yield (f"sensors.thresholds.{kname}.{rule.id}", over.kind_thresholds(kind, rule),
                   src.origin(("sensors", "thresholds", kname, rule.id),
                              f"demo default (sensors/kinds/{kname}.py)"))
    for dev, rules in settings.sensors.get("devices", {}).items():
        for rid, levels in rules.items():
            yield (f"sensors.devices.{dev}.{rid}", _plain(levels),
                   src.origin(("sensors", "devices", dev, rid), "?"))


def _catalog_rows(settings: Settings, src: _Sources) -> Iterator[Row]:
    tree = settings.category_tree
    cats = f"{len(tree)} categories ({sum(len(c) == 2 for c in tree)} top level)"
    if settings.categories_file is None:
        yield "categories", cats, "demo default (grid/categories.py)"
    else:
        yield "categories", cats, f"{settings.categories_mode} from {settings.categories_file}"
    deps = settings.department_list()
    if deps is None:
        yield "departments", "the city model's (city.json)", "demo default (grid/categories.py " \
            "for a built city)"
    else:
        yield ("departments", f"{len(deps)} departments",
               f"{settings.departments_mode} from {settings.departments_file}")


def _stray_env() -> list[str]:
    """``ONEMAP_*`` variables that are no setting (a typo is ignored by the environment
    source: say so)."""
    known = {f"ONEMAP_{n.upper()}" for n in Settings.model_fields} | {"ONEMAP_CONFIG"}
    return sorted(k for k in os.environ if k.upper().startswith("ONEMAP_") and k.upper() not in known)


def _warn_stray() -> None:
    for k in _stray_env():
        click.echo(f"注意 / note: {k} 不是配置项，已忽略 / is not a setting, ignored", err=True)


@click.group("config")
def command() -> None:
    """Configuration (配置): the effective values and their sources; validate."""


@command.command("show")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: key, value, source.")
def show(as_json: bool) -> None:
    """Print the effective configuration: every setting and the expanded [incidents] and
    [sensors] tables, each with where its value came from (env, toml file, default)."""
    settings = load_settings()
    _warn_stray()
    rows = list(effective(settings, _Sources()))
    if as_json:
        for key, value, origin in rows:
            click.echo(json.dumps({"key": key, "value": value, "source": origin}, ensure_ascii=False))
        return
    width = max(len(k) for k, _, _ in rows)
    for key, value, origin in rows:
        click.echo(f"{key:<{width}} = {json.dumps(value, ensure_ascii=False)}    # {origin}")


@command.command("check")
def check() -> None:
    """Validate the configuration as a starting process does (exit 0 valid, 2 not). Device
    threshold overrides are also checked against the device registry when the city exists."""
    settings = load_settings()
    _warn_stray()
    if settings.sensors.get("devices") and (settings.resolved_city_dir / "city.json").exists():
        from app.context import AppContext  # noqa: PLC0415
        from sensors.rules import ThresholdConfigError, compile_registry  # noqa: PLC0415

        try:
            compile_registry(AppContext(settings, settings.redis_url or "").devices,
                             settings.sensor_thresholds)
        except ThresholdConfigError as e:
            raise ConfigError(e.problems, config_origin()) from None
    click.echo(f"配置有效 / configuration valid ({config_origin()})")
