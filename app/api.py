"""The HTTP API's use cases (JSON): what its routes do, shared with the console and the phone.

The routes are Blueprints in ``app/http/`` (one module per resource); this module holds what they
and the screens share: ``act`` (any action on a case, ``ACTIONS`` from ``incidents.actions``),
``intake`` (a new case by hand or from another system), ``summary`` (a case in a list),
``handle_note``, the body readers. Every endpoint runs behind ``app.auth``'s gate (login, CSRF, role) and asks the incident service
with the caller's Actor, so scope (S1/S2 分级控制) is checked on the server, once, in one place:
outside scope → 403 (+ audit entries in the incident trail and the security audit), never data.
Errors: ``{"error": ..., "reason": ...}`` with 400 / 401 / 403 / 404 / 409 / 422 / 429.

| method | path | what |
|---|---|---|
| GET | /api/incidents?view=new|mine|overdue|open|all&limit&offset&center | scoped work list |
| POST | /api/incidents (Idempotency-Key) | intake: hotline 12345, walk-in, other systems |
| GET | /api/incidents/<id> · /timeline · /suggestions | one incident, its trail, routing hints |
| POST | /api/incidents/<id>/<action> | every lifecycle action (``ACTIONS``) |
| POST | /api/incidents/bulk/<action> | one action on many cases, per-item results (``bulk_act``) |
| POST | /api/tasks | 上情下达: assign a patrol/inspection task |
| GET | /api/geojson/<layer> | towns, villages, cells, incidents, sensors, cameras |
| GET/POST | /api/emergency, /api/emergency/off | 应急模式 (city commander switches) |
| GET | /api/emergency/log | 应急模式 switches, newest first (city roles) |
| POST | /api/cap | CAP 1.2 alert intake (OASIS schema + rules, message semantics; docs/cap.md) |
| GET | /api/cap/messages | CAP log: every message taken in (Test/Ack/expired/cancelled too) |
| GET | /api/cap/feed.atom | Atom feed of the city's 重大+ warnings as CAP 1.2 alerts (X21) |
| POST/GET | /api/upper/push/<id>, /api/upper/pushed | mock push to the provincial platform |
| GET/POST | /open311/discovery, /open311/v2/services, requests, tokens (.json/.xml) | GeoReport v2 (docs/open311.md) |
| GET | /api/incidents/<id>/cap.xml | CAP 1.2 view of an incident (预警发布) |
| GET | /api/security/audit | latest security events (admin, commander) |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import abort, jsonify, request

from app import security, upper
from incidents import actions, masking
from incidents.actions import REGISTRY
from incidents.actor import Actor

LIST_FIELDS = ("id", "kind", "title", "category", "category_name", "severity", "state",
               "state_name", "channel", "channel_name", "center", "tier", "town_code", "cell_code",
               "lon", "lat", "created_ts", "updated_ts", "due_ts", "priority", "urged", "emergency",
               "reporter")


CALLER = "caller"
"""``summary(..., role=CALLER)``: mask for the role of the request's caller (none: masked)."""


def _role_of(role: str | None) -> str | None:
    if role != CALLER:
        return role
    from app.auth import current_actor  # noqa: PLC0415 (app.auth imports the screens' helpers)

    actor = current_actor()
    return actor.role if actor is not None else None


def summary(inc, now: float | None = None, role: str | None = CALLER) -> dict:
    """The list view of an incident (no sources, no trail). Reads attributes directly: a queue
    of hundreds is built on every feed change, and ``to_dict`` deep-copies every list. The
    reporter and phone numbers in the title are masked for a ``role`` (default: the caller's)
    without ``sees_personal_data`` (``incidents.masking``, SEC18)."""
    from incidents.incident import CHANNELS, STATE_NAMES  # noqa: PLC0415

    names = {"category_name": inc.category_name, "state_name": STATE_NAMES.get(inc.state, inc.state),
             "channel_name": CHANNELS.get(inc.channel, inc.channel)}
    out = {k: names[k] if k in names else getattr(inc, k, None) for k in LIST_FIELDS}
    out["overdue"] = inc.overdue(time.time() if now is None else now)
    out["n_sources"] = len(inc.sources)
    out["n_tasks"] = len(inc.tasks)
    return masking.view(out, _role_of(role))


def detail(inc, actor: Actor, **extra) -> dict:
    """One incident as the API answers it (``Incident.to_dict()`` and ``extra``), its
    reporters' phone numbers and names masked for an ``actor`` without the right (SEC18)."""
    return masking.view(dict(inc.to_dict(), **extra), actor.role)


def json_body() -> dict:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(security.json_error(400, "bad_request", reason="请求体应为 JSON 对象 "
                                                             "(a JSON object body is expected)"))
    return data


text_field = actions.text
"""A text field of a request body (``incidents.actions.text``: at most 2,000 characters)."""
int_field = actions.opt_int
"""An optional whole number of a request body; ValueError (→ 400 under ``guarded``) otherwise."""


ActionFn = Callable[[Any, str, Actor, dict], Any]
ACTIONS: dict[str, ActionFn] = {a: spec.call for a, spec in REGISTRY.items()}
ACTIONS["push_upper"] = lambda s, i, a, b: upper.push_incident(s, i, a)
"""Action name → call of ``IncidentService`` for a request body: every action declared in
``incidents.actions`` (受理 立案 派遣 开始处置 反馈 核查 核查不通过 结案 作废 退回 上报 接管 督办 回访 备注 定级
合并 拆分 …), and 上报省平台 through the app's exchange (``app.upper``). Who may do which, when, is
``incidents.policy``'s (GET /api/incidents/<id> answers it as ``actions``)."""


HANDLE_NOTE_MIN = 2
"""处置反馈 says what was done: at least this many characters (e.g. 已修复). Demo default."""


def handle_note(text: str | None) -> str:
    """The note of a 处置反馈 (handle / the phone's 处置完成), stripped; ValueError when it is
    shorter than ``HANDLE_NOTE_MIN``: the verifier (核查, T11) and the assessment read what was
    done (E14 处置→督办反馈, E21 办理—反馈)."""
    note = (text or "").strip()
    if len(note) < HANDLE_NOTE_MIN:
        raise ValueError(f"处置反馈须填写处置情况（至少 {HANDLE_NOTE_MIN} 个字）"
                         "(describe what was done)")
    return note


def act(service, actor: Actor, incident_id: str, action: str, body: dict):
    """Do one lifecycle action for ``actor`` (API and console share it).

    The read scope is checked first, so a caller outside the incident's scope always gets
    Forbidden (403), never a state-dependent answer (409) that would reveal the incident.
    """
    fn = ACTIONS.get(action)
    if fn is None:
        raise KeyError(action)
    service.get(incident_id, actor)
    if action == "handle":
        body = dict(body, note=handle_note(text_field(body, "note")))
    return fn(service, incident_id, actor, body)


BULK_MAX = 500
"""At most this many cases in one bulk action (a storm's page of the queue, filtered)."""
BULK_REFUSED = frozenset({"split", "push_upper"})
"""Actions never done in bulk: 拆分 names one source of one case; 上报省平台 one report each."""


def bulk_act(service, actor: Actor, ids, action: str, body: dict) -> list[dict]:  # noqa: ANN001
    """One action on many cases (批量操作, issue 15): each case through the same gate as one
    click (``act``: read scope, then the policy's check in the service, the audit), queued in
    ``IncidentService.batch()`` so the lot goes to Redis in one round trip. 合并 is not
    batchable: every other case is checked (``policy.merge_ok``) and the ones allowed are merged
    into ``body["target"]`` (default: the first id) with ONE ``merge`` call. 派遣 of a case
    not yet accepted accepts it first (受理并派遣) when the policy offers 受理 and not 派遣:
    two audited steps, chained in the batch (the second never lands without the first).

    Returns one result per case, in order: ``{"id", "ok", "reason", "state"}`` (a refusal's
    reason in the service's words, ``forbidden`` when it was out of the caller's scope or
    role: the caller audits it as a 403 (SEC9); the refused cases are unchanged)."""
    from incidents.errors import Forbidden, IncidentError  # noqa: PLC0415

    ids = [str(i) for i in dict.fromkeys(ids or []) if i][:BULK_MAX]
    if action not in ACTIONS or action in BULK_REFUSED:
        raise ValueError(f"不支持批量{action} (no bulk {action})")
    if not ids:
        raise ValueError("请先选择事件 (select cases first)")
    out: dict[str, dict] = {}

    def refused(iid: str, exc: Exception) -> None:
        why = f"{exc.reason} (无权操作)" if isinstance(exc, Forbidden) else str(exc)
        out[iid] = {"id": iid, "ok": False, "reason": why, "state": "",
                    "forbidden": isinstance(exc, Forbidden)}

    if action == "merge":
        target = str(body.get("target") or ids[0])
        allowed = []
        for iid in ids:
            if iid == target:
                continue
            try:
                why = service.policy.merge_ok(actor, service.get(iid, actor))
                if why is not None:
                    raise why
            except (IncidentError, ValueError) as exc:
                refused(iid, exc)
                continue
            allowed.append(iid)
        try:
            inc = service.merge(target, allowed, actor, reason=text_field(body, "reason"))
        except (IncidentError, ValueError) as exc:
            for iid in [target, *allowed]:
                refused(iid, exc)
        else:
            out[target] = {"id": target, "ok": True, "reason": "合并目标 (merge target)",
                           "state": inc.state}
            for iid in allowed:
                out[iid] = {"id": iid, "ok": True, "reason": f"已并入 {target}", "state": "voided"}
        return [out[i] for i in ids if i in out]
    service.prefetch(ids)
    queued: list[tuple[str, int, int, object]] = []
    with service.batch() as b:
        for iid in ids:
            start = len(b.items)
            try:
                if action == "dispatch":     # 受理并派遣: a new case is accepted first, if the
                    inc = service.get(iid, actor)   # policy offers that and not the dispatch
                    pol = service.policy
                    if pol.refusal("dispatch", actor, inc) and not pol.refusal("accept", actor, inc):
                        act(service, actor, iid, "accept", {"note": text_field(body, "note")})
                inc = act(service, actor, iid, action, body)
            except (IncidentError, ValueError) as exc:   # refused at once (nothing queued)
                refused(iid, exc)
                continue
            queued.append((iid, start, len(b.items), inc))
    for iid, start, end, inc in queued:
        res = b.results[start:end] or [inc]
        err = next((r for r in res if isinstance(r, Exception)), None)
        if err is not None:           # refused when sent (a concurrent change, redone and refused)
            refused(iid, err)
        else:
            out[iid] = {"id": iid, "ok": True, "reason": "", "state": res[-1].state}
    return [out[i] for i in ids]


CHANNELS_IN = {"hotline": "hotline", "12345": "hotline", "walk_in": "walk_in", "walk-in": "walk_in",
               "api": "api"}
"""Intake channels accepted by POST /api/incidents (12345 热线, 来访 walk-in, other systems)."""


def intake(ctx, actor: Actor, body: dict, idem: str | None):
    """New incident by hand or from another system (the same intake as every channel)."""
    channel = CHANNELS_IN.get(text_field(body, "channel", "api"))
    if channel is None:
        raise ValueError(f"渠道 channel 应为 {'、'.join(sorted(CHANNELS_IN))} 之一 "
                         f"(channel must be one of {sorted(CHANNELS_IN)})")
    try:
        lon, lat = float(body["lon"]), float(body["lat"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("须提供经纬度 lon、lat（WGS-84，度）(lon and lat (WGS-84 degrees) are required)"
                         ) from None
    # a 12345 call's number, call id and recording: fields of the case, never free text in
    # ref (app.cti: the CTI draft a ref names, or a number typed into it; issue 24)
    from app.cti import caller_fields, mark_taken  # noqa: PLC0415

    ref, caller = caller_fields(ctx, actor, channel, body)
    # the service keeps keys apart per user and action (no cross-user reads)
    inc = ctx.incidents.report(actor, text_field(body, "category"), lon, lat,
                               severity=text_field(body, "severity", "一般") or "一般",
                               description=text_field(body, "description"), title=text_field(body, "title"),
                               channel=channel, idempotency_key=idem, ref=ref, caller=caller)
    if caller.get("call_id"):
        mark_taken(ctx.redis, actor, caller["call_id"], inc.id)
    return inc


def point_features(frame, props: tuple[str, ...]) -> dict:
    feats = []
    cols = {p: frame[p].tolist() for p in props if p in frame}
    for k, (lon, lat) in enumerate(zip(frame["lon"].tolist(), frame["lat"].tolist(), strict=True)):
        feats.append({"type": "Feature", "id": str(frame["id"].iloc[k]),
                      "geometry": {"type": "Point", "coordinates": [round(float(lon), 6),
                                                                    round(float(lat), 6)]},
                      "properties": {p: _plain(v[k]) for p, v in cols.items()}})
    return {"type": "FeatureCollection", "features": feats}


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    return v


def intake_response(inc):  # noqa: ANN001, ANN201 (incidents.incident.Incident → flask.Response)
    """An intake's answer: 201 with the new incident, or 200 with the one a retry (same key) or
    a correlated report resolved to, so that a client can tell the two apart. A report merged
    into a case outside the caller's scope answers 200 with its receipt only (``intake ==
    "merged"``, ``incidents.receipt``: 已并入已有事件 + the caller's own reference; issue 19)."""
    resp = jsonify(masking.view(dict(inc.to_dict(), intake=inc.intake), _role_of(CALLER)))
    resp.status_code = 201 if inc.intake == "created" else 200
    return resp
