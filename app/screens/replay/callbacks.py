"""/replay callbacks. Every one asks who is calling (``require_role``) on the server; the window's
events are read and scoped on the server (``model.events_of``: the one policy) and kept in the
page's store; the replayed moment is the server's wall clock × the speed since playback began."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs

import redis
from dash import Dash, Input, Output, State, html, no_update
from dash import ctx as dash_ctx

from app.auth import require_role
from app.context import AppContext
from app.screens.replay import model
from app.screens.replay.ids import Id
from app.timefmt import fmt_cst
from incidents.roles import screen_roles
from layers import basemap, palette

log = logging.getLogger(__name__)

REPLAY_ROLES = tuple(sorted(screen_roles()["replay"]))
"""Who may open /replay (``incidents.roles``): the commander, city and town operators, the
supervisors (考核) and the wall."""
STATE_COLORS = {"reported": "#f87171", "accepted": "#fb923c", "registered": "#fbbf24",
                "dispatched": "#60a5fa", "in_progress": "#38bdf8", "handled": "#a78bfa",
                "verified": "#34d399"}


def viewer():  # noqa: ANN201
    return require_role(*REPLAY_ROLES)


def load_window(ctx: AppContext, viewer_actor, since: float, until: float) -> tuple[list, list[str]]:  # noqa: ANN001
    """The window's scoped events (record + live store) and notes for the operator."""
    parts, notes = [], []
    reader = getattr(ctx.incidents, "archive", None)
    query = getattr(reader, "query", None)
    if query is None:
        notes.append("档案库未启用：只回放实时库中的记录")
    else:
        rec = query(lambda conn, w: model.from_record(conn, *w), (since, until), None)
        if rec is None:
            notes.append("档案库暂不可达：只回放实时库中的记录")
        else:
            parts.append(rec)
    try:
        parts.append(model.from_live(ctx.redis, ctx.incidents.store.load_many, since, until))
    except redis.RedisError as e:
        log.warning("replay: live store unreachable: %s", e)
        notes.append("实时库暂不可达：只回放档案库中的记录")
    loaded = model.merge(parts)
    return model.events_of(loaded, viewer_actor, since, until), notes + loaded.notes


def _params(search: str | None) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}


def _now_t(play: dict, now: float) -> float:
    if play.get("paused_at") is not None:
        return float(play["paused_at"])
    return model.position(play["start"], play["until"], play["speed"], play["wall0"], now)


def map_figure(ctx: AppContext, fr: model.Frame) -> dict:
    inc, al = fr.incidents, fr.alarms
    data = [
        {"type": "scattermap", "meta": "incidents", "lon": [x["lon"] for x in inc],
         "lat": [x["lat"] for x in inc], "mode": "markers", "hoverinfo": "text",
         "text": [x["label"] for x in inc], "customdata": [x["id"] for x in inc],
         "marker": {"size": 11, "color": [STATE_COLORS.get(x["state"], palette.ACCENT) for x in inc]}},
        {"type": "scattermap", "meta": "alarms", "lon": [x["lon"] for x in al],
         "lat": [x["lat"] for x in al], "mode": "markers", "hoverinfo": "text",
         "text": [x["label"] for x in al], "customdata": [x["id"] for x in al],
         "marker": {"size": 16, "opacity": 0.8,
                    "color": [palette.LEVEL_COLORS.get(x["level"], "#ff8c1a") for x in al]}},
    ]
    layout = basemap.map_layout(_center(ctx), 9, basemap.map_style(), uirevision="replay")
    layout["hovermode"] = "closest"
    return {"data": data, "layout": layout}


def _center(ctx: AppContext) -> dict:
    c = ctx.__dict__.get("_replay_center")
    if c is None:
        p = ctx.city.towns.geometry.union_all().centroid
        c = ctx.__dict__["_replay_center"] = {"lon": float(p.x), "lat": float(p.y)}
    return c


def _feed_item(e: model.Event) -> html.Li:
    return html.Li(f"{fmt_cst(e.ts, '%H:%M:%S')} {e.label}", key=e.key, className=f"rp-{e.kind}",
                   **{"data-key": e.key, "data-kind": e.kind, "data-ref": e.ref})


def register_callbacks(app: Dash, ctx: AppContext) -> None:
    @app.callback(Output(Id.EVENTS, "data"), Output(Id.PLAY, "data"), Output(Id.MSG, "children"),
                  Output(Id.TICK, "disabled"), Output(Id.PAUSE, "children"),
                  Input(Id.LOAD, "n_clicks"), Input(Id.URL, "search"), Input(Id.SPEED, "value"),
                  Input(Id.PAUSE, "n_clicks"),
                  State(Id.LAST, "value"), State(Id.START, "value"), State(Id.END, "value"),
                  State(Id.PLAY, "data"))
    def control(_load, search, speed, _pause, last, start, end, play):  # noqa: ANN001, PLR0913
        who = viewer()
        trig = dash_ctx.triggered_id
        now = time.time()
        q = _params(search)
        if trig == Id.URL or trig is None:
            if q.get("play") != "1":
                return no_update, no_update, no_update, no_update, no_update
            last, start, end = q.get("last"), q.get("start"), q.get("end")
            speed = q.get("speed", speed)
        if trig in (Id.URL, Id.LOAD, None):
            try:
                speed = int(speed or 10)
                since, until = model.window(float(last or 0) or None, start, end, now)
                model.position(since, until, speed, now, now)        # checks the speed
            except ValueError as e:
                return no_update, no_update, str(e), True, no_update
            events, notes = load_window(ctx, who, since, until)
            begin = model.start_of(events, since, until)
            in_window = sum(1 for e in events if e.ts >= since)
            msg = "；".join([f"载入 {in_window} 条告警与事件动态"] + notes)
            play = {"since": since, "until": until, "start": begin, "speed": speed, "wall0": now,
                    "paused_at": None}
            return model.to_json(events), play, msg, False, "暂停"
        if not play:
            return no_update, no_update, "请先选择时段并载入", True, no_update
        t = _now_t(play, now)
        if trig == Id.SPEED:
            try:
                model.position(t, play["until"], int(speed), now, now)
            except (TypeError, ValueError) as e:
                return no_update, no_update, str(e), no_update, no_update
            paused = play.get("paused_at") is not None
            play = dict(play, start=t, wall0=now, speed=int(speed), paused_at=t if paused else None)
            return no_update, play, no_update, paused or t >= play["until"], no_update
        # 暂停 / 继续
        if play.get("paused_at") is None:
            return no_update, dict(play, paused_at=t), no_update, True, "继续"
        return no_update, dict(play, start=t, wall0=now, paused_at=None), no_update, False, "暂停"

    @app.callback(Output(Id.FEED, "children"), Output(Id.QUEUE, "children"), Output(Id.MAP, "figure"),
                  Output(Id.CLOCK, "children"), Output(Id.SIG, "data"),
                  Output(Id.TICK, "disabled", allow_duplicate=True),
                  Input(Id.TICK, "n_intervals"), Input(Id.PLAY, "data"),
                  State(Id.EVENTS, "data"), State(Id.SIG, "data"), prevent_initial_call=True)
    def tick(_n, play, events, sig):  # noqa: ANN001
        viewer()
        if not play:
            return no_update, no_update, no_update, no_update, no_update, no_update
        t = _now_t(play, time.time())
        evs = model.from_json(events)
        fr = model.frame(evs, play["since"], t)
        done = t >= play["until"]
        clock = fmt_cst(t, "回放时刻 %m-%d %H:%M:%S") + f" · {play['speed']}倍速" + (
            "（已结束）" if done else "（已暂停）" if play.get("paused_at") is not None else "")
        changed = sig != [fr.shown, play["since"]]
        feed = [_feed_item(e) for e in fr.feed] if changed else no_update
        queue = [html.Li(f"{fmt_cst(x['since'], '%H:%M')} {x['state_name']} · {x['label']}",
                         key=x["id"]) for x in fr.queue] if changed else no_update
        fig = map_figure(ctx, fr) if changed else no_update
        return feed, queue, fig, clock, [fr.shown, play["since"]], True if done else no_update
