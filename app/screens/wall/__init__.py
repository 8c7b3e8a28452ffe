"""/wall: the command-hall video wall (指挥大厅大屏, M1/M3), read-only, live, offline.

One Dash app on the shared Flask server, a package like a webviz-subsurface plugin (and like
``app/screens/console/``):

- ``ids``: the component ids (``Id``, a str enum: the DOM ids ``assets/wall/*.js`` and the
  browser tests name);
- ``data``: the Dash-free data model (``WallSources`` and its device index; active alarms, the
  KPIs, the situation in focus, the emergency state; the map's data and the live tick's delta);
- ``view``: the query string (``?theme=``, ``?town=``, ``?focus=``) and the map's view for the
  screen, Dash-free;
- ``layout``: the page (KPI tiles, the map, the ticker and charts, the theme and the banner);
- ``figures``: the charts and the map's placeholder (the map itself is ``layers.compose``);
- ``present``: the ticker's lines and the legend;
- ``callbacks``: ``register_callbacks(app, src, naive)``;
- ``response_theme``: 应急专题 (issue 16): the active response over the map (plan and level, area,
  the board's summary, committed resources, the situation's sources), Dash-free.

Live without reloads: a push (``assets/wall/live.js`` sets ``wall-push``) or the 30 s poll
(``wall-poll``) reads what came after the browser's stream cursor and returns a small delta that
``assets/wall/wall.js`` patches into the map (``callbacks``). Themes rotate on a timer or are pinned
with ``?theme=<code|名称>``; ``?town=<code|名称>`` focuses one town/street (raw points and cameras'
fields of view). Opened with ``/wall/?kiosk=<token>`` (app.auth). A bench or test passes its own
device frames as ``WallSources(ctx, devices=(sensors, cameras))``, never through the context.
"""

from __future__ import annotations

from collections.abc import Callable

from dash import Dash
from flask import Flask

from app.config import ASSETS_DIR, VIDEO_PLAYER_JS
from app.context import AppContext
from app.screens.wall.callbacks import register_callbacks
from app.screens.wall.data import (
    ALARM_REPLAY,
    DEVICE_KPI_IDLE_S,
    DEVICE_KPI_S,
    FOCUS_MIN_M,
    INCIDENT_KPI_S,
    SITUATION_MIN_SOURCES,
    TICKER_MAX,
    XREAD_COUNT,
    DeviceIndex,
    WallScope,
    WallSources,
    active_alarms,
    clean_cursor,
    department_cases,
    department_flags,
    device_index,
    device_kpis,
    emergency,
    focus_bounds,
    focus_situation,
    incident_kpis,
    last_id,
    map_data,
    new_incidents_per_hour,
    on_time_rate,
    open_incidents,
    readable_ids,
    tick,
    wall_scope,
)
from app.screens.wall.figures import category_figure, placeholder_figure, trend_figure
from app.screens.wall.ids import Id
from app.screens.wall.layout import CHART_S, KPI_TILES, TICK_MS
from app.screens.wall.layout import layout as page
from app.screens.wall.present import initial_ticker, legend_children, ticker_line
from app.screens.wall.view import (
    MAP_H,
    MAP_W,
    ROTATE_S,
    focus_from,
    theme_from,
    town_code_from,
    view_for,
)
from incidents.actor import Actor

__all__ = ["ALARM_REPLAY", "CHART_S", "DEVICE_KPI_IDLE_S", "DEVICE_KPI_S", "FOCUS_MIN_M",
           "INCIDENT_KPI_S", "KPI_TILES", "MAP_H", "MAP_W", "ROTATE_S", "SITUATION_MIN_SOURCES",
           "TICKER_MAX", "TICK_MS", "XREAD_COUNT", "DeviceIndex", "Id", "WallSources",
           "active_alarms", "build_app", "category_figure", "department_cases",
           "department_flags", "device_index", "device_kpis",
           "emergency", "focus_bounds", "focus_from", "focus_situation", "incident_kpis",
           "initial_ticker", "last_id", "legend_children", "map_data", "mount",
           "new_incidents_per_hour", "on_time_rate", "open_incidents", "placeholder_figure",
           "register_callbacks", "theme_from", "tick", "ticker_line", "town_code_from",
           "trend_figure", "view_for", "WallScope", "clean_cursor", "readable_ids", "wall_actor",
           "wall_scope"]


def build_app(server: Flask, src: WallSources, url_base: str = "/wall/", naive: bool = False,
              name: str = "wall", who: Callable[[], Actor | None] = lambda: None) -> Dash:
    """The wall's Dash app reading ``src``. ``naive=True`` is the bench's baseline: raw points,
    whole figure per tick (never used by the product). ``who``: the caller of a callback
    (``wall_actor`` in the product); without it, a bare wall of the whole city (bench, tests
    that serve the wall without the login gate)."""
    app = Dash(name, server=server, url_base_pathname=url_base,
               assets_folder=str(ASSETS_DIR / "wall"), title="一网统管 · 城市运行一张图",
               update_title=None, serve_locally=True, compress=False,
               external_scripts=[VIDEO_PLAYER_JS])
    app.layout = page
    # fetch plotly.js (4.8 MB) alongside Dash's own bundles instead of after the layout arrives
    app.index_string = app.index_string.replace(
        "{%css%}", f'{{%css%}}<link rel="preload" as="script" href="{url_base}'
        '_dash-component-suites/plotly/package_data/plotly.min.js">')
    register_callbacks(app, src, naive, who)
    return app


def wall_actor() -> Actor:
    """The caller of a wall callback, if its role may open the wall (``ROLE_TABLE``'s wall
    rows; the login gate refused the others first: belt and braces, issue 19)."""
    from app.auth import deny, may_open, require_actor  # noqa: PLC0415 (auth installs first)

    actor = require_actor()
    if not may_open(actor, "wall"):
        deny(f"role {actor.role} may not open the wall", "wall")
    return actor


def mount(server: Flask, ctx: AppContext) -> None:
    """Mount /wall/ on the OneMap server (app.server.create_server): every callback asks
    ``wall_actor`` and shows the caller's scope (``data.wall_scope``)."""
    build_app(server, WallSources(ctx), who=wall_actor)
