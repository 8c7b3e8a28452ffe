"""The security audit (等保): latest events and counters, for admins and the commander."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import security
from app.auth import require_role
from app.http import ctx

bp = Blueprint("api_audit", __name__)


@bp.get("/api/security/audit")
def security_audit():
    require_role("admin", "city_commander")
    return jsonify(items=security.audit_entries(ctx().redis, request.args.get("count", 200, type=int)),
                   counters=ctx().redis.hgetall(security.keys.COUNTERS))
