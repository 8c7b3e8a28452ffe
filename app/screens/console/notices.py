"""通知 in the console's header (issue 15: "human reports are never swallowed … and notify the
owner"): the owner center's notices (``om:inc:notices``: a 12345 call or grid report joined one
of its situations or machine cases; its escalations waited for the rate limit), read through
the incident service with the caller's Actor (``IncidentService.notices``: its center's only,
a case's notice only while the caller may read the case, S1/S2), each marked 已读 one by one
(``mark_notice_read``). Re-read when the notice stream moved (checked on each pushed change and
on the 30 s safety net), on any action, and on a 已读 click."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from app.screens.console.ids import NOTICE_READ, Id, notice_read_button
from app.timefmt import fmt_cst
from incidents import keys
from incidents.actor import Actor
from incidents.errors import NotFound
from incidents.incident import CHANNELS

SHOWN = 20
"""Notices listed (newest first); older ones are in the stream and the cases' trails."""
LIST_STYLE = {"position": "absolute", "zIndex": 20, "maxHeight": "60vh", "overflowY": "auto",
              "width": "min(520px, 90vw)", "background": "var(--panel)", "padding": "6px 10px",
              "border": "1px solid var(--line)", "margin": 0, "listStyle": "none"}
"""The open list floats over the page (the header keeps its one line)."""


def notices_box() -> html.Details:
    """The header's 通知 (closed: the count of unread; open: the list)."""
    return html.Details(id=Id.NOTICES, className="notices", style={"position": "relative"},
                        children=[html.Summary("通知", id=Id.NOTICES_HEAD,
                                               style={"cursor": "pointer", "whiteSpace": "nowrap"}),
                                  html.Ul(id=Id.NOTICES_LIST, style=LIST_STYLE),
                                  dcc.Store(id=Id.NOTICES_TOP)])


def notice_text(n: dict) -> str:
    """One notice in the operator's words."""
    when = fmt_cst(float(n.get("ts") or 0), "%m-%d %H:%M")
    if n.get("kind") == "human_source":
        who = CHANNELS.get(n.get("channel", ""), n.get("channel", ""))
        text = (f"{when} {who}上报已并入 {n.get('id', '')}：{str(n.get('description', ''))[:80]}"
                f"（{n.get('reporter', '')}）")
        if n.get("foreign"):
            text += f"，来自辖区外 {n.get('reporter_center', '')}，请研判"
        return text
    if n.get("kind") == "escalation_summary":
        return f"{when} " + str(n.get("text", "")).split(" (", 1)[0]
    return f"{when} {n.get('text') or n.get('kind', '')}"


def render(notices: list[dict]) -> tuple[str, list]:
    """The summary (通知 and the unread count) and the list items."""
    unread = sum(not n["read"] for n in notices)
    head = f"通知（{unread} 条未读）" if unread else "通知"
    items = [html.Li(className="notice" + ("" if n["read"] else " unread"), children=[
        html.Span(notice_text(n), style={"opacity": 0.6} if n["read"] else {"fontWeight": 600}),
        *([] if n["read"] else [" ", html.Button("已读", id=notice_read_button(n["nid"]),
                                                title="标为已读")])])
        for n in notices] or [html.Li("暂无通知", className="notice")]
    return head, items


def register_notices(app: Dash, data, console_actor: Callable[[], Actor]) -> None:  # noqa: ANN001
    """The 通知 callback over ``data`` (``ConsoleData``)."""

    @app.callback(Output(Id.NOTICES_HEAD, "children"), Output(Id.NOTICES_LIST, "children"),
                  Output(Id.NOTICES_TOP, "data"),
                  Input(Id.FEED_LAST, "data"), Input(Id.SLOW, "n_intervals"), Input(Id.REV, "data"),
                  Input({"type": NOTICE_READ, "nid": ALL}, "n_clicks"),
                  State(Id.NOTICES_TOP, "data"))
    def notices(_feed, _slow, _rev, _clicks, top):
        actor = console_actor()
        trig = ctx.triggered_id
        head = data.redis.xrevrange(keys.NOTICES, count=1)
        now_top = head[0][0] if head else "0"
        if isinstance(trig, dict) and trig.get("type") == NOTICE_READ:
            if not (ctx.triggered and ctx.triggered[0].get("value")):
                return no_update, no_update, no_update     # a button just drawn, not clicked
            # not one of this user's notices (or gone from the stream): nothing marked
            with contextlib.suppress(NotFound):
                data.service.mark_notice_read(actor, str(trig.get("nid", "")))
        elif trig in (Id.FEED_LAST, Id.SLOW) and top == now_top:
            return no_update, no_update, no_update         # the stream did not move: no read
        return (*render(data.service.notices(actor, limit=SHOWN)), now_top)
