"""/ops component ids, once: layout, callbacks and the browser tests name the same element."""

from __future__ import annotations

from enum import StrEnum


class Id(StrEnum):
    TS = "ops-ts"
    TABS = "ops-tabs"
    TICK = "ops-tick"
    BODY = "ops-body"            # 运行状态 (health), redrawn every tick
    BACKLOG = "ops-backlog"      # 积压 per center, redrawn every tick while its tab is open
    # 死信
    DLQ_REASON = "dlq-reason"
    DLQ_HOURS = "dlq-hours"
    DLQ_TABLE = "dlq-table"
    DLQ_REPLAY = "dlq-replay"
    DLQ_ACK = "dlq-ack"
    DLQ_EXPORT = "dlq-export"
    DLQ_MSG = "dlq-msg"
    DLQ_REV = "dlq-rev"
    # 账号
    ACC_TABLE = "acc-table"
    ACC_DISABLE = "acc-disable"
    ACC_ENABLE = "acc-enable"
    ACC_REVOKE = "acc-revoke"
    ACC_MSG = "acc-msg"
    ACC_REV = "acc-rev"
    # 安全审计
    AUD_EVENT = "aud-event"
    AUD_USER = "aud-user"
    AUD_TABLE = "aud-table"
    AUD_VERIFY = "aud-verify"
    AUD_MSG = "aud-msg"
    # 视频调阅 (issue 23)
    VID_CAMERA = "vid-camera"
    VID_TABLE = "vid-table"
