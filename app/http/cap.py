"""CAP 1.2 (issue 18, X21): alert intake with the message semantics, the CAP log, an Atom feed of
the city's warnings, and an incident as a CAP alert (预警发布).

Intake (``POST /api/cap``): only a registered CAP sender account (``app.cap.allow_sender``, e.g.
the weather bureau's API account) or the city center's duty staff may send; at most 256 KiB;
hostile XML refused and counted; validated against the OASIS schema plus the spec's rules
(``app.cap``). Then, by ``status`` and ``msgType``:

- not ``Actual`` (Exercise/Test/System/Draft), ``Ack``, ``Error``: recorded, never dispatched (202);
- ``Cancel``: the incidents its references opened are voided with the reason (作废), with or
  without ``<info>``;
- an expired alert (``info/expires`` in the past): recorded as expired, nothing opened;
- ``Update``: changes the incident its references name (定级 + a note with the new text/area;
  both in the trail); one naming no known alert is taken as an ``Alert``;
- ``Alert``: opens an incident or correlates into an open one (``IncidentService.report``).

Every message lands in the CAP log (``GET /api/cap/messages``).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import cap, security
from app.api import intake_response
from app.auth import audit_denied, guarded, require_actor
from app.http import INCIDENT_ID, ctx, guard_incident_ids, svc
from incidents import errors
from incidents import keys as inc_keys
from incidents.actor import SYSTEM
from incidents.roles import CITY_READERS

bp = Blueprint("api_cap", __name__)
guard_incident_ids(bp)

CAP_MAX_BYTES = 256 * 1024
"""A CAP alert is a few KB; a larger one is refused (413) before parsing (issue 19: two 6 MiB
alerts grew one incident to 12.6 MB, a Redis memory DoS)."""
CAP_TITLE_MAX = 200
CAP_TEXT_MAX = 2000
"""What of an alert's headline and description a case keeps (the alert itself is its sender's)."""
FEED_SEVERITIES = ("重大", "特别重大")
"""What the city publishes as warnings (X21): its 重大 and 特别重大 situations."""
FEED_SCAN = 500
FEED_MAX = 50

_GAZ: dict[tuple[int, str], cap.Gazetteer] = {}


def gazetteer() -> cap.Gazetteer:
    """This process's gazetteer (the city's 行政区划代码 + ``settings.cap_gazetteer``)."""
    key = (id(ctx().city), ctx().settings.cap_gazetteer)
    if key not in _GAZ:
        _GAZ[key] = cap.Gazetteer.load(ctx().city, key[1] or None)
    return _GAZ[key]


def _too_large():
    security.count(ctx().redis, "upload_rejected")     # as the server-wide upload limit
    return security.json_error(413, "too_large", reason=f"CAP 预警超过 {CAP_MAX_BYTES} 字节 "
                               f"(a CAP alert is at most {CAP_MAX_BYTES} bytes)")


def _answer(item: dict, status: int):
    resp = jsonify(item)
    resp.status_code = status
    return resp


@bp.post("/api/cap")
def cap_intake():
    """外部预警接入: one CAP 1.2 message (see the module doc for what each kind does)."""
    actor = require_actor()
    r = ctx().redis
    security.enforce(r, security.CAP_LIMIT, actor.user_id)
    if not cap.may_send(r, actor.user_id, actor.role):
        security.count(r, "cap_rejected")
        audit_denied("非登记的 CAP 发送方 (not a registered CAP sender)", "cap", actor)
        return security.json_error(403, "cap_sender", reason="该账号不是登记的 CAP 预警发送方 "
                                   "(this account is not a registered CAP sender)")
    if (request.content_length or 0) > CAP_MAX_BYTES:
        return _too_large()
    data = request.get_data(cache=False)
    if len(data) > CAP_MAX_BYTES:       # no Content-Length (chunked): counted as read
        return _too_large()
    try:
        alert = cap.parse(data)
    except cap.CapError as exc:
        security.count(r, "cap_rejected")
        security.count(r, f"cap_rejected_{exc.kind}")
        return security.json_error(400, f"{exc.kind}_xml" if exc.kind != "invalid" else "invalid_cap",
                                   reason=str(exc))
    now = svc().clock()
    by = actor.user_id
    if alert.msg_type not in ("Alert", "Update", "Cancel") or alert.status != "Actual":
        why = (f"{alert.msg_type} 已记录 (recorded)" if alert.status == "Actual" else
               f"status={alert.status}: 演练/测试/系统消息只记录，不派遣 (recorded, never dispatched)")
        return _answer(cap.record(r, alert, "recorded", reason=why, by=by, now=now), 202)
    if cap.incident_for(r, alert.sender, alert.identifier) and alert.msg_type != "Alert":
        done = cap.incident_for(r, alert.sender, alert.identifier)
        return _answer({"outcome": "duplicate", "incident": done, "identifier": alert.identifier}, 200)
    if alert.msg_type == "Cancel":
        return _cancel(alert, by, now)
    if alert.expired(now):
        return _answer(cap.record(r, alert, "expired", by=by, now=now,
                                  reason="预警已过期，只记录不立案 (expired: recorded, not opened)"), 200)
    if not alert.has_info:
        return _answer(cap.record(r, alert, "recorded", by=by, now=now,
                                  reason="没有 <info>，无可处置内容 (no <info>: nothing to act on)"), 202)
    if alert.msg_type == "Update":
        target = _referenced(alert)
        if target:
            return _update(alert, target, by, now)
    return _open(alert, actor, by, now)


def _referenced(alert: cap.CapAlert) -> str | None:
    """The incident the latest of an alert's references opened (None: none known)."""
    r = ctx().redis
    return next((i for s, ident, _ in reversed(alert.references)
                 if (i := cap.incident_for(r, s, ident)) and INCIDENT_ID.fullmatch(i)), None)


def _cancel(alert: cap.CapAlert, by: str, now: float):
    """撤销: void every open incident the sender's referenced alerts opened, with the reason (作废);
    a case an alert only joined (correlated) or one under way keeps a note with the reason."""
    r = ctx().redis
    reason = f"CAP 撤销 {alert.sender},{alert.identifier}: {alert.note or alert.headline or '上游撤销预警'}"
    found = list(dict.fromkeys(i for s, ident, _ in alert.references
                               if (i := cap.incident_for(r, s, ident))))
    # a receipt (R…): the alert merged into another center's case, which its owner decides on
    targets = [i for i in found if INCIDENT_ID.fullmatch(i)]
    done = []
    for inc_id in targets:
        inc = svc().store.load(inc_id)
        if inc is None or not cap.is_open(inc.to_dict()):
            continue
        with guarded(inc_id):
            if cap.opened_by(r, inc_id) != alert.sender:
                # the alert only joined a case others reported: the case stays, with the note
                svc().note(inc_id, SYSTEM, reason[:CAP_TEXT_MAX])
                done.append(inc_id)
                continue
            try:
                svc().void(inc_id, SYSTEM, reason[:CAP_TEXT_MAX])
            except (errors.InvalidTransition, errors.Forbidden):
                # work under way: the case stays, its owner reads why (a note in the trail)
                svc().note(inc_id, SYSTEM, reason[:CAP_TEXT_MAX])
        done.append(inc_id)
    outcome = "cancelled" if done else "recorded"
    why = reason if done else (
        "所撤销的预警已并入其他单位的事件，由其承办单位决定 (merged into another center's case: its "
        "owner decides)" if found else "references 未指向已知预警 (references name no known alert)")
    item = cap.record(r, alert, outcome, incident_id=done[0] if done else "", by=by, now=now,
                      reason=why)
    item["incidents"] = done
    return _answer(item, 200 if done else 202)


def _update(alert: cap.CapAlert, inc_id: str, by: str, now: float):
    """更新: the referenced incident takes the new severity, text and area (audited in its trail)."""
    r = ctx().redis
    text = (f"CAP 更新 {alert.sender},{alert.identifier}: {alert.headline} {alert.description} "
            f"[{alert.area_desc}]")[:CAP_TEXT_MAX]
    inc = svc().store.load(inc_id)
    if inc is None or not cap.is_open(inc.to_dict()):
        return _answer(cap.record(r, alert, "recorded", incident_id=inc_id, by=by, now=now,
                                  reason="所更新的事件已结案或作废 (the case is already closed or voided)"), 202)
    with guarded(inc_id):
        if inc.severity != alert.incident_severity:
            svc().update_severity(inc_id, SYSTEM, alert.incident_severity, reason=text)
        else:
            svc().note(inc_id, SYSTEM, text)
    return _answer(cap.record(r, alert, "updated", incident_id=inc_id, by=by, now=now, reason=text), 200)


def _open(alert: cap.CapAlert, actor, by: str, now: float):
    """立案或关联: an Actual Alert within the city opens an incident (or correlates)."""
    city = ctx().city
    lon, lat, area_desc = alert.lon, alert.lat, alert.area_desc
    inside = lon is not None and lat is not None and city.try_locate(lon, lat) is not None
    if not inside and alert.geocodes:
        place = gazetteer().place(alert.geocodes)
        if place is not None:
            lon, lat, name = place
            area_desc = area_desc or name
            inside = city.try_locate(lon, lat) is not None
    if lon is None or lat is None:
        return security.json_error(422, "no_location", reason="CAP 预警的 <area> 没有可识别的范围（多边形、"
                                   "圆形或本市行政区划代码）(CAP <area> names no polygon, circle or known geocode)")
    if not inside:
        return security.json_error(422, "outside_jurisdiction",
                                   reason=f"{area_desc or '预警区域'} 不在 {city.name} 辖区内 "
                                   f"({area_desc or 'area'} is outside {city.name})")
    area = None
    if alert.polygon and alert.lon == lon:
        area = {"type": "Polygon", "coordinates": [[list(p) for p in alert.polygon]]}
    with guarded("cap"):
        inc = svc().report(actor, alert.category, lon, lat,
                           severity=alert.incident_severity,
                           title=(alert.headline or alert.event)[:CAP_TITLE_MAX], channel="external",
                           description=(alert.description or alert.headline)[:CAP_TEXT_MAX],
                           idempotency_key=f"cap:{alert.sender}:{alert.identifier}",
                           ref=alert.identifier, area=area)
    intake = getattr(inc, "intake", "created")
    if intake != "duplicate":
        cap.record(ctx().redis, alert, "opened" if intake == "created" else intake,
                   incident_id=getattr(inc, "id", ""), by=by, now=now)
    return intake_response(inc)


@bp.get("/api/cap/messages")
def cap_messages():
    """CAP 消息记录: every message taken in (Test/Exercise/System, Ack/Error, expired, cancelled
    included), newest first; ``?status=Test`` filters."""
    actor = require_actor()
    if actor.role not in CITY_READERS and not cap.may_send(ctx().redis, actor.user_id, actor.role):
        audit_denied("CAP 消息记录仅市级可读 (city readers only)", "cap", actor)
        return security.json_error(403, "forbidden", reason="CAP 消息记录仅市级可读 (city readers only)")
    return {"items": cap.messages(ctx().redis, request.args.get("status", ""))}


@bp.get("/api/cap/feed.atom")
def cap_feed():
    """信息快速发布 (X21): the city's open 重大+ situations as an Atom feed of CAP 1.2 alerts
    (what the caller may read: scope through the incident service)."""
    actor = require_actor()
    ids = ctx().redis.zrevrange(inc_keys.ALL, 0, FEED_SCAN - 1)
    out = []
    for inc_id in ids:
        try:
            inc = svc().get(inc_id, actor)
        except (errors.Forbidden, errors.NotFound):
            continue
        d = inc.to_dict()
        if inc.severity in FEED_SEVERITIES and cap.is_open(d):     # a voided/closed one is over
            out.append((d, _area_name(inc)))
            if len(out) >= FEED_MAX:
                break
    body = cap.atom_feed(out, _sender(), ctx().city.name, request.host_url.rstrip("/"), svc().clock())
    return body, 200, {"Content-Type": "application/atom+xml; charset=utf-8"}


def _sender() -> str:
    return f"onemap@{ctx().city.admin_code}"


def _area_name(inc) -> str:  # noqa: ANN001 (incidents.incident.Incident)
    city = ctx().city
    return " ".join(x for x in (city.town_names.get(inc.town_code, ""),
                                city.village_names.get(inc.village_code, "")) if x)


@bp.get("/api/incidents/<incident_id>/cap.xml")
def incident_cap(incident_id: str):
    """CAP 1.2 view of an incident (预警发布 to other systems)."""
    actor = require_actor()
    with guarded(incident_id):
        inc = svc().get(incident_id, actor)
    body = cap.to_cap(inc.to_dict(), _sender(), _area_name(inc))
    return body, 200, {"Content-Type": "application/cap+xml; charset=utf-8"}
