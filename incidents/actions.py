"""The actions on one case (事件操作), each declared once: what it needs, who may (the policy),
what it does, how a request's body becomes its arguments.

``REGISTRY`` is read by the policy (``OFFERED``, ``NEEDS``, the checks of actions declared here),
by the HTTP API (``app.api.ACTIONS`` is generated from it) and so by the console and the phone.
The lifecycle's actions whose effects are the service's own methods (受理 … 回访, 合并/拆分) name
that method in ``run``; a newer, simpler action declares its ``check`` (who may, with the policy's
helpers) and its ``apply`` (the change to the case, done by ``IncidentService.perform`` with every
guarantee of the one write path: version guard, audit, feed, queues, KPIs, deadlines).

Adding an action (docs/HOUSE.md): its word in ``vocab.Action``, its row in
``lifecycle.TRANSITIONS`` (the states it applies in), its ``Spec`` here. 加急 below was added so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incidents.actor import Actor
from incidents.incident import Incident
from incidents.vocab import Action

if TYPE_CHECKING:
    from incidents.policy import Policy
    from incidents.service import IncidentService

Body = dict[str, Any]
Run = Callable[["IncidentService", str, Actor, Body], Incident]


def text(b: Body, k: str, default: str = "") -> str:
    """A text field of a request body (at most 2,000 characters)."""
    v = b.get(k, default)
    return "" if v is None else str(v)[:2000]


def opt_int(b: Body, k: str) -> int | None:
    """An optional whole number of a request body; ValueError (→ 400) when it is not one."""
    v = b.get(k)
    if v in (None, ""):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError(f"{k} 应为整数 ({k} must be an integer)") from None


PHOTO_URL = re.compile(r"/media/photo/[0-9a-f]{32}")
"""OneMap's own photo URL, as ``app.mobile_api.photo_url`` makes it from an upload's id (32 hex
digits of an HMAC): the only attachment a 处置反馈 may carry. Anything else (``javascript:``, an
outside link a screen would render, another key's name) is refused (issue 19)."""
ATTACHMENTS_MAX = 20
"""At most this many photos on one 处置反馈."""


def photo_urls(b: Body, k: str = "attachments") -> list[str]:
    """The photo URLs of a request body (each ``PHOTO_URL``, at most ``ATTACHMENTS_MAX``);
    ValueError (→ 400) otherwise."""
    v = b.get(k) or []
    if not isinstance(v, list) or len(v) > ATTACHMENTS_MAX or not all(
            isinstance(u, str) and PHOTO_URL.fullmatch(u) for u in v):
        raise ValueError(f"附件 {k} 应为本平台上传的照片地址列表（/media/photo/<编号>，至多 {ATTACHMENTS_MAX} 张）"
                         f"({k}: at most {ATTACHMENTS_MAX} OneMap photo URLs, /media/photo/<id>)")
    return v


def reason_required(b: Body) -> str:
    t = (text(b, "note") or text(b, "reason")).strip()
    if not t:
        raise ValueError("核查不通过须说明原因 (a reason is required)")
    return t


@dataclass(frozen=True)
class Spec:
    """One action on a case. ``needs``: the input a screen asks for (see ``policy.Offer``).
    ``run``: the service call for a request body. ``check``/``apply``: for an action the service
    does generically (``IncidentService.perform``): who may (raise Forbidden/InvalidTransition),
    and the change to the case (a copy, committed atomically). ``reset_stage``: the stage clock
    starts again (the case changed hands)."""

    action: str
    needs: str = ""
    run: Run | None = None
    check: Callable[[Policy, Actor, Incident], None] | None = None
    apply: Callable[[Incident, Actor, Body], None] | None = None
    reset_stage: bool = False
    reason_field: str = "reason"

    def call(self, svc: IncidentService, incident_id: str, actor: Actor, body: Body) -> Incident:
        """Do the action for a request body (the API's and the console's path)."""
        if self.run is not None:
            return self.run(svc, incident_id, actor, body)
        return svc.perform(incident_id, actor, self.action, body)


# --- 加急 (expedite): added by the recipe in docs/HOUSE.md ------------------------------------------
def _may_expedite(p: Policy, actor: Actor, inc: Incident) -> None:
    """The owning center (or the commander) marks its own open case urgent; once is enough."""
    from incidents import lifecycle  # noqa: PLC0415
    from incidents.errors import InvalidTransition  # noqa: PLC0415

    p.own(actor, inc, Action.EXPEDITE)
    lifecycle.check(Action.EXPEDITE, inc.state, inc.id)
    if inc.priority:
        raise InvalidTransition(Action.EXPEDITE, inc.state, "已是加急/优先办理 (already first in the queue)",
                                inc.id)


def _expedite(inc: Incident, actor: Actor, body: Body) -> None:
    inc.priority = 1          # first in its center's queue (store.queue score), as 应急/重大 cases


# --- 重新打开 (reactivate): a person reopens a case the system closed as 自动恢复 ----------------------
def _may_reactivate(p: Policy, actor: Actor, inc: Incident) -> None:
    """The owning center (or the commander), a person, on a case closed as 自动恢复 only (a voided
    or merged case stays closed: 作废 is a person's decision)."""
    from incidents import lifecycle  # noqa: PLC0415
    from incidents.actor import SYSTEM  # noqa: PLC0415
    from incidents.errors import Forbidden, InvalidTransition  # noqa: PLC0415

    if actor is SYSTEM:
        raise Forbidden(Action.REACTIVATE, actor, "只有人工可以重新打开 (a person reopens it)", inc.id)
    p.own(actor, inc, Action.REACTIVATE)
    lifecycle.check(Action.REACTIVATE, inc.state, inc.id)
    if not inc.recovered_ts or inc.merged_into:
        raise InvalidTransition(Action.REACTIVATE, inc.state, "只有自动恢复关闭的事件可以重新打开 "
                                "(only a case closed as 自动恢复 reopens)", inc.id)


def _reactivate(inc: Incident, actor: Actor, body: Body) -> None:
    from incidents.vocab import State  # noqa: PLC0415

    inc.state, inc.place, inc.void_reason, inc.recovered_ts = State.REPORTED, f"q:{inc.center}", "", 0.0


# --- 回访结果 (follow-up): the caller's verdict after 结案; 不满意 reopens (issue 24: E4, E10) -------
SATISFIED_MIN = 3
"""A 回访 score (1–5; 好/中/差 = 5/3/1) at or above this keeps the case closed; below it (or no
score) the caller is not satisfied and the case is done again (FixMyStreet's "not fixed" reopen)."""


def _may_follow_up(p: Policy, actor: Actor, inc: Incident) -> None:
    """A person of the owning center, or the grid worker of the case's cell (回访 on the phone,
    E10), never one who handled the case (监管分离 T11); once per closing; not a patrol task."""
    from incidents import lifecycle  # noqa: PLC0415
    from incidents.actor import SYSTEM  # noqa: PLC0415
    from incidents.errors import Forbidden, InvalidTransition  # noqa: PLC0415

    if actor is SYSTEM:
        raise Forbidden(Action.FOLLOW_UP, actor, "回访由人工进行 (a person calls back)", inc.id)
    if actor.role == "grid_worker":
        if not actor.cell or inc.cell_code != actor.cell:
            raise Forbidden(Action.FOLLOW_UP, actor, "网格员只回访本网格的事件 "
                            "(grid workers call back the cases of their own cell)", inc.id)
    else:
        p.own(actor, inc, Action.CALLBACK)
    p.separate(actor, inc, Action.FOLLOW_UP)
    lifecycle.check(Action.FOLLOW_UP, inc.state, inc.id)
    if inc.kind == "task":
        raise InvalidTransition(Action.FOLLOW_UP, inc.state, "巡查任务不回访 (a patrol task has no caller)",
                                inc.id)
    if inc.satisfaction:
        raise InvalidTransition(Action.FOLLOW_UP, inc.state, "已回访过 (already called back)", inc.id)


def _follow_up(inc: Incident, actor: Actor, body: Body) -> None:
    """满意 (score ≥ ``SATISFIED_MIN``): the score is kept, the case stays closed. 不满意: the
    reason is required; the case goes back to its handlers (as 核查不通过 does), counted as a
    reopen."""
    import time  # noqa: PLC0415

    from incidents.vocab import State, TaskState  # noqa: PLC0415

    score = opt_int(body, "satisfaction")
    if score is not None and not 1 <= score <= 5:
        raise ValueError("满意度为 1 到 5 (satisfaction is 1..5)")
    if score is not None and score >= SATISFIED_MIN:
        inc.satisfaction = score
        return
    if not (text(body, "reason") or text(body, "note")).strip():
        raise ValueError("回访不满意须说明原因 (an unsatisfied callback needs the reason)")
    inc.state, inc.place = State.DISPATCHED, f"x:{inc.center}"
    inc.reopen_count += 1
    now = time.time()
    for t in inc.tasks:
        if t.state == TaskState.HANDLED:     # its deadline: the case's (the stage starts again)
            t.state, t.dispatched_ts, t.started_ts, t.handled_ts, t.due_ts = (
                TaskState.DISPATCHED, now, 0.0, 0.0, 0.0)


REGISTRY: dict[str, Spec] = {s.action: s for s in (
    Spec(Action.ACCEPT, run=lambda s, i, a, b: s.accept(i, a, note=text(b, "note"))),
    Spec(Action.REGISTER, run=lambda s, i, a, b: s.register(i, a, note=text(b, "note"))),
    Spec(Action.DISPATCH, "targets",
         run=lambda s, i, a, b: s.dispatch(i, a, list(b.get("depts") or b.get("targets") or []),
                                           note=text(b, "note"))),
    Spec(Action.START, run=lambda s, i, a, b: s.start(i, a, task=opt_int(b, "task"),
                                                      note=text(b, "note"))),
    Spec(Action.HANDLE, "note",
         run=lambda s, i, a, b: s.handle(i, a, task=opt_int(b, "task"), note=text(b, "note"),
                                         attachments=photo_urls(b))),
    Spec(Action.VERIFY, run=lambda s, i, a, b: s.verify(i, a, passed=bool(b.get("passed", True)),
                                                        note=text(b, "note"))),
    Spec(Action.REOPEN, "reason",
         run=lambda s, i, a, b: s.verify(i, a, passed=False, note=reason_required(b))),
    Spec(Action.CLOSE, run=lambda s, i, a, b: s.close(i, a, note=text(b, "note"))),
    Spec(Action.RETURN, "reason",
         run=lambda s, i, a, b: s.return_(i, a, reason=text(b, "reason"), task=opt_int(b, "task"))),
    Spec(Action.ESCALATE, run=lambda s, i, a, b: s.escalate(i, a, reason=text(b, "reason"))),
    Spec(Action.TAKE_OVER, run=lambda s, i, a, b: s.take_over(i, a, reason=text(b, "reason"))),
    Spec(Action.URGE, run=lambda s, i, a, b: s.urge(i, a, note=text(b, "note"))),
    Spec(Action.EXPEDITE, check=_may_expedite, apply=_expedite),
    Spec(Action.SEVERITY, "severity",
         run=lambda s, i, a, b: s.update_severity(i, a, text(b, "severity"), reason=text(b, "reason"))),
    Spec(Action.MERGE, "others",
         run=lambda s, i, a, b: s.merge(i, [str(x) for x in b.get("others") or []], a,
                                        reason=text(b, "reason"))),
    Spec(Action.SPLIT, "source",
         run=lambda s, i, a, b: s.split(i, a, opt_int(b, "source_index") or 0, reason=text(b, "reason"))),
    Spec(Action.VOID, "reason", run=lambda s, i, a, b: s.void(i, a, reason=text(b, "reason"))),
    Spec(Action.REACTIVATE, "reason", check=_may_reactivate, apply=_reactivate, reset_stage=True),
    Spec(Action.CALLBACK, "satisfaction",
         run=lambda s, i, a, b: s.callback(i, a, satisfaction=opt_int(b, "satisfaction") or 0,
                                           note=text(b, "note"))),
    # a screen asks for the reason (不满意重办); a score (``satisfaction``) comes from the 回访 API
    Spec(Action.FOLLOW_UP, "reason", check=_may_follow_up, apply=_follow_up, reset_stage=True),
    Spec(Action.PUSH_UPPER),          # the exchange is the app's (app.upper): run there
    Spec(Action.NOTE, "note", run=lambda s, i, a, b: s.note(i, a, text(b, "text") or text(b, "note"))),
)}
"""Every action a person takes on one case, in the order a screen shows them."""
