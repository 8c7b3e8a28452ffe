"""我的通知 on the console (issue 17; T25 联得通、呼得应, X1/X3 值班值守, X34a): a new *priority*
notification for the operator on watch (the notifier's in-app inbox, ``app.channels.inbox``)
pops up as a toast with a short beep (Web Audio, no sound file: works offline), the browser's
Notification where the operator allowed it, and a 知道了 button that acknowledges it
(``POST /api/notifications/ack`` → ``Outbox.acknowledge``: the escalation chain stops).

The page side is ``assets/console/inbox.js`` (loaded by Dash from the console's assets); it
polls ``GET /console/inbox`` (this module; the gate lets only console roles reach /console/*),
which answers the caller's own unacknowledged priority notifications, newest first. Kept apart
from the Dash callbacks on purpose: the toast lives outside the React tree, so a re-render of
the console never swallows an alarm that nobody has acknowledged yet.
"""

from __future__ import annotations

import redis
from dash import Dash
from flask import jsonify

from app.channels import inbox
from incidents.notify import Outbox

SHOWN = 5
"""At most this many toasts at once (older unacknowledged ones wait their turn)."""
SCANNED = 50
"""How many of the newest inbox entries are looked at (the inbox keeps 500)."""


def pending(r: redis.Redis, user_id: str, limit: int = SHOWN) -> list[dict]:
    """The user's priority notifications nobody has acknowledged yet, newest first; one per
    chain (a chain's escalation steps are one alarm)."""
    outbox = Outbox(r)
    out: list[dict] = []
    seen: set[str] = set()
    for it in inbox(r, user_id, count=SCANNED):
        chain = str(it.get("chain") or "")
        if not it.get("priority") or not chain or chain in seen:
            continue
        seen.add(chain)
        if outbox.chain(chain).get("acked_by"):
            continue
        out.append({"chain": chain, "entry": it.get("entry", ""), "subject": it.get("subject", ""),
                    "body": it.get("body", ""), "created_ts": it.get("created_ts"),
                    "id": (it.get("params") or {}).get("id", "")})
        if len(out) >= limit:
            break
    return out


def register_inbox(app: Dash, data) -> None:  # noqa: ANN001 (ConsoleData)
    """``GET /console/inbox`` on the console's server: the caller's pending priority items."""

    @app.server.get("/console/inbox", endpoint="console_inbox")
    def console_inbox():
        from app.auth import require_actor  # noqa: PLC0415 (auth is installed before screens)

        actor = require_actor()
        resp = jsonify(items=pending(data.ctx.redis, actor.user_id))
        resp.headers["Cache-Control"] = "no-store"
        return resp
