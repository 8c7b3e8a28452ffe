"""Fixtures of the video tests behind the login (import them into a test module:
``from tests.app.videokit import gateway, rtsp_cameras, vctx, web  # noqa: F401``).

``vctx``: an AppContext whose ``[video]`` maps every registry camera onto the session's demo
RTSP cameras, with a short grant life (``TTL_S``) and idle period; ``web``: the Flask server;
``gateway``: the video gateway in a thread (``app.video.Background``) on a free port.
"""

from __future__ import annotations

import pytest

from app.config import Settings
from app.context import AppContext
from tests.app.authkit import KIOSK
from tests.sensors.video.camkit import rtsp_cameras  # noqa: F401

TTL_S = 3.0
CLIP_S = 3.0
"""A case's clip in the tests (the deployment's default is 20 s)."""


@pytest.fixture
def vctx(redis_client, redis_service, demo_city, demo_devices, tmp_path,
         rtsp_cameras) -> AppContext:  # noqa: F811
    settings = Settings(secret_key="t" * 64, kiosk_token=KIOSK, data_dir=tmp_path,
                        video={"demo_rtsp": rtsp_cameras.base, "demo_pool": 2, "port": 0,
                               "token_ttl_s": TTL_S, "idle_stop_s": 0.5, "connect_timeout_s": 5,
                               "clip_s": CLIP_S})
    ctx = AppContext(settings, redis_service.url)
    ctx.__dict__["city"] = demo_city
    ctx.__dict__["devices"] = demo_devices
    return ctx


@pytest.fixture
def web(vctx):
    from app.server import create_server  # noqa: PLC0415
    from app.users import ensure_demo_users  # noqa: PLC0415
    from tests.app.authkit import PASSWORD  # noqa: PLC0415

    ensure_demo_users(vctx.redis, vctx.city, PASSWORD)
    server = create_server(vctx)
    server.config["TESTING"] = True
    return server


@pytest.fixture
def gateway(vctx):
    from app.video import Background  # noqa: PLC0415

    gw = Background(vctx, port=0).start()
    vctx.settings.video = {**vctx.settings.video, "port": gw.port}   # the URLs the API gives
    yield gw
    gw.stop()
