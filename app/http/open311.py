"""Open311 GeoReport v2: services, requests (list, one, create with a retry-safe token)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import open311, security
from app.api import (
    intake,
)
from app.auth import guarded, require_actor
from app.http import ctx, guard_incident_ids, svc
from incidents import masking

bp = Blueprint("api_open311", __name__)
guard_incident_ids(bp)


@bp.get("/open311/v2/services.json")
def open311_services():
    require_actor()
    return jsonify(open311.services())

@bp.get("/open311/v2/requests.json")
def open311_requests():
    actor = require_actor()
    status = request.args.get("status")
    code = request.args.get("service_code")
    wanted = set(request.args.get("service_request_id", "").split(",")) - {""}
    with guarded("open311"):
        incs = svc().list_queue(actor, "all", limit=min(request.args.get("limit", 500, type=int), 1000))
    names = {c: v.name for c, v in ctx().city.centers.items()}
    out = []
    for inc in incs:
        v = open311.request_view(masking.view(inc.to_dict(), actor.role), names)
        if (status and v["status"] != status) or (code and v["service_code"] != code) or (
                wanted and v["service_request_id"] not in wanted):
            continue
        out.append(v)
    return jsonify(out)

@bp.post("/open311/v2/requests.json")
def open311_create():
    """GeoReport v2 POST (form or JSON): service_code, lat, long, description; the caller's
    ``Idempotency-Key`` (or ``service_request_token``) makes a retry return the same id."""
    actor = require_actor()
    security.enforce(ctx().redis, security.REPORT_LIMIT, actor.user_id)
    data = request.get_json(silent=True) if request.is_json else request.form
    data = data or {}
    body = {"category": str(data.get("service_code", "")), "lon": data.get("long"),
            "lat": data.get("lat"), "description": str(data.get("description", ""))[:2000],
            "channel": "api", "ref": str(data.get("address_string", ""))[:200]}
    idem = request.headers.get("Idempotency-Key") or data.get("service_request_token")
    with guarded("open311"):
        inc = intake(ctx(), actor, body, str(idem)[:128] if idem else None)
    resp = jsonify([{"service_request_id": inc.id, "service_notice": inc.route_reason,
                     "account_id": None}])
    resp.status_code = 201 if inc.intake == "created" else 200
    return resp

@bp.get("/open311/v2/requests/<incident_id>.json")
def open311_request(incident_id: str):
    actor = require_actor()
    with guarded(incident_id):
        inc = svc().get(incident_id, actor)
    names = {c: v.name for c, v in ctx().city.centers.items()}
    return jsonify([open311.request_view(masking.view(inc.to_dict(), actor.role), names)])
