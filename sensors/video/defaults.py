"""Video gateway tunables (V1 全时可用, V27 全程可控, M3): each with its unit and its reason.
A deployment overrides them in the ``[video]`` table (``sensors.video.config.VideoConfig``)."""

IDLE_STOP_S = 30.0
"""An upstream pull with no viewer is stopped after this long (s) (无人观看自动断流): a viewer
who reloads the page within it finds the stream still warm."""

MAX_UPSTREAMS = 32
"""Concurrent upstream pulls per gateway process: each is one RTSP session to a camera or a
platform (platforms license channels; a camera serves few sessions). The next camera is refused
with ``CHANNELS_FULL``."""

CONNECT_TIMEOUT_S = 6.0
"""A camera that sends no picture within this long (s) is offline (with ffmpeg's reason)."""

TOKEN_TTL_S = 60.0
"""A playback URL starts a stream only within this long (s) after it was issued (the stream then
plays on); bound to the session that asked for it."""

RECHECK_S = 60.0
"""An open stream re-checks its viewer's session this often (s): a logout ends it."""

GOP_MAX_BYTES = 4 * 1024 * 1024
"""The kept last GOP (秒开) is capped at this many bytes (a camera with a 10 s keyframe interval
at a high bitrate would otherwise grow it without bound)."""

VIEWER_QUEUE_CHUNKS = 256
"""Chunks queued for one viewer before it counts as too slow and is dropped (its player
reconnects; one slow phone never holds the upstream back)."""

READ_CHUNK = 188 * 1024
"""Bytes read from ffmpeg's stdout at once at most (whole MPEG-TS packets): room for
``COALESCE_S`` of a high-bitrate camera (8 Mbit/s × 0.1 s = 100 kB)."""

PULLER = "native"
"""How an ``rtsp://`` camera is pulled: ``native`` (``sensors.video.rtsp``: the gateway's own RTSP
client, every camera in the gateway's one process, read in large reads) or ``ffmpeg`` (one
``ffmpeg -c copy`` child per camera, as before; also what ``rtsps://`` and a platform's HTTP
addresses always use). bench/video.py measures both."""

COALESCE_S = 0.2
"""A live upstream is read at most this often (s): what ffmpeg wrote meanwhile waits in the pipe
and goes to each viewer in one write. The gateway's own CPU is per chunk × viewer: at 15 fps one
write per frame cost 2.0 s/min for 100 viewers, one per 0.25 s 1.0 s/min (bench/video.py on the
loaded 2-core host). Adds at most this much to the live latency (p95 163 → 319 ms at 0.25 s;
the aim is < 2 s); 0: one write per read (per frame)."""

VIEWS_MAXLEN = 100_000
"""Entries kept in the 视频调阅 log stream (start/end/denied; ~a month of a busy hall)."""

ROLE_QUOTA = {"grid_worker": 2, "responder": 2}
"""Concurrent views per user of a role (configuration; unset roles: ``DEFAULT_QUOTA``): a phone
on a mobile network watches at most two cameras at once."""

DEFAULT_QUOTA = 9
"""Concurrent views per user otherwise (a console's 2×2 grid, the wall's 3×3)."""

TRANSCODE_H265 = False
"""An H.265 camera is transcoded to H.264 by the gateway (ffmpeg's libx264, ``veryfast``,
``zerolatency``, a keyframe every 2 s, at most ``TRANSCODE_WIDTH`` wide) instead of refused with
``H265_REFUSED``. Off by default: a transcode costs a CPU core's share per camera where a
repackaging costs ~0; a deployment whose cameras are H.265 turns it on and sizes
``MAX_TRANSCODES`` to its cores (or has its GB/T 28181 platform transcode per channel)."""

MAX_TRANSCODES = 2
"""Concurrent transcodes per gateway (each also counts in ``MAX_UPSTREAMS``): the next H.265
camera is refused with ``TRANSCODE_FULL``."""

TRANSCODE_WIDTH = 960
"""A transcoded picture is scaled down to at most this many pixels wide (a wall tile, a console
panel, a phone: a camera's 4K main stream at full size would cost a core by itself)."""

CHANNELS_FULL = "视频通道已满，请稍后再试或关闭其他画面"
TRANSCODE_FULL = "视频转码通道已满（H.265 摄像机需转码播放），请稍后再试或关闭其他画面"
H265_REFUSED = "该摄像机为 H.265 编码，浏览器无法直接播放（请在平台侧配置转码）"
QUOTA_FULL = "同时调阅的视频路数已达上限"

CLIP_S = 20.0
"""A video-AI detection that opens a case gets this long (s) of its camera kept with the case
(an MP4, ``-c copy`` from the shared upstream: no second pull), from the kept GOP before the
alarm on. 0: no clips."""

CLIP_SOURCES = ("video_ai",)
"""Alarm sources (``grid.contracts.Source``) whose new case gets a clip: a video-AI detection's
own camera. Adding ``"iot"`` clips the nearest camera that sees a sensor's alarm (each takes an
upstream channel for ``CLIP_S``)."""
