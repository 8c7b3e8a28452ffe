"""术语表 (docs/glossary.md): one Chinese term per concept beside its English code name, written
from the homes of the words (``incidents.vocab``, ``incidents.roles``, ``app.screens.nav``, the
severities and response levels) so that the document cannot drift from the code
(``tests/test_glossary.py`` compares them). Issue 21: one language, one term per concept.

``python -m app.glossary`` writes docs/glossary.md again after a word changed in the code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import get_args

from grid.centers import Kind
from incidents.defaults import SEVERITIES
from incidents.emergency.plans import LEVEL_NAMES, RESPONSE_LEVELS
from incidents.roles import ROLE_TABLE
from incidents.vocab import Action, Channel, State, TaskState

PATH = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"

CENTER_KINDS: dict[str, str] = {"city": "市级指挥中心", "town": "镇街分中心", "dept": "部门分中心",
                                "worker": "网格员"}
"""Center kinds (``grid.centers.Kind``: the code's first letter, T/D/W, none for CITY)."""

QUEUE_VIEWS: tuple[tuple[str, str, str], ...] = (
    ("todo", "待办", "what waits for this center's action (every role's first tab)"),
    ("new", "待受理", "arrived, not yet accepted by this center"),
    ("mine", "本中心", "owned by this center"),
    ("overdue", "超期", "past a stage's deadline"),
    ("open", "全部在办", "every open case this account may read"),
    ("all", "全部", "open and finished"),
)
"""The console's queue tabs (``app.screens.console.model.VIEWS``; the test compares)."""

CONCEPTS: tuple[tuple[str, str, str], ...] = (
    ("一网统管", "OneMap", "the product: one map for the city's operations"),
    ("事件", "incident", "a case in the closed loop (an id E…)"),
    ("子任务", "task", "one handler's part of a case"),
    ("告警", "alarm", "a device's reading past a rule (om:alarms); an episode from raise to clear"),
    ("态势", "situation", "one case that the alarms and reports of one family in one area join "
                         "(incidents.situations)"),
    ("预案", "plan", "an emergency plan: hazard, response levels, tasks per level "
                    "(incidents.emergency.plans)"),
    ("响应等级", "response level", "IV … I of a plan's response (below)"),
    ("事件等级", "severity", "一般 / 较大 / 重大 / 特别重大 (below)"),
    ("应急模式", "emergency mode", "the commander's switch: the area, the watch, the wall's banner"),
    ("应急区域", "emergency area", "the area of an active emergency"),
    ("上情下达", "assignment", "a task given downwards (channel assignment)"),
    ("时限", "deadline", "a stage's time limit (incidents.deadlines)"),
    ("网格", "cell", "the smallest area, one grid worker each (15-digit code)"),
    ("镇街", "town", "a town (镇) or street (街道), 9-digit code"),
    ("村社区", "village", "a village (村) or community (社区), 12-digit code"),
    ("值班", "watch", "who is on duty at a center (incidents.duty)"),
)
"""Concepts without an enum of their own: the term, its code name, what it is (the screens, e.g.
考核评价 and 复盘, are named in their own table)."""

HOMONYMS: dict[str, str] = {
    "上报": "the actions report (a new case) and escalate (to the tier above) share the word "
            "(and the state reported); the screens tell them apart by place: 上报 on the phone "
            "is a new case, 上报 among a case's actions sends it up",
}
"""Chinese names two actions share in ``incidents.vocab.Action`` (the test allows only these;
a state and the action that reaches it share theirs by design: 受理 accepted/accept)."""


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _enum(title: str, home: str, members) -> list[str]:  # noqa: ANN001
    return ["", f"## {title}", "", f"Home: `{home}`.", "",
            *_table(("中文", "code"), [(m.cn, f"`{m.value}`") for m in members])]


def render() -> str:
    """The whole of docs/glossary.md."""
    from app.screens.nav import SCREENS  # noqa: PLC0415

    lines = ["# 术语表 · Glossary", "",
             "One Chinese term per concept on every screen, its English code name in code, logs "
             "and APIs. Written by `python -m app.glossary` from the homes of the words; "
             "`tests/test_glossary.py` fails when the two differ (issue 21).", "",
             "## 概念 · concepts", "",
             *_table(("中文", "code", "what"), [(cn, f"`{code}`", what) for cn, code, what in CONCEPTS])]
    lines += _enum("事件状态 · incident states", "incidents.vocab.State", State)
    lines += _enum("子任务状态 · task states", "incidents.vocab.TaskState", TaskState)
    lines += _enum("操作 · actions", "incidents.vocab.Action", Action)
    lines += _enum("来源渠道 · channels", "incidents.vocab.Channel", Channel)
    lines += ["", "## 角色 · roles", "", "Home: `incidents.roles.ROLE_TABLE`.", "",
              *_table(("中文", "code", "screens"),
                      [(s.cn, f"`{r.value}`", " ".join(f"`{x}`" for x in sorted(s.screens)))
                       for r, s in ROLE_TABLE.items()])]
    lines += ["", "## 中心类型 · center kinds", "", "Home: `grid.centers.Kind`.", "",
              *_table(("中文", "code"), [(CENTER_KINDS[k], f"`{k}`") for k in get_args(Kind)])]
    lines += ["", "## 屏幕 · screens", "", "Home: `app.screens.nav.SCREENS` (who opens which: "
              "the roles above).", "",
              *_table(("中文", "code", "path"), [(n, f"`{s}`", f"`{p}`") for s, p, n in SCREENS])]
    lines += ["", "## 队列 · the console's queue tabs", "",
              "Home: `app.screens.console.model.VIEWS`.", "",
              *_table(("中文", "code", "what"), [(cn, f"`{v}`", what) for v, cn, what in QUEUE_VIEWS])]
    lines += ["", "## 事件等级 · severities", "", "Home: `incidents.defaults.SEVERITIES`, lowest first.",
              "", *_table(("中文", "code"), [(s, f"`{i}`") for i, s in enumerate(SEVERITIES)])]
    lines += ["", "## 响应等级 · response levels", "",
              "Home: `incidents.emergency.plans.RESPONSE_LEVELS`, lowest first; each named by the "
              "severity it answers.", "",
              *_table(("中文", "code"), [(f"{lv}级响应（{LEVEL_NAMES[lv]}）", f"`{lv}`")
                                         for lv in RESPONSE_LEVELS])]
    lines += ["", "## 同名 · one word, two codes", "",
              *_table(("中文", "note"), list(HOMONYMS.items()))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    PATH.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PATH}\n")
