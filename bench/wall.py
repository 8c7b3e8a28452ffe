"""Bench: the /wall video wall in headless Chromium, beside the naive version (issue 5).

Demo city 高州市 at full size (5,440 sensors, 4,780 cameras, 1,440 grid cells, open incidents)
and with the 26,907-camera stress registry. Measured:

- time to first complete map paint (navigation start → the map's traces drawn and MapLibre idle,
  ``window.__omFirstPaint`` set by assets/wall/wall.js);
- bytes sent per live tick (the body of each callback response that carried events) and the
  server time per tick (Flask before/after request), while alarms and incidents stream in;
- the same for the naive screen (``wall.build_app(naive=True)``: all raw points, and the whole
  figure rebuilt and resent on every tick), with the ratios.

Usage: ``python bench/wall.py [--ticks 8] [--incidents 400] [--size 1920x1080] [--city-dir DIR]``.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from flask import Flask, g, request  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app.config import Settings  # noqa: E402
from app.context import AppContext  # noqa: E402
from app.screens import wall  # noqa: E402
from app.services import free_port, start_redis_server  # noqa: E402
from incidents.actor import Actor  # noqa: E402
from sensors.keys import ALARMS, DEV_STATE  # noqa: E402
from tests.fixtures import synthetic  # noqa: E402


def log(msg: str) -> None:
    print(msg, flush=True)


def load_city(city_dir: Path | None):  # noqa: ANN201
    from grid.build import build_city  # noqa: PLC0415
    from grid.io import load_city as _load  # noqa: PLC0415
    from grid.io import save_city  # noqa: PLC0415

    if city_dir and (city_dir / "city.json").exists():
        return _load(city_dir), city_dir
    out = Path(tempfile.mkdtemp(prefix="onemap-bench-wall-")) / "高州市"
    save_city(build_city("高州市"), out)
    return _load(out), out


def registries(city):  # noqa: ANN001, ANN201
    """(sensors, cameras, stress cameras): the sensors package's registry (normal and stress)."""
    from sensors.registry import generate  # noqa: PLC0415

    full = generate(city)
    stress = generate(city, stress=True).cameras
    return full.sensors, full.cameras, stress, "sensors.registry"


def alarm(dev: str, lon: float, lat: float, town: str, ep: str, level: str, msg: str) -> dict:
    return {"episode": ep, "event": "raise", "source": "iot", "device_id": dev,
            "device_type": "water_level", "category": "0306", "level": level, "severity": "较大",
            "metric": "level", "value": "12.3", "unit": "m", "threshold": "12.0",
            "lon": f"{lon:.6f}", "lat": f"{lat:.6f}", "cell_code": "", "town_code": town,
            "ts": str(int(time.time() * 1000)), "message": msg}


def seed(ctx: AppContext, sensors, cameras, stress, n_incidents: int) -> None:  # noqa: ANN001
    r = ctx.redis
    ids = pd.concat([sensors["id"], cameras["id"], stress["id"]]).drop_duplicates()
    r.hset(DEV_STATE, mapping=synthetic.states_for(ids.reset_index(drop=True), seed=11))
    for i, row in enumerate(sensors.iloc[::400].itertuples(index=False)):
        r.xadd(ALARMS, alarm(row.id, row.lon, row.lat, row.town_code, f"seed-{i}",
                             ("blue", "yellow", "orange", "red")[i % 4], "水位超警戒"))
    cells = ctx.city.cells
    rng = np.random.default_rng(5)
    cats = ("0101", "0105", "0106", "0107", "0302", "0401", "0601", "0701", "1001", "1201")
    for i in rng.integers(0, len(cells), n_incidents):
        c = cells.iloc[int(i)]
        p = c.geometry.representative_point()
        who = Actor(f"w{i}", "grid_worker", f"T{c['town_code']}", "网格员", cell=c["code"])
        ctx.incidents.report(who, cats[int(i) % len(cats)], p.x, p.y,
                             severity=("一般", "一般", "较大", "重大")[int(i) % 4],
                             description="bench", correlate=False)


class Meter:
    """Callback responses seen by the Flask server: output ids, bytes, server seconds."""

    def __init__(self, server: Flask) -> None:
        self.rows: list[dict] = []
        self.lock = threading.Lock()

        @server.before_request
        def _t0():  # noqa: ANN202
            g.t0 = time.perf_counter()

        @server.after_request
        def _t1(resp):  # noqa: ANN001, ANN202
            if request.path.endswith("_dash-update-component"):
                body = request.get_json(silent=True) or {}
                data = resp.get_data() if resp.status_code == 200 else b""
                # a tick "with events" sends a delta (ours) or the figure (naive)
                sent = json.loads(data).get("response", {}) if data else {}
                with self.lock:
                    self.rows.append({"path": request.path, "output": str(body.get("output", "")),
                                      "status": resp.status_code, "bytes": len(data),
                                      "events": "wall-delta" in sent or "wall-map" in sent,
                                      "s": time.perf_counter() - g.t0, "t": time.monotonic()})
            return resp

    def ticks(self, prefix: str, since: float) -> list[dict]:
        with self.lock:
            return [r for r in self.rows if r["path"].startswith(prefix) and r["t"] >= since
                    and "wall-delta.data" in r["output"]]


def driver(width: int, height: int) -> webdriver.Chrome:
    o = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
              f"--window-size={width},{height}", "--disable-background-networking",
              "--disable-component-update"):
        o.add_argument(a)
    drv = webdriver.Chrome(options=o)
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    drv.set_page_load_timeout(120)
    return drv


BOOT: list[float] = []   # seconds until the (empty) map exists: page + plotly.js + MapLibre boot


def first_paint(drv: webdriver.Chrome, url: str, runs: int, timeout: float = 90) -> list[float]:
    """Seconds from navigation start to the first complete map paint, per run."""
    out = []
    for _ in range(runs):
        drv.get("about:blank")
        drv.get(url)
        deadline = time.monotonic() + timeout
        fp = None
        while time.monotonic() < deadline:
            fp = drv.execute_script("return window.__omFirstPaint || null")
            if fp:
                break
            time.sleep(0.05)
        if not fp:
            raise RuntimeError(f"no first paint on {url} within {timeout}s (tab crash?)")
        out.append(fp / 1000)
        boot = drv.execute_script("return (window.__omTimeline || {}).map || null")
        if boot:
            BOOT.append(boot / 1000)
    return out


def live_ticks(drv: webdriver.Chrome, ctx: AppContext, meter: Meter, prefix: str, sensors,  # noqa: ANN001
               n: int, tag: str) -> list[dict]:
    """Stream n batches (3 alarms + 1 incident each), one per tick; wait for each on the DOM."""
    rng = np.random.default_rng(hash(tag) % 2**32)
    cells = ctx.city.cells
    since = time.monotonic()
    for k in range(n):
        marker = f"{tag}-{k}"
        for j in range(3):
            row = sensors.iloc[int(rng.integers(0, len(sensors)))]
            ctx.redis.hset(DEV_STATE, row["id"], "alarm")
            ctx.redis.xadd(ALARMS, alarm(row["id"], row["lon"], row["lat"], row["town_code"],
                                         f"{marker}-{j}", ("orange", "red", "yellow")[j], marker))
        c = cells.iloc[int(rng.integers(0, len(cells)))]
        p = c.geometry.representative_point()
        ctx.incidents.report(Actor("wb", "grid_worker", f"T{c['town_code']}", "网格员", cell=c["code"]),
                             "0302", p.x, p.y, severity="较大", description=marker, correlate=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if drv.execute_script(
                    "return document.getElementById('wall-ticker').innerText.includes(arguments[0])",
                    marker):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{marker} never reached the wall")
    time.sleep(1.2)   # let the last tick's response be metered
    return [t for t in meter.ticks(prefix, since) if t["events"]]


def server_tick_seconds(src: wall.WallSources, sensors, naive: bool, n: int = 10) -> float:  # noqa: ANN001
    """Median server time of one tick with 3 new alarms + 1 incident, in process."""
    ctx = src.ctx
    from layers import compose  # noqa: PLC0415
    from layers.themes import THEMES  # noqa: PLC0415

    times = []
    rng = np.random.default_rng(9)
    _, cursor = wall.map_data(src)
    for k in range(n):
        for j in range(3):
            row = sensors.iloc[int(rng.integers(0, len(sensors)))]
            ctx.redis.hset(DEV_STATE, row["id"], "alarm")
            ctx.redis.xadd(ALARMS, alarm(row["id"], row["lon"], row["lat"], row["town_code"],
                                         f"srv-{k}-{j}", "red", "srv"))
        t0 = time.perf_counter()
        out = wall.tick(src, cursor, "overview", hexes_on=not naive)
        payload = json.dumps(out["delta"])
        if naive:
            view = wall.view_for(ctx, {"w": 1920, "h": 1080})
            view.force_raw = True
            data, _ = wall.map_data(src)
            import plotly.io as pio  # noqa: PLC0415

            payload = pio.to_json(compose.compose(data, THEMES["overview"], view).figure,
                                  validate=False)
        times.append(time.perf_counter() - t0)
        assert payload
        cursor = out["cursor"]
    return statistics.median(times)


def screenshots(base: str, out_dir: Path, theme: str = "") -> list[Path]:
    """docs/screenshots/wall-3840x2160.png and wall-1920x1080.png (the README's pictures)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for w, h in ((3840, 2160), (1920, 1080)):
        drv = driver(w, h)
        try:
            first_paint(drv, f"{base}/wall/{'?theme=' + theme if theme else ''}", 1, timeout=120)
            deadline = time.monotonic() + 30   # the charts follow the map's first paint
            while time.monotonic() < deadline and not drv.execute_script(
                    "return document.querySelectorAll('#wall-trend .main-svg').length > 0"):
                time.sleep(0.1)
            time.sleep(1.5)
            p = out_dir / f"wall-{w}x{h}{'-' + theme if theme else ''}.png"
            drv.save_screenshot(str(p))
            paths.append(p)
        finally:
            drv.quit()
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=6)
    ap.add_argument("--incidents", type=int, default=400)
    ap.add_argument("--runs", type=int, default=2, help="first-paint runs per page (after a warm-up)")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--city-dir", type=Path, default=None)
    ap.add_argument("--screenshots", type=Path, default=None,
                    help="only write the wall's screenshots (3840×2160, 1920×1080) to this folder")
    ap.add_argument("--theme", default="", help="with --screenshots: a theme code")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    t_start = time.monotonic()

    city, city_dir = load_city(args.city_dir)
    sensors, cameras, stress, source = registries(city)
    log(f"city {city.name}: {len(city.towns)} towns, {len(city.cells)} cells; devices from "
        f"{source}: {len(sensors)} sensors, {len(cameras)} cameras, stress {len(stress)} cameras")
    svc = start_redis_server(appendonly=False)
    httpd = None
    drv = None
    try:
        settings = Settings(city_dir=city_dir)
        ctx = AppContext(settings, svc.url)
        ctx.__dict__["city"] = city
        # the bench's registries reach the wall through its constructor, not the context
        src = wall.WallSources(ctx, devices=(sensors, cameras))
        src_s = wall.WallSources(ctx, devices=(sensors, stress))
        t = time.perf_counter()
        seed(ctx, sensors, cameras, stress, args.incidents)
        log(f"seeded {args.incidents} open incidents and device states in {time.perf_counter() - t:.1f} s")
        _ = src.index, src_s.index          # built before the first page, as in production

        server = Flask("bench-wall")
        meter = Meter(server)
        wall.build_app(server, src, "/wall/", name="wall")
        wall.build_app(server, src_s, "/stress/", name="wall-stress")
        wall.build_app(server, src, "/naive/", naive=True, name="wall-naive")
        wall.build_app(server, src_s, "/naive-stress/", naive=True, name="wall-naive-stress")
        port = free_port()
        httpd = make_server("127.0.0.1", port, server, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        if args.screenshots:
            for p in screenshots(base, args.screenshots, args.theme):
                log(f"wrote {p}")
            return
        drv = driver(width, height)
        log(f"load average {os.getloadavg()[0]:.1f} (2-core VM shared with other jobs); "
            f"viewport {width}×{height}; Chromium SwiftShader (software WebGL)")

        first_paint(drv, f"{base}/wall/", 1)        # warm-up: browser cache holds plotly.js
        fp = first_paint(drv, f"{base}/wall/", args.runs)
        fp_s = first_paint(drv, f"{base}/stress/", args.runs)
        nfp = first_paint(drv, f"{base}/naive/", args.runs)
        nfp_s = first_paint(drv, f"{base}/naive-stress/", 1)
        log(f"first paint full     : {statistics.median(fp):.2f} s (runs {[round(x, 2) for x in fp]})"
            f"   naive {statistics.median(nfp):.2f} s")
        log(f"first paint stress   : {statistics.median(fp_s):.2f} s (runs {[round(x, 2) for x in fp_s]})"
            f"   naive {statistics.median(nfp_s):.2f} s (26,907 raw points)")
        renders = {pre: statistics.median(r["s"] for r in meter.rows if r["path"].startswith(pre)
                                          and "wall-legend.children" in r["output"])
                   for pre in ("/wall/", "/stress/", "/naive/", "/naive-stress/")}
        log("server render (figure): " + ", ".join(f"{k.strip('/')} {v * 1000:.0f} ms"
                                                    for k, v in renders.items()))
        log(f"of which page boot   : {statistics.median(BOOT):.2f} s median until an empty map exists "
            f"(Dash + React + plotly.js 4.8 MB + MapLibre/WebGL), the same for both versions")

        first_paint(drv, f"{base}/wall/", 1)
        ours = live_ticks(drv, ctx, meter, "/wall/", sensors, args.ticks, "ours")
        first_paint(drv, f"{base}/naive/", 1)
        naive = live_ticks(drv, ctx, meter, "/naive/", sensors, max(2, args.ticks // 2), "naive")
        b = statistics.mean(t["bytes"] for t in ours)
        nb = statistics.mean(t["bytes"] for t in naive)
        st = statistics.median(t["s"] for t in ours)
        nst = statistics.median(t["s"] for t in naive)
        log(f"bytes per live tick  : {b / 1024:.1f} KB ({len(ours)} ticks with events, max "
            f"{max(t['bytes'] for t in ours) / 1024:.1f} KB)   naive {nb / 1024:.1f} KB "
            f"(sizes {sorted(t['bytes'] // 1024 for t in naive)} KB)   ratio {nb / b:.0f}×")
        log(f"server time per tick : {st * 1000:.1f} ms (HTTP, incl. Dash)   naive {nst * 1000:.1f} ms   "
            f"ratio {nst / st:.1f}×")
        srv = server_tick_seconds(src, sensors, False)
        srv_s = server_tick_seconds(src_s, sensors, False)
        nsrv = server_tick_seconds(src, sensors, True, n=3)
        log(f"tick in process      : {srv * 1000:.1f} ms full, {srv_s * 1000:.1f} ms stress (hexagons)"
            f"   naive {nsrv * 1000:.0f} ms")
        fps, fpss, nfps = statistics.median(fp), statistics.median(fp_s), statistics.median(nfp)
        log(f"ratios               : first paint naive/ours {nfps / fps:.2f}× full, "
            f"{statistics.median(nfp_s) / fpss:.2f}× stress; bytes {nb / b:.0f}×")
        log(f"aims                 : first paint < 3 s full {'OK' if fps < 3 else 'MISSED'}, "
            f"< 5 s stress {'OK' if fpss < 5 else 'MISSED'}, < 50 KB/tick {'OK' if b < 50_000 else 'MISSED'}"
            f"   (bench took {time.monotonic() - t_start:.0f} s)")
        print(json.dumps({"bench": "wall", "first_paint_s": round(fps, 3),
                          "first_paint_stress_s": round(fpss, 3), "bytes_per_tick": int(b),
                          "naive_first_paint_s": round(nfps, 3), "naive_bytes_per_tick": int(nb),
                          "naive_first_paint_stress_s": round(statistics.median(nfp_s), 3),
                          "server_tick_ms": round(st * 1000, 2),
                          "naive_server_tick_ms": round(nst * 1000, 2)}))
    finally:
        if drv is not None:
            drv.quit()
        if httpd is not None:
            httpd.shutdown()
        svc.stop()


if __name__ == "__main__":
    main()
