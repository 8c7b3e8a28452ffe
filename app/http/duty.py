"""值班值守 and 通知 over HTTP (issue 17, X34a, T25): who is on watch at a center, the roster's
import, swaps and leave (admin), the handover (交接班: the outgoing watch's note, the incoming
watch's acknowledgement), and a user's own notifications with their acknowledgement (确认收到,
which stops an escalation). The rules are the domain's (``incidents.duty``,
``incidents.notify``); this module maps them to HTTP. Screens read these (console header, wall).
"""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from app.api import json_body, text_field
from app.auth import deny, require_actor, require_role
from app.channels import inbox
from app.http import ctx
from app.security import json_error
from app.users import UserStore
from grid.centers import CenterCode
from incidents import masking
from incidents.duty import DUTY_ROLE_NAMES, Roster, RosterError, may_see_watch
from incidents.notify import Outbox
from incidents.roles import Role

bp = Blueprint("api_duty", __name__)


def _roster() -> Roster:
    users = UserStore(ctx().redis)
    return Roster(ctx().redis, known_persons=lambda p: users.get(p) is not None)


def _center(center: str) -> str:
    try:
        CenterCode.parse(center)
    except ValueError:
        return _bad([f"center={center[:40]!r}: 不是中心代码 (not a center code)"])
    return center


def _bad(problems: list[str]):  # noqa: ANN202 (aborts)
    from flask import abort  # noqa: PLC0415

    abort(json_error(400, "bad_request", reason="；".join(problems), problems=problems))


def _refused(e: RosterError, center: str, actor) -> None:  # noqa: ANN001 (Actor)
    """Not on the watch that may do this: 403 (audited); anything else: 400."""
    if any("不是" in p for p in e.problems):
        deny("；".join(e.problems), center, actor)
    _bad(e.problems)


def _named(ids: list[str], masked: bool = False) -> list[dict]:
    """The watch by name; ``masked`` for a role that does not see personal data (SEC18): the
    surname and the account id's ends only."""
    users = UserStore(ctx().redis)
    out = []
    for uid in ids:
        u = users.get(uid)
        name = u.name if u else uid
        out.append({"id": masking.person(uid), "name": masking.person(name)} if masked
                   else {"id": uid, "name": name})
    return out


@bp.get("/api/duty/<center>")
def on_duty(center: str):
    """在岗: who is on watch at ``center`` now (or ``?at=<epoch s>``), by duty role."""
    actor = require_actor()
    center = _center(center)
    if not may_see_watch(actor.center, center):
        deny(f"center {actor.center} may not see the watch of {center}", center, actor)
    try:
        at = float(request.args.get("at") or time.time())
    except ValueError:
        _bad(["at: 应为时间戳 (epoch seconds)"])
    roster = _roster()
    watch = roster.on_duty(center, at)
    shift = roster.current_shift(center, at)
    return jsonify(center=center, at=at, shift=shift.id if shift else None,
                   on_duty={r: _named(p, not masking.sees(actor.role)) for r, p in watch.items()},
                   role_names=DUTY_ROLE_NAMES)


@bp.post("/api/duty/import")
def import_roster():
    """导入排班 (admin): body ``{"csv": "<roster CSV>"}``; refused whole (400, each problem)."""
    actor = require_role(Role.ADMIN)
    text = json_body().get("csv")
    if not isinstance(text, str) or not text.strip():
        _bad(["csv: 应为排班 CSV 文本 (the roster CSV as text)"])
    try:
        shifts = _roster().import_csv(text, by=actor.user_id)
    except RosterError as e:
        _bad(e.problems)
    return jsonify(shifts=[s.id for s in shifts])


@bp.post("/api/duty/<center>/swap")
def swap(center: str):
    """换班 (admin): ``{shift, role, out, in, reason}``."""
    actor = require_role(Role.ADMIN)
    b = json_body()
    try:
        s = _roster().swap(_center(center), text_field(b, "shift"), text_field(b, "role"),
                           text_field(b, "out"), text_field(b, "in"), by=actor.user_id,
                           reason=text_field(b, "reason"))
    except RosterError as e:
        _bad(e.problems)
    return jsonify(shift=s.id, members=s.members)


@bp.post("/api/duty/<center>/leave")
def leave(center: str):
    """请假 (admin): ``{shift, person, reason, substitute?}``."""
    actor = require_role(Role.ADMIN)
    b = json_body()
    try:
        s = _roster().leave(_center(center), text_field(b, "shift"), text_field(b, "person"),
                            by=actor.user_id, reason=text_field(b, "reason"),
                            substitute=text_field(b, "substitute") or None)
    except RosterError as e:
        _bad(e.problems)
    return jsonify(shift=s.id, members=s.members)


@bp.post("/api/duty/<center>/handover")
def handover(center: str):
    """交班: ``{shift, note}`` by a member of the outgoing shift; open items carried."""
    actor = require_actor()
    b = json_body()
    try:
        rec = _roster().handover(_center(center), text_field(b, "shift"), actor.user_id,
                                 text_field(b, "note"))
    except RosterError as e:
        _refused(e, center, actor)
    return jsonify(rec)


@bp.post("/api/duty/<center>/handover/ack")
def handover_ack(center: str):
    """接班: ``{shift}`` (the outgoing shift) by a member of the watch on duty now."""
    actor = require_actor()
    try:
        rec = _roster().acknowledge(_center(center), text_field(json_body(), "shift"), actor.user_id)
    except RosterError as e:
        _refused(e, center, actor)
    return jsonify(rec)


@bp.get("/api/notifications")
def my_notifications():
    """My in-app notifications (站内消息), newest first."""
    actor = require_actor()
    return jsonify(items=inbox(ctx().redis, actor.user_id, count=50))


@bp.post("/api/notifications/ack")
def acknowledge():
    """确认收到: ``{chain}``; stops its escalation. Only someone it reached may (else 403)."""
    actor = require_actor()
    chain = text_field(json_body(), "chain")
    if not chain:
        _bad(["chain: 必填 (required)"])
    try:
        first = Outbox(ctx().redis).acknowledge(chain, actor.user_id, via="web")
    except PermissionError as e:
        deny(str(e), chain, actor)
    return jsonify(chain=chain, first=first)
