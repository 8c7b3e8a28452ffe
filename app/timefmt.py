"""Beijing time (China Standard Time, UTC+8, no daylight saving) for every screen.

Servers run on UTC (containers, cloud hosts), but every time a person reads on a OneMap screen,
in an export or on the phone is Beijing time: one fixed offset, never the server's local time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
"""China Standard Time (北京时间), UTC+8."""

DAY_S = 86400


def cst(ts: float) -> datetime:
    """Epoch seconds → an aware datetime in Beijing time."""
    return datetime.fromtimestamp(float(ts), CST)


def fmt_cst(ts: float | None, pattern: str = "%m-%d %H:%M") -> str:
    """Epoch seconds in Beijing time with a strftime ``pattern``; '' for no time (None or 0)."""
    if not ts:
        return ""
    return cst(ts).strftime(pattern)


def cst_day_start(ts: float) -> float:
    """Epoch seconds of 00:00 Beijing time of the day that contains ``ts``."""
    return ts - ((ts + 8 * 3600) % DAY_S)
