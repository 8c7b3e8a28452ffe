"""The ledger over HTTP (辖区对象花名册, G8; issue 24).

| method | path | what |
|---|---|---|
| GET | /api/ledger/cells/<cell>/people | the cell's roster: scoped (403 outside the reader's scope, audited), masked for roles without personal data (SEC18), an unmasked read audited (SEC9) |
| GET | /api/ledger/cells/<cell>/houses | the cell's houses/buildings (code, address, kind, lon, lat): scoped |
| GET | /api/ledger/cells/<cell>/units | the cell's units: scoped, the phone masked like people's, an unmasked read audited |
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, jsonify, request

from app import security
from app.auth import deny, require_actor
from app.http import ctx
from app.ledger import Ledger, ledger_of
from grid.ledger import KINDS
from incidents.actor import Actor
from incidents.roles import Role

bp = Blueprint("api_ledger", __name__)

CELL = re.compile(r"\d{15}")


def ledger_or_503(what: str = "花名册") -> Ledger:
    """The process's ledger (PostgreSQL registers), else 503 naming what is off: every ledger
    endpoint (the roster, 走访, 信息采集, 民情日志) needs the record database."""
    led = ledger_of(ctx())
    if led is None:
        abort(security.json_error(503, "ledger_off", reason=f"{what}未启用：本进程没有历史档案库 "
                                                            "(no record database)"))
    return led


def grid_worker(what: str, actor: Actor | None = None) -> Actor:
    """The caller, a grid worker with a cell (what the phone's ledger pages are for), else 403
    audited, saying ``what`` only a grid worker may do."""
    actor = actor or require_actor()
    if actor.role != Role.GRID_WORKER or not actor.cell:
        deny(f"只有网格员可以{what} (grid workers only)", actor=actor)
    return actor


@bp.get("/api/ledger/cells/<cell>/<kind>")
def cell_register(cell: str, kind: str):
    actor = require_actor()
    if kind not in KINDS:
        abort(security.json_error(404, "not_found", reason="无此花名册：people、houses、units"))
    if not CELL.fullmatch(cell):
        abort(security.json_error(404, "not_found", reason="网格编码应为 15 位数字 (no such cell)"))
    led = ledger_or_503()
    try:
        rows = led.roster(actor, cell, path=request.path, kind=kind)
    except PermissionError as e:
        deny(str(e), target=cell, actor=actor)
    return security.no_store(jsonify({"cell": cell, kind: rows, "count": len(rows)}))
