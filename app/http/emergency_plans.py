"""预案 and 应急响应 over HTTP (issue 16; X23, X24, T5, X19, X3). Every route asks
``require_actor`` and the policy (``Policy.check_response``, through ``incidents.emergency``).

| method | path | what |
|---|---|---|
| GET | /api/emergency/plans | the plans (current versions) |
| GET | /api/emergency/plans/<id>[?version=n][&format=yaml] | one plan (JSON, or its YAML file) |
| GET | /api/emergency/plans/<id>/history | its versions: who changed what, when |
| POST | /api/emergency/plans | import/edit a plan (YAML body, or JSON ``{"yaml": …, "note": …}``): city commander |
| GET | /api/emergency/suggestions/<incident_id> | 建议启动: the plans and levels a case/situation triggers |
| GET | /api/emergency/responses[?exercise=1&all=1] | responses the caller may read |
| POST | /api/emergency/responses | 启动响应 ``{plan, level, town?, exercise?, reason?, incident?}`` (Idempotency-Key) |
| GET | /api/emergency/responses/<aid> | 响应看板 (the board) |
| GET | /api/emergency/responses/<aid>/log | its audit (推演: the replay) |
| POST | /api/emergency/responses/<aid>/level | 调整级别 ``{level, reason}`` |
| POST | /api/emergency/responses/<aid>/take_over | 市接管 ``{reason}`` |
| POST | /api/emergency/responses/<aid>/end | 终止响应 ``{summary}`` |
| POST | /api/emergency/responses/<aid>/tasks/<key>/<start|handle> | a 推演 task's 签收/完成 |

A response id is ``R…`` (real) or ``X…`` (推演: its own namespace, never real cases).
"""

from __future__ import annotations

import re
import threading

import yaml
from flask import Blueprint, Response, abort, current_app, jsonify, request

from app import security
from app.api import json_body, text_field
from app.auth import guarded, require_actor
from app.http import check_incident_id, ctx, guard_incident_ids, svc
from incidents.emergency.plans import PlanError
from incidents.emergency.response import Responses

bp = Blueprint("api_emergency_plans", __name__)
guard_incident_ids(bp)

RESPONSE_ID = re.compile(r"[RX]\d{8}\d{4,8}")
"""A response's id (``R``/``X`` + day + sequence): anything else names none (no Redis key)."""
TASK_KEY = re.compile(r"(IV|III|II|I)\|[A-Z][A-Za-z0-9]{1,20}\|\d{1,3}")
PLAN_BYTES_MAX = 256 * 1024
"""A plan file is at most 256 KiB (a bigger body is refused before YAML reads it)."""
_LOCK = threading.Lock()


def responses() -> Responses:
    """This process's plan book and responses (made once; the demo city's plans imported on
    first use when none is stored yet, labelled demo)."""
    ext = current_app.extensions
    got = ext.get("onemap_emergency")
    if got is not None:
        return got
    with _LOCK:
        got = ext.get("onemap_emergency")
        if got is None:
            from app.emergency import responses_for  # noqa: PLC0415 (one composition: app.emergency)

            got = ext["onemap_emergency"] = responses_for(ctx())
    return got


def _aid(aid: str) -> tuple[str, bool]:
    if not RESPONSE_ID.fullmatch(aid):
        abort(security.json_error(404, "not_found", reason="无此应急响应 (no such response)"))
    return aid, aid.startswith("X")


def _flag(name: str) -> bool:
    return request.args.get(name, "") in ("1", "true", "yes")


@bp.get("/api/emergency/plans")
def plans_list():
    actor = require_actor()
    with guarded("plans"):
        svc().policy.check_response(actor, "read_plan")
        return jsonify(plans=[s.summary() for s in responses().plans.all()])


@bp.get("/api/emergency/plans/<plan_id>")
def plan_get(plan_id: str):
    actor = require_actor()
    with guarded("plans"):
        svc().policy.check_response(actor, "read_plan")
        v = request.args.get("version", "")
        stored = responses().plans.get(plan_id, int(v) if v.isdigit() else None)
    if stored is None:
        abort(security.json_error(404, "not_found", reason="无此预案 (no such plan)"))
    if request.args.get("format") == "yaml":      # the file to edit and import again
        return Response(yaml.safe_dump(stored.plan.model_dump(mode="json"), allow_unicode=True,
                                       sort_keys=False), mimetype="application/yaml")
    return jsonify(stored.summary() | {"plan": stored.plan.model_dump(mode="json"),
                                       "note": stored.note, "changes": list(stored.changes)})


@bp.get("/api/emergency/plans/<plan_id>/history")
def plan_history(plan_id: str):
    actor = require_actor()
    with guarded("plans"):
        svc().policy.check_response(actor, "read_plan")
        return jsonify(versions=responses().plans.history(plan_id))


@bp.post("/api/emergency/plans")
def plan_import():
    """导入/编辑预案: a YAML body, or JSON ``{"yaml": text, "note": …}``; 400 names every field
    that is wrong (``problems``)."""
    actor = require_actor()
    if (request.content_length or 0) > PLAN_BYTES_MAX:
        abort(security.json_error(413, "too_large", reason="预案文件过大 (at most 256 KiB)"))
    if request.is_json:
        b = json_body()
        text, note = b.get("yaml"), text_field(b, "note")
        if not isinstance(text, str):
            abort(security.json_error(400, "bad_request", reason="yaml 应为预案文件的文本 "
                                                                 "(yaml: the plan file's text)"))
    else:
        text, note = request.get_data(as_text=True), request.args.get("note", "")[:2000]
    with guarded("plans"):
        try:
            stored, changed = responses().plans.put(text, actor, note)
        except PlanError as exc:
            abort(security.json_error(400, "invalid_plan", reason=str(exc), problems=exc.problems))
    return jsonify(stored.summary() | {"changed": changed, "changes": list(stored.changes)}), \
        201 if changed else 200


@bp.get("/api/emergency/suggestions/<incident_id>")
def suggestions(incident_id: str):
    actor = require_actor()
    with guarded(incident_id):
        return jsonify(suggestions=responses().suggestions(actor, incident_id))


@bp.get("/api/emergency/responses")
def responses_list():
    actor = require_actor()
    with guarded("responses"):
        return jsonify(responses=responses().list(actor, exercise=_flag("exercise"),
                                                  active_only=not _flag("all")))


@bp.post("/api/emergency/responses")
def activate():
    actor = require_actor()
    b = json_body()
    incident = text_field(b, "incident")
    if incident:
        check_incident_id(incident)       # a case's id or nothing (never another key's text)
    with guarded("responses"):
        got = responses().activate(
            actor, text_field(b, "plan"), text_field(b, "level"), town=text_field(b, "town") or None,
            exercise=bool(b.get("exercise")), reason=text_field(b, "reason"),
            incident=incident,
            idempotency_key=request.headers.get("Idempotency-Key", "")[:100] or None)
    return jsonify(got), 201


@bp.get("/api/emergency/responses/<aid>")
def board(aid: str):
    actor = require_actor()
    aid, ex = _aid(aid)
    with guarded(aid):
        return jsonify(responses().board(actor, aid, exercise=ex))


@bp.get("/api/emergency/responses/<aid>/log")
def log(aid: str):
    actor = require_actor()
    aid, ex = _aid(aid)
    with guarded(aid):
        return jsonify(entries=responses().log(actor, aid, exercise=ex))


@bp.post("/api/emergency/responses/<aid>/level")
def level(aid: str):
    actor = require_actor()
    aid, ex = _aid(aid)
    b = json_body()
    with guarded(aid):
        return jsonify(responses().change_level(actor, aid, text_field(b, "level"),
                                                text_field(b, "reason"), exercise=ex))


@bp.post("/api/emergency/responses/<aid>/take_over")
def take_over(aid: str):
    actor = require_actor()
    aid, ex = _aid(aid)
    with guarded(aid):
        return jsonify(responses().take_over(actor, aid, text_field(json_body(), "reason"), exercise=ex))


@bp.post("/api/emergency/responses/<aid>/end")
def end(aid: str):
    actor = require_actor()
    aid, ex = _aid(aid)
    with guarded(aid):
        return jsonify(responses().end(actor, aid, text_field(json_body(), "summary"), exercise=ex))


@bp.post("/api/emergency/responses/<aid>/tasks/<key>/<step>")
def exercise_step(aid: str, key: str, step: str):
    actor = require_actor()
    aid, ex = _aid(aid)
    if not ex or not TASK_KEY.fullmatch(key):
        abort(security.json_error(404, "not_found", reason="只有推演任务在此签收/完成；真实任务请在其事件上操作 "
                                  "(only exercise tasks; a real task moves through its case)"))
    with guarded(aid):
        return jsonify(responses().exercise_step(actor, aid, key, step))
