"""12345 after 结案 on the HTTP side (issue 24; E4, E10, E35): the 回访 queue for operators and for
the grid worker's phone, and the wiring of the callback desk and the 好差评 links.

- ``GET /api/callbacks``: the caller's center's 回访待办 (soonest due first, ``overdue`` marked),
  numbers masked per role (``incidents.masking``);
- ``POST /api/callbacks/<id>``: the result (``satisfaction`` 1–5 or 好/中/差, ``reason``): through
  the incident service (``follow_up``: 不满意 reopens with the reason);
- ``GET /m/api/callbacks`` and ``POST /m/api/callbacks/<id>``: the same for a grid worker, for
  the cases of their own cell (the phone; the policy refuses any other).

``desk(ctx)`` and ``evaluations(ctx)`` build the domain objects over the app's Redis and
settings; the deadline worker's tick takes the desk (``incidents.deadlines``).
"""

from __future__ import annotations

from flask import Blueprint, current_app, request

from app import security
from incidents import masking
from incidents.callback import STATUS_NAMES, CallbackDesk
from incidents.errors import Forbidden, IncidentError, InvalidTransition, NotFound
from incidents.evaluation import GRADES, Evaluations

bp = Blueprint("hotline", __name__)


def _ctx():  # noqa: ANN202 (AppContext)
    return current_app.extensions["onemap"]


def evaluations(ctx) -> Evaluations:  # noqa: ANN001 (AppContext)
    """The 好差评 links over the app's Redis and ``[hotline]`` settings."""
    return Evaluations(ctx.redis, ctx.settings.hotline_config, clock=ctx.incidents.clock)


def desk(ctx) -> CallbackDesk:  # noqa: ANN001 (AppContext)
    """The callback desk of a web request (reads and results; it sends nothing)."""
    return CallbackDesk(ctx.redis, ctx.incidents, ctx.settings.hotline_config)


def desk_over(ctx, service, send_sms: bool = False, consumer: str = "") -> CallbackDesk:  # noqa: ANN001
    """The deadline worker's desk over its own service and Redis connection; ``send_sms``: a
    closing sends the caller the 好差评 link through the notification outbox (its gateway's
    idempotency, retries and audit: ``incidents.notify``)."""
    hook = None
    cfg = ctx.settings.hotline_config
    if send_sms:
        from incidents.notify.outbox import Contacts, Outbox  # noqa: PLC0415

        ev = Evaluations(service.r, cfg, clock=service.clock)
        outbox, contacts = Outbox(service.r), Contacts(service.r)
        hook = lambda inc: ev.send(inc, outbox, contacts)  # noqa: E731
    import os  # noqa: PLC0415
    import socket  # noqa: PLC0415

    name = consumer or f"callback-{socket.gethostname()}-{os.getpid()}"   # one per process
    return CallbackDesk(service.r, service, cfg, on_closed=hook, consumer=name)


def _views(ctx, recs: list[dict], role: str) -> list[dict]:  # noqa: ANN001
    """Queue entries as a role may see them: the deadline in Beijing time, and the caller's
    number to call back (masked for a role without personal-data rights, ``incidents.masking``)."""
    from app.timefmt import fmt_cst  # noqa: PLC0415
    from incidents.evaluation import caller_phone  # noqa: PLC0415

    cases = {i.id: i for i in ctx.incidents.store.load_many([r["id"] for r in recs])}
    out = []
    for rec in recs:
        inc = cases.get(rec["id"])
        out.append(masking.view(dict(
            rec, status_name=STATUS_NAMES.get(rec.get("status", ""), ""),
            due=fmt_cst(float(rec.get("due_ts") or 0), "%m-%d %H:%M"),
            phone=caller_phone(inc) if inc is not None else ""), role))
    return out


def _result(incident_id: str):  # noqa: ANN202
    from app.auth import require_actor  # noqa: PLC0415

    actor = require_actor()
    body = request.get_json(silent=True) or {}
    raw = body.get("satisfaction")
    score = GRADES.get(str(raw)) if str(raw) in GRADES else raw
    try:
        score = None if score in (None, "") else int(score)
        inc = desk(_ctx()).record(incident_id, actor, score, str(body.get("reason") or "")[:2000])
    except (IncidentError, ValueError, TypeError) as exc:
        status = 403 if isinstance(exc, Forbidden) else 404 if isinstance(exc, NotFound) else \
            409 if isinstance(exc, InvalidTransition) else 400
        return security.json_error(status, "refused", reason=str(exc))
    return {"id": inc.id, "state": inc.state, "satisfaction": inc.satisfaction}


def rates_for(ctx, actor, since: float, until: float) -> list[dict]:  # noqa: ANN001
    """The five 12345 rates of the cases closed in [since, until) that ``actor`` oversees (the
    city: all; a center: its own), each beside its target (``incidents.rates``)."""
    from incidents.rates import compute  # noqa: PLC0415

    recs = desk(ctx).closed_between(since, until)
    if not actor.is_city:
        recs = [r for r in recs if r.get("center") == actor.center]
    k = ctx.incidents.kpis(None if actor.is_city else actor.center, since, until)
    evs = evaluations(ctx).many([r["id"] for r in recs])
    return [x.as_dict() for x in compute(recs, evs, int(k.get("received_human") or 0),
                                         int(k.get("accepted_human") or 0),
                                         ctx.settings.hotline_config.targets)]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def rates_rows(rates: list[dict]) -> list[dict]:
    """The rates as the analytics table's rows (Chinese only)."""
    return [{"name": r["name"], "value": _pct(r["value"]), "count": f"{r['num']}/{r['den']}",
             "target": _pct(r["target"]), "kind": r["kind"],
             "met": MET_WORDS[r["met"]]} for r in rates]


MET_WORDS = {True: "达标", False: "未达标", None: "—"}
"""A KPI against its target, as people read it (the rates, the reports' 指标与目标)."""

RATE_COLUMNS = (("name", "指标"), ("value", "实际"), ("count", "计数"), ("target", "目标"),
                ("kind", "性质"), ("met", "是否达标"))


def register_rates(app, ctx, roles: tuple[str, ...], period) -> None:  # noqa: ANN001
    """/analytics: the 12345 rates beside their targets (E36, E52), one section after the
    cards, for the chosen period. Added around the screen's own layout function."""
    from dash import Input, Output, dash_table, html  # noqa: PLC0415

    from app.screens.analytics import add_section  # noqa: PLC0415

    add_section(app, lambda: html.Section(id="an-rates-box", className="rates", children=[
        html.H3("12345 回访与评价（按结案时间）"),
        dash_table.DataTable(id="an-rates", columns=[{"name": n, "id": k} for k, n in RATE_COLUMNS],
                             data=[], style_cell={"textAlign": "center"})]), after="an-cards")

    @app.callback(Output("an-rates", "data"), Input("an-period", "start_date"),
                  Input("an-period", "end_date"))
    def rates(start, end):  # noqa: ANN001, ANN202
        from app.auth import require_role  # noqa: PLC0415

        actor = require_role(*roles)
        try:
            since, until = period(start, end)
        except ValueError:
            return []
        return rates_rows(rates_for(ctx, actor, since, until))


@bp.get("/api/callbacks", endpoint="callbacks_list")
def callbacks_list():
    from app.auth import require_actor  # noqa: PLC0415

    actor = require_actor()
    return {"callbacks": _views(_ctx(), desk(_ctx()).queue(center=actor.center), actor.role)}


@bp.post("/api/callbacks/<incident_id>", endpoint="callbacks_result")
def callbacks_result(incident_id: str):
    return _result(incident_id)


@bp.get("/m/api/callbacks", endpoint="mobile_callbacks")
def mobile_callbacks():
    from app.auth import require_actor  # noqa: PLC0415

    actor = require_actor()
    if not actor.cell:
        return {"callbacks": []}
    return {"callbacks": _views(_ctx(), desk(_ctx()).queue(cell=actor.cell), actor.role)}


@bp.post("/m/api/callbacks/<incident_id>", endpoint="mobile_callbacks_result")
def mobile_callbacks_result(incident_id: str):
    return _result(incident_id)


__all__ = ["bp", "desk", "desk_over", "evaluations", "rates_for", "rates_rows", "register_rates"]
