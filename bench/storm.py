"""The bad day (issue 15): a storm of alarms replayed on a real redis-server, OneMap's situations
beside the naive policy (one alarm → one case) in the same run.

Deterministic (seeded, injected clock, 10 s steps over 75 minutes): a flood in 根子镇 (its rain
gauges, water levels and manholes alarming in five rain pulses over the hour, each pulse a new
episode that rises and clears, the last one rising to red; video-AI 积水 from three cameras), an outage of 200 devices in 分界镇 (device faults within five
minutes), a building fire (smoke sensors, then video-AI 烟火 confirmation, then the smoke falling
back), and 50 hotline / grid-worker reports (10 about the flood, in 根子镇), at surge rates (the
alarm rate ×4 over the flood's peak, ×10 bursts of the backlog). Alarms are stream entries in the
``om:alarms`` contract (``grid.contracts``) with the demo registry's real devices, taken in by the
real ``AlarmIntake``; a ``DeadlineWorker`` ticks every step; nobody handles anything.

Prints alarms raised and linked to a case, open work items in the city (open cases) and in the
two towns' default views (``list_queue(actor, "todo")``) at the peak, escalations fired, and the
position of each human report in its center's default view when it arrived. Last line:
``{"bench": "storm", ...}``. Run: ``.venv/bin/python bench/storm.py`` (about a minute).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.services import start_mosquitto, start_redis_server  # noqa: E402
from grid.contracts import SEVERITY_OF_LEVEL  # noqa: E402
from incidents import keys  # noqa: E402
from incidents.actor import SYSTEM, Actor  # noqa: E402
from incidents.config import IncidentConfig  # noqa: E402
from incidents.deadlines import DeadlineWorker  # noqa: E402
from incidents.intake import AlarmIntake  # noqa: E402
from incidents.queries import VIEWS  # noqa: E402
from incidents.service import IncidentService  # noqa: E402

T0 = 1_795_000_000.0
STEP = 10.0
HOUR = 3600.0
END = 75 * 60.0
FLOOD_TOWN, OUTAGE_TOWN = "440981103", "440981105"      # 根子镇, 分界镇
VIEW = "todo" if "todo" in VIEWS else "mine"


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def entry(dev: dict, episode: str, event: str, source: str, category: str, level: str,
          t: float, msg: str) -> dict:
    return {"episode": episode, "event": event, "source": source, "device_id": dev["id"],
            "device_type": dev["type"], "category": category, "level": level,
            "severity": SEVERITY_OF_LEVEL[level], "metric": "", "value": "", "unit": "",
            "threshold": "", "lon": repr(dev["lon"]), "lat": repr(dev["lat"]),
            "cell_code": dev["cell_code"], "town_code": dev["town_code"],
            "ts": str(int(t * 1000)), "message": msg, "snapshot_url": ""}


def schedule(city, registry, rng) -> tuple[list[tuple[float, dict]], list[tuple[float, dict]]]:
    """(alarm entries by time, human reports by time): the bad day, deterministic."""
    s = registry.sensors
    alarms: list[tuple[float, dict]] = []
    def rows(df) -> list[dict]:  # noqa: ANN001
        cols = ["id", "lon", "lat", "cell_code", "town_code"]
        out = df[cols].to_dict("records")
        types = df["type"].tolist() if "type" in df.columns else ["camera"] * len(out)
        return [{**d, "type": t} for d, t in zip(out, types, strict=True)]
    # the flood: each device's first alarm somewhere in the first hour (denser in the middle:
    # the surge), then orange and red as the water rises, the video-AI alarms at the peak
    cat = {"water_level": "0306", "weather": "0304", "manhole": "0302"}
    flood = rows(s[(s["town_code"] == FLOOD_TOWN) & s["type"].isin(list(cat))])
    for d in flood:
        # rain comes in pulses: each device alarms, falls back (clear) and alarms again, five
        # times over the hour (a new episode each: the naive policy opens a case each time);
        # the last pulse rises to red and stays
        t0 = float(rng.uniform(60, 600))
        c = cat[d["type"]]
        for k in range(5):
            t = t0 + 660 * k + float(rng.uniform(0, 60))
            ep = f"{d['id']}:{d['type']}:{k}"
            alarms.append((t, entry(d, ep, "raise", "iot", c, "yellow", t, f"{d['type']} 超警")))
            alarms.append((t + 240, entry(d, ep, "level", "iot", c, "orange", t + 240, "继续上涨")))
            if k < 4:
                alarms.append((t + 480, entry(d, ep, "level", "iot", c, "yellow", t + 480, "回落")))
                alarms.append((t + 600, entry(d, ep, "clear", "iot", c, "yellow", t + 600, "已恢复正常")))
            else:
                alarms.append((t + 600, entry(d, ep, "level", "iot", c, "red", t + 600, "超红色阈值")))
    cams = registry.cameras
    for k, d in enumerate(rows(cams[cams["town_code"] == FLOOD_TOWN].iloc[:3])):
        for n in range(4):                # a detection episode every 10 minutes at the peak
            t = 0.4 * HOUR + 600 * n + 20 * k
            alarms.append((t, entry(d, f"{d['id']}:ai_water_on_road:{n}", "raise", "video_ai",
                                    "0302", "yellow", t, "视频AI识别道路积水")))
    # the outage: 200 devices of one town fall silent within five minutes (device faults)
    out = rows(s[s["town_code"] == OUTAGE_TOWN])
    out += rows(cams[cams["town_code"] == OUTAGE_TOWN])
    for d in out[:200]:
        t = 0.6 * HOUR + float(rng.uniform(0, 300))
        c = "1102" if d["type"] == "camera" else "1101"
        alarms.append((t, entry(d, f"{d['id']}:fault:{int(t)}", "raise", "device_fault", c, "blue",
                               t, "设备离线已 10 分钟（设备故障）")))
    # the fire: the building's smoke sensors, then a camera confirms it, then smoke falls back
    bld = s[s["meta"].str.contains('"building"', na=False) & (s["town_code"] == "440981001")]
    first = json.loads(bld.iloc[0]["meta"])["building"]
    fire = rows(bld[bld["meta"].str.contains(f'"{first}"', na=False)])
    for k, d in enumerate(fire):
        t = 0.25 * HOUR + 30 * k
        ep = f"{d['id']}:smoke:1"
        alarms.append((t, entry(d, ep, "raise", "iot", "0401", "orange", t, "烟感浓度超橙色阈值")))
        alarms.append((t + 120, entry(d, ep, "level", "iot", "0401", "red", t + 120, "烟感超红色阈值")))
        alarms.append((t + 1200, entry(d, ep, "level", "iot", "0401", "yellow", t + 1200, "烟感回落")))
    if fire:
        cam = {**fire[0], "id": "cam-fire-confirm", "type": "camera"}
        t = 0.25 * HOUR + 90
        alarms.append((t, entry(cam, "cam-fire-confirm:ai_smoke_fire:1", "raise", "video_ai", "0401",
                               "orange", t, "视频AI识别烟火")))
    # 50 reports by people: 10 about the flood (in the flooded town), 40 elsewhere
    cells = city.cells
    pts = cells.geometry.representative_point()
    flood_cells = [i for i, t in enumerate(cells["town_code"]) if t == FLOOD_TOWN]
    other_cells = [i for i, t in enumerate(cells["town_code"]) if t not in (FLOOD_TOWN, OUTAGE_TOWN)]
    humans: list[tuple[float, dict]] = []
    for n in range(50):
        flood_call = n < 10
        i = int(rng.choice(flood_cells if flood_call else other_cells))
        t = (0.35 + 0.05 * n) * HOUR if flood_call else float(rng.uniform(0.05, 1.2)) * HOUR
        hotline = n % 2 == 0
        cat_ = "0302" if flood_call else str(rng.choice(["0101", "0104", "0106", "0107", "1201",
                                                         "1202", "0202", "1001"]))
        humans.append((t, {"n": n, "flood": flood_call, "category": cat_, "lon": float(pts.x.iloc[i]),
                           "lat": float(pts.y.iloc[i]), "hotline": hotline,
                           "worker": str(cells["worker_id"].iloc[i]), "cell": str(cells["code"].iloc[i]),
                           "town": str(cells["town_code"].iloc[i]),
                           "text": "路面积水严重，有车辆被困" if flood_call else "市民反映"}))
    alarms.sort(key=lambda x: x[0])
    humans.sort(key=lambda x: x[0])
    return alarms, humans


def operator(center: str) -> Actor:
    role = ("city_operator" if center == "CITY" else
            "town_operator" if center.startswith("T") else "dept_operator")
    return Actor(f"op-{center}", role, center, "值班员")


def surge_batches(alarms: list[tuple[float, dict]]) -> list[tuple[float, list[dict]]]:
    """Per step, the entries due; over the flood's peak the backlog arrives in ×10 bursts (a
    gateway flushing what it buffered): entries held for up to 10 steps, then all at once."""
    out: dict[float, list[dict]] = {}
    for t, e in alarms:
        step = np.ceil(t / STEP) * STEP
        if 0.45 * HOUR <= t < 0.55 * HOUR:
            step = np.ceil(t / (10 * STEP)) * 10 * STEP
        out.setdefault(float(step), []).append(e)
    return sorted(out.items())


def main() -> None:  # noqa: PLR0915
    from grid.build import build_city  # noqa: PLC0415
    from sensors.registry import generate  # noqa: PLC0415

    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-storm-"))
    rs = start_redis_server(tmp / "redis")
    ms = start_mosquitto(tmp / "mqtt")    # the platform's broker runs, as on the day (idle here)
    try:
        t_wall = time.perf_counter()
        city = build_city("高州市")
        registry = generate(city)
        rng = np.random.default_rng(15)
        alarms, humans = schedule(city, registry, rng)
        print(f"bad day: {sum(e['event'] == 'raise' for _, e in alarms)} alarm episodes, "
              f"{len(alarms)} alarm entries, {len(humans)} human reports; default view {VIEW!r}")
        clock = Clock()
        base = rs.url.split("://", 1)[1].split("/", 1)[0]          # host:port
        r1 = redis.Redis.from_url(f"redis://{base}/0", decode_responses=True)
        r2 = redis.Redis.from_url(f"redis://{base}/1", decode_responses=True)   # the naive city
        onemap = IncidentService(r1, city, clock=clock)
        naive_cfg = IncidentConfig(situations=(), correlate=False, channel_min_stage_seconds={},
                                   recovery_quiet_s=1e12,         # today: cleared cases stay open
                                   escalation_limit=10**9)
        naive = IncidentService(r2, city, config=naive_cfg, clock=clock)
        intakes = [AlarmIntake(onemap, "storm"), AlarmIntake(naive, "storm")]
        workers = [DeadlineWorker(onemap), DeadlineWorker(naive)]
        towns = {FLOOD_TOWN: operator(f"T{FLOOD_TOWN}"), OUTAGE_TOWN: operator(f"T{OUTAGE_TOWN}")}
        peak = {"city": 0, "naive": 0, "town": 0}
        esc = [0, 0]
        ranks: list[tuple[dict, str, int]] = []
        hi = 0
        steps = sorted({float(t) for t, _ in surge_batches(alarms)} | {float(t) for t in np.arange(0, END, STEP)})
        by_step = dict(surge_batches(alarms))
        for st in steps:
            clock.t = T0 + st
            for e in by_step.get(st, []):
                for svc in (onemap, naive):
                    svc.r.xadd(keys.ALARMS, e)
            for intake in intakes:
                while intake.poll(block_ms=None, count=500):
                    pass
            while hi < len(humans) and humans[hi][0] <= st:
                h = humans[hi][1]
                hi += 1
                for svc in (onemap, naive):
                    actor = (Actor("op-12345", "city_operator", "CITY", "12345话务员") if h["hotline"]
                             else Actor(h["worker"], "grid_worker", f"T{h['town']}", "网格员", cell=h["cell"]))
                    inc = svc.report(actor, h["category"], h["lon"], h["lat"], description=h["text"],
                                     channel="hotline" if h["hotline"] else "grid_worker",
                                     idempotency_key=f"call-{h['n']}")
                    if svc is onemap:
                        view = onemap.list_queue(operator(inc.center), VIEW, limit=1000)
                        pos = next((k + 1 for k, i in enumerate(view) if i.id == inc.id), 10**6)
                        ranks.append((h, inc.center, pos))
            for k, w in enumerate(workers):
                out = w.tick()
                esc[k] += out.get("escalate", 0)
            peak["city"] = max(peak["city"], r1.zcard(keys.OPEN))
            peak["naive"] = max(peak["naive"], r2.zcard(keys.OPEN))
            for op in towns.values():
                peak["town"] = max(peak["town"], len(onemap.list_queue(op, VIEW, limit=10000)))
        raised = [e for _, e in alarms if e["event"] == "raise"]
        linked = sum(bool(onemap.reported_with(SYSTEM, f"alarm:{e['episode']}")) for e in raised)
        sits = [onemap.store.load(i) for i in r1.zrange(keys.OPEN, 0, -1)]
        for s in sits:
            if s is not None and s.situation:
                print(f"  situation {s.id} {s.title}: {len(s.sources)} sources, {s.severity}, "
                      f"owner {s.center}")
        print(f"alarms raised {len(raised)}, linked to a case {linked}; intake {intakes[0].stats}, naive {intakes[1].stats}")
        print(f"open work items at the peak: city {peak['city']} (naive {peak['naive']}), "
              f"busiest town's {VIEW!r} view {peak['town']}")
        print(f"escalations fired: OneMap {esc[0]}, naive {esc[1]}")
        print("human reports, position in their center's default view on arrival:")
        for h, center, pos in ranks:
            print(f"  #{h['n']:02d} {'flood ' if h['flood'] else ''}{h['category']} → {center}: {pos}")
        ratio = round(peak["naive"] / max(1, peak["city"]), 1)
        print(f"({time.perf_counter() - t_wall:.0f} s)")
        print(json.dumps({"bench": "storm", "alarms": len(raised), "alarms_linked": linked,
                          "city_items_peak": peak["city"], "naive_city_items_peak": peak["naive"],
                          "town_items_peak": peak["town"],
                          "human_rank_max": max(p for _, _, p in ranks), "escalations": esc[0],
                          "ratio": ratio}, ensure_ascii=False))
    finally:
        ms.stop()
        rs.stop()


if __name__ == "__main__":
    main()
