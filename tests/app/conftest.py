"""Fixtures for tests of the web app: see tests/app/authkit.py (app_ctx, accounts, web)."""

from tests.app.authkit import accounts, app_ctx, web  # noqa: F401
