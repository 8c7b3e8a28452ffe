"""Errors raised by the incident service. Each carries a clear, operator-readable message."""

from __future__ import annotations


class IncidentError(Exception):
    """Base of every incident-service error."""


class NotFound(IncidentError):  # noqa: N818 (domain name)
    """无此事件: no incident (or sub-task) with that id."""

    def __init__(self, incident_id: str, what: str = "incident") -> None:
        super().__init__(f"{what} {incident_id!r} not found (无此事件)")
        self.incident_id = incident_id


class Forbidden(IncidentError):  # noqa: N818 (domain name)
    """无权操作: the actor may not do this (scope S1/S2, or 监管分离 T11). Audited."""

    def __init__(self, action: str, actor: object, reason: str, incident_id: str | None = None) -> None:
        who = getattr(actor, "user_id", actor)
        role = getattr(actor, "role", "?")
        center = getattr(actor, "center", "?")
        on = f" on {incident_id}" if incident_id else ""
        super().__init__(f"{who} ({role} @ {center}) may not {action}{on}: {reason} (无权操作)")
        self.action, self.reason, self.incident_id = action, reason, incident_id


class InvalidTransition(IncidentError):
    """不允许的流转: the action does not apply to the incident in its current state."""

    def __init__(self, action: str, state: str, reason: str = "", incident_id: str | None = None) -> None:
        on = f" {incident_id}" if incident_id else ""
        why = f": {reason}" if reason else ""
        super().__init__(f"cannot {action}{on} in state {state!r}{why} (不允许的流转)")
        self.action, self.state, self.reason, self.incident_id = action, state, reason, incident_id


class Conflict(IncidentError):
    """并发冲突: the incident kept changing under us (retries exhausted)."""


class KeyReused(Conflict):  # noqa: N818 (domain name)
    """幂等键冲突: an idempotency key sent again with a different request."""

    def __init__(self, key: str, incident_id: str) -> None:
        super().__init__(f"idempotency key {key!r} was used for another request ({incident_id}); "
                         "a retry must repeat the request unchanged, a new request needs a new key "
                         "(幂等键冲突)")
        self.key, self.incident_id = key, incident_id
