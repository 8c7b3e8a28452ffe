"""Several cities in one deployment over HTTP (issue 20; T13, T27–T29): the prefecture center's
(地市指挥中心) overview of every city's open cases. A city's own account gets its city only
(``incidents.cities.Cities.open_incidents``: the scope is decided there, by the one policy
within each city). Every other incident endpoint works for the caller's own city
(``app.context.scope_requests``)."""

from __future__ import annotations

import time

from flask import Blueprint, abort, jsonify, request

from app import security
from app.api import summary
from app.auth import guarded, require_actor
from app.http import ctx

bp = Blueprint("api_cities", __name__)


@bp.get("/api/cities/incidents")
def cities_open_incidents():
    """{"cities": {tag: [open case summaries]}}: every city for the prefecture, else the
    caller's own."""
    actor = require_actor()
    cities = ctx().cities
    if cities is None:
        abort(security.json_error(404, "not_found", reason="本部署只有一个城市 (one city only)"))
    limit = min(request.args.get("limit", 500, type=int), 1000)
    with guarded("list"):
        got = cities.open_incidents(actor, limit=limit)
    now = time.time()
    return jsonify(cities={tag: [summary(i, now) for i in incs] for tag, incs in got.items()})
