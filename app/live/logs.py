"""Access logs that do not drown the scenario lines (issue 15: 4,641 of 4,705 lines were access
lines): the per-request lines of the event stream, Dash's update endpoint and static bundles are
dropped when they succeeded; every error (4xx, 5xx) is kept."""

from __future__ import annotations

import logging

QUIET_PATHS = ("/events", "/_dash-update-component", "/_dash-component-suites/", "/assets/",
               "/_dash-layout", "/_dash-dependencies", "/_reload-hash", "/m/assets/", "/static/",
               "/healthz")
"""Paths whose successful requests are not logged one by one (matched anywhere in the path:
each screen's Dash endpoints sit under its own prefix, /console/_dash-update-component)."""


def quiet(path: str, status: int) -> bool:
    """True when an access line for ``path`` answered ``status`` should not be written."""
    return status < 400 and any(p in path for p in QUIET_PATHS)


class QuietAccess(logging.Filter):
    """A filter for uvicorn's access logger (args: client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 5:
            try:
                return not quiet(str(args[2]), int(args[4]))
            except (TypeError, ValueError):
                return True
        return True


def install() -> None:
    """Put the filter on uvicorn's access logger (once)."""
    log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QuietAccess) for f in log.filters):
        log.addFilter(QuietAccess())
