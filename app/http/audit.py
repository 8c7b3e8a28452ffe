"""The security audit (等保): latest events and counters, for admins and the commander."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import security
from app.auth import require_role
from app.http import ctx
from incidents.roles import Role

bp = Blueprint("api_audit", __name__)
AUDIT_READERS = (Role.ADMIN, Role.CITY_COMMANDER)
"""Who reads the security audit and the 视频调阅 log (等保: the administrators and the commander)."""


@bp.get("/api/security/audit")
def security_audit():
    require_role(*AUDIT_READERS)
    return jsonify(items=security.audit_entries(ctx().redis, request.args.get("count", 200, type=int)),
                   counters=ctx().redis.hgetall(security.keys.COUNTERS))
