"""The ledger on the grid worker's phone (issue 24): the cell roster (辖区对象花名册, G8) and
走访/服务记录 against a patrol task (G8 "按巡查任务登记服务记录", E10).

| method | path | what |
|---|---|---|
| GET | /m/api/ledger/roster | the worker's own cell: people, houses, units and places (地: the emergency resource register's shelters and warehouses in the cell), always masked (SEC18), with the worker's patrol tasks (the phone keeps it for offline use) |
| POST | /m/api/ledger/visits | a 走访/服务 record linked to one of the worker's patrol tasks, optionally to a roster object; the phone's outbox key is its id (a replay inserts nothing) |
| GET | /m/api/ledger/visits | the worker's recent visits (``?task=`` one task's) |
| GET | /api/ledger/tasks/<incident_id>/visits | a task's visits for whoever may read the task (the console) |

Scope, on the server for every request: the roster is the grid worker's own cell only (the
ledger's rule, ``app.ledger.may_read_cell``); a visit's task must be one the incident policy lets
the worker read and work (``Policy.can_read`` / ``Policy.my_task``): another worker's task is
403, written to the security audit. The phone never receives an unmasked field, nor a person's
ID number: a person is named by ``grid.ledger.visits.person_token``.

A new visit also writes a note on the task's trail (the console's timeline shows it; idempotent by
the visit id), so the free-text patrol log stays and the visit is linked.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import NoReturn

from flask import Blueprint, abort, current_app, jsonify, request

from app import security
from app.auth import deny, guarded, require_actor
from app.http import check_incident_id, ctx
from app.http.ledger import grid_worker, ledger_or_503
from app.ledger import MASKS, may_read_cell
from app.mobile_api import _actor, _body, _check_author, _key, _text, my_tasks
from grid.ledger import store
from grid.ledger import visits as lv
from incidents import masking
from incidents.actor import SYSTEM, Actor
from incidents.errors import Forbidden, InvalidTransition

bp = Blueprint("mobile_ledger", __name__)

ROSTER_KINDS = {"people": "person", "houses": "house", "units": "unit"}
"""The roster's registers and the object kind a visit names them by."""
PLACE_KINDS = {"shelter": "避难场所", "warehouse": "物资仓库"}
"""The places (地) of a cell on the roster: fixed points of the emergency resource register."""
MAX_PAST_S = 30 * 86400
"""A visit kept offline longer than this gets the server's time (a phone clock gone wrong)."""
MAX_FUTURE_S = 300


REJECTED = "ledger_visit_rejected"
"""The security counter of refused visits (bad input: the phone keeps the record with the reason)."""


def _refuse(reason: str) -> NoReturn:
    """400 with the reason (Chinese first), counted: the phone's outbox keeps the record as
    发送失败 with it, nothing is lost."""
    security.count(ctx().redis, REJECTED)
    abort(security.json_error(400, "bad_request", reason=reason))


def _secret() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()


def _patrol_tasks(actor: Actor) -> list[dict]:
    """The worker's patrol tasks (上情下达, kind ``task``) with a sub-task of theirs, open first."""
    out = []
    for inc in my_tasks(ctx(), actor):
        if inc.kind != "task":
            continue
        mine = ctx().incidents.policy.my_task(actor, inc, None, required=False)
        out.append({"id": inc.id, "title": inc.title or inc.category_name, "open": mine is not None})
    return out


def _places(cell: str) -> list[dict]:
    """地: the shelters and warehouses of the emergency resource register whose point lies in
    ``cell`` (no personal field: a resource's contact is not shown)."""
    frame = ctx().resources
    frame = frame[frame["kind"].isin(list(PLACE_KINDS))]
    if frame.empty:
        return []
    city = ctx().city
    rows = city.locate_many(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    codes = city.cells["code"].astype(str).to_numpy()
    out = []
    for row, i in zip(frame.itertuples(index=False), rows, strict=True):
        if i >= 0 and codes[i] == cell:
            out.append({"ref": str(row.id), "name": str(row.name), "kind": PLACE_KINDS[row.kind],
                        "lon": float(row.lon), "lat": float(row.lat)})
    return out


@bp.get("/m/api/ledger/roster", endpoint="mobile_ledger_roster")
def roster():
    """辖区对象花名册 of the worker's own cell, masked, with the patrol tasks a visit is logged
    against: the phone stores it whole and shows it without network."""
    actor = grid_worker("使用本网格花名册", _actor())
    led = ledger_or_503()
    why = may_read_cell(actor, actor.cell, led.cell_towns)
    if why:
        deny(why, target=actor.cell, actor=actor)
    secret = _secret()
    out: dict = {"cell": actor.cell, "town": led.cell_towns.get(actor.cell, ""),
                 "synced_at": int(time.time() * 1000)}
    with led.connect() as conn:
        for kind in ROSTER_KINDS:
            rows = store.in_cell(conn, kind, actor.cell)
            if kind == "people":      # the phone's key for a person: a token, never the number
                rows = [dict(r, ref=lv.person_token(secret, r["id_number"])) for r in rows]
            else:
                rows = [dict(r, ref=r["code"]) for r in rows]
            out[kind] = [MASKS[kind](r) for r in rows]   # always masked on the phone (SEC18)
    out["places"] = _places(actor.cell)
    out["tasks"] = _patrol_tasks(actor)
    return security.no_store(jsonify(out))


def _resolve_object(led, actor: Actor, body: dict  # noqa: ANN001
                    ) -> tuple[str | None, str | None, str]:
    """(object kind, register key, label as the phone shows it: masked) of the visit's roster
    object, (None, None, '') for none; 400 when the object is not in the worker's cell."""
    kind = _text(body, "object_kind", 10) or None
    ref = _text(body, "object_ref", 64) or None
    if kind is None and ref is None:
        return None, None, ""
    if kind not in lv.OBJECT_KINDS or not ref:
        _refuse("对象应为花名册中的人员、房屋或单位 "
                "(object_kind: person/house/unit/place)")
    if kind == "place":
        place = next((p for p in _places(actor.cell) if p["ref"] == ref), None)
        if place is None:
            _refuse("该场所不在本网格，请同步名册后重新登记 "
                    "(place not in your cell)")
        return kind, ref, place["name"]
    register = next(k for k, v in ROSTER_KINDS.items() if v == kind)
    with led.connect() as conn:
        rows = store.in_cell(conn, register, actor.cell)
    if kind == "person":
        secret = _secret()
        hit = next((r for r in rows if lv.person_token(secret, r["id_number"]) == ref), None)
    else:
        hit = next((r for r in rows if r["code"] == ref), None)
    if hit is None:
        _refuse("该对象不在本网格花名册中，请同步名册后重新登记 "
                "(object not in your cell's roster)")
    shown = MASKS[register](hit)
    key = hit["id_number"] if kind == "person" else hit["code"]
    return kind, key, str(shown.get("name") or shown.get("address") or "")


def _visited_at(body: dict) -> datetime:
    now = time.time()
    try:
        ts = float(body.get("client_ts")) / 1000
    except (TypeError, ValueError):
        ts = now
    if not now - MAX_PAST_S <= ts <= now + MAX_FUTURE_S:
        ts = now
    return datetime.fromtimestamp(ts, UTC)


def _my_patrol_task(actor: Actor, task_id: str):  # noqa: ANN202 (Incident)
    """The patrol task ``task_id`` when the worker may log a visit on it (the policy: may read
    it and has a sub-task of it); else 403 (audited) or 404/400."""
    task_id = check_incident_id(task_id)
    svc = ctx().incidents
    with guarded(task_id):
        inc = svc.get(task_id, actor)        # out of read scope: Forbidden → 403, audited
    if inc.kind != "task":
        _refuse("走访记录应登记在巡查任务上 "
                "(not a patrol task)")
    mine = [t for t in inc.tasks if t.state != "returned"
            and svc.policy.my_task(actor, inc, t.n, required=False) is not None]
    if not mine:
        deny("该巡查任务不是派给你的，不能登记走访 (not your patrol task)", target=task_id, actor=actor)
    return inc


@bp.post("/m/api/ledger/visits", endpoint="mobile_ledger_visit")
def visit_add():
    """走访/服务记录: linked to a patrol task of the worker, optionally to a roster object. The
    phone's key is the visit's id: a replay returns the first record (``duplicate``)."""
    actor = grid_worker("使用本网格花名册", _actor())
    vid = _key()
    body = _body()
    _check_author(actor, body)
    if not lv.VISIT_ID.fullmatch(vid):
        _refuse("记录编号应为 8–64 位字母/数字 (visit id)")
    led = ledger_or_503()
    kind = _text(body, "kind", 4) or "走访"
    if kind not in lv.VISIT_KINDS:
        _refuse("记录类型应为 走访 或 服务 (kind)")
    task_id = _text(body, "task", 40)
    if not task_id:
        _refuse("走访记录须关联一个巡查任务 (task required)")
    inc = _my_patrol_task(actor, task_id)
    obj_kind, obj_key, label = _resolve_object(led, actor, body)
    lon = lat = None
    try:
        if body.get("lon") is not None and body.get("lat") is not None:
            lon, lat = float(body["lon"]), float(body["lat"])
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                lon = lat = None
    except (TypeError, ValueError):
        lon = lat = None
    v = lv.Visit(id=vid, cell_code=actor.cell, town_code=led.cell_towns.get(actor.cell, ""),
                 task_id=inc.id, worker=actor.user_id, kind=kind, visited_at=_visited_at(body),
                 note=_text(body, "note"), object_kind=obj_kind, object_ref=obj_key, lon=lon, lat=lat)
    with led.connect() as conn:
        stored, new = lv.record(conn, v)
    if stored.worker != actor.user_id:      # someone else's id (never made by a phone): refuse
        abort(security.json_error(409, "conflict", reason="记录编号已被占用 (visit id taken)"))
    text = f"【{stored.kind}】{label + '：' if label else ''}{stored.note or '已' + stored.kind}"
    try:   # the console's timeline: a note on the task (idempotent by the visit id)
        ctx().incidents.note(inc.id, actor, text, idempotency_key=f"m:visit:{vid}")
    except (Forbidden, InvalidTransition):   # the task closed meanwhile: the record stands
        with contextlib.suppress(Forbidden, InvalidTransition):
            ctx().incidents.note(inc.id, SYSTEM, f"{text}（{actor.name or actor.user_id}）",
                                 idempotency_key=f"m:visit:{vid}")
    return {"id": stored.id, "task": stored.task_id, "kind": stored.kind,
            "ts": int(stored.visited_at.timestamp() * 1000), "duplicate": not new}


def _view(rows: list[dict], role: str, secret: bytes) -> list[dict]:
    """Visits as a screen shows them: the object's label masked for a role without personal
    data; a person's key given as the phone's token, never the ID number."""
    out = []
    places: dict[str, str] | None = None
    for r in rows:
        label = r["label"] or ""
        if r["object_kind"] == "place":     # the resource register (Redis) names a place
            if places is None:
                frame = ctx().resources
                places = dict(zip(frame["id"].astype(str), frame["name"].astype(str), strict=True))
            label = places.get(r["object_ref"] or "", "")
        if r["object_kind"] == "person" and not masking.sees(role):
            label = masking.name(label)
        ref = r["object_ref"]
        if r["object_kind"] == "person" and ref:
            ref = lv.person_token(secret, ref)
        out.append({"id": r["id"], "task": r["task_id"], "kind": r["kind"], "note": r["note"],
                    "ts": int(r["visited_at"].timestamp() * 1000), "worker": r["worker"],
                    "object_kind": r["object_kind"], "object_ref": ref, "label": label})
    return out


@bp.get("/m/api/ledger/visits", endpoint="mobile_ledger_visits")
def visit_list():
    """The worker's own recent visits (``?task=``: of one of their patrol tasks)."""
    actor = grid_worker("使用本网格花名册", _actor())
    led = ledger_or_503()
    task = request.args.get("task")
    if task:
        _my_patrol_task(actor, task)
    with led.connect() as conn:
        rows = lv.listed(conn, task_ids=[task] if task else None, worker=actor.user_id, limit=100)
    return security.no_store(jsonify({"visits": _view(rows, actor.role, _secret())}))


@bp.get("/api/ledger/tasks/<incident_id>/visits", endpoint="api_ledger_task_visits")
def task_visits(incident_id: str):
    """A patrol task's 走访/服务记录 for whoever may read the task (the policy), masked by role."""
    actor = require_actor()
    check_incident_id(incident_id)
    with guarded(incident_id):
        inc = ctx().incidents.get(incident_id, actor)
    led = ledger_or_503()
    with led.connect() as conn:
        rows = lv.listed(conn, task_ids=[inc.id], limit=500)
    return security.no_store(jsonify({"task": inc.id, "visits": _view(rows, actor.role, _secret())}))
