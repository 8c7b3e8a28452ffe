"""/ops: the administrators' screen (运维监控; issues 6 and 21), a package like the console:

- ``ids``: component ids; ``model``: the Dash-free data (health snapshot, backlog per center by
  name, dead letters with replay / 已处理 / export, accounts, the security audit);
- ``layout``: tabs 运行状态 · 积压 · 死信 · 账号 · 安全审计; ``callbacks``: every one checks the
  caller on the server; changes need the ``administers`` capability and are audited.
"""

from __future__ import annotations

import contextlib
import threading
import time

import redis
from dash import Dash
from flask import Flask

from app import heartbeat
from app.auth import current_actor
from app.config import ASSETS_DIR
from app.context import AppContext
from app.screens.ops.callbacks import ADMIN_ROLES, register_callbacks
from app.screens.ops.layout import layout, render
from app.screens.ops.model import OPS_ROLES, backlog, broker_health, queues, snapshot

__all__ = ["ADMIN_ROLES", "OPS_ROLES", "backlog", "broker_health", "mount", "queues", "render",
           "snapshot"]


def install_web_heartbeat(server: Flask, ctx: AppContext) -> None:
    """The web process beats as it serves requests (at most every BEAT_EVERY_S), with its
    request counter, so /ops shows each web worker and its request rate. An idle web worker
    goes stale, which the page shows as 失联 (no traffic or down)."""
    state = {"last": 0.0, "requests": 0}   # per process on purpose: it describes this process
    lock = threading.Lock()

    @server.before_request
    def _web_beat() -> None:
        with lock:
            state["requests"] += 1
            now = time.monotonic()
            if now - state["last"] < heartbeat.BEAT_EVERY_S:
                return
            state["last"] = now
            n = state["requests"]
        with contextlib.suppress(redis.RedisError):   # the page itself reports Redis down
            heartbeat.beat(ctx.redis, "web", None, {"requests": n})


def mount(server: Flask, ctx: AppContext) -> Dash:
    """The /ops/ Dash app on the shared Flask server (and the web process's heartbeat)."""
    install_web_heartbeat(server, ctx)
    app = Dash("onemap_ops", server=server, url_base_pathname="/ops/",
               assets_folder=str(ASSETS_DIR / "ops"), title="运维 · OneMap", update_title=None,
               serve_locally=True)

    def page() -> object:   # per request: an administrator gets the buttons that change things
        actor = current_actor()
        return layout(admin=actor is not None and actor.role in ADMIN_ROLES,
                      role=actor.role if actor else None)

    app.layout = page
    register_callbacks(app, server, ctx)
    return app
