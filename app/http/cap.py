"""CAP 1.2: alert intake (defusedxml, hostile XML refused and counted) and an incident as a CAP alert
(预警发布)."""

from __future__ import annotations

from flask import Blueprint, request

from app import cap, security
from app.api import (
    intake_response,
)
from app.auth import guarded, require_actor
from app.http import ctx, guard_incident_ids, svc

bp = Blueprint("api_cap", __name__)
guard_incident_ids(bp)

CAP_MAX_BYTES = 256 * 1024
"""A CAP alert is a few KB; a larger one is refused (413) before parsing (issue 19: two 6 MiB
alerts grew one incident to 12.6 MB, a Redis memory DoS)."""
CAP_TITLE_MAX = 200
CAP_TEXT_MAX = 2000
"""What of an alert's headline and description a case keeps (the alert itself is its sender's)."""


@bp.post("/api/cap")
def cap_intake():
    actor = require_actor()
    security.enforce(ctx().redis, security.CAP_LIMIT, actor.user_id)
    if (request.content_length or 0) > CAP_MAX_BYTES:
        security.count(ctx().redis, "upload_rejected")     # as the server-wide upload limit
        return security.json_error(413, "too_large", reason=f"CAP 预警超过 {CAP_MAX_BYTES} 字节 "
                                   f"(a CAP alert is at most {CAP_MAX_BYTES} bytes)")
    data = request.get_data(cache=False)
    if len(data) > CAP_MAX_BYTES:       # no Content-Length (chunked): counted as read
        security.count(ctx().redis, "upload_rejected")     # as the server-wide upload limit
        return security.json_error(413, "too_large", reason=f"CAP 预警超过 {CAP_MAX_BYTES} 字节 "
                                   f"(a CAP alert is at most {CAP_MAX_BYTES} bytes)")
    try:
        alert = cap.parse(data)
    except cap.CapError as exc:
        security.count(ctx().redis, "cap_rejected")
        security.count(ctx().redis, f"cap_rejected_{exc.kind}")
        return security.json_error(400, f"{exc.kind}_xml" if exc.kind != "invalid" else "invalid_cap",
                                   reason=str(exc))
    if alert.lon is None or alert.lat is None:
        return security.json_error(422, "no_location", reason="CAP 预警的 <area> 没有多边形或圆形范围 "
                                   "(CAP <area> has no polygon or circle)")
    if ctx().city.try_locate(alert.lon, alert.lat) is None:
        return security.json_error(422, "outside_jurisdiction",
                                   reason=f"{alert.area_desc or '预警区域'} 不在 {ctx().city.name} 辖区内 "
                                   f"({alert.area_desc or 'area'} is outside {ctx().city.name})")
    area = None
    if len(alert.polygon) >= 4:
        area = {"type": "Polygon", "coordinates": [[list(p) for p in alert.polygon]]}
    with guarded("cap"):
        inc = svc().report(actor, alert.category, alert.lon, alert.lat,
                           severity=alert.incident_severity,
                           title=(alert.headline or alert.event)[:CAP_TITLE_MAX], channel="external",
                           description=(alert.description or alert.headline)[:CAP_TEXT_MAX],
                           idempotency_key=f"cap:{alert.sender}:{alert.identifier}",
                           ref=alert.identifier, area=area)
    return intake_response(inc)

@bp.get("/api/incidents/<incident_id>/cap.xml")
def incident_cap(incident_id: str):
    """CAP 1.2 view of an incident (预警发布 to other systems)."""
    actor = require_actor()
    with guarded(incident_id):
        inc = svc().get(incident_id, actor)
    d = inc.to_dict()
    area = " ".join(x for x in (ctx().city.town_names.get(inc.town_code, ""),
                                ctx().city.village_names.get(inc.village_code, "")) if x)
    body = cap.to_cap(d, f"onemap@{ctx().city.admin_code}", area)
    return body, 200, {"Content-Type": "application/cap+xml; charset=utf-8"}
