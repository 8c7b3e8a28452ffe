"""Open311 GeoReport v2 view of an incident (service request), for the HTTP API and exports.

Field names and limits follow https://wiki.open311.org/GeoReport_v2 (``service_request_id``,
``status``, ``service_code``, ``requested_datetime``…; ``description`` at most 4,000
characters). Times are W3C/ISO 8601 with the +08:00 offset. What an Open311 POST carried beside
the incident (``address_string``, ``media_url``, how it was located) comes in ``extra``: the web
app keeps it (app.open311), the domain does not.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from incidents.incident import FINAL_STATES, STATE_NAMES, Incident

CST = timezone(timedelta(hours=8))
DESCRIPTION_MAX = 4000
"""GeoReport v2: ``description`` is 4,000 characters at most (POST refuses more; a longer
description written by another channel is cut for this view)."""


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, CST).isoformat(timespec="seconds") if ts else None


def to_open311(inc: Incident, agency_names: dict[str, str] | None = None,
               extra: dict[str, str] | None = None) -> dict:
    """A GeoReport v2 ``request`` dict. ``agency_names`` maps center codes to names; ``extra``:
    the Open311 POST's ``address``, ``media_url`` and ``located`` ('none': an address nobody
    could place, so no ``lat``/``long``)."""
    names = agency_names or {}
    more = extra or {}
    handlers = sorted(inc.handler_centers)
    agency = ", ".join(names.get(c, c) for c in (handlers or [inc.center]))
    media = more.get("media_url") or next(
        (a for a in inc.attachments if a.startswith(("http://", "https://", "/"))), None)
    placed = more.get("located", "point") != "none"
    return {
        "service_request_id": inc.id,
        "status": "closed" if inc.state in FINAL_STATES else "open",
        "status_notes": inc.void_reason or STATE_NAMES.get(inc.state, inc.state),
        "service_name": inc.category_name,
        "service_code": inc.category,
        "description": (inc.description or inc.title)[:DESCRIPTION_MAX],
        "agency_responsible": agency,
        "service_notice": inc.route_reason,
        "requested_datetime": _iso(inc.created_ts),
        "updated_datetime": _iso(inc.updated_ts),
        "expected_datetime": _iso(inc.due_ts) if inc.is_open else None,
        "address": more.get("address", ""),
        "address_id": inc.cell_code,
        "zipcode": "",
        "lat": inc.lat if placed else None,
        "long": inc.lon if placed else None,
        "media_url": media,
    }
