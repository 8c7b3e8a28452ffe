"""Video you can watch (issue 23; V1 全域覆盖, V27 全程可控, V28, M3, T25 看得见).

- ``defaults``, ``config``: tunables and the ``[video]`` table;
- ``ts``: MPEG-TS packets: keyframes (random access points), PAT/PMT, the codec;
- ``gateway``: one upstream pull per camera fanned out to every viewer, the last GOP kept
  (秒开), stopped after an idle period, a cap on upstreams (视频通道已满), offline with a reason;
- ``sources``: where a camera's picture comes from: RTSP (ffmpeg), or a VMS platform's channel
  through an adapter (WVP-style HTTP API);
- ``access``: playback tokens bound to a session, the 视频调阅 log (start, end, denied).

Connections (Redis, ffmpeg processes, sockets) are opened by ``app.video`` and passed in.
"""
