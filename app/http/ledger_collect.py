"""信息采集 over HTTP (E10, G8; issue 24): the grid worker submits a new or changed register object
from the phone; it waits, PENDING, until the cell's town reviews it in the console.

| method | path | who | what |
|---|---|---|---|
| POST | /m/api/ledger/collect | grid worker | submit ``{kind, row}`` for their own cell (idempotency key: the outbox; validated as the import's row; 400 with the reasons) |
| GET | /m/api/ledger/collect | grid worker | my submissions with their status and a rejection's reason (masked) |
| GET | /api/ledger/collect | the town's reviewers | the town's pending submissions (``?status=`` pending/approved/rejected/all); masked per role, an unmasked read audited |
| POST | /api/ledger/collect/<id>/approve | the cell's town | enters the register (one transaction), audited |
| POST | /api/ledger/collect/<id>/reject | the cell's town | ``{reason}`` required: the worker reads it; audited |

Who reviews (``review_refusal``): the cell's town center roles that own its queue or check its
work (镇街值班员, the town's 监督核查员), the cell's town resolved by the one ``Policy``
(``town_of_target``). Anyone else: 403, written to the security audit.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from app import security
from app.auth import deny, require_actor
from app.http import ctx
from app.http.ledger import grid_worker, ledger_or_503
from app.ledger import MASKS
from grid import centers as cc
from grid.ledger import REGISTERS, collect
from incidents import masking
from incidents.actor import Actor
from incidents.policy import Policy
from incidents.roles import Role, spec

bp = Blueprint("api_ledger_collect", __name__)

AUDIT_APPROVE = "ledger_collect_approve"
AUDIT_REJECT = "ledger_collect_reject"
AUDIT_READ = "ledger_collect_read"
REVIEWER_ROLES = frozenset({Role.TOWN_OPERATOR, Role.SUPERVISOR})


def review_refusal(policy: Policy, actor: Actor, cell: str) -> str | None:
    """None when ``actor`` may review a collected object of ``cell`` (the cell's town center:
    a role that owns its queue or supervises), else why not."""
    town = policy.town_of_target(cc.worker_code(cell))
    if town is None:
        return "网格编码不在本市城市模型中 (no such cell)"
    role = spec(actor.role)
    if actor.role not in REVIEWER_ROLES or not (role.owns or role.supervises):
        return "只有网格所在镇街的值班员或监督核查员可以审核信息采集 (only the cell's town reviews)"
    if cc.town_of(actor.center) != town:
        return f"该网格属于镇街 {town}，不在 {actor.center} 的辖区内 (another town's cell)"
    return None


def view(sub: dict, role: str | None) -> dict:
    """A submission as ``role`` may read it: the object's personal fields masked (SEC18)."""
    if masking.sees(role):
        return sub
    out = dict(sub)
    out["data"] = MASKS[sub["kind"]](dict(sub["data"]))
    if sub["kind"] == "people":
        out["obj_key"] = masking.id_number(sub["obj_key"])
    return out


def _key(body: dict) -> str:
    key = str(request.headers.get("Idempotency-Key") or body.get("key") or "").strip()
    if not key or len(key) > 64 or not key.replace("-", "").isalnum():
        abort(security.json_error(400, "bad_request", reason="缺少幂等键 Idempotency-Key（至多 64 个字母/数字）"))
    return key


@bp.post("/m/api/ledger/collect")
def submit():
    actor = grid_worker("提交信息采集")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("row"), dict):
        abort(security.json_error(400, "bad_request", reason="请求体应为 {kind, row} (JSON object)"))
    key = _key(body)
    author = str(body.get("author") or actor.user_id)
    if author != actor.user_id:     # a shared phone: only its author sends it (issue 17)
        abort(security.json_error(409, "author_mismatch", author=author[:64],
                                  reason="这条记录由其他账号填写，已保留在手机上，待该账号登录后发送"))
    kind = str(body.get("kind") or "")
    row = {k: body["row"].get(k) for k in REGISTERS[kind].columns} if kind in REGISTERS else {}
    row["cell"] = row.get("cell") or actor.cell
    if row["cell"] != actor.cell:
        deny("网格员只能采集本网格的对象 (own cell only)", target=str(row["cell"])[:20], actor=actor)
    led = ledger_or_503()
    try:
        with led.connect() as conn:
            sub, dup = collect.submit(conn, author=actor.user_id, client_key=key, kind=kind, row=row,
                                      cell_towns=led.cell_towns,
                                      bounds=tuple(led.city.boundary.bounds))
    except collect.CollectError as e:
        security.count(ctx().redis, "ledger_collect_refused")
        return security.json_error(400, "invalid", reason=f"信息采集未通过校验：{e}",
                                   problems=[f"{r.field}: {r.reason}" for r in e.rejections])
    return {"id": sub["id"], "status": sub["status"], "status_name": sub["status_name"],
            "duplicate": dup, "submission": view(sub, actor.role)}


@bp.get("/m/api/ledger/collect")
def mine():
    actor = grid_worker("提交信息采集")
    with ledger_or_503().connect() as conn:
        subs = collect.listing(conn, author=actor.user_id, status=None, limit=50)
    return security.no_store(jsonify({"submissions": [view(s, actor.role) for s in subs]}))


def reviewer_towns(actor: Actor) -> list[str]:
    """The towns whose submissions ``actor`` reviews (its own town), 403 (audited) for none."""
    town = cc.town_of(actor.center)
    role = spec(actor.role)
    if not town or actor.role not in REVIEWER_ROLES or not (role.owns or role.supervises):
        deny("只有镇街值班员或监督核查员可以审核信息采集 (town reviewers only)", actor=actor)
    return [town]


def review_list(actor: Actor, status: str | None = "pending", path: str = "") -> list[dict]:
    """The reviewer's town's submissions as ``actor`` may read them; an unmasked read of
    personal fields written to the security audit (SEC9)."""
    towns = reviewer_towns(actor)
    with ledger_or_503().connect() as conn:
        subs = collect.listing(conn, towns=towns, status=status)
    if masking.sees(actor.role) and any(s["kind"] != "houses" for s in subs):
        security.audit(ctx().redis, AUDIT_READ, user=actor.user_id, role=actor.role,
                       center=actor.center, path=path, target=",".join(towns),
                       reason=f"未脱敏读取信息采集 {len(subs)} 条")
    return [view(s, actor.role) for s in subs]


def review(actor: Actor, sid: int, action: str, reason: str = "", path: str = "") -> dict:
    """Approve or reject submission ``sid`` as ``actor``: 404 unknown, 403 (audited) outside
    the reviewer's town, 409 reviewed already, 400 a rejection without a reason. Audited."""
    led = ledger_or_503()
    with led.connect() as conn:
        sub = collect.get(conn, sid)
        if sub is None:
            abort(security.json_error(404, "not_found", reason="无此采集记录 (no such submission)"))
        why = review_refusal(ctx().incidents.policy, actor, sub["cell_code"])
        if why:
            deny(why, target=f"collect:{sid}", actor=actor)
        try:
            if action == "approve":
                got = collect.approve(conn, sid, actor.user_id)
            else:
                got = collect.reject(conn, sid, actor.user_id, reason)
        except collect.NotPending as e:
            abort(security.json_error(409, "conflict", reason=str(e)))
        except ValueError as e:
            abort(security.json_error(400, "bad_request", reason=str(e)))
    security.audit(ctx().redis, AUDIT_APPROVE if action == "approve" else AUDIT_REJECT,
                   user=actor.user_id, role=actor.role, center=actor.center, path=path,
                   target=f"collect:{sid}",
                   reason=f"{got['op_name']}{got['kind_name']} {view(got, None)['obj_key']}"
                          + (f"：{got['reason']}" if action != "approve" else ""))
    return got


@bp.get("/api/ledger/collect")
def pending():
    actor = require_actor()
    status = request.args.get("status", "pending")
    if status not in (*collect.STATUS_NAMES, "all"):
        abort(security.json_error(400, "bad_request", reason="status 应为 pending、approved、rejected 或 all"))
    subs = review_list(actor, None if status == "all" else status, request.path)
    return security.no_store(jsonify({"submissions": subs, "count": len(subs)}))


@bp.post("/api/ledger/collect/<int:sid>/<action>")
def decide(sid: int, action: str):
    actor = require_actor()
    if action not in ("approve", "reject"):
        abort(security.json_error(404, "not_found", reason="操作应为 approve 或 reject"))
    body = request.get_json(silent=True) or {}
    got = review(actor, sid, action, str(body.get("reason") or ""), request.path)
    return {"id": got["id"], "status": got["status"], "status_name": got["status_name"],
            "reason": got["reason"]}


__all__ = ["AUDIT_APPROVE", "AUDIT_READ", "AUDIT_REJECT", "bp", "review", "review_list",
           "review_refusal", "reviewer_towns", "view"]
