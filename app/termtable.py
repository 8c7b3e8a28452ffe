"""Terminal tables that stay aligned with Chinese text: a CJK character takes two columns of a
terminal (Unicode East Asian Width W/F), so padding by ``len`` pushes every column after a
Chinese name out of line (issue 21: the demo's accounts table)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def width(text: str) -> int:
    """How many terminal columns ``text`` takes: wide and fullwidth characters two, combining
    marks none, everything else one."""
    n = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def pad(text: str, columns: int) -> str:
    """``text`` followed by spaces up to ``columns`` terminal columns (never cut)."""
    return text + " " * max(0, columns - width(text))


def table(header: Sequence[str], rows: Sequence[Sequence[object]], gap: int = 2,
          indent: str = "  ") -> str:
    """Rows under a header, each column as wide as its widest cell (in terminal columns); the
    last column is not padded (no trailing blanks)."""
    cells = [[str(c) for c in header], *[[("" if c is None else str(c)) for c in r] for r in rows]]
    ncol = max(len(r) for r in cells)
    cells = [r + [""] * (ncol - len(r)) for r in cells]
    widths = [max(width(r[i]) for r in cells) for i in range(ncol)]
    sep = " " * gap
    lines = []
    for r in cells:
        line = sep.join(pad(c, widths[i]) if i < ncol - 1 else c for i, c in enumerate(r))
        lines.append(indent + line.rstrip())
    return "\n".join(lines)
