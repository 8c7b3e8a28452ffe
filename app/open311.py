"""Open311 GeoReport v2 view of incidents (a standard read API for other systems).

Only the read side (``services.json``, ``requests.json``); intake goes through ``POST
/api/incidents``. Field names follow the GeoReport v2 spec.
"""

from __future__ import annotations

from datetime import UTC, datetime

from grid.categories import CATEGORIES
from incidents.incident import FINAL_STATES


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def services() -> list[dict]:
    """Every second-level category as an Open311 service."""
    out = []
    for code, cat in CATEGORIES.items():
        if len(code) != 4:
            continue
        group = CATEGORIES[code[:2]].name
        out.append({"service_code": code, "service_name": cat.name, "description": cat.name,
                    "metadata": False, "type": "realtime", "keywords": group, "group": group})
    return out


def request_view(inc: dict, center_names: dict[str, str] | None = None) -> dict:
    """One incident (``Incident.to_dict()``) as an Open311 service request."""
    closed = inc.get("state") in FINAL_STATES
    center = inc.get("center", "")
    return {
        "service_request_id": inc["id"],
        "status": "closed" if closed else "open",
        "status_notes": inc.get("state_name", inc.get("state", "")),
        "service_name": inc.get("category_name", ""),
        "service_code": inc.get("category", ""),
        "description": inc.get("description") or inc.get("title", ""),
        "agency_responsible": (center_names or {}).get(center, center),
        "service_notice": "",
        "requested_datetime": _iso(inc.get("created_ts", 0)),
        "updated_datetime": _iso(inc.get("updated_ts", 0)),
        "expected_datetime": _iso(inc.get("due_ts", 0)),
        "address": inc.get("address", ""),
        "address_id": inc.get("cell_code", ""),
        "zipcode": None,
        "lat": inc.get("lat"),
        "long": inc.get("lon"),
        "media_url": None,
    }
