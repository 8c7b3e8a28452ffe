"""应急资源 and 一键调度 over HTTP (issue 16; X15, X18, X19, X23). Every route asks ``require_actor``
and the policy (``Policy.check_resource_dispatch`` / ``check_resource_import`` through
``incidents.emergency.dispatch``); contacts are masked for roles without personal data (SEC18).

| method | path | what |
|---|---|---|
| GET | /api/resources[?category=team&status=available] | the register with each resource's status |
| POST | /api/resources/import | import a CSV (``text/csv``) or GeoJSON (``application/geo+json``) body: city commander/admin; 400 names every bad row and field (``problems``), nothing imported |
| GET | /api/resources/suggest/<incident_id> | 建议调度 for a case/situation (its response's needs when it has one) |
| GET | /api/resources/suggest?response=R… | 建议调度 for a response (the level's needs) |
| POST | /api/resources/dispatch | 一键调度 ``{resource, incident?, response?, quantity?, note?}`` (Idempotency-Key) → 201 |
| GET | /api/resources/assignments[?incident=…][&response=…] | assignments (default: every open one) |
| GET | /api/resources/assignments/<aid> | one assignment with its log |
| POST | /api/resources/assignments/<aid>/<step> | ``acknowledged`` / ``en_route`` / ``on_scene`` / ``released`` (``{note, consumed}``) |
| POST | /api/resources/assignments/<aid>/position | ``{lon, lat}``: the responder's phone reports where the team is |
"""

from __future__ import annotations

import re
import threading

from flask import Blueprint, abort, current_app, jsonify, request

from app import security
from app.api import int_field, json_body, text_field
from app.auth import guarded, require_actor
from app.http import check_incident_id, ctx, guard_incident_ids, svc
from grid.resources import CATEGORY_NAMES, STATUS_NAMES, ImportRefused, read_csv, read_geojson
from incidents.emergency.dispatch import STATES, ResourceDispatch, resource_view

bp = Blueprint("api_resources", __name__)
guard_incident_ids(bp)

ASSIGNMENT_ID = re.compile(r"A\d{8}\d{5,8}")
RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}")
RESPONSE_ID = re.compile(r"R\d{8}\d{4,8}")
IMPORT_BYTES_MAX = 4 * 1024 * 1024
"""A register file is at most 4 MiB (thousands of rows; a bigger body is refused unread)."""
_LOCK = threading.Lock()


def dispatcher() -> ResourceDispatch:
    """This process's 一键调度 over the register (made once; on start it writes the trail notes
    a crashed process left unwritten, ``ResourceDispatch.sweep``)."""
    ext = current_app.extensions
    got = ext.get("onemap_resources")
    if got is None:
        with _LOCK:
            got = ext.get("onemap_resources")
            if got is None:
                from app.emergency import roads_for  # noqa: PLC0415 (one composition)

                got = ext["onemap_resources"] = ResourceDispatch(svc(), ctx().resource_register,
                                                                 roads=roads_for(ctx()))
                got.sweep()      # notes a crashed process committed but did not write yet
    return got


def _bad(reason: str, status: int = 400, error: str = "bad_request") -> None:
    abort(security.json_error(status, error, reason=reason))


def _aid(aid: str) -> str:
    if not ASSIGNMENT_ID.fullmatch(aid):
        _bad("无此调派单 (no such assignment)", 404, "not_found")
    return aid


@bp.get("/api/resources")
def resources_list():
    actor = require_actor()
    cat, status = request.args.get("category", ""), request.args.get("status", "")
    if cat and cat not in CATEGORY_NAMES:
        _bad(f"category 应为 {' / '.join(CATEGORY_NAMES)} 之一")
    if status and status not in STATUS_NAMES:
        _bad(f"status 应为 {' / '.join(STATUS_NAMES)} 之一")
    rows = [resource_view(actor, h) for h in dispatcher().register.all()
            if (not cat or h.category == cat) and (not status or h.status == status)]
    return jsonify(resources=rows, statuses=STATUS_NAMES, categories=CATEGORY_NAMES)


@bp.post("/api/resources/import")
def resources_import():
    """导入应急资源: a CSV or GeoJSON body (docs/resources.md); all rows or none."""
    actor = require_actor()
    if (request.content_length or 0) > IMPORT_BYTES_MAX:
        _bad("资源文件过大 (at most 4 MiB)", 413, "too_large")
    with guarded("resources"):
        svc().policy.check_resource_import(actor)
    body = request.get_data()
    kind = (request.mimetype or "").lower()
    try:
        rows = read_geojson(body) if "json" in kind else read_csv(body)
        got = dispatcher().register.import_rows(rows, by=actor.user_id,
                                                source=request.args.get("name", "")[:200])
    except ImportRefused as exc:
        abort(security.json_error(400, "invalid_resources", reason=str(exc), problems=exc.problems))
    return jsonify(got), 201


@bp.get("/api/resources/suggest/<incident_id>")
def suggest_for_incident(incident_id: str):
    actor = require_actor()
    with guarded(incident_id):
        return jsonify(dispatcher().suggest(actor, incident_id=incident_id))


@bp.get("/api/resources/suggest")
def suggest_for_response():
    actor = require_actor()
    rid = request.args.get("response", "")
    if not RESPONSE_ID.fullmatch(rid):
        _bad("response 应为应急响应编号（R…） (response: a response id)")
    with guarded(rid):
        return jsonify(dispatcher().suggest(actor, response_id=rid))


@bp.post("/api/resources/dispatch")
def dispatch():
    """一键调度: one team/expert or a quantity of a material, to a case and/or a response."""
    actor = require_actor()
    b = json_body()
    rid, incident, response = text_field(b, "resource"), text_field(b, "incident"), text_field(b, "response")
    if not RESOURCE_ID.fullmatch(rid):
        _bad("resource 应为资源编号 (resource: a resource id)")
    if incident:
        check_incident_id(incident)
    if response and not RESPONSE_ID.fullmatch(response):
        _bad("response 应为应急响应编号（R…） (response: a response id)")
    with guarded(incident or response or rid):
        q = int_field(b, "quantity")
        got = dispatcher().dispatch(actor, rid, incident=incident, response=response,
                                    quantity=1 if q is None else q, note=text_field(b, "note"),
                                    idempotency_key=request.headers.get("Idempotency-Key", "")[:100] or None)
    return jsonify(got), 201


@bp.get("/api/resources/assignments")
def assignments():
    require_actor()
    incident, response = request.args.get("incident", ""), request.args.get("response", "")
    if incident:
        check_incident_id(incident)
    if response and not RESPONSE_ID.fullmatch(response):
        _bad("response 应为应急响应编号（R…）")
    return jsonify(assignments=dispatcher().assignments(incident=incident, response=response,
                                                        open_only=not (incident or response)))


@bp.get("/api/resources/assignments/<aid>")
def assignment(aid: str):
    require_actor()
    aid = _aid(aid)
    with guarded(aid):
        d = dispatcher()
        return jsonify(d.get(aid) | {"log": d.log(aid)})


@bp.post("/api/resources/assignments/<aid>/position")
def position(aid: str):
    actor = require_actor()
    aid = _aid(aid)
    b = json_body()
    lon, lat = b.get("lon"), b.get("lat")
    with guarded(aid):
        return jsonify(dispatcher().update_position(aid, lon, lat, actor=actor))


@bp.post("/api/resources/assignments/<aid>/<step>")
def step(aid: str, step: str):
    actor = require_actor()
    aid = _aid(aid)
    step = "released" if step == "release" else step
    if step not in STATES[1:]:
        _bad(f"未知的调派步骤（可选: {', '.join(STATES[1:])}） (unknown step)", 404, "not_found")
    b = json_body()
    with guarded(aid):
        consumed = int_field(b, "consumed") or 0
        return jsonify(dispatcher().step(actor, aid, step, text_field(b, "note"), consumed))
