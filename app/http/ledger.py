"""The ledger over HTTP (辖区对象花名册, G8; issue 24).

| method | path | what |
|---|---|---|
| GET | /api/ledger/cells/<cell>/people | the cell's roster: scoped (403 outside the reader's scope, audited), masked for roles without personal data (SEC18), an unmasked read audited (SEC9) |
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, jsonify, request

from app import security
from app.auth import deny, require_actor
from app.http import ctx
from app.ledger import ledger_of

bp = Blueprint("api_ledger", __name__)

CELL = re.compile(r"\d{15}")


@bp.get("/api/ledger/cells/<cell>/people")
def cell_people(cell: str):
    actor = require_actor()
    if not CELL.fullmatch(cell):
        abort(security.json_error(404, "not_found", reason="网格编码应为 15 位数字 (no such cell)"))
    led = ledger_of(ctx())
    if led is None:
        abort(security.json_error(503, "ledger_off", reason="花名册未启用：本进程没有历史档案库 "
                                                            "(no record database)"))
    try:
        people = led.roster(actor, cell, path=request.path)
    except PermissionError as e:
        deny(str(e), target=cell, actor=actor)
    return security.no_store(jsonify(cell=cell, people=people, count=len(people)))
