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
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, current_app

if TYPE_CHECKING:
    from app.context import AppContext
    from incidents.service import IncidentService


def ctx() -> AppContext:
    """The running process's context (connections, city, services)."""
    return current_app.extensions["onemap"]


def svc() -> IncidentService:
    """The incident service of this process."""
    return ctx().incidents


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
