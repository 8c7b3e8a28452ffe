"""AppContext: the composition root's wiring. Opens connections once and hands them down.

Every process (web, ingest, dispatch, demo) builds one ``AppContext`` from ``Settings``; library
packages never see settings, only the objects built here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pandas as pd
import redis

from app import nearby
from app.config import Settings

if TYPE_CHECKING:
    from flask import Flask

    from grid.model import City
    from incidents.cities import Cities
    from incidents.service import IncidentService
    from sensors.registry import DeviceRegistry


_CLIENTS_LOCK = threading.Lock()
RESOURCES_TTL_S = 2.0
"""The map re-reads the resource register at most this often (a wall refreshes every few s)."""


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""``ONEMAP_REDIS_URL`` naming a Redis Cluster (any node of it): ``redis+cluster://host:port``."""


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
"""``redis+sentinel://[user:password@]host:port[,host:port…]/<service>[/<db>]``: the primary the
Sentinels name (default service ``onemap``, Sentinel port 26379); after a failover the client
finds the promoted replica (docs/record.md)."""


def _sentinel_primary(url: str, **kw) -> redis.Redis:
    from redis.sentinel import Sentinel  # noqa: PLC0415

    scheme, rest = url.split("://", 1)
    hosts, _, path = rest.partition("/")
    username = password = None
    if "@" in hosts:
        cred, hosts = hosts.rsplit("@", 1)
        user, _, pw = cred.partition(":")
        username, password = unquote(user) or None, unquote(pw) or None
    nodes = []
    for h in hosts.split(","):
        host, _, port = h.rpartition(":") if ":" in h else (h, "", "26379")
        nodes.append((host, int(port)))
    parts = [p for p in path.split("/") if p]
    service = parts[0] if parts else "onemap"
    db = int(parts[1]) if len(parts) > 1 else 0
    timeout = kw.get("socket_timeout", 5)
    sentinel = Sentinel(nodes, socket_timeout=timeout, socket_connect_timeout=timeout)
    return sentinel.master_for(service, db=db, username=username, password=password,
                               ssl=SENTINEL_SCHEMES[scheme.lower()], **kw)


def connect(url: str, **kw) -> redis.Redis:
    """A shared client (thread-safe pool), ``decode_responses=True``, kept alive; a
    ``redis.cluster.RedisCluster`` when the URL names a cluster, the Sentinels' primary for
    ``redis+sentinel://`` (issue 20)."""
    kw = {"decode_responses": True, "health_check_interval": 30, "socket_keepalive": True, **kw}
    scheme, rest = url.split("://", 1)
    if scheme.lower() in SENTINEL_SCHEMES:
        return _sentinel_primary(url, **kw)
    if scheme.lower() in CLUSTER_SCHEMES:
        from redis.cluster import RedisCluster  # noqa: PLC0415

        return RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}", **kw)
    return redis.Redis.from_url(url, **kw)


_client = connect


def connect_async(url: str, **kw):  # noqa: ANN201 (redis.asyncio.Redis | …cluster.RedisCluster)
    """The asyncio client of ``url`` (the live push hub): a cluster's for ``redis+cluster://``."""
    import redis.asyncio as aredis  # noqa: PLC0415

    scheme, rest = url.split("://", 1)
    if scheme.lower() in CLUSTER_SCHEMES:
        from redis.asyncio.cluster import RedisCluster  # noqa: PLC0415

        return RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}", **kw)
    return aredis.Redis.from_url(url, **kw)


def configure_keyspace(settings: Settings, redis_url: str) -> None:
    """The key names' hash tags (grid/keyspace.py): the deployment's ``city_tag``; on a cluster
    without one, ``city`` (every key of the city in one slot, so its scripts run there)."""
    from grid import keyspace  # noqa: PLC0415

    tag = settings.city_tag or ("city" if is_cluster_url(redis_url) else "")
    keyspace.configure(tag)


@dataclass
class AppContext:
    """Connections and domain objects for one process."""

    settings: Settings
    redis_url: str
    mqtt_url: str | None = None
    redis_urls: dict[str, str] = field(default_factory=dict)
    """Other components' Redis users in this process (``onemap demo`` runs them all: ``ingest``,
    ``dispatch`` of ``app.redis_acl``); ``redis_url`` is this process's own (the web's in the
    demo). Production runs one component per process, its user in ONEMAP_REDIS_URL."""
    city_models: dict[str, City] = field(default_factory=dict)
    """Several cities in one deployment (issue 20, T13/T27–T29): city tag → its city model, the
    first the deployment's default. Each request then works for its user's city
    (``scope_requests``): ``incidents`` is that city's service; empty: one city (``city``)."""

    def __post_init__(self) -> None:
        # the security audit chains with the incident trails' digest (SEC21: sha256 | sm3 国密)
        from app import security  # noqa: PLC0415

        security.set_audit_digest(self.settings.incident_config.audit_digest)
        configure_keyspace(self.settings, self.redis_url)

    @cached_property
    def redis(self) -> redis.Redis:
        """Shared client (thread-safe pool), ``decode_responses=True``."""
        return _client(self.redis_url)

    def redis_as(self, component: str) -> redis.Redis:
        """The client of ``component`` (``ingest``, ``dispatch``): its own Redis user, least
        privilege (issue 19); this process's ``redis`` when it has no user of its own."""
        url = self.redis_urls.get(component)
        if not url or url == self.redis_url:
            return self.redis
        with _CLIENTS_LOCK:
            client = self._component_clients.get(component)
            if client is None:
                client = self._component_clients[component] = _client(url)
        return client

    @cached_property
    def _component_clients(self) -> dict[str, redis.Redis]:
        return {}

    @cached_property
    def redis_bytes(self) -> redis.Redis:
        """Client returning bytes (raw payloads in the dead letter)."""
        return _client(self.redis_url, decode_responses=False)

    @cached_property
    def city(self) -> City:
        """The city model; built (demo) on first use if the directory does not hold one yet."""
        from grid.io import load_or_build_city  # noqa: PLC0415

        city = load_or_build_city(self.settings.city, self.settings.resolved_city_dir)
        departments = self.settings.department_list(city.departments)   # ONEMAP_DEPARTMENTS_FILE
        if departments is not None:
            city.departments = departments
        return city

    @cached_property
    def devices(self) -> DeviceRegistry:
        """Sensors and cameras of the city (generated for the demo on first use)."""
        from sensors.registry import load_or_create  # noqa: PLC0415

        return load_or_create(self.city, self.settings.resolved_city_dir)

    @cached_property
    def cities(self) -> Cities | None:
        """The deployment's cities (``city_models``), None for one city."""
        if not self.city_models:
            return None
        from incidents.cities import Cities  # noqa: PLC0415

        return Cities(self.redis, self.city_models, config=self.settings.incident_config)

    @cached_property
    def incidents(self) -> IncidentService:
        """The one API that changes incidents (several cities: the service of the city the
        request works for, ``CityServices``)."""
        if self.cities is not None:
            return CityServices(self.cities)  # type: ignore[return-value]
        from incidents.service import IncidentService  # noqa: PLC0415
        from sensors.cameras import cameras_seeing  # noqa: PLC0415

        def cameras_near(lon: float, lat: float, radius_m: float) -> list[dict]:
            return cameras_seeing(self.devices, lon, lat, radius_m)

        def resources_near(lon: float, lat: float, radius_m: float) -> list[dict]:
            return nearby.resources_near(self.resources, lon, lat, radius_m)

        # the deployment's [incidents] rules (validated when the process started)
        return IncidentService(self.redis, self.city, config=self.settings.incident_config,
                               cameras_near=cameras_near, resources_near=resources_near)

    @cached_property
    def resource_register(self):  # noqa: ANN201 (grid.resources.Register; imported lazily)
        """The emergency resource register (应急资源库, issue 16); the demo's generated
        resources (labelled demo) are stored when it is empty."""
        from grid.resources import Register  # noqa: PLC0415

        reg = Register(self.redis, self.city)
        reg.ensure_demo()
        return reg

    @property
    def resources(self) -> pd.DataFrame:
        """Emergency resources on the map: teams, warehouses, shelters with their status (可用 /
        已调派 / 在途 / 到场), read from the register at most every ``RESOURCES_TTL_S``."""
        now = time.monotonic()
        cached = self.__dict__.get("_resources_frame")
        if cached is None or now - cached[0] > RESOURCES_TTL_S:
            cached = self.__dict__["_resources_frame"] = (now, self.resource_register.frame())
        return cached[1]


class CityServices:
    """``AppContext.incidents`` of several cities: every use goes to the service of the city the
    code works for now (``grid.keyspace.current()``: the request's user's, ``scope_requests``);
    an attribute set (``archive``, the record's reader) is set on every city's service."""

    def __init__(self, cities: Cities) -> None:
        object.__setattr__(self, "_cities", cities)

    def __getattr__(self, name: str):  # noqa: ANN204
        from grid import keyspace  # noqa: PLC0415

        return getattr(self._cities._services[keyspace.current()], name)

    def __setattr__(self, name: str, value: object) -> None:
        for svc in self._cities._services.values():
            setattr(svc._obj, name, value)


def scope_requests(server: Flask, ctx: AppContext) -> None:
    """Several cities (``ctx.city_models``): each request works for its user's city — its keys
    (``grid.keyspace.use``), its incident service, its record rows (``incidents.record.scope``)
    — and a prefecture account's (``Actor.city == "*"``) record reads cover every city. An
    account of a city this deployment does not have is refused (403); one without a city (made
    before the deployment had several) is the default city's. Register after the login gate."""
    if not ctx.city_models:
        return
    from flask import g  # noqa: PLC0415

    from app.auth import current_actor  # noqa: PLC0415
    from app.security import json_error  # noqa: PLC0415
    from grid import keyspace  # noqa: PLC0415
    from incidents.cities import PREFECTURE  # noqa: PLC0415
    from incidents.record import scope  # noqa: PLC0415

    @server.before_request
    def _city_of_request():  # noqa: ANN202
        actor = current_actor()
        if actor is None or not actor.city:
            return None
        if actor.city == PREFECTURE:
            g.onemap_city_scope = ("all", scope.set_all(True))
            return None
        if actor.city not in ctx.city_models:
            return json_error(403, "forbidden", reason="账号不属于本部署的任何城市 (the account's "
                              "city is not one of this deployment's)")
        cm = keyspace.use(actor.city)
        cm.__enter__()
        g.onemap_city_scope = ("city", cm)
        return None

    @server.teardown_request
    def _end_city_of_request(_exc: BaseException | None) -> None:
        kind, held = g.pop("onemap_city_scope", (None, None))
        if kind == "all":
            scope.reset(held)
        elif kind == "city":
            held.__exit__(None, None, None)
