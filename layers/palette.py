"""Colours and sizes of the one map (配色): one dark theme for the wall, legible at 5 m.

Every colour the layers use lives here so that a legend and its layer can never disagree.
States are ordered by gravity: an aggregate shows the worst state inside it (最严重状态).
"""

from __future__ import annotations

# Device states (设备状态), worst last. Offline ranks below alarm: an alarm is what leaders act on.
STATE_ORDER: tuple[str, ...] = ("normal", "offline", "warning", "alarm")
STATE_RANK: dict[str, int] = {s: i for i, s in enumerate(STATE_ORDER)}
STATE_NAMES: dict[str, str] = {"normal": "正常", "warning": "预警", "alarm": "告警", "offline": "离线"}
STATE_COLORS: dict[str, str] = {
    "normal": "#2bb3a3",    # teal: quiet but visible on the dark base
    "warning": "#f5c400",   # yellow
    "alarm": "#ff2d2d",     # red, always drawn on top and larger
    "offline": "#7b8594",   # grey
}

# Alarm levels (预警级别 蓝/黄/橙/红).
LEVEL_ORDER: tuple[str, ...] = ("blue", "yellow", "orange", "red")
LEVEL_RANK: dict[str, int] = {lv: i for i, lv in enumerate(LEVEL_ORDER)}
LEVEL_NAMES: dict[str, str] = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
LEVEL_COLORS: dict[str, str] = {"blue": "#3d8bff", "yellow": "#ffd400", "orange": "#ff8c1a",
                                "red": "#ff2d2d"}

# Incident severity (事件等级), mildest first.
SEVERITY_ORDER: tuple[str, ...] = ("一般", "较大", "重大", "特别重大")
SEVERITY_COLORS: dict[str, str] = {"一般": "#4fc3f7", "较大": "#ffd400", "重大": "#ff8c1a",
                                   "特别重大": "#ff2d2d"}
SEVERITY_SIZES: dict[str, int] = {"一般": 9, "较大": 12, "重大": 16, "特别重大": 20}
OVERDUE_COLOR = "#ff3df2"   # magenta ring: an overdue incident must stand out from every state

# Owning tier (归属层级) of an incident, from its center code.
TIER_NAMES: dict[str, str] = {"city": "市级", "town": "镇街", "department": "部门"}

# Five-colour risk map (五色图, M34): lowest risk first.
RISK_LEVELS: tuple[str, ...] = ("green", "blue", "yellow", "orange", "red")
RISK_NAMES: dict[str, str] = {"green": "低风险", "blue": "一般风险", "yellow": "较大风险",
                              "orange": "重大风险", "red": "特别重大风险"}
RISK_COLORS: dict[str, str] = {"green": "#1f9d55", "blue": "#2f6fde", "yellow": "#e6c200",
                               "orange": "#ff7a00", "red": "#e02424"}

# Base map (底图).
BACKGROUND = "#07111f"          # the map's own background: no tiles needed
CITY_FILL = "#0f2238"
CITY_LINE = "#4fc3f7"
TOWN_LINE = "#3a86c8"
VILLAGE_LINE = "#23476b"
CELL_LINE = "#1a344f"
LABEL_COLOR = "#e8f1ff"

# The wall itself.
PANEL_BG = "#0b1a2e"
PANEL_BORDER = "#1f4a78"
TEXT = "#e8f1ff"
TEXT_DIM = "#8fb3d9"
ACCENT = "#4fc3f7"
HIGHLIGHT = "#ffffff"


def worst_state(states) -> str:  # noqa: ANN001 (any iterable of state strings)
    """最严重状态: the gravest of ``states`` ('normal' when empty or unknown)."""
    best, rank = "normal", 0
    for s in states:
        r = STATE_RANK.get(s, 0)
        if r > rank:
            best, rank = s, r
    return best

# 应急模式: the active emergency area, on every theme. Violet: not a severity, risk, state or the
# overdue magenta, so it reads as "the commander's area", not a finding.
EMERGENCY_LINE = "#a970ff"
EMERGENCY_FILL = "rgba(169, 112, 255, 0.14)"

# 态势 (a situation's sources): cyan for machine sources, white for human reports.
SITUATION_MACHINE = "#00e5ff"
SITUATION_HUMAN = "#ffffff"
