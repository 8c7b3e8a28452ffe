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
from app.ledger import ledger_of
from grid.ledger import KINDS

bp = Blueprint("api_ledger", __name__)

CELL = re.compile(r"\d{15}")


@bp.get("/api/ledger/cells/<cell>/<kind>")
def cell_register(cell: str, kind: str):
    actor = require_actor()
    if kind not in KINDS:
        abort(security.json_error(404, "not_found", reason="无此花名册：people、houses、units"))
    if not CELL.fullmatch(cell):
        abort(security.json_error(404, "not_found", reason="网格编码应为 15 位数字 (no such cell)"))
    led = ledger_of(ctx())
    if led is None:
        abort(security.json_error(503, "ledger_off", reason="花名册未启用：本进程没有历史档案库 "
                                                            "(no record database)"))
    try:
        rows = led.roster(actor, cell, path=request.path, kind=kind)
    except PermissionError as e:
        deny(str(e), target=cell, actor=actor)
    return security.no_store(jsonify({"cell": cell, kind: rows, "count": len(rows)}))
