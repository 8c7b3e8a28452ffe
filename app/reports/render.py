"""A report's figures as PDF (reportlab, WenQuanYi Micro Hei embedded: Debian's
fonts-wqy-microhei, a TrueType collection reportlab can embed; rendered offline) and XLSX
(openpyxl, one sheet per section). Issue 24; Chinese only in what people read.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pandas as pd

from app.hotline import MET_WORDS
from app.reports.figures import Figures
from app.timefmt import CST

FONT = "WQYMicroHei"
FONT_FILES = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
              Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"))
"""Where Debian (and some others) put WenQuanYi Micro Hei; ``subfontIndex`` 0 is the
proportional face."""

RANK_COLS = [("rank", "名次"), ("name", "中心"), ("score", "得分"), ("received", "受理"),
             ("closed", "结案"), ("handled_on_time_rate", "处置按时率"),
             ("closure_rate", "结案率"), ("overdue_now", "当前超期"), ("satisfaction", "满意度")]
NOTABLE_COLS = [("id", "编号"), ("category_name", "类别"), ("severity", "等级"),
                ("state_name", "状态"), ("town_name", "镇街"), ("center_name", "责任中心"),
                ("created", "上报时间"), ("overdue", "超期")]
DEVICE_COLS = [("type", "类型"), ("total", "总数"), ("online", "在线"), ("online_rate", "在线率"),
               ("fresh", "鲜活"), ("fresh_rate", "鲜活率")]
TOWN_DEVICE_COLS = [("town", "镇街"), ("total", "传感器"), ("online_rate", "传感器在线率"),
                    ("fresh_rate", "传感器鲜活率"), ("cam_total", "摄像机"),
                    ("cam_online_rate", "摄像机在线率"), ("cam_fresh_rate", "摄像机鲜活率")]
KPI_ROWS = [("received", "受理量"), ("received_human", "人工上报"),
            ("received_machine", "机器生成"), ("closed", "结案"), ("open_now", "当前在办"),
            ("overdue_now", "当前超期"), ("closure_rate", "结案率"),
            ("handled_on_time_rate", "处置按时率"), ("reopen_rate", "返工率"),
            ("satisfaction", "满意度（5分制）")]
RATE_KEYS = {"closure_rate", "handled_on_time_rate", "reopen_rate", "online_rate", "fresh_rate",
             "accepted_on_time_rate", "dispatched_on_time_rate", "cam_online_rate",
             "cam_fresh_rate"}


def pct(v) -> str:  # noqa: ANN001
    return "—" if v is None or (isinstance(v, float) and pd.isna(v)) else f"{float(v) * 100:.1f}%"


def cell(key: str, v) -> str:  # noqa: ANN001
    """A value as people read it: rates in %, nothing as —."""
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "—"
    if key in RATE_KEYS:
        return pct(v)
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float):
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return str(v)


def sections(f: Figures) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables (title, header, rows), in order; the PDF and the XLSX both."""
    out: list[tuple[str, list[str], list[list[str]]]] = []
    out.append(("总体指标", ["指标", "数值"],
                [[n, cell(k, f.kpis.get(k, 0 if not k.endswith("rate") else None))]
                 for k, n in KPI_ROWS]))
    out.append(("指标与目标", ["指标", "实际", "目标", "性质", "是否达标"],
                [[t["name"], pct(t["value"]), pct(t["target"]), t["kind"],
                  MET_WORDS[t["met"]]] for t in f.targets]))
    for label, df in f.by.items():
        out.append((f"按{label}", [label, "事件数"], [[str(a), str(b)] for a, b in df.values]))
    for tier, label in (("town", "镇街"), ("department", "部门")):
        df = f.ranking.get(tier)
        rows = [] if df is None or df.empty else [
            [cell(k, r.get(k)) for k, _ in RANK_COLS] for r in df.to_dict("records")]
        out.append((f"{label}考核排名", [n for _, n in RANK_COLS], rows))
    out.append(("设备在线率与鲜活率", [n for _, n in DEVICE_COLS],
                [[cell(k, d.get(k)) for k, _ in DEVICE_COLS] for d in f.devices]))
    out.append(("设备鲜活率（按镇街）", [n for _, n in TOWN_DEVICE_COLS],
                [[cell(k, d.get(k)) for k, _ in TOWN_DEVICE_COLS] for d in f.devices_by_town]))
    out.append(("重点事件（超期或重大）", [n for _, n in NOTABLE_COLS],
                [[cell(k, r.get(k)) for k, _ in NOTABLE_COLS]
                 for r in f.notable.head(200).to_dict("records")]))
    return out


def hotspot_map(f: Figures, width: float = 480, height: float = 340):  # noqa: ANN201 (Drawing)
    """热点分布: the scope's town outlines and the period's cases as dots (red: overdue now),
    drawn as vector graphics (reportlab.graphics: no browser, no raster export). None without
    outlines."""
    from reportlab.graphics.shapes import Circle, Drawing, Polygon, String  # noqa: PLC0415
    from reportlab.lib import colors  # noqa: PLC0415

    rings = [r for _, rs in f.outlines for r in rs]
    if not rings:
        return None
    xs = [x for r in rings for x, _ in r]
    ys = [y for r in rings for _, y in r]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    k = min((width - 10) / max(x1 - x0, 1e-9), (height - 10) / max(y1 - y0, 1e-9))

    def at(x: float, y: float) -> tuple[float, float]:
        return 5 + (x - x0) * k, 5 + (y - y0) * k

    d = Drawing(width, height)
    for name, rs in f.outlines:
        for r in rs:
            d.add(Polygon([c for pt in r for c in at(*pt)], fillColor=colors.HexColor("#f1f5f9"),
                          strokeColor=colors.HexColor("#64748b"), strokeWidth=0.5))
        if rs:
            big = max(rs, key=len)
            cx, cy = at(sum(x for x, _ in big) / len(big), sum(y for _, y in big) / len(big))
            d.add(String(cx, cy, name, fontName=_font(), fontSize=6, textAnchor="middle",
                         fillColor=colors.HexColor("#334155")))
    for lon, lat, late in f.points:
        if x0 <= lon <= x1 and y0 <= lat <= y1:
            d.add(Circle(*at(lon, lat), 2.2, strokeWidth=0,
                         fillColor=colors.HexColor("#dc2626" if late else "#2563eb")))
    return d


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics  # noqa: PLC0415
    from reportlab.pdfbase.ttfonts import TTFont  # noqa: PLC0415

    if FONT not in pdfmetrics.getRegisteredFontNames():
        path = next((p for p in FONT_FILES if p.exists()), None)
        if path is None:
            raise RuntimeError("no CJK TrueType font for the report's PDF: install "
                               "fonts-wqy-microhei (scripts/install-system.sh)")
        pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
    return FONT


def pdf(f: Figures) -> bytes:
    """The report as a PDF (A4, the Chinese font embedded)."""
    from reportlab.lib import colors  # noqa: PLC0415
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.lib.styles import ParagraphStyle  # noqa: PLC0415
    from reportlab.lib.units import mm  # noqa: PLC0415
    from reportlab.platypus import (  # noqa: PLC0415
        LongTable,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )

    font = _font()
    h1 = ParagraphStyle("h1", fontName=font, fontSize=18, leading=24, alignment=1, spaceAfter=4)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=12, leading=16, spaceBefore=8,
                        spaceAfter=4)
    small = ParagraphStyle("s", fontName=font, fontSize=8, leading=10)
    meta = ParagraphStyle("m", fontName=font, fontSize=9, leading=12, alignment=1,
                          textColor=colors.grey)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm,
                            topMargin=14 * mm, bottomMargin=14 * mm, title=f.title,
                            author="OneMap", subject=f.title)
    made = dt.datetime.fromtimestamp(f.generated, CST).strftime("%Y-%m-%d %H:%M")
    story = [Paragraph(f.title, h1), Paragraph(f"生成时间 {made}（北京时间）", meta),
             Spacer(1, 4 * mm)]
    for name, header, rows in sections(f):
        story.append(Paragraph(name, h2))
        if name == "按镇街" and (m := hotspot_map(f)) is not None:   # 热点分布 beside it
            story += [m, Paragraph(f"热点分布：本期事件 {len(f.points)} 件（红点为当前超期）", small)]
        if not rows:
            story.append(Paragraph("本期无数据", small))
            continue
        data = [[Paragraph(str(x), small) for x in header]] + \
               [[Paragraph(str(x), small) for x in r] for r in rows]
        t = LongTable(data, repeatRows=1, hAlign="LEFT")
        t.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9ca3af")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dbeafe")),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
        story.append(t)
    doc.build(story)
    return buf.getvalue()


def _num(x: str) -> str | int | float:
    """Counts and scores as numbers in the workbook (sums and sorts work); the rest as text."""
    if re.fullmatch(r"-?\d{1,15}", x):
        return int(x)
    if re.fullmatch(r"-?\d{1,12}\.\d{1,6}", x):
        return float(x)
    return x


def xlsx(f: Figures) -> bytes:
    """The report as a workbook: one sheet per section (its name ≤ 31 characters)."""
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Font  # noqa: PLC0415

    wb = Workbook()
    wb.remove(wb.active)
    info = wb.create_sheet("报表")
    info.append([f.title])
    info["A1"].font = Font(bold=True, size=14)
    info.append(["时间段", f"{f.start.isoformat()} 至 {f.end.isoformat()}"])
    info.append(["范围", f.scope_name or "全市"])
    for name, header, rows in sections(f):
        ws = wb.create_sheet(name[:31])
        ws.append(header)
        for c in ws[1]:
            c.font = Font(bold=True)
        for r in rows:
            ws.append([_num(x) for x in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


__all__ = ["pdf", "sections", "xlsx"]
