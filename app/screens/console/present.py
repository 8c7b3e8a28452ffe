"""The incident panel's details as Dash components: details, photos, location, cameras that can
see it (with stream links), sensors nearby with a sparkline, related incidents, the audit
timeline (E32). The data comes from ``model.ConsoleData``."""

from __future__ import annotations

import time

from dash import dcc, html

from app.screens.console.ids import Id
from app.screens.console.model import (
    AFTER_PHOTO,
    ConsoleData,
    fmt,
    is_system,
    owner_reason,
    photo_kinds,
    readable,
    short_center,
    state_name,
    trail_line,
)
from grid import centers as cc
from incidents.actor import Actor
from incidents.incident import CHANNELS, TASK_STATE_NAMES
from incidents.queries import HUMAN_CHANNELS, is_situation


def incident_panel(data: ConsoleData, actor: Actor, inc, trail: list[dict],  # noqa: ANN001
                   similar: list[dict] = ()) -> list:
    """Head (id, title, state, severity, 超期/应急), then the details below it."""
    city = data.city
    names = {c: short_center(city, c) for c in city.centers}

    def name_of(code: str) -> str:
        """A center or grid worker (W<cell>) by name; a user id stays as it is."""
        return names.get(code) or (short_center(city, code) if cc.is_worker(code) else code)
    over = inc.overdue(time.time())
    head = html.Div(className="inc-head", children=[
        html.H2([f"{inc.id} · {inc.title}"]),
        html.Span(state_name(inc, actor), className=f"state {inc.state}", id=Id.INC_STATE),
        " ", html.Span(inc.severity, className=f"sev-{inc.severity}"),
        " ", html.Span("超期" if over else "", className="overdue"),
        " ", html.Span("应急" if inc.emergency else "", className="overdue"),
        " ", html.Span(f"态势 · {len(inc.sources)} 个来源" if is_situation(inc) else "", className="sit"),
        " ", html.Span("已恢复" if getattr(inc, "recovered_ts", 0) else "", className="recovered")])
    loc = " / ".join(x for x in (city.town_names.get(inc.town_code, ""),
                                 city.village_names.get(inc.village_code, ""), inc.cell_code) if x)
    tasks = [html.Li(f"#{t.n} {name_of(t.center)} · {TASK_STATE_NAMES.get(t.state, t.state)}"
                     + (f" · {readable(city, t.note)}" if t.note else "")) for t in inc.tasks]
    details = html.Dl(className="kv", children=[
        html.Dt("类别"), html.Dd(f"{inc.category} {inc.category_name}"),
        html.Dt("渠道"), html.Dd(f"{CHANNELS.get(inc.channel, inc.channel)} · 上报人 "
                               f"{data.person(inc.reporter)}"),
        html.Dt("位置"), html.Dd(f"{loc} ({inc.lon:.5f}, {inc.lat:.5f})"),
        html.Dt("归属"), html.Dd(f"{names.get(inc.center, inc.center)} · {owner_reason(city, inc, trail)}"),
        html.Dt("时限"), html.Dd(fmt(inc.due_ts, True) or "—"),
        html.Dt("描述"), html.Dd(inc.description or "—"),
        html.Dt("子任务"), html.Dd(html.Ul(tasks) if tasks else "—"),
    ])
    parts = [head, details]
    photos = photo_kinds(inc, trail)
    if photos:
        parts.append(photo_block(photos))
    cams, seeing = data.camera_view(inc.lon, inc.lat)
    parts.append(html.H2("可视摄像机 (能看到事发点)" if seeing or not cams else
                         "最近的摄像机 (均未朝向事发点，非可视)", className="" if seeing else "cams-near"))
    parts.append(html.Ul(className="cams", children=[
        # no link to the stream: its address (and a real deployment's credentials) stays on the
        # server; the video box above plays these cameras through the gateway (issue 23)
        html.Li(f"{c['name']} · {c['cls']}类 · {c['distance_m']:.0f} m"
                + ("" if seeing else f" · 朝向 {c['heading_deg']:.0f}°"))
        for c in cams] or [html.Li("附近无可视摄像机")]))
    sens = data.sensors(inc.lon, inc.lat, inc)
    if sens:
        parts.append(html.H2("告警设备 / 周边传感器" if any(x.get("alarm") for x in sens) else "周边传感器"))
        parts.append(sensor_block(sens))
    related = [html.Li(f"{CHANNELS.get(s.get('channel', ''), s.get('channel', ''))} · "
                       f"{data.person(str(s.get('reporter', '')))} · "
                       f"{fmt(float(s.get('ts') or 0), True)} · {s.get('description', '')}"
                       + (" · 已恢复" if s.get("cleared") or s.get("cleared_ts") else ""),
                       className="human" if s.get("channel") in HUMAN_CHANNELS else None)
               for s in inc.sources[1:]]
    related += [html.Li(f"关联事件 {x}") for x in inc.links]
    related += [html.Li(f"历史相似 {x['id']} · {x.get('title', '')} · {x.get('distance_m', 0):.0f} m · "
                        f"处置 {'、'.join(short_center(city, h) for h in x.get('handlers', []))}")
                for x in similar]
    if related:
        title = f"态势来源 ({len(inc.sources)}，地图上以橙色标出)" if is_situation(inc) else "关联上报 / 相关事件"
        parts += [html.H2(title), html.Ul(className="related", children=related)]
    parts.append(html.H2("处置时间线（审计）"))
    parts.append(html.Ol(className="timeline", id=Id.TIMELINE, children=[
        html.Li([html.Span(fmt(e["ts"], True), className="t"), trail_line(city, e)],
                className="sys" if is_system(e) else None)
        for e in trail]))
    return parts


def photo_block(photos: list[tuple[str, str]]) -> html.Div:
    """The case's photos, each captioned 上报照片, 处置后照片 (处置前后对比) or 截图取证, the report's
    first; a click enlarges one (assets/console/photos.js: an overlay, nothing fetched from
    outside)."""
    photos = sorted(photos, key=lambda p: p[1] == AFTER_PHOTO)
    return html.Div(className="photos", children=[
        html.Figure(className="photo " + ("after" if kind == AFTER_PHOTO else "before"), children=[
            html.Img(src=url, alt=kind, title="点击放大", className="zoomable"),
            html.Figcaption(kind)])
        for url, kind in photos])


def sensor_block(sens: list[dict]) -> html.Div:
    """Nearby sensors with a sparkline of their recent readings (``ConsoleData.sensors``)."""
    items = []
    for s in sens:
        label = f"{s['name']} · {s['distance_m']:.0f} m"
        if not s["ts"]:
            items.append(html.Div(f"{label} · 暂无读数"))
            continue
        vals = s["values"]
        fig = {"data": [{"type": "scatter", "mode": "lines", "x": [fmt(t) for t in s["ts"]], "y": vals,
                         "line": {"color": "#4fc3f7", "width": 1.5}}],
               "layout": {"margin": {"l": 30, "r": 4, "t": 2, "b": 14}, "height": 60,
                          "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                          "xaxis": {"visible": False},
                          "yaxis": {"tickfont": {"size": 9, "color": "#91a9c6"}, "nticks": 3,
                                    "gridcolor": "#1c3350"}}}
        last = next((v for v in reversed(vals) if v is not None), None)
        why = "告警指标 " if s.get("alarm") else ""
        items.append(html.Div([html.Div(f"{label} · {why}{s['metric']} {last}"),
                               dcc.Graph(figure=fig, config={"staticPlot": True}, className="spark")]))
    return html.Div(items)
