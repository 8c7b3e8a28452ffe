"""Open311 GeoReport v2, all six methods in JSON and XML (X23, issue 18; docs/open311.md).

``/open311/discovery.{fmt}`` (also under ``/open311/v2/``), ``services.{fmt}``,
``services/<code>.{fmt}``, ``POST requests.{fmt}``, ``GET requests.{fmt}`` (filters
``service_request_id``, ``service_code``, ``start_date``, ``end_date``, ``status``; comma lists;
the most recent 90 days by default, at most 90 days, 1000 requests), ``requests/<id>.{fmt}``,
``tokens/<token>.{fmt}``. Who may call is settled by ``app.open311.gate`` (api_key, session,
public reads); every error is the spec's list of ``{code, description}``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from app import keys, open311, security
from app.auth import current_actor, guarded
from app.http import ctx, guard_incident_ids, svc
from incidents import errors, masking
from incidents.actor import Actor
from incidents.incident import FINAL_STATES
from incidents.open311 import to_open311

bp = Blueprint("api_open311", __name__)
guard_incident_ids(bp)

FMT = "<any(json,xml):fmt>"
WINDOW = timedelta(days=90)
"""GeoReport v2: GET requests covers the most recent 90 days by default, and at most 90 days."""
MAX_REQUESTS = 1000
"""The most requests one GET requests answers (the spec's suggested cap)."""
_SCAN = 5000
"""How many of the newest incidents in scope a date window is looked for in."""


@bp.errorhandler(HTTPException)
def _spec_error(exc: HTTPException) -> Response:
    """Every refusal of these routes in the spec's error format (403s are audited by
    ``guarded``/``deny`` before they get here)."""
    text = exc.description or exc.name
    if exc.response is not None:
        body = exc.response.get_json(silent=True) or {}
        text = body.get("reason") or body.get("error") or text
    return open311.error(exc.code or 500, str(text))


@bp.after_request
def _spec_refusal(resp: Response) -> Response:
    """A refusal made outside these views (``deny``/``guarded`` abort with the API's JSON
    ``{error, reason}``, which Flask serves as is) in the spec's error format too."""
    if resp.status_code >= 400 and resp.is_json:
        body = resp.get_json(silent=True)
        if isinstance(body, dict) and "error" in body:
            return open311.error(resp.status_code, str(body.get("reason") or body["error"]))
    return resp


def _bad(description: str, status: int = 400) -> HTTPException:
    return HTTPException(description=description, response=open311.error(status, description))


def _caller() -> tuple[Actor, str | None]:
    """Who reads: the session or key's account, else the public reader; and the role whose
    masking applies (a key client and the public: none, so reporter data stays masked)."""
    actor = current_actor()
    if actor is None:
        return open311.PUBLIC, None
    return actor, None if actor.user_id.startswith("open311:") else actor.role


def _jurisdiction() -> None:
    want = ctx().settings.open311_jurisdiction
    got = request.values.get("jurisdiction_id", "")
    if want and got and got != want:
        raise _bad(f"未知的 jurisdiction_id {got[:60]!r} (jurisdiction_id not found)", 404)


def _views(incs: list, role: str | None) -> list[dict]:
    """Service requests as the spec's ``request`` objects, texts masked as ``role`` may see
    them; top-down tasks (上情下达) are no service requests and are left out. The Open311
    side data of all of them in one round trip."""
    incs = [i for i in incs if i.kind == "incident"]
    pipe = ctx().redis.pipeline(transaction=False)
    for inc in incs:
        pipe.hgetall(keys.open311_request(inc.id))
    names = {c: v.name for c, v in ctx().city.centers.items()}
    out = []
    for inc, extra in zip(incs, pipe.execute() if incs else [], strict=True):
        v = to_open311(inc, names, extra)
        masked = masking.view({"description": v["description"], "reporter": inc.reporter,
                               "sources": inc.sources}, role)
        v["description"] = masked["description"]
        out.append(v)
    return out


def _since(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        t = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _bad(f"{name} 应为 W3C 日期时间，如 2026-01-01T00:00:00Z "
                   f"({name} must be a W3C datetime)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _list(name: str, allowed: set[str] | None = None) -> set[str]:
    vals = {v.strip() for v in request.args.get(name, "").split(",")} - {""}
    if allowed is not None and vals - allowed:
        raise _bad(f"{name} 应为 {'、'.join(sorted(allowed))} (unknown {name})")
    return vals


@bp.get(f"/open311/discovery.{FMT}")
@bp.get(f"/open311/v2/discovery.{FMT}")
def discovery(fmt: str) -> Response:
    """服务发现 (GeoReport v2 discovery)."""
    return open311.render(open311.discovery(request.url_root, ctx().settings), "discovery", None, fmt)


@bp.get(f"/open311/v2/services.{FMT}")
def services(fmt: str) -> Response:
    """GET Service List: every service (second-level category)."""
    _jurisdiction()
    return open311.render(open311.services(), "services", "service", fmt)


@bp.get(f"/open311/v2/services/<code>.{FMT}")
def service_definition(code: str, fmt: str) -> Response:
    """GET Service Definition."""
    _jurisdiction()
    d = open311.service_definition(code)
    if d is None:
        raise _bad("未知的 service_code (service_code not found)", 404)
    return open311.render(d, "service_definition", None, fmt)


@bp.get(f"/open311/v2/requests.{FMT}")
def requests_list(fmt: str) -> Response:
    """GET Service Requests with the spec's filters (``service_request_id`` overrides the rest)."""
    _jurisdiction()
    actor, role = _caller()
    wanted = _list("service_request_id")
    if wanted:
        found = []
        for rid in sorted(wanted)[:MAX_REQUESTS]:
            try:
                found.append(svc().get(rid, actor))
            except (errors.NotFound, errors.Forbidden, ValueError):
                continue        # ids not found (or not the caller's) are left out
        return open311.render(_views(found, role), "service_requests", "request", fmt)
    codes = _list("service_code")
    status = _list("status", {"open", "closed"})
    start, end = _since("start_date"), _since("end_date")
    if start and end and end < start:
        raise _bad("end_date 早于 start_date (end_date before start_date)")
    if start and end and end - start > WINDOW:
        raise _bad("start_date 到 end_date 不得超过 90 天 (the range may not span more than 90 days)")
    if end is None:
        end = start + WINDOW if start else datetime.fromtimestamp(svc().clock(), UTC)
    start = start or end - WINDOW
    lo, hi = start.timestamp(), end.timestamp()
    with guarded("open311"):
        incs = svc().list_queue(actor, "all", limit=_SCAN)
    picked = [i for i in incs if lo <= i.created_ts <= hi and i.kind == "incident"
              and (not codes or i.category in codes)
              and (not status or ("closed" if i.state in FINAL_STATES else "open") in status)]
    return open311.render(_views(picked[:MAX_REQUESTS], role), "service_requests", "request", fmt)


@bp.get(f"/open311/v2/requests/<incident_id>.{FMT}")
def request_one(incident_id: str, fmt: str) -> Response:
    """GET Service Request."""
    _jurisdiction()
    actor, role = _caller()
    with guarded(incident_id):
        inc = svc().get(incident_id, actor)
    views = _views([inc], role)
    if not views:
        raise _bad("未知的 service_request_id (service_request_id not found)", 404)
    if actor is not open311.PUBLIC:   # 好差评 (issue 24): the live one-time link, never to public reads
        from app.hotline import evaluations  # noqa: PLC0415

        if url := evaluations(ctx()).current_url(inc.id):
            views[0]["evaluation_url"] = url
            views[0]["status_notes"] += "（已办结，请评价）"
    return open311.render(views, "service_requests", "request", fmt)


@bp.get(f"/open311/v2/tokens/<token>.{FMT}")
def token(token: str, fmt: str) -> Response:
    """GET service_request_id from a token."""
    _jurisdiction()
    rid = ctx().redis.get(keys.open311_token(token)) if 8 <= len(token) <= 64 else None
    if not rid:
        raise _bad("未知的 token (token not found)", 404)
    return open311.render([{"service_request_id": rid, "token": token}],
                          "service_requests", "request", fmt)


def _field(data, name: str) -> str:  # noqa: ANN001
    v = data.get(name)
    v = "" if v is None else str(v).strip()
    if len(v) > open311.LIMITS.get(name, 200):
        raise _bad(f"{name} 超过 {open311.LIMITS.get(name, 200)} 个字符 "
                   f"({name} longer than {open311.LIMITS.get(name, 200)} characters)")
    return v


@bp.post(f"/open311/v2/requests.{FMT}")
def create(fmt: str) -> Response:
    """POST Service Request (form or JSON): ``service_code``; ``lat``+``long`` or
    ``address_string`` or ``address_id``; ``description`` ≤ 4,000; ``media_url``; contact
    fields kept, never served. ``Idempotency-Key`` (or ``service_request_token``) makes a retry
    return the same id. Answers ``service_request_id`` and a ``token``."""
    _jurisdiction()
    actor = current_actor()
    if actor is None:              # the gate lets no anonymous POST through; belt and braces
        raise _bad("须提供 api_key (api_key required)", 403)
    c = ctx()
    security.enforce(c.redis, security.REPORT_LIMIT, actor.user_id)
    data = (request.get_json(silent=True) if request.is_json else request.form) or {}
    if not isinstance(data, dict) and not hasattr(data, "get"):
        raise _bad("请求体应为表单或 JSON 对象 (body must be a form or a JSON object)")
    fields = {n: _field(data, n) for n in open311.LIMITS}
    code = fields["service_code"]
    if open311.service_definition(code) is None:
        raise _bad("未知的 service_code (service_code not found)", 404 if code else 400)
    media = fields["media_url"]
    if media and not media.startswith(("http://", "https://")):
        raise _bad("media_url 应为 http(s) 地址 (media_url must be an http(s) URL)")
    located = "point"
    try:
        lat = float(data["lat"]) if data.get("lat") not in (None, "") else None
        lon = float(data["long"]) if data.get("long") not in (None, "") else None
    except (TypeError, ValueError):
        raise _bad("lat、long 应为数字 (lat and long must be numbers)") from None
    if lat is None or lon is None:
        if not (fields["address_string"] or fields["address_id"]):
            raise _bad("须提供 lat 和 long，或 address_string，或 address_id "
                       "(lat/long, address_string or address_id is required)")
        found = open311.locate(c.city, fields["address_string"], fields["address_id"])
        if found is None:
            (lon, lat), located = open311.outside(c.city), "none"
        else:
            lon, lat, located = found
    idem = request.headers.get("Idempotency-Key") or data.get("service_request_token")
    with guarded("open311"):
        inc = c.incidents.report(actor, code, lon, lat, description=fields["description"],
                                 channel="api", idempotency_key=str(idem)[:128] if idem else None,
                                 attachments=[media] if media else (), ref=fields["address_string"][:200])
    side = keys.open311_request(inc.id)
    tok = c.redis.hget(side, "token") if inc.intake != "created" else None
    if inc.intake == "created" or not tok:
        tok = secrets.token_urlsafe(12)
        extra = {"token": tok, "located": located, "client": actor.user_id,
                 "address": fields["address_string"], "address_id": fields["address_id"],
                 "media_url": media, **{k: fields[k] for k in open311.CONTACT}}
        if inc.intake == "created":
            c.redis.hset(side, mapping=extra)
        else:                       # joined an existing case: its own Open311 data stays
            c.redis.hsetnx(side, "token", tok)
            tok = c.redis.hget(side, "token")
        c.redis.set(keys.open311_token(tok), inc.id)
    notice = inc.route_reason           # a Receipt's: 已并入已有事件
    return open311.render([{"service_request_id": inc.id, "token": tok, "service_notice": notice,
                            "account_id": fields["account_id"] or None}],
                          "service_requests", "request", fmt,
                          201 if inc.intake == "created" else 200)
