"""Lifecycle (流程): which action applies in which state, and where it leads.

上报 reported → 受理 accepted → 立案 registered → 派遣 dispatched → 处置 in_progress →
反馈 handled → 核查 verified → 结案 closed; plus 退回 return, 上报 escalate, 督办 urge,
reopen (failed 核查), 作废 void, 回访 callback, 接管 take over. The table is the contract that
docs/incidents.md shows; the service checks every action against it.
"""

from __future__ import annotations

from incidents.errors import InvalidTransition
from incidents.incident import OPEN_STATES, STATE_NAMES, STATES

PRE_DISPATCH = frozenset({"reported", "accepted", "registered"})
OUT = frozenset({"dispatched", "in_progress"})

TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    # action: (allowed from-states, to-state ("=" same, "*" depends), Chinese)
    "accept": (frozenset({"reported"}), "accepted", "受理"),
    "register": (frozenset({"accepted"}), "registered", "立案"),
    "dispatch": (frozenset({"accepted", "registered"}) | OUT, "*",
                 "派遣 (on a case already out: 追加派遣/改派, one more handler)"),
    "start": (OUT, "in_progress", "开始处置"),
    "handle": (OUT, "*", "反馈 (handled when every sub-task is)"),
    "verify": (frozenset({"handled"}), "*", "核查 (verified, or reopened → dispatched)"),
    "close": (frozenset({"verified"}), "closed", "结案"),
    "return": (PRE_DISPATCH | OUT, "*", "退回 (down to the sender, or a sub-task back to the dispatcher)"),
    "escalate": (OPEN_STATES, "=", "上报 (one tier up)"),
    "urge": (OPEN_STATES, "=", "督办"),
    "warn": (OPEN_STATES, "=", "预警 (deadline near)"),
    "take_over": (OPEN_STATES, "=", "接管 (city center)"),
    "void": (PRE_DISPATCH, "voided", "作废"),
    "merge": (PRE_DISPATCH | OUT | frozenset({"handled"}), "=", "合并"),
    "split": (OPEN_STATES, "=", "拆分"),
    "callback": (frozenset({"closed"}), "=", "回访"),
    "note": (OPEN_STATES | frozenset({"closed"}), "=", "备注"),
    "severity": (OPEN_STATES, "=", "定级"),
    "correlate": (OPEN_STATES, "=", "关联上报"),
}


def check(action: str, state: str, incident_id: str | None = None) -> None:
    """Raise InvalidTransition with a clear reason when ``action`` does not apply in ``state``."""
    allowed, _, _ = TRANSITIONS[action]
    if state not in allowed:
        ok = ", ".join(sorted(allowed))
        cn = "、".join(STATE_NAMES[s] for s in STATES if s in allowed)
        raise InvalidTransition(action, state, f"仅适用于: {cn} ({action} applies only in: {ok})",
                                incident_id)
