"""/replay component ids, once: layout, callbacks and the browser test name the same element."""

from __future__ import annotations

from enum import StrEnum


class Id(StrEnum):
    URL = "rp-url"
    LAST = "rp-last"            # 最近 1 小时 / 6 小时 / 24 小时 / 自定义
    START = "rp-start"
    END = "rp-end"
    SPEED = "rp-speed"
    LOAD = "rp-load"            # 载入并播放
    PAUSE = "rp-pause"          # 暂停 / 继续
    MSG = "rp-msg"
    CLOCK = "rp-clock"          # the replayed moment
    MAP = "rp-map"
    FEED = "rp-feed"            # 告警与事件动态 (li[data-key] per event)
    QUEUE = "rp-queue"          # 待办队列 at the replayed moment
    EVENTS = "rp-events"        # store: the window's events (scoped on the server)
    PLAY = "rp-play"            # store: start, until, since, speed, wall0, paused
    TICK = "rp-tick"
    SIG = "rp-sig"              # store: how many events the map last showed
