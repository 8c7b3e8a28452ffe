"""民情日志 over HTTP (G7, E10; issue 24): the grid worker's log of what residents say, and the
one tap that turns an entry into an incident report.

| method | path | what |
|---|---|---|
| POST | /m/api/minqing | record ``{category, tags, text, place, lon, lat}`` in the worker's own cell (the phone's outbox: idempotency key + author; a replay records nothing twice); ``report: true`` reports it at once as well (one tap from the form, offline too) |
| GET | /m/api/minqing | my latest entries (with the incident each became) |
| POST | /m/api/minqing/<id>/report | one tap: the entry becomes an incident report through the incident service (the phone's 上报 path: ``IncidentService.report``, channel ``grid_worker``); linked both ways (the entry keeps the incident's id; the incident's source ``ref`` names ``民情日志#<id>``), audited; a second tap returns the same incident |

Only a grid worker writes the log, only their own entries are read or reported here (the
leaders' view: ``app.minqing``).
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from app import security
from app.auth import deny, guarded
from app.http import ctx
from app.http.ledger import grid_worker, ledger_or_503
from app.ledger import Ledger
from grid.categories import CATEGORIES as INCIDENT_CATEGORIES
from grid.ledger import minqing
from incidents.actor import Actor

bp = Blueprint("api_minqing", __name__)

AUDIT_REPORT = "minqing_report"


def _num(v: object) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _point(led: Ledger, entry: dict) -> tuple[float, float]:
    """The entry's place, or its cell's representative point when the phone had none."""
    if entry.get("lon") is not None and entry.get("lat") is not None:
        return float(entry["lon"]), float(entry["lat"])
    cells = led.city.cells
    p = cells[cells["code"] == entry["cell_code"]].geometry.iloc[0].representative_point()
    return float(p.x), float(p.y)


def report_entry(actor: Actor, entry: dict, category: str = "") -> dict:
    """One tap: ``entry`` (the actor's own) as an incident report through the incident service,
    linked both ways and audited. The idempotency key is the entry's: a second tap, or the
    outbox replaying, returns the same incident."""
    led = ledger_or_503("民情日志")
    if entry["author"] != actor.user_id:
        deny("只能将本人的民情日志转为上报 (own entries only)", target=f"minqing:{entry['id']}",
             actor=actor)
    code = category or minqing.CATEGORIES[entry["category"]]
    if code not in INCIDENT_CATEGORIES:
        abort(security.json_error(400, "bad_request", reason=f"未知事件类别 {code!r}"))
    if entry.get("incident_id"):
        return {"id": entry["id"], "incident": entry["incident_id"], "duplicate": True}
    security.enforce(ctx().redis, security.REPORT_LIMIT, actor.user_id)   # as the phone's 上报
    lon, lat = _point(led, entry)
    tags = f"（{'、'.join(entry['tags'])}）" if entry["tags"] else ""
    with guarded(f"minqing:{entry['id']}"):
        inc = ctx().incidents.report(
            actor, category=code, lon=lon, lat=lat, channel="grid_worker",
            description=f"【民情日志】{entry['category']}{tags}：{entry['body']}"[:500],
            ref=f"民情日志#{entry['id']}", idempotency_key=f"mq:{entry['id']}")
    with led.connect() as conn:
        entry = minqing.link(conn, entry["id"], inc.id)
    security.audit(ctx().redis, AUDIT_REPORT, user=actor.user_id, role=actor.role,
                   center=actor.center, path=request.path, target=f"minqing:{entry['id']}",
                   reason=f"民情日志转为上报 {entry['incident_id']}")
    return {"id": entry["id"], "incident": entry["incident_id"],
            "duplicate": entry["incident_id"] != inc.id or getattr(inc, "intake", "") == "duplicate"}


@bp.post("/m/api/minqing")
def record():
    actor = grid_worker("记录民情日志")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(security.json_error(400, "bad_request", reason="请求体应为 JSON 对象 (JSON object expected)"))
    key = str(request.headers.get("Idempotency-Key") or body.get("key") or "").strip()
    if not key or len(key) > 64 or not key.replace("-", "").isalnum():
        abort(security.json_error(400, "bad_request", reason="缺少幂等键 Idempotency-Key（至多 64 个字母/数字）"))
    author = str(body.get("author") or actor.user_id)
    if author != actor.user_id:     # a shared phone: only its author sends it (issue 17)
        abort(security.json_error(409, "author_mismatch", author=author[:64],
                                  reason="这条记录由其他账号填写，已保留在手机上，待该账号登录后发送"))
    led = ledger_or_503("民情日志")
    try:
        with led.connect() as conn:
            entry, dup = minqing.record(
                conn, author=actor.user_id, client_key=key, category=str(body.get("category") or ""),
                tags=body.get("tags"), cell=actor.cell, town=led.cell_towns.get(actor.cell, ""),
                text=str(body.get("text") or ""), place=str(body.get("place") or ""),
                lon=_num(body.get("lon")), lat=_num(body.get("lat")))
    except minqing.MinqingError as e:
        return security.json_error(400, "invalid", reason=str(e))
    out = {"id": entry["id"], "duplicate": dup, "incident": entry["incident_id"] or ""}
    if body.get("report"):
        out |= {"incident": report_entry(actor, entry, str(body.get("incident_category") or ""))
                ["incident"]}
    return out


@bp.get("/m/api/minqing")
def mine():
    actor = grid_worker("记录民情日志")
    with ledger_or_503("民情日志").connect() as conn:
        items = minqing.entries(conn, author=actor.user_id, limit=30)
    return security.no_store(jsonify({"entries": items, "categories": list(minqing.CATEGORIES)}))


@bp.post("/m/api/minqing/<int:entry_id>/report")
def report(entry_id: int):
    actor = grid_worker("记录民情日志")
    with ledger_or_503("民情日志").connect() as conn:
        entry = minqing.get(conn, entry_id)
    if entry is None:
        abort(security.json_error(404, "not_found", reason="无此民情日志 (no such entry)"))
    body = request.get_json(silent=True) or {}
    return report_entry(actor, entry, str(body.get("category") or ""))


__all__ = ["AUDIT_REPORT", "bp", "report_entry"]
