"""The gateway's pulls alone (issue 23): N simulated cameras, one viewer each that keeps nothing,
in this process; the process's own CPU (and its ffmpeg children's) over a steady window, per
puller and coalesce period. Where bench/video.py's gateway CPU goes before any fan-out.

Real parts: Debian's GStreamer RTSP server with N live x264 cameras (320×180, 15 fps,
300 kbit/s, a keyframe every 2 s, as bench/video.py), one always-on ``ffmpeg -f null`` per
camera keeping its encoder running; ``sensors.video.gateway.Gateway`` on uvloop.

    python bench/video_pull.py       # options: --cameras 16 --seconds 20 --coalesce 0.2 0.5
                                     #          --puller native ffmpeg
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


async def measure(base: str, cameras: int, puller: str, coalesce: float, seconds: float) -> dict:
    from sensors.video.config import VideoConfig
    from sensors.video.gateway import Gateway

    gw = Gateway(VideoConfig.from_table({"connect_timeout_s": 10.0, "max_upstreams": 64,
                                         "puller": puller, "coalesce_s": coalesce}))
    viewers = [await gw.open(f"cam-{k}", f"{base}live/{k + 1}", lambda _chunk: True)
               for k in range(cameras)]
    await asyncio.sleep(3)          # past the cold starts: the steady state only
    own0, kids0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.monotonic()
    in0 = sum(u.bytes_in for u in gw.upstreams.values())
    await asyncio.sleep(seconds)
    dt = time.monotonic() - t0
    own = (_cpu(resource.RUSAGE_SELF) - own0) / dt * 60
    live = sum(u.state == "live" for u in gw.upstreams.values())
    mb = (sum(u.bytes_in for u in gw.upstreams.values()) - in0) / 1e6
    for v in viewers:
        gw.close(v)
    await gw.stop()
    # ffmpeg children are counted by RUSAGE_CHILDREN only once reaped: after the stop
    kids = (_cpu(resource.RUSAGE_CHILDREN) - kids0) / dt * 60
    return {"puller": puller, "coalesce_s": coalesce, "live": live, "mb_in": round(mb, 2),
            "process_cpu_s_per_min": round(own, 3), "children_cpu_s_per_min": round(kids, 3)}


def main() -> None:
    import uvloop

    from app.video import DemoCameras

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--coalesce", type=float, nargs="+", default=[0.2, 0.5])
    ap.add_argument("--puller", nargs="+", default=["native", "ffmpeg"], choices=("native", "ffmpeg"))
    args = ap.parse_args()
    cams = DemoCameras(cameras=args.cameras, keyint_s=2.0, width=320, height=180, fps=15,
                       kbps=300).start()
    keepers = [subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "quiet", "-rtsp_transport", "tcp",
                                 "-i", cams.url(k + 1), "-c", "copy", "-f", "null", "-"])
               for k in range(args.cameras)]
    rows = []
    try:
        for puller in args.puller:
            for coalesce in args.coalesce:
                row = uvloop.run(measure(cams.base, args.cameras, puller, coalesce, args.seconds))
                rows.append(row)
                print(f"{puller:6} coalesce {coalesce:.2f} s: {row['live']}/{args.cameras} live, "
                      f"{row['mb_in']} MB in, CPU s/min: process {row['process_cpu_s_per_min']:.2f}"
                      f" + ffmpeg children {row['children_cpu_s_per_min']:.2f}", flush=True)
    finally:
        for p in keepers:
            p.terminate()
        cams.stop()
    print(json.dumps({"bench": "video_pull", "cameras": args.cameras, "runs": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
