"""Unit-grid codes (网格编码): the 15-digit code scheme of Chinese digital city management.

``440981`` (6-digit administrative division, 高州市) + ``101`` (3-digit town/street, 镇/街道)
+ ``001`` (3-digit village/community, 村/社区) + ``001`` (3-digit grid sequence, 网格序号).
Towns are 9 digits, villages 12, grid cells 15. A grid worker's id is ``W`` + the cell code
(一格一员). In the demo, streets are numbered 001–099 and towns 100–999 (a convention, not a rule).
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

Level = Literal["admin", "town", "village", "cell"]
LENGTHS: dict[Level, int] = {"admin": 6, "town": 9, "village": 12, "cell": 15}
_LEVEL_BY_LEN = {n: lv for lv, n in LENGTHS.items()}
_DIGITS = re.compile(r"\d+")


class CellCode(NamedTuple):
    """A 15-digit grid code split into its levels (each a full prefix code)."""

    admin: str
    town: str
    village: str
    cell: str


def town_code(admin: str, seq: int) -> str:
    """镇/街道 code: admin + 3 digits (seq 1–999)."""
    return f"{admin}{_seq(seq)}"


def village_code(town: str, seq: int) -> str:
    """村/社区 code: town + 3 digits."""
    return f"{town}{_seq(seq)}"


def cell_code(village: str, seq: int) -> str:
    """网格 code: village + 3 digits (15 digits)."""
    return f"{village}{_seq(seq)}"


def worker_id(cell: str) -> str:
    """网格员 id of a cell's one grid worker."""
    return f"W{cell}"


def _seq(seq: int) -> str:
    if not 1 <= seq <= 999:
        raise ValueError(f"sequence {seq} out of range 1–999 (3 digits)")
    return f"{seq:03d}"


def level_of(code: str) -> Level | None:
    """Which level a code is (by length), or None if it is not a digit code of a known length."""
    return _LEVEL_BY_LEN.get(len(code)) if _DIGITS.fullmatch(code or "") else None


def parent_code(code: str) -> str | None:
    """The code one level up (cell → village → town → admin), None for an admin code."""
    lv = level_of(code)
    return code[:-3] if lv in ("town", "village", "cell") else None


def parse_cell_code(code: str) -> CellCode:
    """Split a 15-digit grid code; ValueError naming the problem if it is not one."""
    problem = code_problem(code, "cell")
    if problem:
        raise ValueError(problem)
    return CellCode(code[:6], code[:9], code[:12], code)


def code_problem(code: object, level: Level, parent: str | None = None) -> str | None:
    """Why ``code`` is not a valid code of ``level`` (under ``parent``), or None if it is."""
    if code is None or (isinstance(code, float) and code != code) or str(code).strip() == "":
        return f"missing {level} code"
    s = str(code)
    n = LENGTHS[level]
    if not _DIGITS.fullmatch(s):
        return f"{level} code {s!r} is not all digits"
    if len(s) != n:
        return f"{level} code {s!r} has {len(s)} digits, expected {n}"
    if level != "admin" and s[-3:] == "000":
        return f"{level} code {s!r} ends in 000 (sequences start at 001)"
    if parent is not None and not s.startswith(str(parent)):
        return f"{level} code {s!r} does not start with its parent's code {parent!r}"
    return None


def is_code(code: object, level: Level) -> bool:
    """True if ``code`` is a valid code of ``level``."""
    return code_problem(code, level) is None
