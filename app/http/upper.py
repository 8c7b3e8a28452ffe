"""上报省平台: push a case upward (the policy decides who may) into the exchange's outbox, and
list what was pushed with each item's delivery status (docs/exchange.md)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import upper
from app.api import act
from app.auth import guarded, require_actor, require_role
from app.http import ctx, guard_incident_ids, svc
from incidents.exchange import Exchange
from incidents.roles import having

bp = Blueprint("api_upper", __name__)
guard_incident_ids(bp)


@bp.post("/api/upper/push/<incident_id>")
def upper_push(incident_id: str):
    actor = require_actor()
    with guarded(incident_id):
        act(svc(), actor, incident_id, "push_upper", {})
    last = upper.pushed(ctx().redis, 1)[0]
    return jsonify(entry=last["entry"], id=incident_id, key=last["key"], state=last["state"])


@bp.get("/api/upper/pushed")
def upper_pushed():
    require_role(*(having("pushes_upper") | {"admin"}))  # the role table's 上报 flag
    return jsonify(items=upper.pushed(ctx().redis, request.args.get("count", 100, type=int)))


@bp.post("/api/upper/retry/<path:key>")
def upper_retry(key: str):
    """重新上报: queue a given-up exchange item again (its reason stays on /ops until it goes)."""
    require_role(*(having("pushes_upper") | {"admin"}))
    if not Exchange(ctx().redis).retry(key[:200]):
        return jsonify(error="conflict", reason="只能重新上报已放弃的条目 "
                       "(only a given-up item can be queued again)"), 409
    return jsonify(key=key, state="pending")
