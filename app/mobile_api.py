"""JSON endpoints of the grid worker's phone page (/m/api/*; issue 6, SPEC §4 weak network).

Scope is checked here, on the server, for every request: the caller is ``app.auth.current_actor``;
a grid worker sees only its own reports, its own tasks (sub-tasks given to ``W<its cell>``) and its
own patrol log; every incident action goes through ``IncidentService``, which checks scope again.

Weak network: each write carries the phone's idempotency key (body ``key`` or header
``Idempotency-Key``). Reports pass it to ``IncidentService.report(..., idempotency_key=...)``;
task updates and patrol entries remember it in Redis (``app.keys.idempotency``), so a retry after
a lost answer returns the first answer and changes nothing.

Shared phones (issue 17): every queued write carries its author (body ``author`` or header
``X-Author``, the id of the user who wrote it on the phone); one whose author is not the session's
user is refused with 409 ``author_mismatch`` (the phone keeps it for its author). The phone never
sends another user's item; this is the server's half (defence in depth).

Photos: one per request (``POST /m/api/photos``, raw JPEG/PNG/WEBP body), checked by content with
Pillow (``app.security.check_image``), stored in Redis under an id that is an HMAC of the content
(a retried upload gets the same id; ids cannot be guessed), served at ``/media/photo/<id>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, current_app, request

from app import keys, security
from app.api import handle_note
from app.context import AppContext
from app.timefmt import fmt_cst
from grid.categories import CATEGORIES
from incidents import masking
from incidents.actor import ROLE_NAMES, SYSTEM, Actor
from incidents.errors import Forbidden, InvalidTransition
from incidents.roles import CONSOLE_ROLES, screen_roles
from incidents.vocab import TaskState

if TYPE_CHECKING:
    from grid.model import City

MAX_PHOTO_BYTES = 3 * 1024 * 1024
"""One photo after phone-side resizing is ~0.2 MB; 3 MiB leaves room for a PNG. Demo default."""
MAX_PHOTOS = security.MAX_FILES
PHOTO_TTL_S = 400 * 86400
"""Photos are evidence: kept > 1 year (assessment periods). Demo default."""
IDEM_TTL_S = 7 * 86400
"""How long a task-update/patrol key is remembered (a draft older than a week is sent anew)."""
PATROL_MAXLEN = 2000
"""Patrol entries kept per worker (stream MAXLEN ~)."""
RECENT_CATEGORIES = 6
STAFF_ROLES = CONSOLE_ROLES
"""Roles that may see any report photo they can reach through the console (the ids are secret)."""


def _ctx() -> AppContext:
    return current_app.extensions["onemap"]


def _actor() -> Actor:
    from app.auth import require_actor, require_role  # noqa: PLC0415

    require_actor()
    return require_role(*sorted(screen_roles()["m"]))    # the phone's roles (incidents.roles)


def _key() -> str:
    key = (request.headers.get("Idempotency-Key") or (request.get_json(silent=True) or {})
           .get("key") or "").strip()
    if not key or len(key) > 64 or not key.replace("-", "").isalnum():
        abort(security.json_error(400, "bad_request", reason="缺少幂等键 Idempotency-Key（至多 64 个字母/数字）"
                                  "(Idempotency-Key required (≤ 64 letters/digits))"))
    return key


def _check_author(actor: Actor, body: dict | None = None) -> None:
    """A shared phone (issue 17): a queued item is sent only under its author's login. No
    ``author`` given (an older page, an API client): the session's user is the author."""
    author = str((body or {}).get("author") or request.headers.get("X-Author") or "").strip()
    if author and author != actor.user_id:
        r = _ctx().redis
        security.count(r, "author_mismatch")
        security.audit(r, "author_mismatch", user=actor.user_id, role=actor.role,
                       center=actor.center, path=request.path, target=author[:64],
                       reason="queued item of another user")
        abort(security.json_error(409, "author_mismatch", author=author[:64],
                                  reason=f"这条记录由账号 {author[:64]} 填写，不能以当前账号 "
                                         f"{actor.user_id} 发送；已保留在手机上，待该账号登录后发送 "
                                         "(the item's author is not the logged-in user)"))


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(security.json_error(400, "bad_request", reason="请求体应为 JSON 对象 (JSON object expected)"))
    return body


def _point(body: dict) -> tuple[float, float]:
    try:
        lon, lat = float(body["lon"]), float(body["lat"])
    except (KeyError, TypeError, ValueError):
        abort(security.json_error(400, "bad_request", reason="缺少位置经纬度 (lon/lat required)"))
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        abort(security.json_error(400, "bad_request", reason="经纬度超出范围 (lon/lat out of range)"))
    return lon, lat


def _text(body: dict, name: str, limit: int = 500) -> str:
    return str(body.get(name) or "").strip()[:limit]


def _photo_ids(ctx: AppContext, actor: Actor, body: dict) -> list[str]:
    ids = body.get("photos") or []
    if not isinstance(ids, list) or len(ids) > MAX_PHOTOS:
        abort(security.json_error(400, "bad_request", reason=f"照片至多 {MAX_PHOTOS} 张 "
                                                         f"(at most {MAX_PHOTOS} photos)"))
    out = []
    for pid in ids:
        owner = ctx.redis.hget(keys.mobile_photo(str(pid)), "owner")
        if owner is None:
            abort(security.json_error(400, "bad_request", reason=f"照片不存在或已过期 {pid} "
                                                             f"(unknown photo {pid})"))
        out.append(str(pid))
    return out


def _link_photos(ctx: AppContext, photos: list[str], incident_id: str) -> None:
    """The case a photo was attached to: staff may fetch it while they may read that case."""
    if photos:
        p = ctx.redis.pipeline(transaction=False)
        for pid in photos:
            p.hset(keys.mobile_photo(pid), "incident", incident_id)
        p.execute()


def photo_url(photo_id: str) -> str:
    """Where a stored photo is served (an incident attachment)."""
    return f"/media/photo/{photo_id}"


def _remember(ctx: AppContext, scope: str, key: str, compute) -> dict:  # noqa: ANN001
    """Run ``compute()`` once per (scope, key); a retry gets the first answer back."""
    k = keys.idempotency(scope, key)
    seen = ctx.redis.get(k)
    if seen:
        return dict(json.loads(seen), duplicate=True)
    out = compute()
    ctx.redis.set(k, security.dumps(out), ex=IDEM_TTL_S)
    return out


# --- bootstrap (inlined into the page) ---------------------------------------------------------
class TownMaps:
    """The phone page's mini map (a town's grid outlines, ``app.screens.mobile.town_map``) per
    (town, own cell), each built once: a city's shapes do not change while the process runs."""

    def __init__(self, city: City) -> None:
        self.city = city
        self._maps: dict[tuple[str, str], dict] = {}

    def get(self, town: str, cell: str) -> dict:
        """The map of ``town`` with ``cell`` marked as the user's own."""
        from app.screens.mobile import town_map  # noqa: PLC0415 (the screen imports this module)

        key = (town, cell)
        if key not in self._maps:       # two threads may both build it once: same result
            self._maps[key] = town_map(self.city, town, cell)
        return self._maps[key]


_TOWN_MAPS: list[TownMaps] = []
"""The cache of this process's city (one slot: a process serves one city)."""


def town_maps(city: City) -> TownMaps:
    """The map cache of ``city`` (a new one when another city object is asked for)."""
    if not _TOWN_MAPS or _TOWN_MAPS[0].city is not city:
        _TOWN_MAPS[:] = [TownMaps(city)]
    return _TOWN_MAPS[0]


def bootstrap(ctx: AppContext, actor: Actor) -> dict:
    """What the page needs before any request: user, categories (recent first), map, fallback."""
    from app.screens.mobile import DEFAULT_RECENT  # noqa: PLC0415

    city = ctx.city
    cell_row = None
    if actor.cell:
        hit = city.cells[city.cells["code"] == actor.cell]
        cell_row = hit.iloc[0] if len(hit) else None
    town = str(cell_row["town_code"]) if cell_row is not None else (
        actor.center[1:] if actor.center.startswith("T") else "")
    if cell_row is not None:
        p = cell_row.geometry.representative_point()
        fallback = [round(p.x, 6), round(p.y, 6)]
    else:
        p = city.boundary.representative_point()
        fallback = [round(p.x, 6), round(p.y, 6)]
    recent_codes = ctx.redis.zrevrange(keys.mobile_recent_categories(actor.user_id), 0,
                                       RECENT_CATEGORIES - 1)
    for code in DEFAULT_RECENT:
        if len(recent_codes) >= RECENT_CATEGORIES:
            break
        if code not in recent_codes:
            recent_codes.append(code)
    where = city.town_names.get(town, city.name)
    if actor.role == "responder":      # its cell is its team's resource id (incidents.roles)
        where = f"{where} · 队伍 {actor.cell}"
    elif actor.cell:
        where = f"{where} · 网格 {actor.cell[-6:]}"
    return {
        "user": {"id": actor.user_id, "name": actor.name or actor.user_id,
                 "role": ROLE_NAMES.get(actor.role, actor.role), "cell": actor.cell,
                 "responder": actor.role == "responder",
                 "where": where},
        "recent": [{"code": c, "name": CATEGORIES[c].name} for c in recent_codes
                   if c in CATEGORIES],
        "categories": [
            {"code": top.code, "name": top.name,
             "items": [{"code": c.code, "name": c.name} for c in CATEGORIES.values()
                       if c.parent == top.code]}
            for top in CATEGORIES.values() if top.parent is None],
        "fallback": fallback,
        "map": town_maps(city).get(town, actor.cell or ""),
        "max_photos": MAX_PHOTOS,
    }


# --- incident views ------------------------------------------------------------------------------
PHONE_ACTIONS: tuple[tuple[str, str], ...] = (("start", "accept"), ("note", "progress"),
                                               ("handle", "result"))
"""The policy's actions (``incidents.policy``) as the phone's buttons: 接收 (start), 报告进展 (a
note), 处置完成 (反馈)."""


def phone_actions(policy, inc, actor: Actor) -> list[str]:  # noqa: ANN001 (Policy, Incident)
    """The phone's buttons for a task, from the one policy: what the worker may do with the case
    now, in the phone's words; while 接收 is on offer the phone asks for it first (one step at a
    time on a small screen), then 进展/处置完成."""
    task = _my_task(inc, actor)
    if task is None or not task.open:
        return []
    allowed = set(policy.allowed(actor, inc))
    if "start" in allowed:
        return ["accept"]
    return [phone for act, phone in PHONE_ACTIONS if act in allowed]


def _task_view(inc, actor: Actor, policy, city: City | None = None) -> dict:  # noqa: ANN001
    """One task card: what, where (the village and town by name, a navigation link for the
    phone's own map app: ``geo:`` works without OneMap's network), by when, the report's photos
    and what the worker may do now (issue 21: the card had no place, map link or photo)."""
    from incidents.incident import STATE_NAMES  # noqa: PLC0415

    task = _my_task(inc, actor)
    actions = phone_actions(policy, inc, actor)
    state = task.state if task is not None else inc.state
    due = fmt_cst(inc.due_ts)            # Beijing time, like the console (the server runs on UTC)
    place = ""
    if city is not None and inc.cell_code:
        village = str(inc.cell_code)[:12]
        place = "".join(x for x in (city.town_names.get(str(inc.town_code or ""), ""),
                                     city.village_names.get(village, "")) if x)
    title = inc.title or inc.category_name
    # a hotline caller's number and name, masked for a role without the right (SEC18)
    return masking.view({"id": inc.id, "n": task.n if task else None, "reporter": inc.reporter,
            "title": title, "description": inc.description,
            "state": state, "state_name": STATE_NAMES.get(state, state), "due": due,
            "reported": fmt_cst(inc.created_ts, "%m-%d %H:%M"),
            "place": place, "actions": actions, "lon": inc.lon, "lat": inc.lat,
            "nav": f"geo:{inc.lat:.6f},{inc.lon:.6f}?q={inc.lat:.6f},{inc.lon:.6f}",
            "photos": [a for a in inc.attachments if str(a).startswith("/media/photo/")][:MAX_PHOTOS]},
        actor.role)


bp = Blueprint("mobile_api", __name__)
"""/m/api/* and /media/photo/<id>: registered by ``app.server.create_server`` behind the gate."""


def _secret() -> bytes:
    """The deployment's session key: photo ids are keyed hashes of the bytes (unguessable)."""
    return str(current_app.config["SECRET_KEY"]).encode()


@bp.post("/m/api/photos", endpoint="mobile_photo_upload")
def upload_photo():
    actor = _actor()
    _check_author(actor)
    data = request.get_data(cache=False)
    if len(data) > MAX_PHOTO_BYTES:
        security.count(_ctx().redis, "upload_rejected")
        return security.json_error(413, "too_large", reason=f"照片过大，超过 {MAX_PHOTO_BYTES} 字节 "
                                         f"(photo > {MAX_PHOTO_BYTES} bytes)")
    try:
        fmt = security.check_image(data)
    except security.UploadRejected as exc:
        security.count(_ctx().redis, "upload_rejected")
        return security.json_error(415, "not_an_image", reason=str(exc))
    pid = hmac.new(_secret(), data, hashlib.sha256).hexdigest()[:32]
    k = keys.mobile_photo(pid)
    if not _ctx().redis.exists(k):
        _ctx().redis_bytes.hset(k, mapping={"owner": actor.user_id, "type": f"image/{fmt.lower()}",
                                         "data": data, "ts": str(int(time.time() * 1000))})
        _ctx().redis.expire(k, PHOTO_TTL_S)
    return {"id": pid, "url": photo_url(pid)}

@bp.get("/media/photo/<photo_id>", endpoint="mobile_photo_get")
def get_photo(photo_id: str):
    from app.auth import deny, require_actor  # noqa: PLC0415

    actor = require_actor()
    if not photo_id.isalnum():
        abort(404)
    raw = _ctx().redis_bytes.hgetall(keys.mobile_photo(photo_id))
    if not raw:
        abort(404)
    owner = raw.get(b"owner", b"").decode()
    if owner != actor.user_id:   # staff see a photo only within the scope of its case (issue 19)
        case = raw.get(b"incident", b"").decode()
        inc = _ctx().incidents.store.load(case) if case and actor.role in STAFF_ROLES else None
        if inc is None or not _ctx().incidents.policy.can_read(actor, inc):
            deny("photo outside the caller's scope", target=photo_id)
    resp = Response(raw[b"data"], mimetype=raw.get(b"type", b"image/jpeg").decode())
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp

@bp.post("/m/api/reports", endpoint="mobile_report")
def report():
    actor = _actor()
    key = _key()
    security.enforce(_ctx().redis, security.REPORT_LIMIT, actor.user_id)
    body = _body()
    _check_author(actor, body)
    category = _text(body, "category", 8)
    if category not in CATEGORIES:
        return security.json_error(400, "bad_request", reason=f"未知事件类别 {category!r} "
                                                              f"(unknown category {category!r})")
    lon, lat = _point(body)
    photos = _photo_ids(_ctx(), actor, body)
    with _guard("report"):
        inc = _ctx().incidents.report(
            actor, category=category, description=_text(body, "description"), lon=lon,
            lat=lat, channel="grid_worker", attachments=[photo_url(p) for p in photos],
            idempotency_key=f"m:{key}")      # the service keeps keys per user
    _link_photos(_ctx(), photos, inc.id)
    _ctx().redis.zadd(keys.mobile_recent_categories(actor.user_id),
                   {category: int(time.time() * 1000)})
    return {"id": inc.id, "state": inc.state, "center": inc.center,
            "duplicate": getattr(inc, "intake", "") == "duplicate"}

@bp.get("/m/api/reports", endpoint="mobile_my_reports")
def my_reports():
    actor = _actor()
    with _guard():
        items = _ctx().incidents.list_queue(actor, "all", limit=50)
    return {"reports": [{"id": i.id, "title": i.title or i.category_name, "state": i.state,
                         "state_name": i.to_dict()["state_name"],
                         "created_ts": i.created_ts} for i in items
                        if i.reporter == actor.user_id][:30]}

@bp.get("/m/api/tasks", endpoint="mobile_tasks")
def tasks():
    actor = _actor()
    ctx = _ctx()
    return {"tasks": [_task_view(i, actor, ctx.incidents.policy, ctx.city) for i in my_tasks(ctx, actor)]}

@bp.post("/m/api/tasks/<incident_id>/<action>", endpoint="mobile_task_action")
def task_action(incident_id: str, action: str):
    actor = _actor()
    if action not in {phone for _, phone in PHONE_ACTIONS}:
        abort(404)
    body = request.get_json(silent=True) or {}
    if action == "accept":   # online action: its state change is its own idempotency
        with _guard(incident_id):
            inc = _ctx().incidents.get(incident_id, actor)
            task = _my_task(inc, actor)
            if task is not None and task.state == TaskState.DISPATCHED:
                inc = _ctx().incidents.start(incident_id, actor, task=task.n, note="网格员接收任务")
        return {"id": inc.id, "state": inc.state}
    key = _key()
    _check_author(actor, body)
    photos = _photo_ids(_ctx(), actor, body)
    urls = [photo_url(p) for p in photos]
    note = _text(body, "note")
    if action == "result":   # 处置反馈: what was done, in words (the photos alone do not say)
        try:
            note = handle_note(note)
        except ValueError as exc:
            return security.json_error(400, "bad_request", reason=str(exc))

    def apply() -> dict:
        with _guard(incident_id):
            if action == "progress":  # 进展: a note in the trail (photos linked in it)
                text = note or "进展"
                if urls:
                    text += " 照片: " + " ".join(urls)
                inc = _ctx().incidents.note(incident_id, actor, text,
                                         idempotency_key=f"m:{key}")
            else:                     # 处置完成: report the sub-task done with its photos
                inc = _ctx().incidents.get(incident_id, actor)
                task = _my_task(inc, actor)
                if task is not None and task.state == TaskState.DISPATCHED:
                    _ctx().incidents.start(incident_id, actor, task=task.n)
                inc = _ctx().incidents.handle(incident_id, actor,
                                           task=task.n if task else None,
                                           note=note, attachments=urls)
            _link_photos(_ctx(), photos, inc.id)      # a progress note's photos too
        return {"id": inc.id, "state": inc.state}

    return _remember(_ctx(), f"m:task:{actor.user_id}", key, apply)

@bp.post("/m/api/patrol", endpoint="mobile_patrol_add")
def patrol_add():
    actor = _actor()
    key = _key()
    body = _body()
    _check_author(actor, body)
    lon, lat = _point(body)
    photos = _photo_ids(_ctx(), actor, body)

    def add() -> dict:
        ts = int(time.time() * 1000)
        eid = _ctx().redis.xadd(keys.mobile_patrol(actor.user_id), {
            "note": _text(body, "note"), "lon": f"{lon:.6f}", "lat": f"{lat:.6f}",
            "photos": json.dumps(photos), "ts": str(ts), "key": key,
            "located_by": _text(body, "located_by", 8)},
            maxlen=PATROL_MAXLEN, approximate=True)
        return {"id": eid, "ts": ts}

    return _remember(_ctx(), f"m:patrol:{actor.user_id}", key, add)

@bp.get("/m/api/patrol", endpoint="mobile_patrol_list")
def patrol_list():
    actor = _actor()
    return {"entries": patrol_log(_ctx(), actor.user_id, 30)}


@bp.get("/m/api/notifications", endpoint="mobile_notifications")
def notifications():
    """站内消息 on the phone (issue 17, T25): the user's in-app inbox (``app.channels.inbox``),
    newest first, each with whether it was acknowledged (确认收到 stops its escalation)."""
    from app.channels import inbox  # noqa: PLC0415
    from incidents.notify import Outbox  # noqa: PLC0415

    actor = _actor()
    items = inbox(_ctx().redis, actor.user_id, count=30)
    outbox = Outbox(_ctx().redis)
    for it in items:
        by = outbox.chain(str(it.get("chain") or "")).get("acked_by", "") if it.get("chain") else ""
        it["acked"], it["acked_by"] = bool(by), by
    return {"items": items, "unacked": sum(1 for it in items if not it["acked"])}

@bp.post("/m/api/notifications/ack", endpoint="mobile_notifications_ack")
def notifications_ack():
    """知道了: acknowledge one of my notifications (``Outbox.acknowledge``; only a person it
    reached may, else 403, audited)."""
    from app.auth import deny  # noqa: PLC0415
    from incidents.notify import Outbox  # noqa: PLC0415

    actor = _actor()
    chain = _text(_body(), "chain", 200)
    if not chain:
        return security.json_error(400, "bad_request", reason="缺少通知编号 chain (chain required)")
    try:
        first = Outbox(_ctx().redis).acknowledge(chain, actor.user_id, via="mobile")
    except PermissionError as e:
        deny(str(e), target=chain)
    return {"chain": chain, "first": first}


def _my_task(inc, actor: Actor):  # noqa: ANN001, ANN202 (Incident → Task | None)
    """The actor's own live sub-task of an incident (addressed to W<cell> or the user id)."""
    from incidents.scope import worker_ids  # noqa: PLC0415

    mine = worker_ids(actor)
    live = [t for t in inc.tasks if t.center in mine and t.state != TaskState.RETURNED]
    return next((t for t in live if t.open), live[0] if live else None)


def my_tasks(ctx: AppContext, actor: Actor) -> list:
    """我的任务: incidents and top-down tasks with a sub-task for this worker, open first."""
    items = ctx.incidents.list_queue(actor, "mine", limit=200)
    out = [i for i in items if _my_task(i, actor) is not None]
    out.sort(key=lambda i: (not _my_task(i, actor).open, -i.created_ts))
    return out[:50]


def patrol_log(ctx: AppContext, worker: str, count: int = 30) -> list[dict]:
    """巡查日志: a worker's latest patrol entries, newest first."""
    out = []
    for eid, f in ctx.redis.xrevrange(keys.mobile_patrol(worker), count=count):
        photos = json.loads(f.get("photos") or "[]")
        out.append({"id": eid, "note": f.get("note", ""), "lon": float(f.get("lon", 0)),
                    "lat": float(f.get("lat", 0)), "ts": int(f.get("ts", 0)),
                    "photos": len(photos), "photo_urls": [photo_url(p) for p in photos]})
    return out


def _guard(target: str = ""):  # noqa: ANN202
    from app.auth import guarded  # noqa: PLC0415

    return guarded(target)


# --- responders' dispatches (issue 17; X16, T7, G21) ---------------------------------------------
PHONE_STEPS: dict[str, str] = {"acknowledged": "确认", "en_route": "出发", "on_scene": "到场",
                               "released": "完成"}
"""The dispatch steps (``incidents.emergency.dispatch.STATES``) as the phone's buttons."""
POSITION_STATES = frozenset({"en_route", "on_scene"})
"""While en route or on scene the phone shares its position (the resource map draws the team)."""


def _dispatcher():  # noqa: ANN202 (ResourceDispatch)
    from app.http.resources import dispatcher  # noqa: PLC0415 (made once per process)

    return dispatcher()


def _my_dispatch(actor: Actor, a: dict) -> bool:
    """A dispatch this phone's user works: a responder its own team's (``cell`` = the team's
    resource id); any other phone role its own center's resources. The step itself is checked
    again by the policy (``Policy.check_resource_dispatch``)."""
    if actor.role == "responder":
        return bool(actor.cell) and a.get("resource") == actor.cell and a.get("owner") == actor.center
    return a.get("owner") == actor.center


def _dispatch_view(ctx: AppContext, a: dict) -> dict:
    """One dispatch card: what, where to go (the case's point; a ``geo:`` link for the phone's
    own map app), its state and the one next step the phone offers."""
    from incidents.emergency.dispatch import STATES  # noqa: PLC0415

    inc = ctx.incidents.store.load(a["incident"]) if a.get("incident") else None
    state = a.get("state", "")
    nxt = STATES[STATES.index(state) + 1] if state in STATES[:-1] else ""
    out = {"id": a["id"], "name": a.get("name", ""), "item": a.get("item", ""),
           "qty": a.get("qty", 1), "unit": a.get("unit", ""), "state": state,
           "state_name": a.get("state_name", ""), "incident": a.get("incident", ""),
           "response": a.get("response", ""), "note": a.get("note", ""),
           "title": (inc.title or inc.category_name) if inc else "",
           "place": ctx.city.town_names.get(str(inc.town_code or ""), "") if inc is not None else "",
           "next": nxt, "next_name": PHONE_STEPS.get(nxt, ""),
           "share_position": state in POSITION_STATES,
           "since": fmt_cst(a.get("ts:" + state) or a.get("ts") or 0, "%m-%d %H:%M")}
    if inc is not None:
        out |= {"lon": inc.lon, "lat": inc.lat,
                "nav": f"geo:{inc.lat:.6f},{inc.lon:.6f}?q={inc.lat:.6f},{inc.lon:.6f}"}
    return out


def my_dispatches(ctx: AppContext, actor: Actor) -> list[dict]:
    """我的调派: the open dispatches of this user's team (newest first)."""
    return [_dispatch_view(ctx, a) for a in _dispatcher().assignments(open_only=True)
            if _my_dispatch(actor, a)][:30]


@bp.get("/m/api/dispatches", endpoint="mobile_dispatches")
def dispatches():
    actor = _actor()
    return {"dispatches": my_dispatches(_ctx(), actor)}


def _assignment_id(aid: str) -> str:
    from app.http.resources import ASSIGNMENT_ID  # noqa: PLC0415

    if not ASSIGNMENT_ID.fullmatch(aid):
        abort(security.json_error(404, "not_found", reason="无此调派单 (no such assignment)"))
    return aid


@bp.post("/m/api/dispatches/<aid>/position", endpoint="mobile_dispatch_position")
def dispatch_position(aid: str):
    """The phone's position while en route / on scene (``ResourceDispatch.update_position``; the
    policy: only the team's own responder or its owner)."""
    actor = _actor()
    aid = _assignment_id(aid)
    body = _body()
    _check_author(actor, body)
    lon, lat = _point(body)
    with _guard(aid):
        got = _dispatcher().update_position(aid, lon, lat, actor=actor)
    return {"id": aid, "state": got["state"], "pos_lon": got.get("pos_lon"),
            "pos_lat": got.get("pos_lat")}


@bp.post("/m/api/dispatches/<aid>/<step>", endpoint="mobile_dispatch_step")
def dispatch_step(aid: str, step: str):
    """确认 / 出发 / 到场 / 完成 a dispatch (queued on the phone: idempotency key + author; a
    note and photos go on the incident's trail). Another team's dispatch: 403, audited."""
    actor = _actor()
    aid = _assignment_id(aid)
    if step not in PHONE_STEPS:
        abort(404)
    key = _key()
    body = request.get_json(silent=True) or {}
    _check_author(actor, body)
    photos = _photo_ids(_ctx(), actor, body)
    urls = [photo_url(p) for p in photos]
    note = _text(body, "note")

    def apply() -> dict:
        d = _dispatcher()
        with _guard(aid):
            got = d.step(actor, aid, step, note=note)
            if (note or urls) and got.get("incident"):
                text = f"【现场】调派单 {aid} {PHONE_STEPS[step]}：{note or '照片'}"
                if urls:
                    text += " 照片: " + " ".join(urls)
                try:    # the responder may not read the case: the system writes it, named
                    _ctx().incidents.note(got["incident"], actor, text, idempotency_key=f"m:{key}")
                except (Forbidden, InvalidTransition):
                    _ctx().incidents.note(got["incident"], SYSTEM,
                                          f"{text}（{actor.name or actor.user_id}）",
                                          idempotency_key=f"m:{key}")
                _link_photos(_ctx(), photos, got["incident"])
        return {"id": aid, "state": got["state"], "state_name": got.get("state_name", "")}

    return _remember(_ctx(), f"m:dispatch:{actor.user_id}", key, apply)
