"""Push to the upper (provincial) platform (上报省平台, T30–T36, SEC42–SEC46).

The console's manual 上报省平台 feeds the exchange's outbox (``incidents.exchange.Exchange``),
the same one the automatic rules feed; ``app.exchange_client.Deliverer`` delivers it to the
configured endpoint (docs/exchange.md). Each manual push is also recorded in the stream
``keys.UPPER_PUSH`` (who pushed what, when, and its outbox item key), listed by ``pushed``.
"""

from __future__ import annotations

import json
import time

import redis

from app import keys
from incidents.exchange import Exchange

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
    key = Exchange(r).push_manual(inc, by)
    return r.xadd(keys.UPPER_PUSH, {"id": inc["id"], "by": by, "ts": str(int(time.time() * 1000)),
                                    "key": key, "payload": json.dumps(body, ensure_ascii=False)},
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
    """The latest pushed items, newest first, each with its delivery status in the outbox
    (``state``: pending/sending/delivered/failed, ``attempts``, ``reason``)."""
    ex = Exchange(r)
    out = []
    for entry_id, f in r.xrevrange(keys.UPPER_PUSH, count=count):
        item = ex.get(f["key"]) if f.get("key") else None
        out.append({"entry": entry_id, "id": f["id"], "by": f["by"], "ts": int(f["ts"]),
                    "key": f.get("key"), "state": item["state"] if item else None,
                    "attempts": item["attempts"] if item else 0,
                    "reason": item.get("reason", "") if item else "",
                    "payload": json.loads(f["payload"])})
    return out
