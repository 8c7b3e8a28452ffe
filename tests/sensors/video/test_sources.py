"""Where a camera's picture comes from (issue 23, V28): RTSP as is, a VMS platform's channel
through its adapter (a WVP-style HTTP API, here a real local HTTP server), the demo pool."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sensors.video import sources
from sensors.video.config import VideoConfig


class _Platform(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        ok = self.path.startswith("/api/play/start/3402/")
        body = {"code": 0, "data": {"rtsp": f"rtsp://media:554/rtp/{self.path.rsplit('/', 1)[1]}"}}
        data = json.dumps(body if ok else {"code": 404, "data": None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_rtsp_vms_and_the_demo_pool() -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Platform)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cfg = VideoConfig.from_table({"platforms": {"tianwang": {
            "url": f"http://127.0.0.1:{srv.server_port}/api/play/start/{{channel}}"}}})
        plat = sources.adapters(cfg)
        assert sources.resolve(cfg, plat, "c1", "rtsp://u:p@10.0.0.1/ch1") == "rtsp://u:p@10.0.0.1/ch1"
        assert sources.resolve(cfg, plat, "c2", "vms://tianwang/3402/3402001") == \
            "rtsp://media:554/rtp/3402001"
        with pytest.raises(sources.SourceError, match="播放地址"):
            sources.resolve(cfg, plat, "c3", "vms://tianwang/9999/1")
        with pytest.raises(sources.SourceError, match="未配置"):
            sources.resolve(cfg, plat, "c4", "vms://xueliang/1/2")
        with pytest.raises(sources.SourceError, match="没有可用"):
            sources.resolve(cfg, plat, "c5", "")
    finally:
        srv.shutdown()
    demo = VideoConfig.from_table({"demo_rtsp": "rtsp://127.0.0.1:8554/", "demo_pool": 4})
    url = sources.resolve(demo, {}, "cam-00007", "rtsp://vms.onemap.local/live/cam-00007")
    assert url.startswith("rtsp://127.0.0.1:8554/live/") and 1 <= int(url.rsplit("/", 1)[1]) <= 4
    with pytest.raises(ValueError, match="unknown keys"):
        VideoConfig.from_table({"idle_stop": 3})
