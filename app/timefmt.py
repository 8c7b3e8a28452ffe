"""Beijing time (China Standard Time, UTC+8, no daylight saving) for every screen.

Servers run on UTC (containers, cloud hosts), but every time a person reads on a OneMap screen,
in an export or on the phone is Beijing time: one fixed offset, never the server's local time.
The commands' log lines too (``setup_logging``).
"""

from __future__ import annotations

import logging
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


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class BeijingFormatter(logging.Formatter):
    """Log lines stamped in Beijing time with the zone shown (``2026-12-08 02:41:03.120 +08:00``),
    the time the screens show, whatever the server's own zone (issue 21: the demo's log read UTC
    while every screen read Beijing time)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        t = cst(record.created)
        if datefmt:
            return t.strftime(datefmt)
        return f"{t:%Y-%m-%d %H:%M:%S}.{int(record.msecs):03d} +08:00"


def setup_logging(level: int = logging.INFO) -> None:
    """The commands' one logging setup: the root logger writes ``LOG_FORMAT`` lines in Beijing
    time to stderr (``logging.basicConfig``: a no-op when the root logger is already set up)."""
    handler = logging.StreamHandler()
    handler.setFormatter(BeijingFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    for name in QUIET_LOGGERS:      # their INFO lines are steps, not news (warnings still show)
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


QUIET_LOGGERS = ("alembic",)
"""Libraries whose INFO lines bury the demo's own (alembic: a line per plugin and migration)."""
