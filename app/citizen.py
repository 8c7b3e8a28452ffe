"""The citizen's 好差评 page (E35, issue 24): ``/pj/<case>/<token>``, a phone page WITHOUT login.

The link comes by SMS (or in the case's Open311 status); the token is the credential for that
one case (``incidents.evaluation``). The page shows the case by its category and number only (no
personal data), takes ONE grade (好/中/差) and a comment, and thanks. A second use, an expired
link or a link used on another case is refused with a clear Chinese sentence (410/403/404) and
counted. Plain HTML (no script): it works on any phone browser. The form carries the session's
CSRF token like every form of OneMap (``app.security``).
"""

from __future__ import annotations

import html

from flask import Blueprint, current_app, request

from app import security
from grid.categories import CATEGORIES
from incidents.evaluation import Refused

bp = Blueprint("citizen", __name__)

PREFIX = "/pj/"
"""The page's path prefix (评价): public at the gate (``app.auth.PUBLIC_PREFIXES``)."""
STATUS = {"unknown": 404, "used": 410, "expired": 410, "other_case": 403, "bad_score": 400}

_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>12345 服务评价</title>
<style>
body{{margin:0;font-family:"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",sans-serif;
background:#f4f6f9;color:#1d2733}}
main{{max-width:480px;margin:0 auto;padding:20px 16px}}
h1{{font-size:22px;margin:8px 0 4px}}
.case{{color:#4a5a6a;font-size:15px;margin:0 0 16px}}
.grades{{display:flex;gap:10px;margin:12px 0}}
.grades label{{flex:1;text-align:center;border:2px solid #c9d3de;border-radius:10px;padding:14px 0;
font-size:22px;background:#fff}}
.grades input{{display:block;margin:0 auto 6px;width:22px;height:22px}}
textarea{{width:100%;box-sizing:border-box;min-height:96px;font-size:16px;border-radius:8px;
border:1px solid #c9d3de;padding:8px}}
button{{width:100%;margin-top:14px;padding:14px 0;font-size:20px;border:0;border-radius:10px;
background:#1565c0;color:#fff}}
.msg{{font-size:19px;padding:18px;border-radius:10px;background:#fff}}
.ok{{border-left:6px solid #2e7d32}} .err{{border-left:6px solid #c62828}}
</style></head><body><main>{body}</main></body></html>"""


def _ctx():  # noqa: ANN202 (AppContext)
    return current_app.extensions["onemap"]


def _page(body: str, status: int = 200):  # noqa: ANN202
    return (_PAGE.format(body=body), status, {"Content-Type": "text/html; charset=utf-8",
                                              "Cache-Control": "no-store"})


def _message(text: str, ok: bool, status: int = 200):  # noqa: ANN202
    return _page(f'<h1>12345 服务评价</h1><p id="pj-msg" class="msg {"ok" if ok else "err"}">'
                 f"{html.escape(text)}</p>", status)


def _refused(e: Refused):  # noqa: ANN202
    security.count(_ctx().redis, f"evaluation_{e.why}")
    return _message(e.message, False, STATUS.get(e.why, 400))


def _case_line(incident_id: str) -> str:
    inc = _ctx().incidents.store.load(incident_id)
    cat = CATEGORIES.get(inc.category) if inc is not None else None
    what = cat.name if cat is not None else "您反映的问题"
    return f"{html.escape(what)} · 事件编号 {html.escape(incident_id)}"


@bp.get(PREFIX + "<incident_id>/<token>", endpoint="citizen_page")
def page(incident_id: str, token: str):
    from app.hotline import evaluations  # noqa: PLC0415

    try:
        evaluations(_ctx()).check(incident_id, token)
    except Refused as e:
        return _refused(e)
    csrf = html.escape(security.csrf_token())
    grades = "".join(f'<label><input type="radio" name="score" value="{g}" required>{g}评</label>'
                     for g in ("好", "中", "差"))
    return _page(f"""<h1>请为本次服务评价</h1><p class="case">{_case_line(incident_id)}</p>
<form method="post" id="pj-form"><input type="hidden" name="{security.CSRF_FORM_FIELD}" value="{csrf}">
<div class="grades">{grades}</div>
<textarea name="comment" maxlength="500" placeholder="您的意见或建议（选填）"></textarea>
<button type="submit" id="pj-submit">提交评价</button></form>""")


@bp.post(PREFIX + "<incident_id>/<token>", endpoint="citizen_submit")
def submit(incident_id: str, token: str):
    from app.hotline import evaluations  # noqa: PLC0415

    try:
        evaluations(_ctx()).submit(incident_id, token, request.form.get("score", ""),
                                   request.form.get("comment", ""))
    except Refused as e:
        return _refused(e)
    security.count(_ctx().redis, "evaluation_scored")
    return _message("感谢您的评价！我们会持续改进服务。", True)


__all__ = ["PREFIX", "bp"]
