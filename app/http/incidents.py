"""Incidents over HTTP: the scoped work list, intake (12345, walk-in, other systems), one case with
the actions its caller may take (``incidents.policy``), its trail, routing hints, every action,
上情下达 tasks."""

from __future__ import annotations

import math
import time

from flask import Blueprint, jsonify, request

from app import security
from app.api import (
    ACTIONS,
    act,
    bulk_act,
    detail,
    intake,
    intake_response,
    json_body,
    summary,
    text_field,
)
from app.auth import audit_denied, guarded, require_actor
from app.http import check_incident_ids, ctx, guard_incident_ids, svc

bp = Blueprint("api_incidents", __name__)
guard_incident_ids(bp)


@bp.get("/api/incidents")
def list_incidents():
    actor = require_actor()
    view = request.args.get("view", "open")
    limit = min(request.args.get("limit", 100, type=int), 1000)
    offset = max(request.args.get("offset", 0, type=int), 0)
    with guarded("list"):
        incs = svc().list_queue(actor, view, limit=limit, offset=offset,
                                center=request.args.get("center") or None)
    now = time.time()
    return jsonify(view=view, items=[summary(i, now) for i in incs])

@bp.post("/api/incidents")
def create_incident():
    actor = require_actor()
    security.enforce(ctx().redis, security.REPORT_LIMIT, actor.user_id)
    idem = request.headers.get("Idempotency-Key")
    if idem is not None and not (0 < len(idem) <= 128):
        return security.json_error(400, "bad_request", reason="幂等键 Idempotency-Key 应为 1–128 个字符 "
                                   "(Idempotency-Key: 1-128 chars)")
    with guarded("intake"):
        inc = intake(ctx(), actor, json_body(), idem)
    return intake_response(inc)

@bp.get("/api/incidents/<incident_id>")
def get_incident(incident_id: str):
    actor = require_actor()
    with guarded(incident_id):
        inc = svc().get(incident_id, actor)
        offers = svc().available_actions(inc, actor)
    # what the caller may do with it now (incidents.policy): the console and phone ask the same
    return jsonify(detail(inc, actor, overdue=inc.overdue(time.time()),
                          actions=[o.to_dict() for o in offers]))

@bp.get("/api/incidents/<incident_id>/timeline")
def incident_timeline(incident_id: str):
    actor = require_actor()
    with guarded(incident_id):
        return jsonify(items=svc().timeline(incident_id, actor))

@bp.get("/api/incidents/<incident_id>/suggestions")
def incident_suggestions(incident_id: str):
    actor = require_actor()
    with guarded(incident_id):
        return jsonify(svc().suggest_routing(incident_id, actor))

@bp.post("/api/incidents/bulk/<action>")
def bulk_action(action: str):
    """One action on many cases (``{"ids": [...], ...the action's body}``): per-item results,
    each case through the policy and the audit as one click (``app.api.bulk_act``)."""
    actor = require_actor()
    if action not in ACTIONS:
        return security.json_error(404, "unknown_action", reason="未知操作，应为以下之一 "
                                                                 f"(one of {sorted(ACTIONS)})")
    body = json_body()
    ids = check_incident_ids(body.get("ids"), "ids")
    if action == "merge" and body.get("target") not in (None, ""):
        check_incident_ids([body["target"]], "target")
    with guarded("bulk"):
        items = bulk_act(svc(), actor, ids, action, body)
    for it in items:
        if it.pop("forbidden", False):
            audit_denied(it["reason"], it["id"], actor)
    ok = sum(1 for i in items if i["ok"])
    return jsonify(action=action, ok=ok, failed=len(items) - ok, items=items)

@bp.post("/api/incidents/<incident_id>/<action>")
def incident_action(incident_id: str, action: str):
    actor = require_actor()
    if action not in ACTIONS:
        return security.json_error(404, "unknown_action", reason="未知操作，应为以下之一 "
                                                                 f"(one of {sorted(ACTIONS)})")
    body = json_body()
    if action == "merge":       # 合并 names other cases: each an incident's id, never a Redis key
        check_incident_ids(body.get("others") or [], "others")
    with guarded(incident_id):
        inc = act(svc(), actor, incident_id, action, body)
    return jsonify(detail(inc, actor, overdue=inc.overdue(time.time())))

TASK_DEADLINE_MAX_S = 30 * 86400
"""A 上情下达 task's handle deadline is at most 30 days (a longer one is a typo, never a plan)."""


def task_deadline(value: object) -> float | None:
    """``deadline_s`` of a task (seconds, 0 < d ≤ 30 days) or None when not given; ValueError
    (→ 400) for anything else: a negative, zero, infinite or absurd deadline (issue 19)."""
    if value is None or value == "":
        return None
    try:
        d = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        d = math.nan
    if not 0 < d <= TASK_DEADLINE_MAX_S:        # also refuses NaN and ±inf
        raise ValueError(f"任务期限 deadline_s 应为 1 秒至 30 天（{TASK_DEADLINE_MAX_S} 秒）之间的秒数 "
                         f"(deadline_s: seconds, more than 0 and at most 30 days)")
    return d


@bp.post("/api/tasks")
def assign_task():
    actor = require_actor()
    b = json_body()
    with guarded("assign_task"):
        deadline = task_deadline(b.get("deadline_s"))
        inc = svc().assign_task(actor, text_field(b, "target"), text_field(b, "title") or "巡查任务",
                                description=text_field(b, "description"),
                                category=text_field(b, "category", "1001") or "1001",
                                deadline_s=deadline,
                                # the service keeps keys apart per user and action
                                idempotency_key=request.headers.get("Idempotency-Key") or None)
    resp = jsonify(inc.to_dict())
    resp.status_code = 201 if inc.intake == "created" else 200
    return resp
