"""The queue's bulk bar (批量操作, issue 15): select many cases (the page, or every row of the
filtered list on all pages), choose an action, confirm: a clerk clears a 50-case storm in three
clicks. Each case goes through the same gate as one click of the panel (``app.api.bulk_act``:
read scope, the policy's check in the service, the audit), sent in one
``IncidentService.batch()``; 合并 is one ``merge`` call. The result is said per item
("✓ 48 受理 · ✗ 2: E…: why").

The bar's buttons count, for the selection, the cases the policy offers each action for
(``IncidentService.available_actions``), so the bar never promises what the service refuses.
"""

from __future__ import annotations

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from app.api import bulk_act
from app.auth import audit_denied, guarded
from app.screens.console.ids import BULK, Id, bulk_button
from app.screens.console.model import ConsoleData, bulk_message, options, short_center
from incidents.actor import Actor
from incidents.errors import IncidentError
from incidents.vocab import Action

BULK_ACTIONS: tuple[tuple[str, str], ...] = (
    (Action.ACCEPT, "受理"), (Action.DISPATCH, "派遣"), (Action.VOID, "作废"),
    (Action.MERGE, "合并"), (Action.URGE, "督办"))
"""The bulk bar's actions and labels (派遣 accepts a new case first: 受理并派遣)."""
BULK_ALL_IDS = {"type": BULK, "action": ALL}
CONFIRM_VERB = {Action.ACCEPT: "受理", Action.DISPATCH: "受理并派遣", Action.VOID: "作废",
                Action.MERGE: "合并", Action.URGE: "督办"}


def bulk_bar(data: ConsoleData, actor: Actor) -> html.Div:
    """Selection buttons, the actions (with the count the policy offers each for), the inputs
    some need (派遣单位, 原因), the confirm row and the per-item result."""
    depts = [c.code for c in data.city.centers.values() if c.tier == "department"]
    return html.Div(id=Id.BULK_BAR, className="bulk", children=[
        html.Div(className="bulk-row", children=[
            html.Button("全选本页", id=Id.BULK_PAGE),
            html.Button("全选筛选结果", id=Id.BULK_ALL, className="primary",
                        title="选中当前筛选的全部事件（所有页）"),
            html.Button("清除", id=Id.BULK_NONE),
            html.Span("已选 0 件", id=Id.BULK_COUNT, className="bulk-count"),
            *[html.Button(label, id=bulk_button(a), disabled=True, className="bulk-act")
              for a, label in BULK_ACTIONS]]),
        html.Div(id=Id.BULK_INPUTS, className="bulk-row", hidden=True, children=[
            dcc.Dropdown(id=Id.BULK_DEPTS, options=options(data.city, depts), multi=True,
                         placeholder="批量派遣至", style={"flex": "1 1 200px", "minWidth": "0"},
                         maxHeight=240),
            dcc.Input(id=Id.BULK_REASON, type="text", maxLength=500, className="grow",
                      placeholder="批量原因/说明（作废必填）")]),
        html.Div(id=Id.BULK_CONFIRM_ROW, className="bulk-confirm", hidden=True, children=[
            html.Span(id=Id.BULK_CONFIRM_TEXT),
            html.Button("确认", id=Id.BULK_CONFIRM, className="danger"),
            html.Button("取消", id=Id.BULK_CANCEL)]),
        html.Div(id=Id.BULK_MSG, className="msg", role="status"),
        dcc.Store(id=Id.BULK_PENDING),
    ])


def selected_ids(selected: list[int] | None, rows: list[dict] | None) -> list[str]:
    """The ids of the selected rows (``selected_rows`` index ``data``; a DataTable does not
    update ``selected_row_ids`` when a callback sets the selection)."""
    rows = rows or []
    return [str(rows[k]["id"]) for k in selected or [] if 0 <= k < len(rows)]


def offer_counts(data: ConsoleData, actor: Actor, ids: list[str]) -> dict[str, int]:
    """For each bulk action, how many of the selected cases the policy offers it for now
    (派遣: offered, or 受理 offered first; 合并: the case may be folded into another)."""
    svc = data.service
    n = dict.fromkeys((a for a, _ in BULK_ACTIONS), 0)
    for inc in svc.store.load_many(ids):
        try:
            offered = {o.action for o in svc.available_actions(inc, actor)}
        except IncidentError:
            continue
        for a in (Action.ACCEPT, Action.VOID, Action.URGE):
            n[a] += a in offered
        n[Action.DISPATCH] += Action.DISPATCH in offered or Action.ACCEPT in offered
        n[Action.MERGE] += svc.policy.merge_ok(actor, inc) is None
    return n


def merge_target(data: ConsoleData, actor: Actor, ids: list[str], sel: str | None) -> str | None:
    """The case the others are merged into: the one open in the panel, else the selected case
    with the most sources (a situation), the oldest of equals."""
    if sel:
        return sel
    incs = data.service.store.load_many(ids)
    if not incs:
        return None
    return min(incs, key=lambda i: (-len(i.sources), i.created_ts)).id


def register_bulk(app: Dash, data: ConsoleData, console_actor) -> None:  # noqa: ANN001
    """The bulk bar's callbacks and 标为已阅."""

    @app.callback(Output(Id.QUEUE, "selected_rows", allow_duplicate=True),
                  Input(Id.BULK_PAGE, "n_clicks"), Input(Id.BULK_ALL, "n_clicks"),
                  Input(Id.BULK_NONE, "n_clicks"),
                  State(Id.QUEUE, "derived_viewport_indices"),
                  State(Id.QUEUE, "derived_virtual_indices"), State(Id.QUEUE, "selected_rows"),
                  prevent_initial_call=True)
    def select(_page, _all, _none, page, virtual, selected):
        """全选本页 adds the page shown; 全选筛选结果 every row the filters and the table's own
        filter keep, on every page; 清除 none."""
        console_actor()
        if ctx.triggered_id == Id.BULK_NONE:
            return []
        rows = virtual if ctx.triggered_id == Id.BULK_ALL else page
        return sorted(set(selected or []) | set(rows or []))

    @app.callback(Output(Id.BULK_COUNT, "children"), Output(BULK_ALL_IDS, "children"),
                  Output(BULK_ALL_IDS, "disabled"), Output(Id.BULK_INPUTS, "hidden"),
                  Input(Id.QUEUE, "selected_rows"), State(Id.QUEUE, "data"), State(BULK_ALL_IDS, "id"))
    def counts(selected, rows, buttons):
        """The buttons say for how many of the selected cases the policy offers them."""
        actor = console_actor()
        ids = selected_ids(selected, rows)
        names = dict(BULK_ACTIONS)
        with guarded("console:bulk"):
            n = offer_counts(data, actor, ids) if ids else {}
        acts = [b["action"] for b in buttons]
        return (f"已选 {len(ids)} 件", [f"{names[a]} ({n[a]})" if n.get(a) else names[a] for a in acts],
                [not n.get(a) for a in acts], not ids)

    @app.callback(Output(Id.BULK_PENDING, "data"), Output(Id.BULK_CONFIRM_ROW, "hidden"),
                  Output(Id.BULK_CONFIRM_TEXT, "children"),
                  Output(Id.BULK_MSG, "children"), Output(Id.BULK_MSG, "className"),
                  Input(BULK_ALL_IDS, "n_clicks"),
                  State(Id.QUEUE, "selected_rows"), State(Id.QUEUE, "data"), State(Id.SEL, "data"),
                  State(Id.BULK_REASON, "value"), State(Id.BULK_DEPTS, "value"),
                  prevent_initial_call=True)
    def choose(clicks, selected, rows, sel, reason, depts):
        """An action chosen: what it will do, to how many cases, waits for 确认 (the selection
        as it was when chosen: a live update after this cannot change what is confirmed)."""
        actor = console_actor()
        trig = ctx.triggered_id
        if not trig or not any(clicks or []):
            return (no_update,) * 5
        action = trig["action"]
        ids = selected_ids(selected, rows)
        reason = (reason or "").strip()
        if not ids:
            return None, True, "", "✗ 请先选择事件", "msg err"
        if action == Action.VOID and not reason:
            return None, True, "", "✗ 批量作废须填写原因", "msg err"
        if action == Action.DISPATCH and not depts:
            return None, True, "", "✗ 请选择批量派遣单位", "msg err"
        pending = {"action": action, "ids": ids, "reason": reason, "depts": list(depts or [])}
        text = f"确认{CONFIRM_VERB[action]} {len(ids)} 件？"
        if action == Action.MERGE:
            with guarded("console:bulk"):
                target = merge_target(data, actor, ids, sel)
                if target:
                    data.service.get(target, actor)
            if not target or len([i for i in ids if i != target]) < 1:
                return None, True, "", "✗ 合并须至少选择两件", "msg err"
            pending["target"] = target
            text = f"确认将 {len([i for i in ids if i != target])} 件合并到 {target}？"
        elif action == Action.DISPATCH:
            text += " → " + "、".join(short_center(data.city, d) for d in depts)
        return pending, False, text, "", "msg"

    @app.callback(Output(Id.BULK_MSG, "children", allow_duplicate=True),
                  Output(Id.BULK_MSG, "className", allow_duplicate=True),
                  Output(Id.BULK_PENDING, "data", allow_duplicate=True),
                  Output(Id.BULK_CONFIRM_ROW, "hidden", allow_duplicate=True),
                  Output(Id.REV, "data", allow_duplicate=True),
                  Output(Id.QUEUE, "selected_rows", allow_duplicate=True),
                  Input(Id.BULK_CONFIRM, "n_clicks"), Input(Id.BULK_CANCEL, "n_clicks"),
                  State(Id.BULK_PENDING, "data"), State(Id.REV, "data"),
                  prevent_initial_call=True)
    def confirm(_ok, _cancel, pending, rev):
        """确认: the action on every case of the selection, per-item results."""
        actor = console_actor()
        if ctx.triggered_id == Id.BULK_CANCEL or not pending:
            return "", "msg", None, True, no_update, no_update
        action = pending["action"]
        body = {"reason": pending.get("reason", ""), "note": pending.get("reason", ""),
                "depts": pending.get("depts", []), "target": pending.get("target")}
        with guarded("console:bulk"):
            results = bulk_act(data.service, actor, pending["ids"], action, body)
        for r in results:
            if r.pop("forbidden", False):
                audit_denied(r["reason"], r["id"], actor)
        msg = bulk_message(CONFIRM_VERB[action], results)
        bad = any(not r["ok"] for r in results)
        return msg, "msg err" if bad and not any(r["ok"] for r in results) else "msg ok", None, \
            True, (rev or 0) + 1, []

    @app.callback(Output(Id.REV, "data", allow_duplicate=True), Input(Id.SEEN_ALL, "n_clicks"),
                  State(Id.VIEW, "value"), State(Id.REV, "data"), prevent_initial_call=True)
    def seen_all(_n, view, rev):
        """标为已阅: the 新 marks of this view start again from now."""
        data.mark_seen(console_actor(), view or "todo")
        return (rev or 0) + 1
