"""WSGI entry for production web workers: ``gunicorn 'app.wsgi:application'``.

Needs ONEMAP_REDIS_URL (and ONEMAP_CITY_DIR for an imported city). Stateless: run as many
workers as needed behind a load balancer.
"""

from __future__ import annotations

from app.config import load_settings
from app.context import AppContext
from app.server import create_server

_settings = load_settings()   # validated; installs the category tree (ONEMAP_CATEGORIES_FILE)
if not _settings.redis_url:
    raise RuntimeError("set ONEMAP_REDIS_URL for a production web worker (`onemap demo` starts its own)")
application = create_server(AppContext(_settings, _settings.redis_url, _settings.mqtt_url))
