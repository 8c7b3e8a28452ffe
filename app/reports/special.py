"""An incident's 专报 (issue 24): one case's facts, its timeline (the audit trail, E32) and its
sub-tasks as a PDF, for a reader who may read the case (``IncidentService.get``: scope enforced,
a refusal audited there), personal data masked for a role without it (``incidents.masking``).
Made on demand (``GET /analytics/reports/case/<id>.pdf``), never stored."""

from __future__ import annotations

import datetime as dt
import io

from app.reports.render import FONT, _font
from app.timefmt import CST
from incidents import masking
from incidents.incident import CHANNELS, STATE_NAMES, TASK_STATE_NAMES
from incidents.vocab import action_name


def _t(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M") if ts else "—"


def facts(ctx, inc, role: str) -> dict:  # noqa: ANN001 (AppContext, Incident)
    """The case as people read it (masked per ``role``)."""
    centers = ctx.city.centers
    row = {"id": inc.id, "title": inc.title or inc.category_name, "reporter": inc.reporter,
           "description": inc.description}
    row = masking.view(row, role)
    return {"编号": inc.id, "标题": row["title"], "类别": inc.category_name,
            "等级": inc.severity, "渠道": CHANNELS.get(inc.channel, inc.channel),
            "状态": STATE_NAMES.get(inc.state, inc.state),
            "责任中心": getattr(centers.get(inc.center), "name", inc.center),
            "镇街": ctx.city.town_names.get(inc.town_code, "—"),
            "位置": f"{inc.lon:.5f}, {inc.lat:.5f}", "上报人": row["reporter"] or "—",
            "上报时间": _t(inc.created_ts), "描述": row["description"] or "—",
            "返工次数": str(inc.reopen_count),
            "满意度": str(inc.satisfaction) if inc.satisfaction else "—"}


def pdf(ctx, inc, timeline: list[dict], role: str) -> bytes:  # noqa: ANN001
    """The 专报 as a PDF (A4, the Chinese font embedded)."""
    from reportlab.lib import colors  # noqa: PLC0415
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.lib.styles import ParagraphStyle  # noqa: PLC0415
    from reportlab.lib.units import mm  # noqa: PLC0415
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, TableStyle  # noqa: PLC0415

    _font()
    h1 = ParagraphStyle("h1", fontName=FONT, fontSize=17, leading=23, alignment=1, spaceAfter=6)
    h2 = ParagraphStyle("h2", fontName=FONT, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    s = ParagraphStyle("s", fontName=FONT, fontSize=8, leading=10)
    centers = ctx.city.centers
    title = f"事件专报 {inc.id} {inc.category_name}"

    def table(header: list[str] | None, rows: list[list[str]]) -> LongTable:
        data = ([[Paragraph(h, s) for h in header]] if header else []) + \
            [[Paragraph(masking_text(str(x)), s) for x in r] for r in rows]
        t = LongTable(data, repeatRows=1 if header else 0, hAlign="LEFT")
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9ca3af")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]
                              + ([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dbeafe"))]
                                 if header else [])))
        return t

    def masking_text(text: str) -> str:
        return text if masking.sees(role) else masking.phones(text)

    story = [Paragraph(title, h1), Paragraph("基本情况", h2),
             table(None, [[k, v] for k, v in facts(ctx, inc, role).items()])]
    story.append(Paragraph("处置任务", h2))
    story.append(table(["序号", "承办单位", "状态", "派遣时间", "办结时间", "办理说明"], [
        [str(t.n), getattr(centers.get(t.center), "name", t.center),
         TASK_STATE_NAMES.get(t.state, t.state),
         _t(t.dispatched_ts), _t(t.handled_ts), t.note or "—"] for t in inc.tasks])
        if inc.tasks else Paragraph("无", s))
    story.append(Paragraph("处置过程", h2))
    story.append(table(["时间", "操作人", "单位", "操作", "状态", "说明"], [
        [_t(float(e.get("ts") or 0)), e.get("name") or e.get("actor") or "",
         getattr(centers.get(e.get("center", "")), "name", e.get("center", "")),
         action_name(str(e.get("action", ""))), STATE_NAMES.get(e.get("state", ""), e.get("state", "")),
         e.get("reason") or ""] for e in timeline]) if timeline else Paragraph("无", s))
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm,
                      topMargin=14 * mm, bottomMargin=14 * mm, title=title,
                      author="OneMap").build(story)
    return buf.getvalue()


__all__ = ["facts", "pdf"]
