"""The call-center hook (CTI, 12345 统一接听受理: E4, issue 24): an incoming call becomes a hotline
draft the operator opens.

``POST /api/cti/calls`` by the call-center system, authenticated like every machine client of
/api (a bearer token of an account: ``onemap users token``; an operator account of the answering
center, e.g. the city's 12345 seat), JSON ``{"call_id", "number", "recording"?}``:

- answers 201 with the draft (call id, masked number, center, state ``draft``); the same
  ``call_id`` again answers 200 with the same draft and creates nothing (idempotent);
- the draft is the center's (``keys.cti_drafts``) and appears in its operators' 通知 (the notices
  stream the console already shows: "12345 来电 138****5678（话单 C…）");
- the softphone opens ``/console/?call=<call id>`` (screen pop, ``register_console``): the
  新建事件 form opens pre-filled with the call; or the operator types the call id into 工单号;
- the hotline form's 工单号 field (``ref``) names the call: the intake
  (``caller_fields``) fills in the caller's number, the call id and the recording as FIELDS of
  the case (``IncidentService.report(caller=…)``; masked per role by ``incidents.masking``) and
  closes the draft. A number typed by hand into that field is taken as the caller's number the
  same way, never kept as free text.

``GET /api/cti/calls``: the caller's center's open drafts (numbers masked per role).
"""

from __future__ import annotations

import re
import time

from flask import Blueprint, current_app, jsonify, request

from app import security
from incidents import keys, masking
from incidents.defaults import NOTICES_MAXLEN
from incidents.incident import to_json

bp = Blueprint("cti", __name__)

CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
PHONE = re.compile(r"^\+?[0-9][0-9 -]{2,23}$")
RECORDING = re.compile(r"^https?://[^\s<>\"']{1,500}$")
DRAFT_TTL_S = 7 * 86400
"""A draft nobody opened is kept this long (the call-center system has the call too)."""
_CREATE = """if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1"""


def _ctx():  # noqa: ANN202 (AppContext)
    return current_app.extensions["onemap"]


def _clock() -> float:
    ctx = _ctx()
    return ctx.incidents.clock() if getattr(ctx, "incidents", None) else time.time()


def _refuse(why: str):  # noqa: ANN202
    security.count(_ctx().redis, "cti_refused")
    return security.json_error(400, "bad_request", reason=why)


def draft_view(d: dict, role: str) -> dict:
    """A draft as ``role`` may see it (the number masked without personal-data rights)."""
    return masking.view({"call_id": d.get("call_id", ""), "phone": d.get("phone", ""),
                         "recording": d.get("recording", ""), "center": d.get("center", ""),
                         "ts": float(d.get("ts") or 0), "state": d.get("state", "draft"),
                         "incident": d.get("incident", "")}, role)


def take_call(r, actor, call_id: str, number: str, recording: str, now: float) -> tuple[dict, bool]:  # noqa: ANN001
    """The draft of a call (created once per call id): (draft, created)."""
    k = keys.cti_call(call_id)
    d = {"call_id": call_id, "phone": number, "recording": recording, "center": actor.center,
         "ts": repr(now), "state": "draft", "by": actor.user_id}
    # one atomic step: a draft exists whole or not at all (two posts of one call racing: one draft)
    if not r.eval(_CREATE, 2, k, keys.cti_drafts(actor.center), DRAFT_TTL_S, repr(now), call_id,
                  *[x for kv in d.items() for x in kv]):
        return r.hgetall(k), False
    p = r.pipeline(transaction=True)
    p.xadd(keys.NOTICES, {"e": to_json({
        "kind": "cti_call", "center": actor.center, "call_id": call_id, "ts": now,
        "href": f"/console/?call={call_id}",
        "text": f"12345 来电 {masking.phones(number)}（话单 {call_id}）：已生成工单草稿，"
                f"新建事件时在工单号中填写话单号即带入来电信息"})},
        maxlen=NOTICES_MAXLEN, approximate=True)
    p.execute()
    return d, True


def caller_fields(ctx, actor, channel: str, body: dict) -> tuple[str, dict[str, str]]:  # noqa: ANN001
    """(ref, caller) of a manual intake: the CTI draft a ``ref`` names (this center's, still
    open) gives the caller's number, call id and recording (``mark_taken`` closes it once the
    case exists); a phone number typed
    into ``ref`` becomes the caller's number field. Anything else stays the ref."""
    ref = str(body.get("ref") or "").strip()[:64]
    caller: dict[str, str] = {}
    if body.get("phone") and PHONE.match(str(body["phone"])):
        caller["phone"] = str(body["phone"])
    if channel not in ("hotline", "walk_in") or not ref:
        return ref, caller
    if CALL_ID.match(ref):
        d = ctx.redis.hgetall(keys.cti_call(ref))
        if d and d.get("center") == actor.center and d.get("state") == "draft":
            caller.update({"phone": d.get("phone", ""), "call_id": ref,
                           "recording": d.get("recording", "")})
            return ref, caller
    if PHONE.match(ref) and sum(c.isdigit() for c in ref) >= 7:
        caller.setdefault("phone", ref)
        return "", caller
    return ref, caller


def mark_taken(r, actor, call_id: str, incident_id: str) -> None:  # noqa: ANN001
    """The draft became a case (after the intake succeeded: a refused intake keeps it open)."""
    k = keys.cti_call(call_id)
    if r.exists(k):
        p = r.pipeline(transaction=True)
        p.hset(k, mapping={"state": "taken", "taken_by": actor.user_id, "incident": incident_id})
        p.zrem(keys.cti_drafts(actor.center), call_id)
        p.execute()


def screen_pop(r, actor, search: str) -> tuple[bool, str, str, str] | None:  # noqa: ANN001
    """The hotline form of a console opened at ``?call=<call id>`` (the CTI softphone's screen
    pop): (open, channel, 工单号, 内容 start) of the actor's center's open draft, else None."""
    from urllib.parse import parse_qs  # noqa: PLC0415

    call = (parse_qs((search or "").lstrip("?")).get("call") or [""])[0]
    if not CALL_ID.match(call):
        return None
    d = r.hgetall(keys.cti_call(call))
    if not d or d.get("center") != actor.center or d.get("state") != "draft":
        return None
    return True, "hotline", call, f"12345 来电（话单 {call}）："


def register_console(app, data) -> None:  # noqa: ANN001 (Dash, ConsoleData)
    """The console's screen pop: a ``dcc.Location`` around the console's own layout, and one
    callback that opens the 新建事件 form pre-filled with the call's draft (the intake then takes
    its number and recording as fields: ``caller_fields``)."""
    from dash import Input, Output, dcc, no_update  # noqa: PLC0415

    from app.auth import require_actor  # noqa: PLC0415
    from app.screens.console.ids import Id  # noqa: PLC0415

    inner = app.layout

    def page():  # noqa: ANN202
        root = inner() if callable(inner) else inner
        if getattr(root, "id", None) == Id.DENIED:
            return root
        root.children = [dcc.Location(id="cti-url", refresh=False), *list(root.children)]
        return root

    app.layout = page

    @app.callback(Output(Id.NEW_FORM, "open"), Output(Id.NEW_CHANNEL, "value"),
                  Output(Id.NEW_REF, "value"), Output(Id.NEW_DESC, "value"),
                  Input("cti-url", "search"))
    def pop(search):  # noqa: ANN001, ANN202
        got = screen_pop(data.redis, require_actor(), search or "")
        return got if got is not None else (no_update,) * 4


@bp.post("/api/cti/calls", endpoint="cti_call")
def cti_call():
    from app.auth import require_actor  # noqa: PLC0415

    actor = require_actor()
    from incidents.roles import spec  # noqa: PLC0415

    if not spec(actor.role).reports:
        return security.json_error(403, "forbidden", reason="该账号不能受理来电 (this account takes no calls)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _refuse("须提交 JSON 对象 (a JSON object is required)")
    call_id = str(body.get("call_id") or "").strip()
    number = str(body.get("number") or body.get("phone") or "").strip()
    recording = str(body.get("recording") or "").strip()
    if not CALL_ID.match(call_id):
        return _refuse("call_id 应为 1–64 个字母、数字或 ._:- (call id: 1-64 letters, digits, ._:-)")
    if not PHONE.match(number):
        return _refuse("number 不是电话号码 (number is not a phone number)")
    if recording and not RECORDING.match(recording):
        return _refuse("recording 应为 http(s) 地址 (recording must be an http(s) URL)")
    d, created = take_call(_ctx().redis, actor, call_id, number, recording, _clock())
    if d.get("center") != actor.center:      # the call id is another center's: nothing of it shown
        return security.json_error(409, "conflict", reason="该话单号已由其他中心受理 (call id taken "
                                                            "by another center)")
    resp = jsonify(draft_view(d, actor.role))
    resp.status_code = 201 if created else 200
    return resp


@bp.get("/api/cti/calls", endpoint="cti_calls")
def cti_calls():
    from app.auth import require_actor  # noqa: PLC0415

    actor = require_actor()
    r = _ctx().redis
    ids = r.zrevrange(keys.cti_drafts(actor.center), 0, 99)
    p = r.pipeline(transaction=False)
    for i in ids:
        p.hgetall(keys.cti_call(i))
    return {"calls": [draft_view(d, actor.role) for d in p.execute() if d]}


__all__ = ["bp", "caller_fields", "mark_taken", "register_console", "screen_pop", "take_call"]
