"""Open311 GeoReport v2 view of an incident (service request), for the HTTP API and exports.

Field names follow https://wiki.open311.org/GeoReport_v2 (``service_request_id``, ``status``,
``service_code``, ``requested_datetime``…). Times are ISO 8601 with the +08:00 offset.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from incidents.incident import FINAL_STATES, STATE_NAMES, Incident

CST = timezone(timedelta(hours=8))


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, CST).isoformat(timespec="seconds") if ts else None


def to_open311(inc: Incident, agency_names: dict[str, str] | None = None) -> dict:
    """A GeoReport v2 ``request`` dict. ``agency_names`` maps center codes to names."""
    names = agency_names or {}
    handlers = sorted(inc.handler_centers)
    agency = ", ".join(names.get(c, c) for c in (handlers or [inc.center]))
    media = next((a for a in inc.attachments if a.startswith(("http://", "https://", "/"))), None)
    return {
        "service_request_id": inc.id,
        "status": "closed" if inc.state in FINAL_STATES else "open",
        "status_notes": inc.void_reason or STATE_NAMES.get(inc.state, inc.state),
        "service_name": inc.category_name,
        "service_code": inc.category,
        "description": inc.description or inc.title,
        "agency_responsible": agency,
        "service_notice": inc.route_reason,
        "requested_datetime": _iso(inc.created_ts),
        "updated_datetime": _iso(inc.updated_ts),
        "expected_datetime": _iso(inc.due_ts) if inc.is_open else None,
        "address": "",
        "address_id": inc.cell_code,
        "zipcode": "",
        "lat": inc.lat,
        "long": inc.lon,
        "media_url": media,
    }
