"""The words of the incident loop, once: states, sub-task states, actions and channels.

Each is a ``str`` enum (rq's ``JobStatus`` idea): a member *is* its stored string (``State.CLOSED ==
"closed"``), so stored data, JSON and Lua keep plain strings, while code names the word instead
of spelling it. ``.cn`` is the name operators read on every screen (流程名称, T10/E14).

Everything else derives from here: ``incidents.incident.STATES``/``STATE_NAMES``, the lifecycle
table's names, the refusal messages (``errors``), the console's buttons and the API's action list.
"""

from __future__ import annotations

from enum import StrEnum


class _Named(StrEnum):
    """A str enum whose members carry their Chinese name: ``Member = ("value", "中文")``."""

    def __new__(cls, value: str, cn: str = "") -> _Named:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.cn = cn or value          # type: ignore[attr-defined]
        return obj

    cn: str

    def __repr__(self) -> str:
        # a member stands for its stored string everywhere, messages and logs included
        return str.__repr__(self.value)

    @classmethod
    def names(cls) -> dict[str, str]:
        """value → Chinese name (for lookups by stored string)."""
        return {m.value: m.cn for m in cls}


class State(_Named):
    """An incident's lifecycle state (事件状态), in the order of the closed loop (E14)."""

    REPORTED = ("reported", "上报")
    ACCEPTED = ("accepted", "受理")
    REGISTERED = ("registered", "立案")
    DISPATCHED = ("dispatched", "派遣")
    IN_PROGRESS = ("in_progress", "处置")
    HANDLED = ("handled", "反馈")
    VERIFIED = ("verified", "核查")
    CLOSED = ("closed", "结案")
    VOIDED = ("voided", "作废")


class TaskState(_Named):
    """A sub-task's state (子任务状态): one handler's part of a case."""

    DISPATCHED = ("dispatched", "已派遣")
    IN_PROGRESS = ("in_progress", "处置中")
    HANDLED = ("handled", "已反馈")
    RETURNED = ("returned", "已退回")


class Action(_Named):
    """What a person (or the system) does with a case. The lifecycle table (``lifecycle``) says
    where each applies; the policy (``policy``) says who may."""

    ACCEPT = ("accept", "受理")
    REGISTER = ("register", "立案")
    DISPATCH = ("dispatch", "派遣")
    START = ("start", "开始处置")
    HANDLE = ("handle", "处置反馈")
    VERIFY = ("verify", "核查通过")
    REOPEN = ("reopen", "核查不通过")
    CLOSE = ("close", "结案")
    RETURN = ("return", "退回")
    ESCALATE = ("escalate", "上报")
    URGE = ("urge", "督办")
    EXPEDITE = ("expedite", "加急")
    WARN = ("warn", "预警")
    TAKE_OVER = ("take_over", "接管")
    VOID = ("void", "作废")
    MERGE = ("merge", "合并")
    SPLIT = ("split", "拆分")
    CALLBACK = ("callback", "回访")
    FOLLOW_UP = ("follow_up", "回访（不满意重办）")   # 回访 with its result: 不满意 reopens (issue 24)
    NOTE = ("note", "备注")
    SEVERITY = ("severity", "定级")
    CORRELATE = ("correlate", "关联上报")
    PUSH_UPPER = ("push_upper", "上报省平台")
    REACTIVATE = ("reactivate", "重新打开")          # a person reopens a case closed as 自动恢复
    # by the system only (alarms, the deadline worker): audited, never offered to a person
    ALARM_CLEAR = ("alarm_clear", "告警解除")        # one source of a machine case cleared
    AUTO_RECOVER = ("auto_recover", "自动恢复")      # every source cleared, quiet, nobody acted
    # not on one case: intake, reads, 上情下达 and the emergency switches (for refusals and audit)
    REPORT = ("report", "上报")
    READ = ("read", "查看")
    LIST = ("list", "查看队列")
    ASSIGN_TASK = ("assign_task", "下达任务")
    EMERGENCY_ON = ("emergency_on", "启动应急模式")
    EMERGENCY_OFF = ("emergency_off", "解除应急模式")
    EMERGENCY_LOG = ("emergency_log", "查看应急记录")


class Channel(_Named):
    """Where a report came from (来源渠道, E8 多渠道)."""

    GRID_WORKER = ("grid_worker", "网格员上报")
    IOT = ("iot", "物联感知")
    VIDEO_AI = ("video_ai", "视频AI")
    DEVICE_FAULT = ("device_fault", "设备故障")
    HOTLINE = ("hotline", "12345热线")
    WALK_IN = ("walk_in", "来访")
    EXTERNAL = ("external", "外部预警")
    API = ("api", "系统接口")
    ASSIGNMENT = ("assignment", "上情下达")


def action_name(action: str) -> str:
    """The Chinese name of an action (stored string or member), else the string itself."""
    try:
        return Action(action).cn
    except ValueError:
        return action


EVIDENCE = "截图取证"
"""取证 (issue 23): the word that marks a frame grabbed from a camera and attached to a case (the
audit entry's reason begins with it; the console captions such a photo with it)."""
