"""Several cities in one deployment (T13, T27–T29; issue 20): each county-level city has its own
city model, centers, users, devices and incidents, in its own keyspace (``om:{<tag>}:…``, one
Redis Cluster hash slot per city, so cities spread across the cluster's shards: grid/keyspace.py);
a prefecture center (地市指挥中心) above them reads them all.

- ``Cities.service(actor)``: the incident service of the actor's own city (``Actor.city``), the
  one write path as ever; every call runs in that city's keyspace. An actor of another city, or
  of none of the deployment's, is refused (``Forbidden``): a city's users never reach another
  city's cases, whatever id they name (case numbers are per city: ``E…000001`` exists in each).
- ``Cities.reader(actor, city)``: reads of one city: the actor's own, or any for the prefecture
  (``Actor.city == PREFECTURE``), whose accounts hold a city-wide reading role (``reads_city``:
  市指挥长, 市值班员, 大屏); within the city the usual scope applies (incidents/scope.py).
- ``Cities.open_incidents(actor)``: every open case the actor may read, city by city: the
  prefecture's overview; a city's own account gets its city only.

The prefecture reads; it acts inside a city only through an account of that city.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from grid import keyspace
from grid.model import City
from incidents.actor import Actor
from incidents.errors import Forbidden
from incidents.incident import Incident
from incidents.roles import CITY_READERS
from incidents.service import IncidentService

PREFECTURE = "*"
"""``Actor.city`` of the prefecture center's accounts: they read every city of the deployment."""


class Cities:
    """The cities of one deployment on one Redis (single, Sentinel or Cluster)."""

    def __init__(self, r: redis.Redis, models: Mapping[str, City], **service_kw) -> None:  # noqa: ANN003
        if not keyspace.tagged():
            raise ValueError("several cities need a tagged keyspace (grid.keyspace.configure)")
        self.models = dict(models)
        self._services: dict[str, IncidentService] = {}
        for tag, city in self.models.items():
            if not keyspace.valid_tag(tag):
                raise ValueError(f"city tag {tag!r}")
            with keyspace.use(tag):        # what the service spells at construction is the city's
                svc = IncidentService(r, city, **service_kw)
            self._services[tag] = keyspace.Bound(svc, tag)

    @property
    def tags(self) -> list[str]:
        return list(self._services)

    def service(self, actor: Actor) -> IncidentService:
        """The service of the actor's own city (all its actions and reads)."""
        if actor.city not in self._services:
            raise Forbidden("act", actor, f"账号不属于本部署的任何城市 (city {actor.city!r} is not one "
                            "of this deployment's cities)")
        return self._services[actor.city]

    def reader(self, actor: Actor, city: str) -> IncidentService:
        """Reads of ``city``: the actor's own city, or any city for a prefecture reader."""
        if city not in self._services:
            raise Forbidden("read", actor, f"没有城市 {city!r} (no such city)")
        if actor.city == city:
            return self._services[city]
        if actor.city == PREFECTURE and actor.role in CITY_READERS:
            return self._services[city]
        raise Forbidden("read", actor, f"只能查看本市的事件 (only its own city's cases, not {city})")

    def open_incidents(self, actor: Actor, limit: int = 500) -> dict[str, list[Incident]]:
        """City tag → the open cases the actor may read there (the prefecture: every city)."""
        cities = self.tags if actor.city == PREFECTURE else [actor.city]
        out: dict[str, list[Incident]] = {}
        for tag in cities:
            svc = self.reader(actor, tag)
            out[tag] = svc.list_queue(_as_city_reader(actor), "open", limit=limit)
        return out


def _as_city_reader(actor: Actor) -> Actor:
    """The prefecture's account reads a city as that city's city-wide readers do (its role, at
    the city center)."""
    if actor.city != PREFECTURE:
        return actor
    return Actor(actor.user_id, actor.role, "CITY", actor.name, city=PREFECTURE)
