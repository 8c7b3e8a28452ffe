"""Fixtures for tests of the web app: see tests/app/authkit.py (app_ctx, accounts, web)."""

import time
import types

import pytest

from tests.app.authkit import accounts, app_ctx, web  # noqa: F401


@pytest.fixture
def limiter_clock(monkeypatch) -> float:
    """Holds the rate limiter's clock in the middle of a window. The limits count in fixed
    windows (app.security.hit), so a test whose requests straddle a window boundary would
    start counting again and never reach the limit."""
    from app import security

    longest = max(r.window_s for r in (security.REPORT_LIMIT, security.CAP_LIMIT))
    mid = (time.time() // longest) * longest + longest / 2   # mid-window for every rule
    monkeypatch.setattr(security, "time", types.SimpleNamespace(time=lambda: mid))
    return mid
