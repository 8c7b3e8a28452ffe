"""The wall's callbacks (webviz's ``_callbacks.py``): ``register_callbacks(app, src, naive)``
wires the layout to what the wall reads (``data.WallSources``).

Live without reloads (docs/architecture.md "Live screens"): the browser keeps the last stream ids
it has seen in ``wall-cursor``; a push (``assets/wall/live.js`` sets ``wall-push``) or the 30 s
safety-net poll (``wall-poll``) XREADs ``om:alarms`` and ``om:inc:feed`` after them and returns
only a small delta (or nothing: HTTP 204). A clientside function (``assets/wall/wall.js``) turns
the delta into a ``Patch`` of the map figure by id, so the figure is never resent on a tick. The
page is built once per theme; themes rotate on a timer or are pinned with ``?theme=``.

One tick in flight (issue 21): Dash drops an executing callback's result when the same callback
is triggered again, so ticks slower than their period (a loaded server, a burst of pushes) would
never apply one and the wall would freeze. live.js therefore owns the ticking: it sets
``wall-push`` only once the previous tick's echo in ``wall-done`` has been applied (every tick,
an idle one too, answers it), and a slow server slows the wall down instead of starving it.

Every server callback first asks ``who()`` (the product's gate: the caller, refused unless its
role may open the wall) and reads through ``data.wall_scope``: the whole city for the hall's
roles, the caller's own map for the others (issue 19). A crafted cursor or screen is checked
(``clean_cursor``, ``view_for``): nothing read, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable

from dash import ClientsideFunction, Dash, Input, Output, Patch, State, no_update
from dash.exceptions import PreventUpdate

from app.screens.wall import kpi_targets
from app.screens.wall import response_theme as wall_emergency
from app.screens.wall.data import (
    TICKER_MAX,
    WallSources,
    clean_cursor,
    device_kpis,
    emergency,
    emergency_area,
    focus_bounds,
    incident_kpis,
    kpi_center,
    map_data,
    open_incidents,
    scoped_incidents,
    tick,
    town_incidents,
    wall_scope,
)
from app.screens.wall.figures import category_figure, chart_font, trend_figure
from app.screens.wall.ids import Id, kpi_tile, kpi_value
from app.screens.wall.layout import kpi_cells
from app.screens.wall.moves import register_moves, trace_indices
from app.screens.wall.present import attribution as wall_attribution
from app.screens.wall.present import initial_ticker, legend_children, ticker_line
from app.screens.wall.video import register_video
from app.screens.wall.view import focus_from, screen_px, theme_from, town_code_from, view_for
from incidents.actor import Actor
from layers import compose, emergency_areas
from layers.themes import KPI_KEYS, THEMES


def _responses() -> tuple:
    """The app's ``Responses`` (one per server: ``app.http.emergency_plans``) as a 1-tuple, or
    ``(None,)`` on a server without the OneMap context (a bench's bare wall)."""
    from flask import current_app  # noqa: PLC0415

    if "onemap" not in current_app.extensions:
        return (None,)
    from app.http.emergency_plans import responses  # noqa: PLC0415

    return (responses(),)


def city_title(ctx, town: str | None) -> str:  # noqa: ANN001 (AppContext)
    """The header's name: the city's center, or on a town's screen the town (its figures)."""
    if town:
        return f"{ctx.city.name} · {ctx.city.town_names.get(town, town)}"
    return f"{ctx.city.name}城市运行管理中心"


def register_callbacks(app: Dash, src: WallSources, naive: bool = False,
                       who: Callable[[], Actor | None] = lambda: None) -> None:
    """The wall's callbacks on ``app``, reading ``src``. ``naive=True`` is the bench's baseline:
    raw points, whole figure per tick (never used by the product). ``who``: the caller (aborts
    when it may not open the wall); the default, no gate, is a bare wall of the whole city."""
    ctx = src.ctx

    def scope():  # noqa: ANN202 (WallScope | None)
        return wall_scope(src, who())

    app.clientside_callback(ClientsideFunction("wall", "screen"), Output(Id.SCREEN, "data"),
                            Input(Id.URL, "search"))
    app.clientside_callback(ClientsideFunction("wall", "clock"), Output(Id.CLOCK, "children"),
                            Input(Id.TICK, "n_intervals"))

    @app.callback(Output(Id.ROTATE, "disabled"), Input(Id.URL, "search"))
    def pin(search):  # noqa: ANN001, ANN202
        who()
        return theme_from(search, 0)[1]

    @app.callback(
        Output(Id.MAP, "figure"), Output(Id.LEGEND, "children"),
        Output(Id.THEME_NAME, "children"), Output(Id.THEME_BLURB, "children"),
        Output(Id.THEME, "data"), Output(Id.CURSOR, "data"),
        Output(Id.KPI, "data"), Output(Id.DEPT, "data"), Output(Id.TICKER, "children"),
        Output(Id.CITY, "children"), Output(Id.ATTRIBUTION, "children"),
        *[Output(kpi_tile(k), "className") for k in KPI_KEYS],
        Input(Id.SCREEN, "data"), Input(Id.ROTATE, "n_intervals"),
        State(Id.URL, "search"))
    def render(screen, n_rotate, search):  # noqa: ANN001, ANN202
        sc = scope()
        code, _ = theme_from(search, n_rotate)
        theme = THEMES[code]
        town = town_code_from(ctx, search)
        data, cursor = map_data(src, sc, town)
        focus = focus_bounds(data.situation, data.emergency) if focus_from(search) else None
        view = view_for(ctx, screen, town, focus)
        view.force_raw = naive
        mf = compose.compose(data, theme, view)
        cursor["hx"] = "hex_devices" in mf.layers
        cursor["hres"] = compose.hex_res(view)
        cursor["theme"] = code
        kpi = {**incident_kpis(ctx, data.incidents, center=kpi_center(sc, town)),
               **device_kpis(ctx.redis, src.index, town)}
        # which cases a department has (部门): for the browser's count, kept out of the KPI
        # store (which every live tick sends back)
        dept = {"ids": kpi.pop("dept_ids", []), "rev": kpi.pop("dept_rev", 0)}
        tiles = ["kpi-tile" if k in theme.kpis else "kpi-tile hidden" for k in KPI_KEYS]
        attribution = wall_attribution(ctx.city, ctx.settings.tile_url)
        return (mf.figure, legend_children(mf.legends), theme.name, theme.blurb,
                {"code": code, "layers": mf.layers, "naive": naive, "screen": screen,
                 "em_trace": mf.index.get(emergency_areas.KEY),
                 "mv_trace": trace_indices(mf.index),
                 "tile_crs": view.tile_crs, "town": town},
                cursor, kpi, dept, initial_ticker(ctx, sc, town), city_title(ctx, town),
                attribution, *tiles)

    @app.callback(
        Output(Id.DELTA, "data"), Output(Id.CURSOR, "data", allow_duplicate=True),
        Output(Id.KPI, "data", allow_duplicate=True),
        Output(Id.TICKER, "children", allow_duplicate=True),
        Output(Id.EMERGENCY, "children"), Output(Id.EMERGENCY, "className"),
        Output(Id.MAP, "figure", allow_duplicate=True), Output(Id.DONE, "data"),
        Input(Id.PUSH, "data"), Input(Id.POLL, "n_intervals"), State(Id.CURSOR, "data"),
        State(Id.THEME, "data"), State(Id.KPI, "data"),
        prevent_initial_call=True)
    def live(pushed, _n, cursor, theme, kpi_prev):  # noqa: ANN001, ANN202
        """One tick; ``wall-done`` echoes ``pushed`` on every answer (live.js's gate, above)."""
        sc = scope()
        done = str(pushed)[:64]
        idle = (no_update,) * 7
        cursor = clean_cursor(cursor)
        if not cursor:
            return (*idle, done)
        em = emergency(ctx)
        em_sig = "1" + em["note"] if em["on"] else "0"
        em_out = (no_update, no_update)
        if cursor.get("em") != em_sig:
            em_out = ((f"应急模式 · {em['note']}" if em["on"] else ""),
                      "wall-emergency on" if em["on"] else "wall-emergency off")
        out = tick(src, cursor, cursor["theme"], bool(cursor.get("hx")), cursor["hres"], sc)
        if out is None:
            if em_out[0] is no_update:
                return (*idle, done)           # an idle tick: only the echo
            return (no_update, {**cursor, "em": em_sig}, no_update, no_update, *em_out, no_update,
                    done)
        out["cursor"]["em"] = em_sig
        kpi_prev = kpi_prev if isinstance(kpi_prev, dict) else {}
        kpi = {**kpi_prev, **out["kpi"]} if out["kpi"] else no_update
        lines = Patch()
        shown = int(cursor.get("n") or 0)
        for t in out["ticker"]:
            lines.prepend(ticker_line(t, True))
        total = shown + len(out["ticker"])
        for _ in range(max(0, total - TICKER_MAX)):
            del lines[-1]
        out["cursor"]["n"] = min(total, TICKER_MAX)
        fig = no_update
        if naive and (out["delta"]["alarms"] or out["delta"]["incidents"]):
            # baseline: rebuild and resend the whole figure on every tick with events
            theme = theme if isinstance(theme, dict) else {}
            view = view_for(ctx, theme.get("screen"))
            view.force_raw = True
            data, _ = map_data(src, sc)
            fig = compose.compose(data, THEMES.get(theme.get("code"), THEMES["overview"]),
                                  view).figure
            return (no_update, out["cursor"], kpi, lines, *em_out, fig, done)
        return (out["delta"], out["cursor"], kpi, lines, *em_out, fig, done)

    # the tick's result is applied (its outputs land together): live.js may send the next
    app.clientside_callback(
        "function (d) { var l = window.__omLive; if (l && l.done) { l.done(d); } }",
        Input(Id.DONE, "data"), prevent_initial_call=True)

    @app.callback(Output(Id.MAP, "figure", allow_duplicate=True),
                  Input(Id.EMERGENCY, "className"), State(Id.THEME, "data"),
                  prevent_initial_call=True)
    def emergency_area_trace(_cls, theme):  # noqa: ANN001, ANN202
        """The commander switched 应急模式: fill (or empty) the area trace of the figure on show,
        found by index (``layers.emergency_areas``), without rebuilding the map."""
        who()
        i = theme.get("em_trace") if isinstance(theme, dict) else None
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < 1000:
            raise PreventUpdate
        lon, lat = emergency_areas.trace_coords(emergency_area(ctx),
                                                str(theme.get("tile_crs") or "wgs84"))
        fig = Patch()
        fig["data"][i]["lon"] = lon
        fig["data"][i]["lat"] = lat
        return fig

    register_moves(app, ctx, who, _responses)      # 调派力量 moving on the map (issue 16)
    register_video(app, src, who)                  # 现场视频 tiles (issue 23)
    kpi_targets.register(app, src, who)            # 指标与目标 (issue 24)

    @app.callback(Output(Id.RESPONSE, "children"), Output(Id.RESPONSE, "className"),
                  Output(Id.RESPONSE_SIG, "data"),
                  Input(Id.PUSH, "data"), Input(Id.POLL, "n_intervals"), Input(Id.SLOW, "n_intervals"),
                  Input(Id.URL, "search"), State(Id.RESPONSE_SIG, "data"))
    def response_theme(_pushed, _n, _slow, _search, shown):  # noqa: ANN001, ANN202
        """应急专题 (issue 16): the active response over the map, re-read on a push or a poll and
        resent only when it changed (``wall_emergency.signature``)."""
        actor = who()
        s = wall_emergency.summary(*_responses(), ctx.incidents, ctx.city, actor)
        sig = wall_emergency.signature(s)
        if sig == shown:
            raise PreventUpdate
        if s is None:
            return [], "wall-response off", sig
        return wall_emergency.children(s), "wall-response on", sig

    app.clientside_callback(
        ClientsideFunction("wall", "apply"),
        Output(Id.MAP, "figure", allow_duplicate=True),
        Input(Id.DELTA, "data"), Input(Id.TICK, "n_intervals"), State(Id.MAP, "figure"),
        prevent_initial_call=True)

    app.clientside_callback(
        ClientsideFunction("wall", "kpis"),
        [Output(kpi_value(cid), "children") for cid in kpi_cells()],
        Input(Id.KPI, "data"), Input(Id.MAP, "figure"), State(Id.DEPT, "data"))

    @app.callback(Output(Id.TREND, "figure"), Output(Id.CATS, "figure"),
                  Output(Id.TREND_NOTE, "children"), Output(Id.CATS_NOTE, "children"),
                  Input(Id.SLOW, "n_intervals"), Input(Id.READY, "data"),
                  Input(Id.THEME, "data"))
    def charts(_n, ready, theme):  # noqa: ANN001, ANN202
        """The two charts, once the map has painted (they would compete with its first paint;
        until then each panel says 正在统计…); a chart with nothing to draw says so."""
        sc = scope()
        if not isinstance(theme, dict) or not ready:
            raise PreventUpdate
        screen = theme.get("screen") if isinstance(theme.get("screen"), dict) else {}
        font = chart_font(screen_px(screen.get("h"), 1080))
        t = THEMES.get(theme.get("code"), THEMES["overview"])
        trend, trend_note = trend_figure(ctx.redis, font=font)
        cats, cats_note = category_figure(
            town_incidents(scoped_incidents(ctx, open_incidents(ctx), sc), theme.get("town")),
            t.categories, font=font)
        return trend, cats, trend_note, cats_note
