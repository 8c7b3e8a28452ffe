"""``rtsp_cameras``: a real RTSP camera server (Debian's GStreamer RTSP server,
``scripts/video_cameras.py``) for the session: four H.264 cameras and one H.265. Import it into a
test module: ``from tests.sensors.video.camkit import rtsp_cameras  # noqa: F401``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.video import SYSTEM_PYTHON, DemoCameras


@pytest.fixture(scope="session")
def rtsp_cameras() -> Iterator[DemoCameras]:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail("the video tests need Debian's python3 with python3-gi and "
                    "gir1.2-gst-rtsp-server-1.0 (scripts/install-system.sh)")
    cams = DemoCameras(cameras=4, h265=1, keyint_s=1.0, width=320, height=180, fps=10,
                       kbps=200).start()
    yield cams
    cams.stop()
