"""The console's component ids, once (webviz-subsurface's ``LayoutElements`` idea).

A member *is* its DOM id string (``Id.SEL == "sel"``): layout, callbacks, the browser tests and
``assets/console/console.css`` all name the same element, and a typo is an AttributeError at
import instead of a callback that never fires.
"""

from __future__ import annotations

from enum import StrEnum


class Id(StrEnum):
    """Every id the console's layout and callbacks use (the DOM ids are these strings)."""

    # stores and timers
    FEED_LAST = "feed-last"          # the feed's last entry id: the queue and panel re-read on a move
    SEL = "sel"                      # the selected case
    PICK = "pick"                    # a location picked on the map
    REV = "rev"                      # bumped by every action: refreshes queue, panel, banner
    SEL_VER = "sel-ver"              # the shown case's id:version (keeps typed input on other moves)
    TICK = "tick"
    SLOW = "slow"
    # page
    DENIED = "console-denied"
    CENTER_NAME = "center-name"
    WATCH = "watch"                  # 值班: who is on watch at this center now
    COLLECT_LINK = "collect-link"    # 信息采集审核 (app/screens/console/collect.py, issue 24)
    BANNER = "banner"
    MAP = "map"
    MAP_LABELS = "map-labels"        # town / village names over the map (assets/console/labels.js)
    LIGHTBOX = "lightbox"            # an enlarged photo (assets/console/photos.js)
    # queue
    VIEW = "view"
    COUNTS = "counts"
    QUEUE = "queue"
    # quick filters (issue 15): channel group, severity, flags (超期 / 应急区域 / 态势)
    F_CHANNEL = "f-channel"
    F_SEVERITY = "f-severity"
    F_FLAGS = "f-flags"
    SEEN_ALL = "seen-all"            # 标为已阅: "new since I last looked" starts again now
    NOTIFY = "notify"                # sound + browser notification for new priority items (off)
    # 通知: the owner's notices (om:inc:notices through the service; app/screens/console/notices.py)
    NOTICES = "notices"
    NOTICES_HEAD = "notices-head"
    NOTICES_LIST = "notices-list"
    NOTICES_TOP = "notices-top"      # the notice stream's newest id when last read
    # bulk actions (批量操作)
    BULK_BAR = "bulk-bar"
    BULK_PAGE = "bulk-page"          # select the page shown
    BULK_ALL = "bulk-all"            # select every row of the filtered list (all pages)
    BULK_NONE = "bulk-none"
    BULK_COUNT = "bulk-count"
    BULK_INPUTS = "bulk-inputs"      # 派遣至 and 原因: shown once cases are selected
    BULK_REASON = "bulk-reason"
    BULK_DEPTS = "bulk-depts"
    BULK_PENDING = "bulk-pending"    # the action chosen and the cases it is for, until confirmed
    BULK_CONFIRM_ROW = "bulk-confirm-row"
    BULK_CONFIRM_TEXT = "bulk-confirm-text"
    BULK_CONFIRM = "bulk-confirm"
    BULK_CANCEL = "bulk-cancel"
    BULK_MSG = "bulk-msg"
    # the incident panel
    PANEL = "panel"
    PANEL_HEAD = "panel-head"
    PANEL_BODY = "panel-body"
    INC_STATE = "inc-state"
    TIMELINE = "timeline"
    CONTROLS = "controls"
    DEPTS_ROW = "depts-row"
    ACT_DEPTS = "act-depts"
    ACT_REASON = "act-reason"
    SAT_BOX = "sat-box"
    ACT_SATISFACTION = "act-satisfaction"
    SEV_BOX = "sev-box"
    ACT_SEVERITY = "act-severity"
    OTHERS_BOX = "others-box"
    ACT_OTHERS = "act-others"
    SOURCE_BOX = "source-box"
    ACT_SOURCE = "act-source"
    PHOTO_BOX = "photo-box"          # 处置后照片 for 处置反馈 (shown while 处置反馈 is offered)
    ACT_UPLOAD = "act-upload"
    ACT_PHOTOS_TEXT = "act-photos-text"  # how many wait for the next 处置反馈 (Redis: app.keys)
    ACT_HINT = "act-hint"
    ACT_MSG = "act-msg"
    # new incident by hand
    NEW_FORM = "new-form"
    NEW_CHANNEL = "new-channel"
    NEW_SEVERITY = "new-severity"
    NEW_CATEGORY = "new-category"
    NEW_LANDMARK = "new-landmark"
    NEW_WHERE = "new-where"
    NEW_DESC = "new-desc"
    NEW_REF = "new-ref"
    NEW_SUBMIT = "new-submit"
    NEW_MSG = "new-msg"
    # 上情下达
    TASK_FORM = "task-form"
    TASK_TARGET = "task-target"
    TASK_TITLE = "task-title"
    TASK_HOURS = "task-hours"
    TASK_SUBMIT = "task-submit"
    TASK_MSG = "task-msg"
    # emergency mode
    EM_FORM = "em-form"
    EM_TOWN = "em-town"
    EM_RADIUS = "em-radius"
    EM_MINUTES = "em-minutes"
    EM_REASON = "em-reason"
    EM_ON = "em-on"
    EM_OFF = "em-off"
    EM_MSG = "em-msg"
    # 应急响应 (issue 16: app/screens/console/emergency.py)
    RESP = "resp"
    RESP_HEAD = "resp-head"
    RESP_PENDING = "resp-pending"    # the suggestion a 启动响应 click confirms
    RESP_ID = "resp-id"              # the response the board shows
    RESP_TEAM = "resp-team"          # the nearest available team (一键调派)
    RESP_TEAM_TEXT = "resp-team-text"
    RESP_FEED = "resp-feed"          # the feed's last id, passed on only while the panel is shown
    RESP_SUGGEST = "resp-suggest"
    RESP_ACTIVATE = "resp-activate"
    RESP_BOARD = "resp-board"
    RESP_LEVEL_TEXT = "resp-level-text"
    RESP_COMMITTED = "resp-committed"
    RESP_CONTROLS = "resp-controls"
    RESP_DISPATCH = "resp-dispatch"
    RESP_LEVEL = "resp-level"
    RESP_LEVEL_BTN = "resp-level-btn"
    RESP_TEXT = "resp-text"
    RESP_END = "resp-end"
    RESP_MSG = "resp-msg"
    # live video of the open case (issue 23: app/screens/console/video.py, assets/console/video.js)
    VIDEO_BOX = "video-box"
    VIDEO_CAMS = "video-cams"        # the case's watchable cameras, best first (video.js plays them)
    VIDEO_VER = "video-ver"          # the case's id:version the evidence list was read at
    VIDEO_TITLE = "video-title"      # 可视摄像头 / 最近摄像头 · the main camera's name
    VIDEO_STATE = "video-state"      # 连接中 / 直播 / 离线 / 视频通道已满 … (the gateway's words)
    VIDEO_MAIN = "video-main"        # the main <video>
    VIDEO_GRID = "video-grid"        # the 2×2 grid of the next cameras
    VIDEO_TILE = "video-tile"        # a tile's id prefix: video-tile-0 … video-tile-3
    VIDEO_EVIDENCE = "video-evidence"  # 截图取证
    VIDEO_WALL = "video-wall"        # 上墙 (the main camera; each tile has its own)
    VIDEO_MSG = "video-msg"          # the result of 截图取证 / 上墙
    VIDEO_SHOTS = "video-shots"      # the case's evidence frames
    VIDEO_ACK = "video-ack"          # the clientside player's output (nothing shown)


ACT = "act"
"""The ``type`` of the action buttons' pattern-matching ids (``{"type": "act", "action": …}``)."""


def act_button(action: str) -> dict[str, str]:
    """The id of one action button."""
    return {"type": ACT, "action": str(action)}


BULK = "bulk"
"""The ``type`` of the bulk bar's action buttons (``{"type": "bulk", "action": …}``)."""


def bulk_button(action: str) -> dict[str, str]:
    """The id of one bulk action button."""
    return {"type": BULK, "action": str(action)}


NOTICE_READ = "notice-read"
"""The ``type`` of a notice's 已读 button (``{"type": "notice-read", "nid": …}``)."""


def notice_read_button(nid: str) -> dict[str, str]:
    """The id of one notice's 已读 button."""
    return {"type": NOTICE_READ, "nid": nid}
