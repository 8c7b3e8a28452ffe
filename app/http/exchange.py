"""上情下达 from the upper platform (issue 18; T30–T36, SEC42–SEC46; docs/exchange.md).

``POST /api/exchange/inbound``: an instruction or task of the upper (provincial) platform,
signed like OneMap's own outbound requests (``app.exchange_client.verify``: key id, timestamp
window, signature, nonce unseen). It becomes a top-down task given by the city center
(``IncidentService.assign_task``) to the target it names; its ``id`` is the idempotency key (a
retried instruction makes one task). No session, no CSRF token: the signature is the
credential (the gate lets this one path through to here). A refused request answers 401 and is
written to the security audit (``exchange_refused``) and counted.
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, abort, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app import exchange_client, security
from app.http import ctx, svc
from grid.model import CITY_CENTER
from incidents.actor import Actor
from incidents.exchange import Exchange
from incidents.roles import Role

bp = Blueprint("api_exchange", __name__)

INBOUND_PATH = "/api/exchange/inbound"
MAX_BODY = 64 * 1024


class Instruction(BaseModel):
    """指令/任务 of the upper platform (docs/exchange.md)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    type: Literal["instruction", "task"] = "task"
    title: str = Field(min_length=1, max_length=200)
    content: str = Field("", max_length=4000)
    target: str = Field(min_length=1, max_length=40)
    category: str = Field("1001", max_length=16)
    deadline_s: float | None = Field(None, gt=0, le=30 * 86400)
    lon: float | None = None
    lat: float | None = None


def _refuse(reason: str, key_id: str = ""):  # noqa: ANN202 (aborts)
    r = ctx().redis
    security.audit(r, "exchange_refused", user=f"upper:{key_id[:40]}", path=request.path,
                   target=key_id[:40], reason=reason)
    security.count(r, "exchange_refused")
    Exchange(r).count("inbound_refused")
    abort(security.json_error(401, "bad_signature", reason=reason))


@bp.post(INBOUND_PATH)
def inbound():
    """上情下达: a signed instruction → a task of the city center to its target."""
    c = ctx()
    body = request.get_data(cache=False)[: MAX_BODY + 1]
    key_id = request.headers.get(exchange_client.H_KEY_ID, "")
    secret = exchange_client.read_secret(c.settings.upper_secret_file)
    path = request.full_path.rstrip("?")
    try:
        exchange_client.verify(c.redis, {c.settings.upper_key_id: secret} if secret else {},
                               "POST", path, body, request.headers)
    except exchange_client.Refused as e:
        _refuse(str(e), key_id)
    if len(body) > MAX_BODY:
        abort(security.json_error(413, "too_large", reason="请求过大 (body too large)"))
    try:
        ins = Instruction.model_validate_json(body)
    except ValidationError as e:
        abort(security.json_error(400, "bad_request", reason=f"指令格式错误 (bad instruction): "
                                  f"{e.errors(include_url=False)[:3]}"))
    actor = Actor(f"upper:{key_id}", Role.CITY_OPERATOR.value, CITY_CENTER, "省平台")
    try:
        task = svc().assign_task(actor, ins.target, ins.title,
                                 description=f"【省平台{'指令' if ins.type == 'instruction' else '任务'}"
                                 f" {ins.id}】{ins.content}", category=ins.category,
                                 deadline_s=ins.deadline_s, lon=ins.lon, lat=ins.lat,
                                 idempotency_key=f"upper:{ins.id}")
    except (ValueError, KeyError) as e:
        abort(security.json_error(422, "unprocessable", reason=str(e)[:300]))
    Exchange(c.redis).count("inbound")
    return jsonify(id=ins.id, task=getattr(task, "id", None), state=getattr(task, "state", None))
