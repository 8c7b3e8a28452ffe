"""The HTTP API as Flask Blueprints, one module per resource (incidents, geojson, emergency, cap,
upper, audit, open311). Every route runs behind ``app.auth``'s gate and asks the incident service
with the caller's Actor: scope (S1/S2) is checked on the server, in the policy, once.

Routes reach the process's ``AppContext`` through ``current_app.extensions["onemap"]`` (set by
``app.server.create_server``), not through closures. A new resource is a module here with a
``bp = Blueprint(...)``: it is registered by ``install``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, abort, current_app, request

from app import security

if TYPE_CHECKING:
    from app.context import AppContext
    from incidents.service import IncidentService


def ctx() -> AppContext:
    """The running process's context (connections, city, services)."""
    return current_app.extensions["onemap"]


def svc() -> IncidentService:
    """The incident service of this process."""
    return ctx().incidents


INCIDENT_ID = re.compile(r"[ET]\d{8,20}")
"""An incident's id as ``IncidentService`` makes it: ``E`` (a case) or ``T`` (上情下达 task) + the
KPI day (yyyymmdd) + its sequence number. Anything else names no incident: checked here, at the
edge, so an id never becomes another Redis key (``om:inc:feed`` → WRONGTYPE → 500; issue 19)."""


def not_found(incident_id: str) -> None:
    """Abort with 404 for an id that cannot be an incident's (its text is not echoed back)."""
    abort(security.json_error(404, "not_found", reason="无此事件，编号格式应为 E/T + 日期 + 序号 "
                                                        "(no such incident)"))


def check_incident_id(incident_id: Any) -> str:
    """``incident_id`` when it has the form of an incident's id; 404 otherwise."""
    if not isinstance(incident_id, str) or not INCIDENT_ID.fullmatch(incident_id):
        not_found(str(incident_id))
    return incident_id


def check_incident_ids(ids: Any, field: str) -> list[str]:
    """A body's list of incident ids (合并 ``others``, 批量 ``ids``): 400 when it is not a list of
    well-formed ids (a malformed id in a body is a bad request, not a missing resource)."""
    if not isinstance(ids, list) or not all(
            isinstance(i, str) and INCIDENT_ID.fullmatch(i) for i in ids):
        abort(security.json_error(400, "bad_request", reason=f"{field} 应为事件编号列表（E/T + 日期 + 序号）"
                                  f"({field}: a list of incident ids)"))
    return ids


def guard_incident_ids(bp: Blueprint) -> None:
    """Every route of ``bp`` with an ``<incident_id>`` in its path answers 404 for a malformed id
    before its view runs (no Redis key is ever built from it). A blueprint's ``before_request``
    runs after the app's gate, so an anonymous caller still gets 401 first."""

    @bp.before_request
    def _check() -> None:
        values = request.view_args or {}
        if "incident_id" in values:
            check_incident_id(values["incident_id"])


def blueprints() -> list[Blueprint]:
    """Every ``bp`` of this package's modules, in name order."""
    out = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        bp = getattr(importlib.import_module(f"{__name__}.{info.name}"), "bp", None)
        if isinstance(bp, Blueprint):
            out.append(bp)
    return out


def install(server: Flask) -> None:
    """Register the API's blueprints on ``server`` (after the gate)."""
    for bp in blueprints():
        server.register_blueprint(bp)
