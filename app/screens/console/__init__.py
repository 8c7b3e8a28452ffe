"""/console: the sub-center console (分中心工作台) of city, town and department operators.

One Dash app on the shared Flask server, a package like a webviz-subsurface plugin:

- ``ids``: the component ids (``Id``, a str enum: the DOM ids);
- ``model``: the Dash-free data model (``ConsoleData``: queue rows, the panel's controls from the
  policy's offers, cameras, sensors; queue order, state names, action bodies);
- ``layout``: the page (map and forms, queue, incident panel with its action buttons);
- ``figures``: the scoped map (territory, pick grid, live traces from ``layers.trace``);
- ``present``: the incident panel's details (photos, cameras, sensors, related, timeline E32);
- ``callbacks``: ``register_callbacks(app, data)``.

Everything it shows comes from the incident service with the caller's Actor, so scope (S1/S2)
is enforced on the server in every callback: a case outside the caller's scope answers 403 (and
an audit entry), never data. What the panel offers for a case (buttons, labels, inputs, choices)
is the policy's answer (``IncidentService.available_actions``), the same as the API's and the
phone's (issue 14). The queue refreshes when a change in its scope is pushed (``/events``,
``app.live``; only the cases named are re-read and merged in), with a 30 s safety-net poll of
``om:inc:feed`` (every 400 ms where the server has no push); keyboard: Alt+letter per action; new incidents by hand (12345 / walk-in); 上情下达 tasks;
emergency mode for the city commander with a banner on every console in its area;
- ``emergency``: 应急响应 (issue 16): the suggested plan level for the selected case/situation
  and its 启动响应, the response board, level changes, 终止响应 and one-click dispatch, for the
  roles the policy lets command a response (``Policy.check_response``).
"""

from __future__ import annotations

from dash import Dash
from flask import Flask

from app.config import ASSETS_DIR, VIDEO_PLAYER_JS
from app.screens.console.callbacks import console_actor, refusal, register_callbacks
from app.screens.console.layout import layout
from app.screens.console.model import (
    BUTTONS,
    CONSOLE_ROLES,
    NO_SELECTION,
    ConsoleData,
    circle_area,
    emergency_banner,
    intake_message,
    queue_order,
    state_name,
)
from app.screens.console.present import incident_panel

__all__ = ["BUTTONS", "CONSOLE_ROLES", "NO_SELECTION", "ConsoleData", "circle_area",
           "console_actor", "emergency_banner", "incident_panel", "intake_message", "mount",
           "queue_order", "refusal", "state_name"]


def mount(server: Flask, ctx) -> Dash:  # noqa: ANN001 (AppContext)
    """Mount /console/ on the shared server."""
    app = Dash("onemap_console", server=server, url_base_pathname="/console/",
               assets_folder=str(ASSETS_DIR / "console"), title="分中心工作台 · OneMap",
               update_title=None, suppress_callback_exceptions=True,
               external_scripts=[VIDEO_PLAYER_JS],
               # the dropdowns' code with the page, not fetched after it: 类别 / 地点 / 区域
               # have their options at first paint (issue 21: empty for seconds before)
               eager_loading=True)
    data = ConsoleData(ctx)
    app.layout = layout(data)
    register_callbacks(app, data)
    from app.cti import register_console  # noqa: PLC0415 (12345 screen pop ?call=<id>, issue 24)

    register_console(app, data)
    from app.screens.console import collect  # noqa: PLC0415 (信息采集审核 page, issue 24)

    collect.mount(server, ctx)
    return app
