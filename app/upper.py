"""Push to the upper (provincial) platform (上报省平台): a mock exchange.

A real deployment posts to the province's data-exchange gateway; OneMap writes what it would
send to a stream (``keys.UPPER_PUSH``) so the exchange is visible and testable.
"""

from __future__ import annotations

import json
import time

import redis

from app import keys

PUSH_MAXLEN = 10_000
"""Pushed items kept in the stream. Demo default."""


def payload(inc: dict, city_name: str, admin_code: str) -> dict:
    """The exchange record of one incident (``Incident.to_dict()``)."""
    return {"source_system": "OneMap", "city": city_name, "admin_code": admin_code,
            "event_id": inc["id"], "category": inc.get("category"),
            "category_name": inc.get("category_name"), "severity": inc.get("severity"),
            "state": inc.get("state"), "title": inc.get("title"),
            "description": inc.get("description"), "lon": inc.get("lon"), "lat": inc.get("lat"),
            "town_code": inc.get("town_code"), "center": inc.get("center"),
            "created_ts": inc.get("created_ts"), "updated_ts": inc.get("updated_ts")}


def push(r: redis.Redis, inc: dict, city_name: str, admin_code: str, by: str) -> str:
    """上报省平台: record the push of one incident; returns the stream entry id."""
    body = payload(inc, city_name, admin_code)
    return r.xadd(keys.UPPER_PUSH, {"id": inc["id"], "by": by, "ts": str(int(time.time() * 1000)),
                                    "payload": json.dumps(body, ensure_ascii=False)},
                  maxlen=PUSH_MAXLEN, approximate=True)


def push_incident(service, incident_id: str, actor) -> object:  # noqa: ANN001 (IncidentService, Actor)
    """上报省平台 as a lifecycle-side action: the policy decides who may (``push_upper``: the city
    center), the push is recorded in the exchange stream and in the case's own trail (备注), and
    the case is returned as every action returns it."""
    inc = service.get(incident_id, actor)
    service.policy.check("push_upper", actor, inc)
    push(service.r, inc.to_dict(), service.city.name, service.city.admin_code, actor.user_id)
    return service.note(incident_id, actor, "已上报省平台 (pushed to the provincial platform)")


def pushed(r: redis.Redis, count: int = 100) -> list[dict]:
    """The latest pushed items, newest first."""
    out = []
    for entry_id, f in r.xrevrange(keys.UPPER_PUSH, count=count):
        out.append({"entry": entry_id, "id": f["id"], "by": f["by"], "ts": int(f["ts"]),
                    "payload": json.loads(f["payload"])})
    return out
