"""The HTTP API (JSON): incidents, intake, GeoJSON exports, Open311, CAP intake, upper push.

Every endpoint runs behind ``app.auth``'s gate (login, CSRF, role) and asks the incident service
with the caller's Actor, so scope (S1/S2 分级控制) is checked on the server, once, in one place:
outside scope → 403 (+ audit entries in the incident trail and the security audit), never data.
Errors: ``{"error": ..., "reason": ...}`` with 400 / 401 / 403 / 404 / 409 / 422 / 429.

| method | path | what |
|---|---|---|
| GET | /api/incidents?view=new|mine|overdue|open|all&limit&offset&center | scoped work list |
| POST | /api/incidents (Idempotency-Key) | intake: hotline 12345, walk-in, other systems |
| GET | /api/incidents/<id> · /timeline · /suggestions | one incident, its trail, routing hints |
| POST | /api/incidents/<id>/<action> | every lifecycle action (``ACTIONS``) |
| POST | /api/tasks | 上情下达: assign a patrol/inspection task |
| GET | /api/geojson/<layer> | towns, villages, cells, incidents, sensors, cameras |
| GET/POST | /api/emergency, /api/emergency/off | 应急模式 (city commander switches) |
| GET | /api/emergency/log | 应急模式 switches, newest first (city roles) |
| POST | /api/cap | CAP 1.2 alert intake (defusedxml) |
| POST/GET | /api/upper/push/<id>, /api/upper/pushed | mock push to the provincial platform |
| GET/POST | /open311/v2/services.json, /open311/v2/requests.json, /requests/<id>.json | GeoReport v2 |
| GET | /api/incidents/<id>/cap.xml | CAP 1.2 view of an incident (预警发布) |
| GET | /api/security/audit | latest security events (admin, commander) |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, jsonify, request

from app import cap, open311, security, upper
from app.auth import deny, guarded, require_actor, require_role
from incidents.actions import REGISTRY
from incidents.actor import Actor
from incidents.policy import visible_devices
from incidents.roles import having

ROLE_TABLE_PUSHERS = having("pushes_upper")

LIST_FIELDS = ("id", "kind", "title", "category", "category_name", "severity", "state",
               "state_name", "channel", "channel_name", "center", "tier", "town_code", "cell_code",
               "lon", "lat", "created_ts", "updated_ts", "due_ts", "priority", "urged", "emergency",
               "reporter")


def summary(inc, now: float | None = None) -> dict:
    """The list view of an incident (no sources, no trail). Reads attributes directly: a queue
    of hundreds is built on every feed change, and ``to_dict`` deep-copies every list."""
    from incidents.incident import CHANNELS, STATE_NAMES  # noqa: PLC0415

    names = {"category_name": inc.category_name, "state_name": STATE_NAMES.get(inc.state, inc.state),
             "channel_name": CHANNELS.get(inc.channel, inc.channel)}
    out = {k: names[k] if k in names else getattr(inc, k, None) for k in LIST_FIELDS}
    out["overdue"] = inc.overdue(time.time() if now is None else now)
    out["n_sources"] = len(inc.sources)
    out["n_tasks"] = len(inc.tasks)
    return out


def _body() -> dict:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(security.json_error(400, "bad_request", reason="请求体应为 JSON 对象 "
                                                             "(a JSON object body is expected)"))
    return data


def _str(d: dict, k: str, default: str = "") -> str:
    v = d.get(k, default)
    return "" if v is None else str(v)[:2000]


def _opt_int(d: dict, k: str) -> int | None:
    v = d.get(k)
    if v in (None, ""):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        abort(security.json_error(400, "bad_request", reason=f"{k} 应为整数 ({k} must be an integer)"))


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
        body = dict(body, note=handle_note(_str(body, "note")))
    return fn(service, incident_id, actor, body)


CHANNELS_IN = {"hotline": "hotline", "12345": "hotline", "walk_in": "walk_in", "walk-in": "walk_in",
               "api": "api"}
"""Intake channels accepted by POST /api/incidents (12345 热线, 来访 walk-in, other systems)."""


def intake(ctx, actor: Actor, body: dict, idem: str | None):
    """New incident by hand or from another system (the same intake as every channel)."""
    channel = CHANNELS_IN.get(_str(body, "channel", "api"))
    if channel is None:
        raise ValueError(f"渠道 channel 应为 {'、'.join(sorted(CHANNELS_IN))} 之一 "
                         f"(channel must be one of {sorted(CHANNELS_IN)})")
    try:
        lon, lat = float(body["lon"]), float(body["lat"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("须提供经纬度 lon、lat（WGS-84，度）(lon and lat (WGS-84 degrees) are required)"
                         ) from None
    # the service keeps keys apart per user and action (no cross-user reads)
    return ctx.incidents.report(actor, _str(body, "category"), lon, lat,
                                severity=_str(body, "severity", "一般") or "一般",
                                description=_str(body, "description"), title=_str(body, "title"),
                                channel=channel, idempotency_key=idem, ref=_str(body, "ref"))


def _point_features(frame, props: tuple[str, ...]) -> dict:
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
    a correlated report resolved to, so that a client can tell the two apart."""
    resp = jsonify(dict(inc.to_dict(), intake=inc.intake))
    resp.status_code = 201 if inc.intake == "created" else 200
    return resp


def install(server: Flask, ctx) -> None:
    """Register the API routes on ``server`` (behind app.auth's gate)."""

    def svc():
        return ctx.incidents

    @server.get("/api/incidents")
    def list_incidents():
        actor = require_actor()
        view = request.args.get("view", "open")
        limit = min(request.args.get("limit", 100, type=int), 1000)
        offset = max(request.args.get("offset", 0, type=int), 0)
        with guarded("list"):
            incs = svc().list_queue(actor, view, limit=limit, offset=offset,
                                    center=request.args.get("center") or None)
        now = time.time()
        return jsonify(view=view, items=[summary(i, now) for i in incs])

    @server.post("/api/incidents")
    def create_incident():
        actor = require_actor()
        security.enforce(ctx.redis, security.REPORT_LIMIT, actor.user_id)
        idem = request.headers.get("Idempotency-Key")
        if idem is not None and not (0 < len(idem) <= 128):
            return security.json_error(400, "bad_request", reason="幂等键 Idempotency-Key 应为 1–128 个字符 "
                                       "(Idempotency-Key: 1-128 chars)")
        with guarded("intake"):
            inc = intake(ctx, actor, _body(), idem)
        return intake_response(inc)

    @server.get("/api/incidents/<incident_id>")
    def get_incident(incident_id: str):
        actor = require_actor()
        with guarded(incident_id):
            inc = svc().get(incident_id, actor)
            offers = svc().available_actions(inc, actor)
        # what the caller may do with it now (incidents.policy): the console and phone ask the same
        return jsonify(dict(inc.to_dict(), overdue=inc.overdue(time.time()),
                            actions=[o.to_dict() for o in offers]))

    @server.get("/api/incidents/<incident_id>/timeline")
    def incident_timeline(incident_id: str):
        actor = require_actor()
        with guarded(incident_id):
            return jsonify(items=svc().timeline(incident_id, actor))

    @server.get("/api/incidents/<incident_id>/suggestions")
    def incident_suggestions(incident_id: str):
        actor = require_actor()
        with guarded(incident_id):
            return jsonify(svc().suggest_routing(incident_id, actor))

    @server.post("/api/incidents/<incident_id>/<action>")
    def incident_action(incident_id: str, action: str):
        actor = require_actor()
        if action not in ACTIONS:
            return security.json_error(404, "unknown_action", reason="未知操作，应为以下之一 "
                                                                     f"(one of {sorted(ACTIONS)})")
        body = _body()
        with guarded(incident_id):
            inc = act(svc(), actor, incident_id, action, body)
        return jsonify(dict(inc.to_dict(), overdue=inc.overdue(time.time())))

    @server.post("/api/tasks")
    def assign_task():
        actor = require_actor()
        b = _body()
        deadline = b.get("deadline_s")
        with guarded("assign_task"):
            inc = svc().assign_task(actor, _str(b, "target"), _str(b, "title") or "巡查任务",
                                    description=_str(b, "description"),
                                    category=_str(b, "category", "1001") or "1001",
                                    deadline_s=float(deadline) if deadline else None,
                                    # the service keeps keys apart per user and action
                                    idempotency_key=request.headers.get("Idempotency-Key") or None)
        resp = jsonify(inc.to_dict())
        resp.status_code = 201 if inc.intake == "created" else 200
        return resp

    # --- GeoJSON exports ------------------------------------------------------------------------
    @server.get("/api/geojson/<layer>")
    def geojson(layer: str):
        actor = require_actor()
        from layers.geojson import feature_collection  # noqa: PLC0415

        city = ctx.city
        if layer in ("towns", "villages", "cells"):
            frame = getattr(city, layer)
            if actor.center.startswith("T") and layer != "towns":
                frame = frame[frame["town_code"].astype(str) == actor.center[1:]]
            props = {"towns": ("code", "name", "kind"), "villages": ("code", "name", "town_code"),
                     "cells": ("code", "village_code", "town_code")}[layer]
            return jsonify(feature_collection(frame, "code", props, tolerance_deg=0.00005))
        if layer == "incidents":
            with guarded("geojson:incidents"):
                incs = svc().list_queue(actor, request.args.get("view", "open"), limit=5000)
            now = time.time()
            feats = [{"type": "Feature", "id": i.id,
                      "geometry": {"type": "Point", "coordinates": [i.lon, i.lat]},
                      "properties": {k: v for k, v in summary(i, now).items()
                                     if k not in ("lon", "lat")}} for i in incs]
            return jsonify(type="FeatureCollection", features=feats)
        if layer in ("sensors", "cameras"):
            if actor.role == "admin":
                deny("admins manage accounts, not devices", f"geojson:{layer}")
            reg = ctx.devices
            if layer == "sensors":
                frame = visible_devices(actor, reg.sensors, "dept")
                props = ("type", "name", "cell_code", "town_code", "dept")
            else:
                frame = visible_devices(actor, reg.cameras, "share")
                props = ("name", "cls", "owner", "site_type", "heading_deg", "fov_deg", "range_m",
                         "cell_code", "town_code")
            return jsonify(_point_features(frame, props))
        return security.json_error(404, "unknown_layer",
                                   reason="未知图层，可选 (one of) towns, villages, cells, incidents, "
                                   "sensors, cameras")

    # --- emergency mode -----------------------------------------------------------------------
    @server.get("/api/emergency")
    def emergency_state():
        require_actor()
        return jsonify(active=svc().emergency_state())

    @server.post("/api/emergency")
    def emergency_on():
        actor = require_actor()
        b = _body()
        with guarded("emergency"):
            until = time.time() + float(b.get("minutes", 60)) * 60
            state = svc().emergency_on(b.get("area") or {}, until, actor, _str(b, "reason"))
        return jsonify(active=state)

    @server.get("/api/emergency/log")
    def emergency_log():
        actor = require_actor()
        with guarded("emergency_log"):
            return jsonify(entries=svc().emergency_log(actor, limit=_opt_int(request.args, "limit") or 100))

    @server.post("/api/emergency/off")
    def emergency_off():
        actor = require_actor()
        with guarded("emergency"):
            svc().emergency_off(actor, _str(_body(), "reason"))
        return jsonify(active=None)

    # --- CAP 1.2 intake ---------------------------------------------------------------------------
    @server.post("/api/cap")
    def cap_intake():
        actor = require_actor()
        security.enforce(ctx.redis, security.CAP_LIMIT, actor.user_id)
        try:
            alert = cap.parse(request.get_data(cache=False))
        except cap.CapError as exc:
            security.count(ctx.redis, "cap_rejected")
            security.count(ctx.redis, f"cap_rejected_{exc.kind}")
            return security.json_error(400, f"{exc.kind}_xml" if exc.kind != "invalid" else "invalid_cap",
                                       reason=str(exc))
        if alert.lon is None or alert.lat is None:
            return security.json_error(422, "no_location", reason="CAP 预警的 <area> 没有多边形或圆形范围 "
                                       "(CAP <area> has no polygon or circle)")
        if ctx.city.try_locate(alert.lon, alert.lat) is None:
            return security.json_error(422, "outside_jurisdiction",
                                       reason=f"{alert.area_desc or '预警区域'} 不在 {ctx.city.name} 辖区内 "
                                       f"({alert.area_desc or 'area'} is outside {ctx.city.name})")
        area = None
        if len(alert.polygon) >= 4:
            area = {"type": "Polygon", "coordinates": [[list(p) for p in alert.polygon]]}
        with guarded("cap"):
            inc = svc().report(actor, alert.category, alert.lon, alert.lat,
                               severity=alert.incident_severity,
                               title=alert.headline or alert.event, channel="external",
                               description=alert.description or alert.headline,
                               idempotency_key=f"cap:{alert.sender}:{alert.identifier}",
                               ref=alert.identifier, area=area)
        return intake_response(inc)

    @server.get("/api/incidents/<incident_id>/cap.xml")
    def incident_cap(incident_id: str):
        """CAP 1.2 view of an incident (预警发布 to other systems)."""
        actor = require_actor()
        with guarded(incident_id):
            inc = svc().get(incident_id, actor)
        d = inc.to_dict()
        area = " ".join(x for x in (ctx.city.town_names.get(inc.town_code, ""),
                                    ctx.city.village_names.get(inc.village_code, "")) if x)
        body = cap.to_cap(d, f"onemap@{ctx.city.admin_code}", area)
        return body, 200, {"Content-Type": "application/cap+xml; charset=utf-8"}

    # --- upper (provincial) platform ----------------------------------------------------------
    @server.post("/api/upper/push/<incident_id>")
    def upper_push(incident_id: str):
        actor = require_actor()
        with guarded(incident_id):
            act(svc(), actor, incident_id, "push_upper", {})
        entry = upper.pushed(ctx.redis, 1)[0]["entry"]
        return jsonify(entry=entry, id=incident_id)

    @server.get("/api/upper/pushed")
    def upper_pushed():
        require_role(*(ROLE_TABLE_PUSHERS | {"admin"}))
        return jsonify(items=upper.pushed(ctx.redis, request.args.get("count", 100, type=int)))

    # --- security audit -------------------------------------------------------------------------
    @server.get("/api/security/audit")
    def security_audit():
        require_role("admin", "city_commander")
        return jsonify(items=security.audit_entries(ctx.redis, request.args.get("count", 200, type=int)),
                       counters=ctx.redis.hgetall(security.keys.COUNTERS))

    # --- Open311 GeoReport v2 --------------------------------------------------------------------
    @server.get("/open311/v2/services.json")
    def open311_services():
        require_actor()
        return jsonify(open311.services())

    @server.get("/open311/v2/requests.json")
    def open311_requests():
        actor = require_actor()
        status = request.args.get("status")
        code = request.args.get("service_code")
        wanted = set(request.args.get("service_request_id", "").split(",")) - {""}
        with guarded("open311"):
            incs = svc().list_queue(actor, "all", limit=min(request.args.get("limit", 500, type=int), 1000))
        names = {c: v.name for c, v in ctx.city.centers.items()}
        out = []
        for inc in incs:
            v = open311.request_view(inc.to_dict(), names)
            if (status and v["status"] != status) or (code and v["service_code"] != code) or (
                    wanted and v["service_request_id"] not in wanted):
                continue
            out.append(v)
        return jsonify(out)

    @server.post("/open311/v2/requests.json")
    def open311_create():
        """GeoReport v2 POST (form or JSON): service_code, lat, long, description; the caller's
        ``Idempotency-Key`` (or ``service_request_token``) makes a retry return the same id."""
        actor = require_actor()
        security.enforce(ctx.redis, security.REPORT_LIMIT, actor.user_id)
        data = request.get_json(silent=True) if request.is_json else request.form
        data = data or {}
        body = {"category": str(data.get("service_code", "")), "lon": data.get("long"),
                "lat": data.get("lat"), "description": str(data.get("description", ""))[:2000],
                "channel": "api", "ref": str(data.get("address_string", ""))[:200]}
        idem = request.headers.get("Idempotency-Key") or data.get("service_request_token")
        with guarded("open311"):
            inc = intake(ctx, actor, body, str(idem)[:128] if idem else None)
        resp = jsonify([{"service_request_id": inc.id, "service_notice": inc.route_reason,
                         "account_id": None}])
        resp.status_code = 201 if inc.intake == "created" else 200
        return resp

    @server.get("/open311/v2/requests/<incident_id>.json")
    def open311_request(incident_id: str):
        actor = require_actor()
        with guarded(incident_id):
            inc = svc().get(incident_id, actor)
        names = {c: v.name for c, v in ctx.city.centers.items()}
        return jsonify([open311.request_view(inc.to_dict(), names)])
