#!/usr/bin/python3
"""演示摄像机: a real RTSP server with simulated cameras (issue 23, the demo and the tests).

Run by Debian's own python3 (``/usr/bin/python3``: ``python3-gi`` and
``gir1.2-gst-rtsp-server-1.0``), not the project's venv, as its own process::

    /usr/bin/python3 scripts/video_cameras.py --port 8554 --cameras 8

Serves ``rtsp://127.0.0.1:<port>/live/<n>`` for n = 1..cameras: a live test picture (each camera
its own pattern) labelled with its id and the time (clockoverlay), H.264 baseline-ish
(``x264enc tune=zerolatency``, a keyframe every ``--keyint-s`` seconds as real cameras send),
one encoder per camera however many clients pull it (shared media, as a camera serves several
sessions from one encoder). ``--h265 K`` adds ``/h265/1..K`` (H.265, for the gateway's refusal).
Prints ``ready <port>`` on stdout once it listens. Stops on SIGTERM/SIGINT.

The scene changes (the demo's fire scenario, issue 23): ``--control FILE`` is read twice a second;
``{"fire": [3, 5]}`` turns cameras 3 and 5 to a fire scene (an orange blaze moving on dark red,
"火情 FIRE" across the picture) until the file no longer names them. ``app.video.SceneDirector``
writes it from the alarms the fire sensors raise.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PATTERNS = ("smpte", "ball", "snow", "bar", "circular", "pinwheel", "spokes", "gradient",
            "colors", "checkers-8", "zone-plate", "smpte75")


def launch(n: int, args: argparse.Namespace, codec: str) -> str:
    pattern = PATTERNS[(n - 1) % len(PATTERNS)]
    fps, key = args.fps, max(1, int(round(args.fps * args.keyint_s)))
    label = {"h264": f"演示摄像机 {n:02d}", "h265": f"H.265 摄像机 {n:02d}"}.get(
        codec, f"B 帧摄像机 {n:02d}")
    src = (f"videotestsrc name=src is-live=true pattern={pattern} ! "
           f"video/x-raw,width={args.width},height={args.height},framerate={fps}/1 ! "
           f"textoverlay text=\"{label}\" valignment=top halignment=left font-desc=\"Sans 14\" ! "
           f"textoverlay name=alert text=\"\" valignment=center halignment=center "
           f"font-desc=\"Sans Bold 28\" color=0xFFFFD000 shaded-background=true ! "
           f"clockoverlay time-format=\"%Y-%m-%d %H:%M:%S\" valignment=bottom halignment=right "
           f"font-desc=\"Sans 12\" ! videoconvert ! ")
    if codec == "bframes":      # a main-profile camera with B-frames (decode order ≠ display order)
        enc = (f"x264enc speed-preset=superfast bframes=2 b-adapt=false bitrate={args.kbps} "
               f"key-int-max={key} ! video/x-h264,profile=main ! "
               f"rtph264pay name=pay0 pt=96 config-interval=-1")
    elif codec == "h265":
        enc = (f"x265enc tune=zerolatency speed-preset=ultrafast bitrate={args.kbps} "
               f"key-int-max={key} ! rtph265pay name=pay0 pt=96 config-interval=-1")
    else:
        enc = (f"x264enc tune=zerolatency speed-preset=ultrafast bitrate={args.kbps} "
               f"key-int-max={key} ! video/x-h264,profile=baseline ! "
               f"rtph264pay name=pay0 pt=96 config-interval=-1")
    return f"( {src}{enc} )"


FIRE = {"pattern": "ball", "foreground-color": "0xFFFF7A00", "background-color": "0xFF5A0A00",
        "animation-mode": "running-time", "motion": "wavy"}
"""The fire scene: videotestsrc's moving ball in orange on dark red."""


class Scenes:
    """Each camera's running media (shared: one per camera) and the fire scene on or off."""

    def __init__(self, control: str | None) -> None:
        self.control, self.mtime, self.fire = control, 0.0, set()
        self.bins: dict[int, object] = {}

    def configured(self, _factory, media, n: int) -> None:  # noqa: ANN001
        self.bins[n] = media.get_element()
        self.apply(n)

    def apply(self, n: int) -> None:
        b = self.bins.get(n)
        src = b.get_by_name("src") if b is not None else None
        alert = b.get_by_name("alert") if b is not None else None
        if src is None or alert is None:
            return
        on = n in self.fire
        props = FIRE if on else {"pattern": PATTERNS[(n - 1) % len(PATTERNS)],
                                 "foreground-color": "0xFFFFFFFF",
                                 "background-color": "0xFF000000", "motion": "wavy"}
        for k, v in props.items():
            Gst.util_set_object_arg(src, k, v)
        alert.set_property("text", f"火情 FIRE · 摄像机 {n:02d}" if on else "")

    def poll(self) -> bool:
        """Read the control file when it changed (GLib timeout: True keeps it running)."""
        try:
            st = os.stat(self.control)
        except OSError:
            st = None
        mtime = st.st_mtime if st else 0.0
        if mtime != self.mtime:
            self.mtime = mtime
            fire: set[int] = set()
            if st is not None:
                try:
                    with open(self.control, encoding="utf-8") as fh:
                        fire = {int(x) for x in json.load(fh).get("fire", [])}
                except (OSError, ValueError, TypeError, AttributeError) as exc:
                    print(f"control {self.control}: {exc}", file=sys.stderr, flush=True)
                    return True     # a half-written file: read again on the next tick
            changed, self.fire = fire ^ self.fire, fire
            for n in changed:
                self.apply(n)
        return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--cameras", type=int, default=8)
    p.add_argument("--h265", type=int, default=0)
    p.add_argument("--bframes", type=int, default=0, help="H.264 cameras with B-frames (/bframes/N)")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--keyint-s", type=float, default=2.0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--kbps", type=int, default=500)
    p.add_argument("--control", default=None, help="JSON file: {\"fire\": [camera numbers]}")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD",
                   help="ask for these credentials by RTSP Digest authentication, as IP cameras do")
    args = p.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    scenes = Scenes(args.control)
    role = None
    if args.auth:
        user, _, password = args.auth.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        role = Gst.Structure.from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0]
    for codec, count, prefix in (("h264", args.cameras, "live"), ("h265", args.h265, "h265"),
                                 ("bframes", args.bframes, "bframes")):
        for n in range(1, count + 1):
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(launch(n, args, codec))
            factory.set_shared(True)          # one encoder per camera, whoever pulls it
            if role is not None:
                factory.add_role_from_structure(role)
            if codec == "h264":
                factory.connect("media-configure", scenes.configured, n)
            mounts.add_factory(f"/{prefix}/{n}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    if args.control:
        scenes.poll()
        GLib.timeout_add(500, scenes.poll)
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print(f"ready {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
