"""Live under load (issue 15): 60 consoles, the wall and 300 phones held on ONE `onemap web`
process, a storm of incident changes underneath; push (/events) beside today's polling, in the
same run.

Real parts: a private redis-server; `onemap web` as its own process (uvicorn: the Flask app and
the push stream, app.live); plain HTTP clients on loopback (asyncio; no browsers) that behave as
the screens' JavaScript does:

- push: each screen holds `GET /events`; a console told of a change runs its queue's Dash
  `refresh` callback with what assets/console/live.js puts in the `feed-last` store (the case
  ids named in the last 3 s, a change count: the server re-reads only those cases and merges
  them into the rows shown, the whole view every 20th change), the wall runs its `live`
  callback, a phone reloads `/m/api/tasks`; consoles keep the 30 s safety-net poll;
- polling (before push): each console POSTs the `poll` callback every 400 ms and re-reads its
  queue when the feed moved; the wall its `live` callback every 500 ms; the phones never refresh.

A console's queue request carries the rows it shows (the DataTable's `data`, a State of the
callback, as the browser sends it) in both modes, and keeps the rows it gets back.

The storm: incident reports across every town (IncidentService, the one write path) at
``--rate`` per second, and a task to a random grid worker every 2 s. Delay = a change written
→ the screen holding it (the re-read that returned the case id). CPU: psutil on the web
process. Sessions are minted with the deployment's SECRET_KEY as the login form would make them
(361 argon2 logins would take minutes); one real login checks they agree.

    python bench/live.py            # options: --seconds 60 --rate 8 --consoles 60 --phones 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HOST = "127.0.0.1"
PASSWORD = "bench-pass-1"
SECRET = "l" * 64
WINDOW_S = 3.0        # assets/console/live.js WINDOW_MS


# --- a keep-alive HTTP/1.1 client on one asyncio connection -----------------------------------
class Conn:
    def __init__(self, port: int, cookie: str, csrf: str) -> None:
        self.port, self.cookie, self.csrf = port, cookie, csrf
        self.reader = self.writer = None
        self.requests = 0
        self.lock = asyncio.Lock()   # one request at a time on the connection (as HTTP/1.1)

    async def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        async with self.lock:
            try:
                return await self._call(method, path, body)
            except (IndexError, ConnectionError, asyncio.IncompleteReadError):
                self.writer = None          # the server closed the idle keep-alive connection
                return await self._call(method, path, body)

    async def _call(self, method: str, path: str, body: dict | None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {self.cookie}\r\n"
                f"X-CSRFToken: {self.csrf}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n")
        self.writer.write(head.encode() + data)
        self.requests += 1
        status = int((await self.reader.readline()).split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                length = int(v)
            elif k.lower() == "transfer-encoding" and "chunked" in v:
                chunked = True
        if chunked:
            out = b""
            while (n := int((await self.reader.readline()).strip(), 16)):
                out += (await self.reader.readexactly(n + 2))[:-2]
            await self.reader.readline()
            return status, out
        return status, await self.reader.readexactly(length) if length else b""


def _outputs(spec: str):
    out = []
    for part in spec.strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        out.append({"id": cid, "property": prop})
    return out if spec.startswith("..") else out[0]


def dash_body(dep: dict, values: dict, changed: str) -> dict:
    """The body the Dash renderer POSTs for callback ``dep`` (values by "id.prop")."""
    def items(xs):
        return [{"id": x["id"], "property": x["property"],
                 "value": values.get(f"{x['id']}.{x['property']}")} for x in xs]
    return {"output": dep["output"], "outputs": _outputs(dep["output"]), "inputs": items(dep["inputs"]),
            "changedPropIds": [changed], "state": items(dep.get("state", []))}


class Stats:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.events = 0

    def seen(self, ids, written: dict, known: set) -> None:
        now = time.monotonic()
        for i in ids:
            if i in written and i not in known:
                known.add(i)
                self.delays.append((now - written[i]) * 1000)


# --- the screens -------------------------------------------------------------------------------
class Console:
    def __init__(self, port, cookie, csrf, deps, city: bool) -> None:
        self.conn = Conn(port, cookie, csrf)
        self.deps, self.view = deps, "open" if city else "mine"
        self.cookie, self.port = cookie, port
        self.known: set[str] = set()
        self.found = 0
        self.rows: list[dict] = []
        self.recent: list[tuple[float, list[str], bool]] = []   # live.js's window
        self.changes = 0

    async def queue(self, feed, written, stats) -> None:
        body = dash_body(self.deps["queue"], {"feed-last.data": feed, "view.value": self.view,
                                              "rev.data": 0, "queue.data": self.rows},
                         "feed-last.data")
        st, data = await self.conn.call("POST", "/console/_dash-update-component", body)
        if st == 200:
            rows = json.loads(data)["response"]["queue"]["data"]
            self.rows = rows
            before = len(self.known)
            stats.seen([r["id"] for r in rows], written, self.known)
            self.found += len(self.known) - before

    def named(self, d: dict) -> dict:
        """The `feed-last` store as assets/console/live.js sets it for a change event."""
        now = time.monotonic()
        self.changes += 1
        self.recent.append((now, d.get("ids") or [], bool(d.get("more") or d.get("em"))))
        self.recent = [r for r in self.recent if now - r[0] <= WINDOW_S]
        ids = list(dict.fromkeys(i for r in self.recent for i in r[1]))
        return {"f": d["f"], "ids": ids, "more": any(r[2] for r in self.recent), "n": self.changes}

    async def poll(self, last):
        body = dash_body(self.deps["poll"], {"tick.n_intervals": 1, "feed-last.data": last},
                         "tick.n_intervals")
        st, data = await self.conn.call("POST", "/console/_dash-update-component", body)
        if st != 200:
            return last
        got = json.loads(data)
        return got.get("response", {}).get("feed-last", {}).get("data", last)

    async def polling(self, end, written, stats) -> None:
        last = await self.poll(None)
        self.known |= set(written)
        while time.monotonic() < end:
            t = time.monotonic()
            now = await self.poll(last)
            if now != last:
                last = now
                await self.queue(now, written, stats)
            await asyncio.sleep(max(0.0, 0.4 - (time.monotonic() - t)))

    async def pushed(self, end, written, stats) -> None:
        from app.live.client import read_events

        self.known |= set(written)

        async def safety_net():
            last = None
            while True:
                await asyncio.sleep(30)
                now = await self.poll(last)
                if now != last:
                    last = now
                    await self.queue(now, written, stats)

        net = asyncio.create_task(safety_net())
        try:
            async with asyncio.timeout(max(0.1, end - time.monotonic())):
                async for ev in read_events(HOST, self.port, self.cookie, "console"):
                    self.conn.requests += ev.kind == "hello"        # the stream's one request
                    if ev.kind == "change":
                        stats.events += 1
                        await self.queue(self.named(ev.data), written, stats)
        except TimeoutError:
            pass
        finally:
            net.cancel()


class Wall:
    def __init__(self, port, cookie, csrf, dep, cursor) -> None:
        self.conn, self.dep, self.cursor = Conn(port, cookie, csrf), dep, cursor
        self.cookie, self.port = cookie, port

    async def tick(self, n) -> None:
        body = dash_body(self.dep, {"wall-push.data": n, "wall-poll.n_intervals": n,
                                    "wall-cursor.data": self.cursor,
                                    "wall-theme.data": {"code": "overview"}, "wall-kpi.data": {}},
                         "wall-poll.n_intervals")
        st, data = await self.conn.call("POST", "/wall/_dash-update-component", body)
        if st == 200:
            got = json.loads(data)["response"].get("wall-cursor", {}).get("data")
            self.cursor = got or self.cursor

    async def polling(self, end, *_a) -> None:
        n = 0
        while time.monotonic() < end:
            t = time.monotonic()
            n += 1
            await self.tick(n)
            await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - t)))

    async def pushed(self, end, _written, stats) -> None:
        from app.live.client import read_events

        try:
            async with asyncio.timeout(max(0.1, end - time.monotonic())):
                async for ev in read_events(HOST, self.port, self.cookie, "wall"):
                    self.conn.requests += ev.kind == "hello"
                    if ev.kind == "change":
                        stats.events += 1
                        await self.tick(ev.id)
        except TimeoutError:
            pass


class Phone:
    def __init__(self, port, cookie, csrf) -> None:
        self.conn, self.cookie, self.port = Conn(port, cookie, csrf), cookie, port
        self.known: set[str] = set()
        self.found = 0

    async def polling(self, end, *_a) -> None:   # today: the task list never refreshes
        await asyncio.sleep(max(0.0, end - time.monotonic()))

    async def pushed(self, end, written, stats) -> None:
        from app.live.client import read_events

        self.known |= set(written)
        try:
            async with asyncio.timeout(max(0.1, end - time.monotonic())):
                async for ev in read_events(HOST, self.port, self.cookie, "m"):
                    self.conn.requests += ev.kind == "hello"
                    if ev.kind == "change":
                        stats.events += 1
                        st, data = await self.conn.call("GET", "/m/api/tasks")
                        if st == 200:
                            before = len(self.known)
                            stats.seen([t["id"] for t in json.loads(data)["tasks"]], written, self.known)
                            self.found += len(self.known) - before
        except TimeoutError:
            pass


# --- the storm ---------------------------------------------------------------------------------
def storm(ctx, city, workers, rate, stop: threading.Event, written: dict) -> None:
    from incidents.actor import SYSTEM, Actor

    rng = random.Random(15)
    cells = city.cells
    k, last_task = 0, time.monotonic()
    while not stop.is_set():
        t = time.monotonic()
        cell = cells.iloc[rng.randrange(len(cells))]
        p = cell.geometry.representative_point()
        inc = ctx.incidents.report(SYSTEM, rng.choice(("0101", "0108", "1202", "0107")), p.x, p.y,
                                   channel="hotline", correlate=False, description="bench storm")
        written.setdefault(inc.id, t)
        if t - last_task > 2.0:
            uid, center = workers[rng.randrange(len(workers))]
            boss = Actor(f"boss{center}", "town_operator", center, "值班员")
            task = ctx.incidents.assign_task(boss, uid, f"巡查 {k}")
            written.setdefault(task.id, time.monotonic())
            last_task = t
        k += 1
        stop.wait(max(0.0, 1 / rate - (time.monotonic() - t)))


async def phase(mode, screens, seconds, written) -> tuple[Stats, float]:
    stats = Stats()
    end = time.monotonic() + seconds
    t0 = time.monotonic()
    await asyncio.gather(*(getattr(s, mode)(end, written, stats) for s in screens))
    return stats, time.monotonic() - t0


def main() -> None:  # noqa: PLR0915 (one scenario, read top to bottom)
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    ap.add_argument("--rate", type=float, default=8.0, help="incident changes per second")
    ap.add_argument("--consoles", type=int, default=60)
    ap.add_argument("--phones", type=int, default=300)
    args = ap.parse_args()

    import psutil
    import redis as redis_lib
    from flask import Flask

    from app import security
    from app.config import Settings
    from app.context import AppContext
    from app.live.client import login
    from app.services import free_port, start_redis_server
    from app.sessions import SessionStore  # a forged cookie needs a server-side record
    from app.users import UserStore, ensure_demo_users
    from grid import centers as cc
    from grid.io import load_or_build_city

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    city_dir = Path(os.environ.get("ONEMAP_BENCH_CITY_DIR") or tmp / "city")
    svc = start_redis_server(tmp / "redis")
    proc = None
    try:
        city = load_or_build_city("高州市", city_dir)
        ctx = AppContext(Settings(secret_key=SECRET, data_dir=tmp, city_dir=city_dir), svc.url)
        ctx.__dict__["city"] = city
        ensure_demo_users(ctx.redis, city, PASSWORD)
        users = UserStore(ctx.redis, city)
        towns = [str(c) for c in city.towns["code"]]
        depts = [d.code for d in city.departments]
        consoles = [("ops", True)]
        for k in range(args.consoles - 1):      # every town a seat, then department seats
            if k < len(towns):
                uid, role, center = f"t{k}", "town_operator", f"T{towns[k]}"
            else:
                uid, role, center = f"d{k}", "dept_operator", f"D{depts[k % len(depts)]}"
            users.add(uid, PASSWORD, role, center, uid, replace=True)
            consoles.append((uid, False))
        step = max(1, len(city.cells) // args.phones)
        workers = []
        for cell_code, town in list(zip(city.cells["code"], city.cells["town_code"], strict=True))[::step][:args.phones]:
            uid = cc.worker_code(str(cell_code))
            users.add(uid, PASSWORD, "grid_worker", f"T{town}", uid, str(cell_code), replace=True)
            workers.append((uid, f"T{town}"))

        port = free_port()
        env = {**os.environ, "ONEMAP_REDIS_URL": svc.url, "ONEMAP_CITY_DIR": str(city_dir),
               "ONEMAP_PORT": str(port), "ONEMAP_SECRET_KEY": SECRET, "ONEMAP_DATA_DIR": str(tmp)}
        env.pop("ONEMAP_MQTT_URL", None)
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "web"], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(tmp / "web.log", "w"))  # noqa: SIM115
        base = f"http://{HOST}:{port}"
        for _ in range(600):
            try:
                import urllib.request
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None, (tmp / "web.log").read_text()[-2000:]
                time.sleep(0.2)
        web = psutil.Process(proc.pid)

        # sessions as the login form makes them (one real login checks the shape)
        signer = Flask("bench", static_folder=None)
        signer.config["SECRET_KEY"] = SECRET
        ser = signer.session_interface.get_signing_serializer(signer)

        def session(uid: str) -> tuple[str, str]:
            u = users.get(uid)
            csrf = f"csrf-{uid}"
            sid = SessionStore(ctx.redis).create(uid, u.epoch, idle_s=3600, absolute_s=3600)
            val = ser.dumps({"_user_id": sid, "_fresh": True, security.CSRF_SESSION_KEY: csrf})
            return f"session={val}; {security.CSRF_COOKIE}={csrf}", csrf

        real = login(base, "ops", PASSWORD)
        for cookie in (real, session("ops")[0]):
            req = urllib.request.Request(f"{base}/api/me", headers={"Cookie": cookie})
            assert json.loads(urllib.request.urlopen(req).read())["user_id"] == "ops"

        cookie, csrf = session("ops")
        probe = Conn(port, cookie, csrf)

        async def deps(path):
            return json.loads((await probe.call("GET", path))[1])
        cdeps, wdeps = asyncio.run(deps("/console/_dash-dependencies")), None
        wcookie, wcsrf = session("wall")
        probe = Conn(port, wcookie, wcsrf)
        wdeps = asyncio.run(deps("/wall/_dash-dependencies"))
        dq = next(d for d in cdeps if "queue.data" in d["output"]
                  and any(i["id"] == "feed-last" for i in d["inputs"]))
        dp = next(d for d in cdeps if d["output"] in ("feed-last.data", "..feed-last.data.."))
        dw = next(d for d in wdeps if "wall-delta.data" in d["output"])
        r = redis_lib.Redis.from_url(svc.url, decode_responses=True)
        top = lambda s: (r.xrevrange(s, count=1) or [["0-0"]])[0][0]  # noqa: E731

        def screens():
            out = [Console(port, *session(uid), {"queue": dq, "poll": dp}, city_) for uid, city_ in consoles]
            out.append(Wall(port, *session("wall"), dw,
                            {"a": top("om:alarms"), "f": top("om:inc:feed"), "seq": 0, "n": 0,
                             "kt": time.time(), "ki": time.time(), "theme": "overview"}))
            out += [Phone(port, *session(uid)) for uid, _ in workers]
            return out

        print(f"screens: {len(consoles)} consoles, 1 wall, {len(workers)} phones on one `onemap web` "
              f"(pid {proc.pid}); storm {args.rate}/s incident changes + a task every 2 s; "
              f"{args.seconds:.0f} s per mode")
        results = {}
        for mode in ("pushed", "polling"):
            written: dict[str, float] = {}
            stop = threading.Event()
            scr = screens()
            writer = threading.Thread(target=storm, args=(ctx, city, workers, args.rate, stop, written))
            cpu0 = sum(web.cpu_times()[:2])
            writer.start()
            try:
                stats, took = asyncio.run(phase(mode, scr, args.seconds, written))
            finally:
                stop.set()
                writer.join()
            cpu = sum(web.cpu_times()[:2]) - cpu0
            idle = [s for s in scr if isinstance(s, (Console, Phone)) and not s.found]
            idle_c = [s for s in idle if isinstance(s, Console)]
            d = sorted(stats.delays)
            res = {"cpu_s_per_min": cpu / took * 60, "n": len(d),
                   "p50": statistics.median(d) if d else float("nan"),
                   "p95": d[int(0.95 * (len(d) - 1))] if d else float("nan"),
                   "idle_console_rpm": (statistics.mean(s.conn.requests for s in idle_c) / took * 60
                                        if idle_c else float("nan")),
                   "idle": len(idle), "events": stats.events, "written": len(written)}
            results[mode] = res
            print(f"{mode:8s}: web CPU {res['cpu_s_per_min']:.1f} s/min · change→screen "
                  f"p50 {res['p50']:.0f} ms p95 {res['p95']:.0f} ms ({res['n']} samples, "
                  f"{res['written']} changes written) · {res['events']} events · idle screens "
                  f"{res['idle']}, an idle console makes {res['idle_console_rpm']:.1f} requests/min")
        push, poll = results["pushed"], results["polling"]
        ratio = poll["cpu_s_per_min"] / push["cpu_s_per_min"] if push["cpu_s_per_min"] else float("inf")
        print(json.dumps({"bench": "live", "screens": len(consoles) + 1 + len(workers),
                          "delay_p50_ms": round(push["p50"]), "delay_p95_ms": round(push["p95"]),
                          "cpu_s_per_min": round(push["cpu_s_per_min"], 2),
                          "poll_cpu_s_per_min": round(poll["cpu_s_per_min"], 2),
                          "ratio": round(ratio, 1)}))
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        svc.stop()


if __name__ == "__main__":
    main()
