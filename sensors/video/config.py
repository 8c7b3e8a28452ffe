"""The ``[video]`` table over ``sensors.video.defaults`` (a deployment's video settings)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from sensors.video import defaults


@dataclass(frozen=True)
class VideoConfig:
    """Video gateway settings. ``gateway_url``: the address browsers reach the gateway at (empty:
    the web page's host with ``port``); ``port``: the gateway's listen port; ``platforms``: VMS
    platforms by name (``sensors.video.sources``), e.g. ``{"tianwang": {"kind": "http", "url":
    "http://wvp:18080/api/play/start/{channel}", "field": "data.rtsp"}}``; ``demo_rtsp``: the
    demo camera server's base (``rtsp://127.0.0.1:8554/``: registry cameras map onto its pool)."""

    idle_stop_s: float = defaults.IDLE_STOP_S
    max_upstreams: int = defaults.MAX_UPSTREAMS
    connect_timeout_s: float = defaults.CONNECT_TIMEOUT_S
    token_ttl_s: float = defaults.TOKEN_TTL_S
    recheck_s: float = defaults.RECHECK_S
    gop_max_bytes: int = defaults.GOP_MAX_BYTES
    coalesce_s: float = defaults.COALESCE_S
    clip_s: float = defaults.CLIP_S
    clip_sources: tuple[str, ...] = defaults.CLIP_SOURCES
    role_quota: dict[str, int] = field(default_factory=lambda: dict(defaults.ROLE_QUOTA))
    default_quota: int = defaults.DEFAULT_QUOTA
    host: str = "127.0.0.1"
    port: int = 8060
    gateway_url: str = ""
    platforms: dict[str, dict] = field(default_factory=dict)
    demo_rtsp: str = ""
    demo_pool: int = 8
    ffmpeg: str = "ffmpeg"
    puller: str = defaults.PULLER
    transcode_h265: bool = defaults.TRANSCODE_H265
    max_transcodes: int = defaults.MAX_TRANSCODES
    transcode_width: int = defaults.TRANSCODE_WIDTH

    @classmethod
    def from_table(cls, table: dict[str, Any] | None) -> VideoConfig:
        """The table's keys over the defaults; an unknown key is an error (a typo would
        otherwise be ignored silently)."""
        table = dict(table or {})
        known = {f.name for f in fields(cls)}
        bad = sorted(set(table) - known)
        if bad:
            raise ValueError(f"[video]: unknown keys {bad} (known: {sorted(known)})")
        if "clip_sources" in table:
            table["clip_sources"] = tuple(table["clip_sources"])
        cfg = cls(**table)
        if cfg.max_upstreams < 1 or cfg.idle_stop_s < 0 or cfg.token_ttl_s <= 0 \
                or cfg.connect_timeout_s <= 0 or not 0 <= cfg.coalesce_s <= 1 \
                or not 0 <= cfg.clip_s <= 600 or cfg.puller not in ("native", "ffmpeg") \
                or cfg.max_transcodes < 0 or cfg.transcode_width < 160:
            raise ValueError("[video]: max_upstreams ≥ 1, idle_stop_s ≥ 0, token_ttl_s > 0, "
                             "connect_timeout_s > 0, 0 ≤ coalesce_s ≤ 1, 0 ≤ clip_s ≤ 600, "
                             "puller native or ffmpeg, max_transcodes ≥ 0, transcode_width ≥ 160")
        return cfg

    def quota(self, role: str) -> int:
        """Concurrent views a user of ``role`` may hold."""
        return int(self.role_quota.get(role, self.default_quota))
