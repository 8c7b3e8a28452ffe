"""The wall's component ids, once (webviz-subsurface's ``LayoutElements`` idea).

A member *is* its DOM id string (``Id.MAP == "wall-map"``): the layout, the callbacks,
``assets/wall/wall.js``, ``assets/wall/live.js``, ``assets/wall/wall.css`` and the browser tests all
name the same element, and a typo is an AttributeError at import instead of a callback that never
fires. Every id starts with ``wall-`` (one Flask server carries every screen's Dash app).
"""

from __future__ import annotations

from enum import StrEnum


class Id(StrEnum):
    """Every fixed id the wall's layout and callbacks use (the DOM ids are these strings)."""

    # stores
    URL = "wall-url"                 # the page's query string (?theme, ?town, ?focus, ?kiosk)
    SCREEN = "wall-screen"           # the screen and map box as measured in the browser
    CURSOR = "wall-cursor"           # the last stream ids seen, KPI timers, what the map shows
    DELTA = "wall-delta"             # one tick's delta, patched into the map by wall.js
    KPI = "wall-kpi"                 # the KPI numbers (tiles are filled in the browser)
    DEPT = "wall-dept"               # the cases in a department's hands at a render (部门 tile;
                                     # never sent back with a tick, unlike the KPI store)
    THEME = "wall-theme"             # the theme on show and the figure's trace indices
    READY = "wall-ready"             # set by wall.js at the first paint: the charts may load
    PUSH = "wall-push"               # set by assets/wall/live.js: read what changed (one at a time)
    DONE = "wall-done"               # the live tick's echo of that push: its result is applied
    # timers
    TICK = "wall-tick"               # the clock and highlights (browser only)
    POLL = "wall-poll"               # the safety-net poll (app.live.FALLBACK_POLL_MS)
    ROTATE = "wall-rotate"           # theme rotation (轮播)
    SLOW = "wall-slow"               # the charts' refresh
    # header
    CITY = "wall-city"
    THEME_NAME = "wall-theme-name"
    THEME_BLURB = "wall-theme-blurb"
    CLOCK = "wall-clock"
    EMERGENCY = "wall-emergency"     # the 应急模式 banner
    RESPONSE = "wall-response"       # 应急专题: the active response over the map (issue 16)
    RESPONSE_SIG = "wall-response-sig"  # what the 应急专题 shows (unchanged: nothing resent)
    # body
    KPIS = "wall-kpis"
    MAPBOX = "wall-mapbox"
    MAP = "wall-map"
    LABELS = "wall-labels"           # town names drawn over the map by wall.js
    ATTRIBUTION = "wall-attribution"
    LEGEND = "wall-legend"
    TICKER = "wall-ticker"
    TREND = "wall-trend"
    TREND_NOTE = "wall-trend-note"   # over the chart: 正在统计… / its empty state, in rem
    CATS = "wall-cats"
    CATS_NOTE = "wall-cats-note"
    # the video area (issue 23; app.screens.wall.video, assets/wall/video.js)
    VIDEO = "wall-video"             # the tiles over the map's top-right corner (drawn by video.js)
    VIDEO_DATA = "wall-video-data"   # what it shows: {on, title, case, tiles, n}
    VIDEO_SIG = "wall-video-sig"     # video.js's echo (a clientside callback needs an output)
    VIDEO_POLL = "wall-video-poll"   # its re-read (video.POLL_MS)
    TARGETS = "wall-targets"         # 指标与目标: each KPI beside its target (kpi_targets.py)


def kpi_value(cell: str) -> str:
    """The id of one KPI number (``wall-kpi-<cell>``, e.g. ``wall-kpi-tier_city``)."""
    return f"wall-kpi-{cell}"


def kpi_tile(key: str) -> str:
    """The id of one KPI tile (``wall-tile-<kpi key>``, layers.themes.KPI_KEYS)."""
    return f"wall-tile-{key}"
