"""Lifecycle (流程): which action applies in which state, and where it leads.

上报 reported → 受理 accepted → 立案 registered → 派遣 dispatched → 处置 in_progress →
反馈 handled → 核查 verified → 结案 closed; plus 退回 return, 上报 escalate, 督办 urge,
reopen (failed 核查), 作废 void, 回访 callback, 接管 take over. The table is the contract that
docs/incidents.md shows; the service checks every action against it.
"""

from __future__ import annotations

from incidents.errors import InvalidTransition
from incidents.incident import OPEN_STATES, STATE_NAMES, STATES
from incidents.vocab import Action, State

A, S = Action, State
PRE_DISPATCH = frozenset({S.REPORTED, S.ACCEPTED, S.REGISTERED})
OUT = frozenset({S.DISPATCHED, S.IN_PROGRESS})

TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    # action: (allowed from-states, to-state ("=" same, "*" depends), Chinese)
    A.ACCEPT: (frozenset({S.REPORTED}), S.ACCEPTED, "受理"),
    A.REGISTER: (frozenset({S.ACCEPTED}), S.REGISTERED, "立案"),
    A.DISPATCH: (frozenset({S.ACCEPTED, S.REGISTERED}) | OUT, "*",
                 "派遣 (on a case already out: 追加派遣/改派, one more handler)"),
    A.START: (OUT, S.IN_PROGRESS, "开始处置"),
    A.HANDLE: (OUT, "*", "反馈 (handled when every sub-task is)"),
    A.VERIFY: (frozenset({S.HANDLED}), "*", "核查 (verified, or reopened → dispatched)"),
    A.CLOSE: (frozenset({S.VERIFIED}), S.CLOSED, "结案"),
    A.RETURN: (PRE_DISPATCH | OUT, "*", "退回 (down to the sender, or a sub-task back to the dispatcher)"),
    A.ESCALATE: (OPEN_STATES, "=", "上报 (one tier up)"),
    A.URGE: (OPEN_STATES, "=", "督办"),
    A.EXPEDITE: (OPEN_STATES, "=", "加急 (first in the owner's queue)"),
    A.WARN: (OPEN_STATES, "=", "预警 (deadline near)"),
    A.TAKE_OVER: (OPEN_STATES, "=", "接管 (city center)"),
    A.VOID: (PRE_DISPATCH, S.VOIDED, "作废"),
    A.MERGE: (PRE_DISPATCH | OUT | frozenset({S.HANDLED}), "=", "合并"),
    A.SPLIT: (OPEN_STATES, "=", "拆分"),
    A.CALLBACK: (frozenset({S.CLOSED}), "=", "回访"),
    A.FOLLOW_UP: (frozenset({S.CLOSED}), "*", "回访结果 (满意: 记满意度，仍结案; 不满意: 重新办理 → dispatched)"),
    A.NOTE: (OPEN_STATES | frozenset({S.CLOSED}), "=", "备注"),
    A.SEVERITY: (OPEN_STATES, "=", "定级"),
    A.CORRELATE: (OPEN_STATES, "=", "关联上报"),
    A.ALARM_CLEAR: (OPEN_STATES, "=", "告警解除 (one alarm source cleared; 已恢复 when all have)"),
    A.AUTO_RECOVER: (OPEN_STATES, S.VOIDED, "自动恢复 (closed by the system: every source cleared, "
                                            "quiet, nobody acted)"),
    A.REACTIVATE: (frozenset({S.VOIDED}), S.REPORTED, "重新打开 (a case closed as 自动恢复)"),
}


def check(action: str, state: str, incident_id: str | None = None) -> None:
    """Raise InvalidTransition with a clear reason when ``action`` does not apply in ``state``."""
    allowed, _, _ = TRANSITIONS[action]
    if state not in allowed:
        ok = ", ".join(sorted(allowed))
        cn = "、".join(STATE_NAMES[s] for s in STATES if s in allowed)
        raise InvalidTransition(action, state, f"仅适用于: {cn} ({action} applies only in: {ok})",
                                incident_id)
