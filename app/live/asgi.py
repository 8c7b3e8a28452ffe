"""The web process as one ASGI app: ``/events`` (server-sent events, asyncio) beside the Flask
WSGI app (every screen, the API) on the same port, served by uvicorn.

Why not waitress alone: a streaming response holds one of waitress's fixed pool of threads for
its whole life, so 360 open screens would need 360 threads, each with a Redis connection. Here
an open stream costs a coroutine and a socket; the hub (``app.live.hub``) is the process's only
Redis reader of the change streams. The Flask app runs in a fixed pool of ``threads`` worker
threads (a2wsgi), as under waitress (ONEMAP_WEB_THREADS).

``GET /events?screen=console|wall|m``: the caller's session cookie (401 without a valid one), a
screen its role may open (403, audited), then ``text/event-stream``:

- ``hello``: the stream is live (``id``: the feed cursor, so a reconnect asks from there);
- ``change``: ``{"f": feed id, "ids": [incident ids this caller may read], "a": alarm id
  (wall), "more": true (something else changed: re-read)}``; ``id``: ``<feed>[~<alarm>]``;
- a comment every ``PING_S`` (keeps proxies and the browser's connection alive).

A reconnecting browser sends ``Last-Event-ID``; what it missed in its scope is sent first.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from a2wsgi import WSGIMiddleware
from flask import Flask
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app import security
from app.auth import may_open
from app.live.hub import Hub, Notice, event_id
from app.live.session import actor_from_cookie

if TYPE_CHECKING:
    from app.context import AppContext

EVENTS_PATH = "/events"
SCREENS = ("console", "wall", "m")
PING_S = 15            # keep-alive comment period (s)
RECHECK_S = 60         # the session is checked again this often (logout, disabled, idle)
RETRY_MS = 3000        # the browser's reconnect delay after a drop
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no",
                  "X-Content-Type-Options": "nosniff"}


def _event(kind: str, notice: Notice) -> dict:
    return {"event": kind, "id": event_id(notice), "retry": RETRY_MS,
            "data": json.dumps(notice.payload(), separators=(",", ":"))}


def events_app(server: Flask, ctx: AppContext, hub: Hub) -> Starlette:
    """The Starlette app of ``/events`` whose lifespan runs ``hub``."""
    cookie_name = server.config.get("SESSION_COOKIE_NAME", "session")

    def refuse(actor, screen: str, path: str) -> None:  # noqa: ANN001
        security.audit(ctx.redis, "denied", user=actor.user_id, role=actor.role,
                       center=actor.center, path=path, reason=f"stream of /{screen}/")
        security.count(ctx.redis, "denied")

    async def events(request: Request):  # noqa: ANN202
        screen = request.query_params.get("screen", "console")
        if screen not in SCREENS:
            return JSONResponse({"error": "bad_request", "reason": "unknown screen"}, 400)
        cookie = request.cookies.get(cookie_name)
        actor = await asyncio.to_thread(actor_from_cookie, server, cookie)
        if actor is None:
            return JSONResponse({"error": "login_required"}, 401, headers=STREAM_HEADERS)
        if not may_open(actor, screen):
            await asyncio.to_thread(refuse, actor, screen, request.url.path)
            return JSONResponse({"error": "forbidden"}, 403, headers=STREAM_HEADERS)
        client = hub.subscribe(actor, screen)
        last = request.headers.get("last-event-id", "")

        async def stream():  # noqa: ANN202
            try:
                if last:
                    missed = await hub.since(actor, client.wants_alarms, last)
                    if missed is not None:
                        yield _event("change", missed)
                yield _event("hello", Notice(hub.cursor_feed(), hub.cursor_alarms()
                                             if client.wants_alarms else ""))
                recheck = time.monotonic() + RECHECK_S
                while True:
                    notice = await client.next(timeout=PING_S)
                    if hub.closing:
                        return                                  # the server is stopping
                    if notice is not None:
                        yield _event("change", notice)
                        await asyncio.sleep(client.gap_s)      # pace: coalesce what follows
                    if time.monotonic() > recheck:
                        recheck = time.monotonic() + RECHECK_S
                        if await asyncio.to_thread(actor_from_cookie, server, cookie) != actor:
                            return                              # logged out, disabled, idle
            finally:
                hub.unsubscribe(client)

        return EventSourceResponse(stream(), ping=PING_S, headers=STREAM_HEADERS, send_timeout=30)

    @asynccontextmanager
    async def lifespan(_app):  # noqa: ANN001, ANN202
        hub.start()
        try:
            yield
        finally:
            await hub.stop()

    return Starlette(routes=[Route(EVENTS_PATH, events)], lifespan=lifespan)


class LiveApp:
    """The process's ASGI app: ``/events`` and the lifespan to the stream app, everything else
    to the Flask app in its thread pool."""

    def __init__(self, server: Flask, ctx: AppContext, threads: int) -> None:
        self.hub = Hub(ctx.redis_url, ctx.incidents.store.load_many)
        self.events = events_app(server, ctx, self.hub)
        self.wsgi = WSGIMiddleware(server, workers=threads)

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "lifespan" or scope.get("path") == EVENTS_PATH:
            await self.events(scope, receive, send)
        else:
            await self.wsgi(scope, receive, send)
