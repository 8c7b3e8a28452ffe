"""Correlation (关联): is a new report another sighting of an open incident?

Same or related category (``IncidentConfig.related_to``), within the category's radius (GEO
search on the open incidents) and time window. The map then shows one incident with its sources.
The check that decides runs inside the creating script (``scripts/apply.lua``, spec from
``lua_spec``), so two simultaneous reports of one event never open two incidents;
``find_open_match`` is the same test as a read-only query (e.g. to warn an operator keying in a
hotline call before saving).
"""

from __future__ import annotations

import redis

from incidents import keys
from incidents.config import IncidentConfig
from incidents.incident import OPEN_STATES, Incident


def lua_spec(config: IncidentConfig, new: Incident, now: float) -> str:
    """The correlation argument of apply.lua for the creation of ``new``."""
    radius, window = config.correlation_for(new.category)
    related = sorted({c for g in config.related if new.category in g for c in g})
    return "|".join([keys.GEO, keys.incident(""), repr(new.lon), repr(new.lat), repr(radius),
                     repr(window), repr(now), new.category, ",".join(related)])


def find_open_match(r: redis.Redis, config: IncidentConfig, category: str, lon: float, lat: float,
                    now: float) -> str | None:
    """The nearest open incident the report describes again, or None."""
    radius, window = config.correlation_for(category)
    hits = r.geosearch(keys.GEO, longitude=lon, latitude=lat, radius=radius, unit="m",
                       sort="ASC", count=20)
    if not hits:
        return None
    p = r.pipeline(transaction=False)
    for h in hits:
        p.hmget(keys.incident(h), ["category", "state", "created_ts", "kind"])
    for h, (cat, state, created, kind) in zip(hits, p.execute(), strict=True):
        if (cat and state in OPEN_STATES and kind != "task"
                and now - float(created or 0) <= window and config.related_to(cat, category)):
            return h
    return None
