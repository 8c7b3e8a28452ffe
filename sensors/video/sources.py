"""Where a camera's picture comes from (V28: 天网/雪亮 platforms; issue 23).

A registry camera's ``stream_url`` is one of:

- ``rtsp://[user:pass@]host[:port]/path``: the camera (or an NVR) itself, pulled over RTSP;
- ``vms://<platform>/<channel>``: a channel of a VMS platform (a GB/T 28181 platform such as
  WVP-GB28181-pro, 天网/雪亮 gateways): the platform's adapter asks its HTTP API for a playable
  address of that channel (usually an RTSP or HTTP-FLV URL of its media server) and the gateway
  pulls that. ``VmsAdapter`` is the interface; ``HttpVmsAdapter`` the WVP-style one.

The demo's registry says ``rtsp://vms.onemap.local/live/<id>`` for every camera (no such host):
with ``demo_rtsp`` set, those map onto the demo camera server's pool, so every camera plays.
Addresses and credentials stay on the server: a browser only ever sees the gateway's URL.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import zlib
from typing import Protocol

from sensors.video.config import VideoConfig

DEMO_BASE = "rtsp://vms.onemap.local/live/"    # sensors.registry.STREAM_BASE (the demo's)


class SourceError(Exception):
    """No playable address: the message is for an operator (Chinese)."""


class VmsAdapter(Protocol):
    """A VMS platform: a playable address for one of its channels (blocking; called in a
    worker thread). Raise ``SourceError`` with a reason when the platform says no."""

    def playable_url(self, channel: str) -> str: ...


class HttpVmsAdapter:
    """A WVP-style platform: ``GET url`` (``{channel}`` replaced, e.g.
    ``http://wvp:18080/api/play/start/{channel}``, a device/channel pair as ``34020…/34020…``)
    answers JSON; ``field`` is the dotted path of the address in it (``data.rtsp``)."""

    def __init__(self, url: str, field: str = "data.rtsp", headers: dict | None = None,
                 timeout_s: float = 5.0) -> None:
        self.url, self.field, self.headers, self.timeout_s = url, field, headers or {}, timeout_s

    def playable_url(self, channel: str) -> str:
        url = self.url.replace("{channel}", urllib.parse.quote(channel, safe="/"))
        req = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (configured URL)
                doc = json.load(resp)
        except (OSError, ValueError) as exc:
            raise SourceError(f"视频平台无响应: {exc}") from exc
        val: object = doc
        for part in self.field.split("."):
            val = val.get(part) if isinstance(val, dict) else None
        if not isinstance(val, str) or not val:
            raise SourceError(f"视频平台未给出通道 {channel} 的播放地址 ({self.field})")
        return val


def adapters(cfg: VideoConfig) -> dict[str, VmsAdapter]:
    """The configured platforms (``[video.platforms.<name>]``, ``kind = "http"``)."""
    out: dict[str, VmsAdapter] = {}
    for name, p in cfg.platforms.items():
        if p.get("kind", "http") != "http":
            raise ValueError(f"[video.platforms.{name}]: unknown kind {p.get('kind')!r}")
        out[name] = HttpVmsAdapter(p["url"], p.get("field", "data.rtsp"), p.get("headers"),
                                   float(p.get("timeout_s", 5.0)))
    return out


def demo_url(cfg: VideoConfig, camera: str) -> str:
    """The demo pool's camera a registry camera maps onto (stable per id)."""
    n = zlib.crc32(camera.encode()) % max(1, cfg.demo_pool) + 1
    return f"{cfg.demo_rtsp.rstrip('/')}/live/{n}"


def resolve(cfg: VideoConfig, platforms: dict[str, VmsAdapter], camera: str, stream_url: str) -> str:
    """The address the gateway pulls for ``camera`` (blocking for a platform)."""
    if cfg.demo_rtsp and (not stream_url or stream_url.startswith(DEMO_BASE)):
        return demo_url(cfg, camera)
    if stream_url.startswith(("rtsp://", "rtsps://")):
        return stream_url
    if stream_url.startswith("vms://"):
        u = urllib.parse.urlsplit(stream_url)
        adapter = platforms.get(u.netloc)
        if adapter is None:
            raise SourceError(f"未配置的视频平台: {u.netloc}")
        return adapter.playable_url(u.path.lstrip("/"))
    raise SourceError("该摄像机没有可用的视频地址")
