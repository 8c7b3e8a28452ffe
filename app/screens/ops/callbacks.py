"""/ops callbacks. Every one asks who is calling (``require_role``) before it reads: the page
gate is not the only check (S2); what changes something (replay, 已处理, accounts) needs the
``administers`` capability (``incidents.roles``) and leaves a security-audit entry."""

from __future__ import annotations

from dash import Dash, Input, Output, State, no_update
from dash import ctx as dash_ctx
from flask import Flask, request

from app import security
from app.auth import require_role
from app.context import AppContext
from app.screens.ops import model
from app.screens.ops.ids import Id
from app.screens.ops.layout import render
from app.timefmt import fmt_cst
from app.users import UserError, UserStore
from incidents.actor import Actor
from incidents.roles import having

ADMIN_ROLES = tuple(sorted(having("administers")))


def viewer() -> Actor:
    return require_role(*model.OPS_ROLES)


def administrator() -> Actor:
    return require_role(*ADMIN_ROLES)


def _picked(rows: list[dict] | None, selected: list[int] | None, key: str) -> list[str]:
    rows, selected = rows or [], selected or []
    return [rows[i][key] for i in selected if 0 <= i < len(rows)]


def register_callbacks(app: Dash, server: Flask, ctx: AppContext) -> None:
    @app.callback(Output(Id.BODY, "children"), Output(Id.TS, "children"),
                  Input(Id.TICK, "n_intervals"))
    def refresh(_n):  # noqa: ANN001
        viewer()
        snap = model.snapshot(ctx)
        return render(snap), fmt_cst(snap["ts"], "更新于 %H:%M:%S")

    @app.callback(Output(Id.BACKLOG, "data"), Input(Id.TICK, "n_intervals"), Input(Id.TABS, "value"))
    def backlog(_n, tab):  # noqa: ANN001
        viewer()
        if tab != "backlog" and dash_ctx.triggered_id == Id.TICK:
            return no_update     # not looked at: not recomputed every 2 s
        return model.backlog(ctx)

    @app.callback(Output(Id.DLQ_TABLE, "data"), Output(Id.DLQ_TABLE, "selected_rows"),
                  Output(Id.DLQ_EXPORT, "href"),
                  Input(Id.DLQ_REASON, "value"), Input(Id.DLQ_HOURS, "value"),
                  Input(Id.DLQ_REV, "data"), Input(Id.TABS, "value"))
    def deadletters(reason, hours, _rev, _tab):  # noqa: ANN001
        viewer()
        rows = model.deadletter_rows(ctx.redis, reason or None, float(hours or 0) or None)
        href = f"/ops/deadletters.csv?reason={reason or ''}&hours={hours or 0}"
        return [{k: v for k, v in r.items() if k != "raw"} for r in rows], [], href

    @app.callback(Output(Id.DLQ_MSG, "children"), Output(Id.DLQ_REV, "data"),
                  Input(Id.DLQ_REPLAY, "n_clicks"), Input(Id.DLQ_ACK, "n_clicks"),
                  State(Id.DLQ_TABLE, "data"), State(Id.DLQ_TABLE, "selected_rows"),
                  State(Id.DLQ_REV, "data"), prevent_initial_call=True)
    def deadletter_act(_replay, _ack, rows, selected, rev):  # noqa: ANN001
        actor = administrator()
        ids = _picked(rows, selected, "id")
        if not ids:
            return "请先勾选死信", no_update
        if dash_ctx.triggered_id == Id.DLQ_REPLAY:
            results = model.replay_deadletters(ctx, ids)
            security.audit(ctx.redis, "deadletter_replay", user=actor.user_id, role=actor.role,
                           center=actor.center, path="/ops/", target=",".join(ids)[:400],
                           reason="; ".join(o for _, o in results)[:500])
            stored = sum(1 for _, o in results if o.endswith("已入库"))
            return f"重放 {len(ids)} 条：{stored} 条已入库；" + "；".join(
                o for _, o in results if not o.endswith("已入库"))[:300], (rev or 0) + 1
        n = model.deadletter.acknowledge(ctx.redis, ids)
        security.audit(ctx.redis, "deadletter_ack", user=actor.user_id, role=actor.role,
                       center=actor.center, path="/ops/", target=",".join(ids)[:400])
        return f"已标记处理 {n} 条", (rev or 0) + 1

    @app.callback(Output(Id.ACC_MSG, "children"), Output(Id.ACC_REV, "data"),
                  Input(Id.ACC_DISABLE, "n_clicks"), Input(Id.ACC_ENABLE, "n_clicks"),
                  Input(Id.ACC_REVOKE, "n_clicks"),
                  State(Id.ACC_TABLE, "data"), State(Id.ACC_TABLE, "selected_rows"),
                  State(Id.ACC_REV, "data"), prevent_initial_call=True)
    def account_act(_d, _e, _r, rows, selected, rev):  # noqa: ANN001
        actor = administrator()
        users = _picked(rows, selected, "user_id")
        if not users:
            return "请先选择账号", no_update
        uid, store = users[0], UserStore(ctx.redis, ctx.city)
        try:
            if dash_ctx.triggered_id == Id.ACC_REVOKE:
                n = store.revoke_sessions(uid, by=actor.user_id)
                return f"已注销 {uid} 的 {n} 个会话", (rev or 0) + 1
            if uid == actor.user_id:
                return "不能停用或启用自己的账号", no_update
            disable = dash_ctx.triggered_id == Id.ACC_DISABLE
            store.set_disabled(uid, disable)
            security.audit(ctx.redis, "user_disabled" if disable else "user_enabled",
                           user=actor.user_id, role=actor.role, center=actor.center,
                           path="/ops/", target=uid)
            return f"已{'停用' if disable else '启用'} {uid}", (rev or 0) + 1
        except UserError as e:
            return f"未完成：{e}", no_update

    @app.callback(Output(Id.ACC_TABLE, "data"), Input(Id.ACC_REV, "data"), Input(Id.TABS, "value"))
    def accounts(_rev, tab):  # noqa: ANN001
        viewer()
        return model.account_rows(ctx) if tab == "accounts" else no_update

    @app.callback(Output(Id.AUD_TABLE, "data"), Input(Id.AUD_EVENT, "value"),
                  Input(Id.AUD_USER, "value"), Input(Id.TABS, "value"))
    def audit(event, user, tab):  # noqa: ANN001
        viewer()
        if tab != "audit":
            return no_update
        return model.audit_rows(ctx.redis, event or None, (user or "").strip()[:64] or None)

    @app.callback(Output(Id.VID_TABLE, "data"), Input(Id.VID_CAMERA, "value"),
                  Input(Id.TABS, "value"), Input(Id.TICK, "n_intervals"))
    def video(camera, tab, _tick):  # noqa: ANN001
        viewer()
        if tab != "video":
            return no_update
        return model.video_rows(ctx.redis, (camera or "").strip()[:64] or None)

    @app.callback(Output(Id.AUD_MSG, "children"), Input(Id.AUD_VERIFY, "n_clicks"),
                  prevent_initial_call=True)
    def verify(_n):  # noqa: ANN001
        viewer()
        rep = security.verify_chain(ctx.redis)
        if rep.ok:
            return f"审计链完整：已校验 {rep.checked} 条"
        first = "；".join(f"{i}: {why}" for i, why in rep.problems[:3])
        return f"审计链被改动：{len(rep.problems)} 处问题（{first}）"

    @server.get("/ops/deadletters.csv")
    def deadletters_csv():
        actor = viewer()
        reason = request.args.get("reason", "")[:32] or None
        hours = request.args.get("hours", 0, type=float) or None
        rows = model.deadletter_rows(ctx.redis, reason, hours, limit=10_000)
        security.audit(ctx.redis, "export", user=actor.user_id, role=actor.role,
                       center=actor.center, path="/ops/deadletters.csv", reason=f"{len(rows)} 条")
        resp = server.response_class(model.deadletter_csv(rows), mimetype="text/csv")
        resp.headers["Content-Disposition"] = "attachment; filename=deadletters.csv"
        return security.no_store(resp)
