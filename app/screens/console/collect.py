"""/console/collect/: 信息采集审核, the town's review of its grid workers' collected objects
(E10, G8; issue 24). A small server-rendered page beside the console (no Dash: a list and two
buttons), with plain forms (the session's CSRF token in each), so it works on any browser.

Each pending object shows its register (人员/房屋/单位), 新增 or 变更, its fields (personal ones
masked per ``incidents.masking`` for a role without personal data; an unmasked read audited),
who collected it and when; 通过 enters it into the register (one transaction, audited), 退回
asks a reason the worker reads on the phone. The rules and the audit are the API's
(``app.http.ledger_collect``: ``review_list``, ``review``), so the page and the API cannot differ.
"""

from __future__ import annotations

import html
from urllib.parse import quote

from flask import Flask, Response, abort, redirect, request

from app import security
from app.screens.nav import nav_html
from grid.ledger import REGISTERS

PATH = "/console/collect/"


def mount(server: Flask, ctx) -> None:  # noqa: ANN001 (AppContext)
    """The page's two routes on the shared server (behind the gate: /console's roles)."""

    @server.get(PATH, endpoint="console_collect")
    def page():
        from app.auth import require_actor  # noqa: PLC0415
        from app.http.ledger_collect import review_list  # noqa: PLC0415

        actor = require_actor()
        status = request.args.get("status", "pending")
        if status not in ("pending", "approved", "rejected"):
            status = "pending"
        subs = review_list(actor, status, request.path)
        return Response(render(subs, status, security.csrf_token(), request.args.get("msg", ""),
                               nav_html(actor.role, "console")), mimetype="text/html")

    @server.post(PATH + "<int:sid>", endpoint="console_collect_decide")
    def decide(sid: int):
        from app.auth import require_actor  # noqa: PLC0415
        from app.http.ledger_collect import review  # noqa: PLC0415

        actor = require_actor()
        action = request.form.get("action", "")
        if action not in ("approve", "reject"):
            abort(400)
        got = review(actor, sid, action, request.form.get("reason", ""), request.path)
        msg = f"已{'通过' if action == 'approve' else '退回'}：采集记录 {got['id']}"
        return redirect(f"{PATH}?msg={quote(msg)}", code=303)


def _fields(sub: dict) -> str:
    data = sub["data"]
    cols = REGISTERS[sub["kind"]].columns if sub["kind"] in REGISTERS else tuple(data)
    parts = []
    for c in cols:
        v = data.get(c)
        if isinstance(v, list):
            v = "、".join(v)
        if v not in (None, ""):
            parts.append(f"<span class=\"f\"><b>{html.escape(c)}</b> {html.escape(str(v))}</span>")
    return " ".join(parts)


def render(subs: list[dict], status: str, csrf: str, msg: str = "", nav: str = "") -> str:
    """The page: the list of submissions in ``status`` with the review forms (pending only)."""
    tabs = " ".join(
        f'<a href="{PATH}?status={s}" class="{"on" if s == status else ""}">{n}</a>'
        for s, n in (("pending", "待审核"), ("approved", "已通过"), ("rejected", "已退回")))
    rows = []
    for s in subs:
        forms = ""
        if s["status"] == "pending":
            forms = (f'<form method="post" action="{PATH}{s["id"]}" class="inline">'
                     f'<input type="hidden" name="csrf_token" value="{html.escape(csrf)}">'
                     '<button name="action" value="approve" class="approve">通过</button></form>'
                     f'<form method="post" action="{PATH}{s["id"]}" class="inline">'
                     f'<input type="hidden" name="csrf_token" value="{html.escape(csrf)}">'
                     '<input name="reason" required maxlength="500" placeholder="退回原因（必填）">'
                     '<button name="action" value="reject" class="reject">退回</button></form>')
        rows.append(
            f'<tr id="collect-{s["id"]}"><td>{s["id"]}</td><td>{html.escape(s["kind_name"])}'
            f'</td><td>{html.escape(s["op_name"])}</td><td>{_fields(s)}</td>'
            f'<td>{html.escape(s["cell_code"])}</td><td>{html.escape(s["author"])}</td>'
            f'<td>{html.escape(s["created_at"][:16].replace("T", " "))}</td>'
            f'<td>{html.escape(s["status_name"])}{"：" + html.escape(s["reason"]) if s["reason"] else ""}'
            f'</td><td>{forms}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="9" class="empty">暂无记录</td></tr>'
    note = f'<p class="msg" role="status">{html.escape(msg)}</p>' if msg else ""
    return _PAGE.replace("__NAV__", nav).replace("__TABS__", tabs).replace("__MSG__", note) \
        .replace("__ROWS__", body)


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>信息采集审核 · OneMap</title>
<style>
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0;background:#f4f6f9}
header{background:#0f3d75;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#fff}main{padding:12px 16px}table{border-collapse:collapse;width:100%;background:#fff}
td,th{border:1px solid #d7dde5;padding:6px;font-size:14px;vertical-align:top}
.tabs a{margin-right:12px}.tabs a.on{font-weight:bold}.f{display:inline-block;margin-right:8px}
form.inline{display:inline-block;margin:2px}.msg{color:#0a6b2d}.empty{text-align:center;color:#777}
</style></head><body>
<header><strong>信息采集审核</strong><a href="/console/">返回工作台</a>__NAV__</header>
<main><nav class="tabs">__TABS__</nav>__MSG__
<table id="collect-list"><thead><tr><th>编号</th><th>类型</th><th>新增/变更</th><th>内容</th>
<th>网格</th><th>采集人</th><th>采集时间</th><th>状态</th><th>审核</th></tr></thead>
<tbody>__ROWS__</tbody></table></main></body></html>
"""

__all__ = ["PATH", "mount", "render"]
