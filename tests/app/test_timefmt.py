"""Log lines in Beijing time with the zone shown, whatever the server's zone (issue 21)."""

from __future__ import annotations

import logging

from app.timefmt import LOG_FORMAT, BeijingFormatter

EPOCH = 1_796_000_000.0          # 2026-11-30 00:53:20 UTC = 08:53:20 Beijing time
MIDNIGHT_UTC = 1_795_996_800.0   # 2026-11-30 00:00:00 UTC


def _record(ts: float) -> logging.LogRecord:
    rec = logging.LogRecord("onemap", logging.INFO, __file__, 1, "started %s", ("web",), None)
    rec.created, rec.msecs = ts, (ts % 1) * 1000
    return rec


def test_a_log_line_reads_beijing_time_and_says_so():
    line = BeijingFormatter(LOG_FORMAT).format(_record(EPOCH + 0.25))
    assert line == "2026-11-30 08:53:20.250 +08:00 INFO onemap: started web"


def test_the_day_turns_at_beijing_midnight_not_utc():
    # 16:30 UTC is already the next day in Beijing
    line = BeijingFormatter(LOG_FORMAT).format(_record(MIDNIGHT_UTC + 16.5 * 3600))
    assert line.startswith("2026-12-01 00:30:00.000 +08:00")
