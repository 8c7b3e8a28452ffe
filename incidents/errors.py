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
        from incidents.actor import ROLE_NAMES  # noqa: PLC0415 (a leaf module; no cycle)

        who = getattr(actor, "user_id", actor)
        role = getattr(actor, "role", "?")
        center = getattr(actor, "center", "?")
        on = f" on {incident_id}" if incident_id else ""
        # Chinese first: the operators' language; the English after it for logs and integrators
        super().__init__(f"无权操作：{ROLE_NAMES.get(role, role)} {who}（{center}）不能「{_cn(action)}」"
                         f"{incident_id or ''}：{reason} [{who} ({role} @ {center}) may not "
                         f"{action}{on}]")
        self.action, self.reason, self.incident_id = action, reason, incident_id


class InvalidTransition(IncidentError):
    """不允许的流转: the action does not apply to the incident in its current state."""

    def __init__(self, action: str, state: str, reason: str = "", incident_id: str | None = None) -> None:
        from incidents.incident import STATE_NAMES, TASK_STATE_NAMES  # noqa: PLC0415

        on = f" {incident_id}" if incident_id else ""
        state_cn = STATE_NAMES.get(state) or TASK_STATE_NAMES.get(state, state)
        why_cn = f"：{reason}" if reason else ""
        super().__init__(f"不允许的流转：{incident_id or ''}「{state_cn}」时不能「{_cn(action)}」{why_cn} "
                         f"[cannot {action}{on} in state {state!r}]")
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


def _cn(action: str) -> str:
    """The Chinese name operators use for an action (``lifecycle.TRANSITIONS``' verb, else the
    vocabulary's name, else itself)."""
    from incidents.lifecycle import TRANSITIONS  # noqa: PLC0415 (lifecycle imports this module)
    from incidents.vocab import action_name  # noqa: PLC0415

    t = TRANSITIONS.get(action)
    return t[2].split(" ")[0] if t else action_name(action)
