"""A receipt (回执): what a reporter gets back when their report joined a case outside their scope.

Scope is total (issue 19, S1/S2 分级控制): a report that correlates into another center's open
case (another town's, another line's) is linked to it as one more source, but the reporter learns
nothing of that case: not its id, owner, state, severity, title nor its other sources. They get
this receipt: "已并入已有事件" and their own report's reference (the receipt id, and the
idempotency key they sent), plus what they sent themselves. The case's owner is notified and
decides (``IncidentService._link``).

A ``Receipt`` answers where intake answers an ``Incident`` (the API, the console's form, Open311,
CAP, the phone): it carries the attributes those read (``id``, ``intake``, ``state``, ``center``,
``route_reason``, ``to_dict``), each saying only "merged".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

MERGED = "merged"
"""``intake`` of a report linked into a case outside the reporter's scope."""

MESSAGE = "已并入已有事件，由其承办单位处理 (merged into an existing case; its owner handles it)"


def new_receipt_id(day: str) -> str:
    """A receipt id: ``R`` + the day + 8 random hex digits (not guessable, names no case)."""
    return f"R{day}{secrets.token_hex(4).upper()}"


@dataclass(frozen=True)
class Receipt:
    """The reporter's receipt for a report merged into a case they may not read."""

    id: str                      # the receipt id (R…), kept in the report's source
    key: str                     # the idempotency key the reporter sent ('' if none)
    category: str
    lon: float
    lat: float
    severity: str                # the severity the reporter asked for (not the case's)
    channel: str
    description: str
    ts: float
    title: str = ""
    intake: str = MERGED
    state: str = MERGED          # the reporter's view of it: merged, nothing more
    center: str = ""             # never the owner of the other case
    message: str = MESSAGE

    @property
    def route_reason(self) -> str:
        """Open311's ``service_notice``."""
        return self.message

    def to_dict(self) -> dict:
        return {"receipt": self.id, "id": self.id, "intake": self.intake, "state": self.state,
                "message": self.message, "idempotency_key": self.key, "category": self.category,
                "lon": self.lon, "lat": self.lat, "severity": self.severity,
                "channel": self.channel, "title": self.title, "description": self.description,
                "ts": self.ts}

    @classmethod
    def of_source(cls, source: dict, title: str = "") -> Receipt:
        """The receipt a linked source carries (its ``receipt`` id)."""
        return cls(id=str(source.get("receipt", "")), key=str(source.get("key") or ""),
                   category=str(source.get("category", "")), lon=float(source.get("lon", 0)),
                   lat=float(source.get("lat", 0)), severity=str(source.get("severity", "")),
                   channel=str(source.get("channel", "")),
                   description=str(source.get("description", "")),
                   ts=float(source.get("ts") or 0), title=title)
