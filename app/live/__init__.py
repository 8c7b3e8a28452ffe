"""Live screens by push (issue 15, "Live under load").

- ``hub``: one Redis reader per web process (XREAD BLOCK on ``om:inc:feed`` and ``om:alarms``)
  fanning changes out to every open screen, each told only the case ids its Actor may read;
- ``asgi``: ``GET /events`` (server-sent events) beside the Flask app on the same port;
- ``session``: the Flask session cookie verified outside Flask;
- ``logs``: access lines of the stream and Dash's endpoints quieted, errors kept;
- ``serve``: uvicorn, in the main thread (``onemap web``) or a thread (the demo, tests).

The browser side: ``assets/console/live.js``, ``assets/wall/live.js``, ``assets/mobile/live.js``
open an ``EventSource`` and make the screen re-read only when told something changed for it; a
slow poll stays as the safety net. A WSGI-only server (tests' werkzeug, a dev server) answers
``/events`` with 204 (``app.http.stream``): the screens then poll as before.
"""

FALLBACK_POLL_MS = 30_000
"""A pushed screen's safety-net poll (ms): catches what a dropped stream missed."""
