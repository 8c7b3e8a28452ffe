"""/replay: 复盘 (after-action review, E18, M37–M39; issue 20), a package like the console:

- ``model``: the Dash-free replay (events of a window from the record and the live store, scoped
  by the one policy; the scene at a replayed moment; 1×/10×/60×);
- ``layout``: window, speed, 载入并播放 / 暂停, the map, the feed, the queue;
- ``callbacks``: every one checks the caller on the server.

Read-only, so the wall may show it: ``/replay/?last=3600&speed=10&play=1`` (the wall's kiosk
session, after ``/wall/?kiosk=…``, opens it as the 大屏 role).
"""

from __future__ import annotations

from dash import Dash
from flask import Flask, has_request_context, request

from app.config import ASSETS_DIR
from app.context import AppContext
from app.screens.nav import nav_bar
from app.screens.replay.callbacks import REPLAY_ROLES, register_callbacks
from app.screens.replay.layout import layout

__all__ = ["REPLAY_ROLES", "mount"]


def mount(server: Flask, ctx: AppContext) -> Dash:
    """The /replay/ Dash app on the shared Flask server."""
    app = Dash("onemap_replay", server=server, url_base_pathname="/replay/",
               assets_folder=str(ASSETS_DIR / "replay"), title="复盘回放 · OneMap",
               update_title=None, serve_locally=True)

    def page() -> object:   # per request: ?speed= sets the speed shown
        try:
            speed = int(request.args.get("speed", 10)) if has_request_context() else 10
        except ValueError:
            speed = 10
        from app.auth import current_actor  # noqa: PLC0415

        actor = current_actor() if has_request_context() else None
        return layout(speed, nav_bar(actor.role if actor else None, "replay"))

    app.layout = page
    register_callbacks(app, ctx)
    return app
