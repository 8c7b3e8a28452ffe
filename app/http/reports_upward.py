"""信息报送 over HTTP (issue 17; X1, X3): 首报/续报/终报 of cases of 较大 and above, drafted from
the incident, edited by the watch, approved by the 带班领导 on duty (or a city commander) and
then sent to the upper-platform outbox. The rules are the domain's
(``incidents.reports_upward.UpwardReports``); this module maps them to HTTP.

- ``GET  /api/upreports/due[?center=]``          drafts not yet sent, earliest due first (待报)
- ``GET  /api/incidents/<id>/upreports``          a case's reports
- ``POST /api/incidents/<id>/upreports``          draft what the case asks for now (首报 once
  accepted, 终报 once closed); ``{"kind": "update"}``: a 续报
- ``POST /api/upreports/<rid>/edit``              ``{fields: {what, where, when, casualties,
  losses, measures, resources}}`` while a draft
- ``POST /api/upreports/<rid>/approve``           审核并报送 (403 for anyone but the leader on
  duty at the case's center or a city commander)
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, jsonify, request

from app.api import json_body, text_field
from app.auth import deny, require_actor
from app.http import ctx, guard_incident_ids
from app.security import json_error
from app.users import UserStore
from incidents.duty import Roster, may_see_watch
from incidents.errors import IncidentError
from incidents.notify import Outbox
from incidents.reports_upward import ReportError, UpwardReports

bp = Blueprint("api_reports_upward", __name__)
guard_incident_ids(bp)

_RID = re.compile(r"^[A-Z][0-9]{6,20}:(first|final|update:[0-9]{1,4})$")


def _reports() -> UpwardReports:
    r = ctx().redis
    users = UserStore(r)
    return UpwardReports(r, Roster(r, known_persons=lambda p: users.get(p) is not None), Outbox(r))


def _bad(reason: str):  # noqa: ANN202 (aborts)
    abort(json_error(400, "bad_request", reason=reason))


def _own(rid: str) -> dict:
    """The report, if the caller may read its case (scope: incidents.policy via get)."""
    if not _RID.match(rid):
        abort(404)
    try:
        rec = _reports().get(rid)
    except ReportError:
        abort(404)
    actor = require_actor()
    try:
        ctx().incidents.get(rec["incident"], actor)     # scope checked by the service
    except IncidentError as e:
        deny(str(e), rid, actor)
    return rec


@bp.get("/api/upreports/due")
def due():
    """待报: drafts not yet sent (a center's: the caller's own unless a city role asks)."""
    actor = require_actor()
    center = request.args.get("center") or (None if actor.center == "CITY" else actor.center)
    if center and not may_see_watch(actor.center, center):
        deny(f"center {actor.center} may not see the reports of {center}", center, actor)
    return jsonify(items=_reports().due(center))


@bp.get("/api/incidents/<incident_id>/upreports")
def of_incident(incident_id: str):
    actor = require_actor()
    try:
        ctx().incidents.get(incident_id, actor)
    except IncidentError as e:
        deny(str(e), incident_id, actor)
    return jsonify(items=_reports().of_incident(incident_id))


@bp.post("/api/incidents/<incident_id>/upreports")
def draft(incident_id: str):
    """起草: what the case asks for now, or a 续报 (``{"kind": "update"}``)."""
    actor = require_actor()
    try:
        inc = ctx().incidents.get(incident_id, actor)
    except IncidentError as e:
        deny(str(e), incident_id, actor)
    reports = _reports()
    if text_field(json_body(), "kind") == "update":
        try:
            return jsonify(created=[reports.follow_up(inc, actor.user_id)])
        except ReportError as e:
            _bad(str(e))
    return jsonify(created=reports.track(inc), items=reports.of_incident(incident_id))


@bp.post("/api/upreports/<rid>/edit")
def edit(rid: str):
    actor = require_actor()
    _own(rid)
    fields = json_body().get("fields")
    if not isinstance(fields, dict) or not fields:
        _bad("fields: 应为对象 (an object of report fields)")
    try:
        return jsonify(_reports().edit(rid, actor.user_id, fields))
    except ReportError as e:
        _bad(str(e))


@bp.post("/api/upreports/<rid>/approve")
def approve(rid: str):
    """审核并报送: only the 带班领导 on duty at the case's center or a city commander."""
    actor = require_actor()
    _own(rid)
    try:
        return jsonify(_reports().approve(rid, actor))
    except PermissionError as e:
        deny(str(e), rid, actor)
