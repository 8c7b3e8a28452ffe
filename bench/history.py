"""history — a month at 高州市's rates through the real paths, then a year in the record (issue 20).

A month (``--days`` 30) of cases at ``--scale`` × 3,000 a day is time-compressed (an injected
clock) through the real paths on a private redis-server (AOF everysec) and a private
PostgreSQL 15 + PostGIS: every case reported by a grid worker (``IncidentService.report``),
then accepted, registered, dispatched to 城管, started, handled, verified and closed (5 %
voided instead), each step the service's atomic script with its audit entry, KPIs and feed
entry; the archiver (``incidents.record.archiver.Archiver``) drains the feed every simulated
hour; the retention (``incidents.record.retention.Retention``, 7 days) runs at every simulated
day's end. Redis ``used_memory`` is sampled at each day's end: after the retention's first week
it should stay flat. Hourly telemetry rollups of ``--scale`` × 5,400 devices for the month go
through the rollup's own statement (``sensors.rollup.UPSERT_HOURLY``). Then the rest of the
year (11 more months) is loaded into the record through the archiver's bulk path
(``incidents.record.archiver.bulk_load``: the same rows and upserts as the feed path), as
time-shifted copies of the month's cases and trails.

Beside it, in the same run, today's Redis-only store (no archiver, no retention) on a second
redis-server for ``--redis-only-days`` at the same rate: memory per case, extrapolated to a
year at the full rate; the same year's KPIs per center (the KPI counters, ``IncidentService.
kpis``) and a breakdown by town (every case's hash) through Redis, extrapolated from the span.

Found = cases created (month + bulk) found by id in Redis or the record. Query times (median of
3): a year's KPIs per center from ``kpi_daily`` (the archiver's rows per center and day, kept in
the batch's transaction) with today's cases from the live store, checked against the direct
query over every case; the breakdown by town from ``place_daily`` (the archiver's rows per town
and day, each case placed by PostGIS ``ST_Within`` on the ``places`` polygons when written),
checked against the ad hoc spatial join over every case (printed beside it). ``kpi_year_ms`` =
the two as the screens read them.

With ``--workers N`` (N > 1) the month runs as production does: N writer processes at once
(each its own connection and service, as web and intake workers are), each day's cases shared
among them; the archiver as its own process (``onemap db archive``) draining the feed (batches
of ``--archive-batch``, a pause when it is empty); the retention at each day's end once the
archiver has caught up; the month's hourly rollups in another process beside it. The year's
bulk path then loads ``--bulk-workers`` months at once, one simulated day per ``bulk_load``
(COPY straight into the tables: the record holds none of those cases yet).

    python bench/history.py                    # --scale 0.1 (300 cases a day), one process
    python bench/history.py --scale 1 --workers 3 --bulk-workers 3     # the full rate
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.pg import connector, migrate, start_postgres  # noqa: E402
from app.services import start_redis_server  # noqa: E402
from incidents import keys  # noqa: E402
from incidents.actor import Actor  # noqa: E402
from incidents.record import kpi_daily, places  # noqa: E402
from incidents.record.archiver import Archiver, bulk_load  # noqa: E402
from incidents.record.retention import Retention  # noqa: E402
from incidents.record.rows import incident_of  # noqa: E402
from incidents.service import IncidentService  # noqa: E402
from sensors.rollup import UPSERT_HOURLY  # noqa: E402

DAY = 86400.0
FULL_RATE = 3000            # cases a day in 高州市 (the seeds' scale)
FULL_DEVICES = 5400
START = datetime(2026, 12, 1, tzinfo=UTC) - timedelta(hours=8)   # 2026-12-01 00:00 UTC+8
CATEGORIES = ("0107", "0108")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def mb(n: float) -> float:
    return round(n / 2**20, 1)


def ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


class City:
    """Who acts where: a grid worker per cell, an operator and a supervisor per town, 城管."""

    def __init__(self, city) -> None:  # noqa: ANN001
        self.city = city
        self.cells = [(str(r.town_code), str(r.worker_id), str(r.code),
                       r.geometry.representative_point()) for r in city.cells.itertuples()]
        towns = {c[0] for c in self.cells}
        self.op = {t: Actor(f"op-{t}", "town_operator", f"T{t}") for t in towns}
        self.sup = {t: Actor(f"sup-{t}", "supervisor", f"T{t}") for t in towns}
        self.cg = Actor("bench-cg", "dept_operator", "DCG", "城管")


def one_day(svc: IncidentService, who: City, clock: Clock, day0: float, n: int, rng: random.Random,
            hourly=None, share: tuple[int, int] = (0, 1)) -> list[str]:  # noqa: ANN001
    """``n`` cases over one simulated day, each walked to 结案 (5 % 作废) within its slot;
    ``share`` (k, workers): only the cases k, k + workers, … (one of several writers)."""
    ids: list[str] = []
    slot = DAY / max(n, 1)
    hour = -1
    for k in range(share[0], n, share[1]):
        t0 = day0 + k * slot
        if hourly is not None and int((t0 - day0) // 3600) != hour:
            hour = int((t0 - day0) // 3600)
            hourly()
        clock.t = max(clock.t, t0)
        town, worker, cell, p = who.cells[rng.randrange(len(who.cells))]
        gw = Actor(worker, "grid_worker", f"T{town}", cell=cell)
        inc = svc.report(gw, rng.choice(CATEGORIES), p.x, p.y, correlate=False,
                         description=f"巡查发现第{k}件")
        ids.append(inc.id)
        step = slot * 0.9 / 8
        op, sup = who.op[town], who.sup[town]
        if rng.random() < 0.05:
            clock.t += step
            svc.void(inc.id, op, "重复上报")
            continue
        iid = inc.id
        for fn, actor, kw in ((svc.accept, op, {}), (svc.register, op, {}),
                              (svc.dispatch, op, {"dept_codes": ["CG"]}), (svc.start, who.cg, {}),
                              (svc.handle, who.cg, {"note": "已处置"}),
                              (svc.verify, sup, {"passed": True}), (svc.close, op, {})):
            clock.t += step
            fn(iid, actor, **kw)
    return ids


_W: dict = {}
"""A month worker's process state (``_worker_init``): its Redis client, service and clock."""


def _worker_init(url: str, who: City) -> None:
    """A worker process: its own connection and service (as each web or intake process has)."""
    r = redis.Redis.from_url(url, decode_responses=True)
    clock = Clock(START.timestamp())
    _W.update(r=r, clock=clock, who=who, svc=IncidentService(r, who.city, clock=clock))


def _worker_share(d: int, k: int, workers: int, n: int) -> list[str]:
    """Worker ``k``'s share of day ``d``: the day's cases k, k + workers, … at their times."""
    return one_day(_W["svc"], _W["who"], _W["clock"], START.timestamp() + d * DAY, n,
                   random.Random(d * 1000 + k), share=(k, workers))


def _archiver_proc(url: str, pg_url: str, stop, batch: int) -> None:  # noqa: ANN001 (mp.Event)
    """The archiver as its own process (``onemap db archive``), until ``stop``: it drains what
    the feed holds, then looks again after a pause, so that a case walked through its stages
    within one pause is copied once (batches of ``batch`` feed entries)."""
    r = redis.Redis.from_url(url, decode_responses=True)
    archiver = Archiver(r, connector(pg_url, "bench-archiver"), batch=batch)
    while not stop.is_set():
        try:
            if archiver.drain() == 0:
                stop.wait(0.5)
        except Exception as e:  # noqa: BLE001  (said, then tried again: as ``run`` does)
            print(f"  archiver: {e!r}", file=sys.stderr, flush=True)
            archiver._reset()
            stop.wait(1.0)
    archiver.close()


def _rollup_proc(pg_url: str, devices: int, days: int, out) -> None:  # noqa: ANN001 (Queue)
    out.put(rollups(pg_url, devices, days))


def _caught_up(r: redis.Redis, timeout: float = 600.0) -> None:
    """Wait until the archiver's group has read and acknowledged everything on the feed."""
    deadline = time.monotonic() + timeout
    said = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() - said > 30:
            said = time.monotonic()
            print(f"  waiting for the archiver: {r.xinfo_groups(keys.FEED)}", file=sys.stderr,
                  flush=True)
        g = next((g for g in r.xinfo_groups(keys.FEED) if g["name"] == keys.ARCHIVE_GROUP), None)
        # read up to the newest entry, nothing unacknowledged (not XINFO's ``lag``: Redis 7.0
        # miscounts it once the capped feed has been trimmed)
        if g is not None and not g["pending"] and g["last-delivered-id"] \
                == r.xinfo_stream(keys.FEED)["last-generated-id"]:
            return
        time.sleep(0.05)
    raise TimeoutError(f"archiver did not catch up: {r.xinfo_groups(keys.FEED)} "
                       f"{r.xinfo_stream(keys.FEED)}")


def month(args, who: City, rng: random.Random) -> dict:  # noqa: ANN001
    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-history-"))
    tmp.chmod(0o755)            # as root, PostgreSQL runs as postgres: it must get through
    rsvc = start_redis_server(tmp / "redis", appendonly=True)
    pg = start_postgres(tmp / "pg", durable=False)
    try:
        return _month(args, who, rng, tmp, rsvc, pg)
    except BaseException:       # stopped or failed: the private servers stop with it
        rsvc.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _month(args, who: City, rng: random.Random, tmp: Path, rsvc, pg) -> dict:  # noqa: ANN001
    out: dict = {"tmp": tmp, "rsvc": rsvc, "pg": pg}
    r = redis.Redis.from_url(rsvc.url, decode_responses=True)
    out["base"] = r.info("memory")["used_memory"]
    url = pg.url
    migrate(url)
    with psycopg.connect(url, autocommit=True) as c:     # towns and cells for place_daily
        places.sync(c, who.city)
    clock = Clock(START.timestamp())
    svc = IncidentService(r, who.city, clock=clock)      # (builds the city's lookups: forked)
    archiver = Archiver(r, connector(url, "bench-archiver"), batch=500)
    retention = Retention(r, connector(url, "bench-retention"), args.retention_days * DAY,
                          clock=clock, archive=Archiver(r, connector(url, "bench-copy")).archive)
    n = round(FULL_RATE * args.scale)
    created: list[str] = []
    mem: list[int] = []
    mpc = mp.get_context("fork")
    roll_q = mpc.Queue()
    # the hourly rollups go on beside the month (their own statement, their own connection)
    roller = mpc.Process(target=_rollup_proc, args=(url, max(1, round(FULL_DEVICES * args.scale)),
                                                    args.days, roll_q), daemon=True)
    roller.start()
    stop = mpc.Event()
    arch = pool = None
    if args.workers > 1:
        archiver.r.xgroup_create(keys.FEED, keys.ARCHIVE_GROUP, id="0", mkstream=True)
        arch = mpc.Process(target=_archiver_proc, args=(rsvc.url, url, stop, args.archive_batch),
                           daemon=True)
        arch.start()
        pool = mpc.Pool(args.workers, initializer=_worker_init, initargs=(rsvc.url, who))
    t0 = time.perf_counter()
    try:
        for d in range(args.days):
            day0 = START.timestamp() + d * DAY
            if pool is None:        # one process: the archiver drains every simulated hour
                created += one_day(svc, who, clock, day0, n, rng, hourly=archiver.drain)
                archiver.drain()
            else:                   # several writers at once, the archiver its own process
                shares = pool.starmap(_worker_share, [(d, k, args.workers, n)
                                                      for k in range(args.workers)])
                created += sorted(i for ids in shares for i in ids)
                _caught_up(r)
            clock.t = max(clock.t, day0 + DAY - 1)
            evicted = retention.pass_()
            mem.append(r.info("memory")["used_memory"])
            print(f"  day {d + 1:2d}: {len(created):7d} cases, {r.zcard(keys.ALL):6d} in Redis "
                  f"(evicted {evicted:5d}), used_memory {mb(mem[-1]):7.1f} MB, "
                  f"{time.perf_counter() - t0:6.0f} s", flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        stop.set()
        if arch is not None:
            arch.join(30)
    month_s = time.perf_counter() - t0
    out["rollups"] = roll_q.get()
    roller.join(10)
    out["by_kind"] = memory_by_kind(r)
    out.update(r=r, url=url, svc=svc, created=created, mem=mem, month_s=month_s,
               per_day=n, archiver=archiver, retention=retention)
    return out


def memory_by_kind(r: redis.Redis) -> list[tuple[str, int, int]]:
    """(kind of key, keys, bytes) by ``MEMORY USAGE``, largest first: what the steady state is
    made of (a key's kind: its name with ids and numbers as ``*``)."""
    import re  # noqa: PLC0415

    sizes: dict[str, list[int]] = {}
    p = r.pipeline(transaction=False)
    names = list(r.scan_iter(count=1000))
    for k in names:
        p.memory_usage(k, samples=0)
    for k, used in zip(names, p.execute(), strict=True):
        kind = re.sub(r"(?<=:)[^:]*\d[^:]*", "*", k)
        s = sizes.setdefault(kind, [0, 0])
        s[0] += 1
        s[1] += int(used or 0)
    return sorted(((k, n, b) for k, (n, b) in sizes.items()), key=lambda x: -x[2])


def rollups(url: str, devices: int, days: int) -> tuple[int, float]:
    """Hourly rollups of ``devices`` for the month, through the rollup's own upsert."""
    rng = random.Random(7)
    t0 = time.perf_counter()
    rows = 0
    with psycopg.connect(url, autocommit=True) as c:
        for d in range(devices):
            batch = []
            for h in range(days * 24):
                base = 20 + rng.random() * 5
                batch.append((f"DEV-{d:05d}", "value", START + timedelta(hours=h), base - 1,
                              base + 1, base, 60))
            with c.transaction(), c.cursor() as cur:
                cur.executemany(UPSERT_HOURLY, batch)
            rows += len(batch)
    return rows, time.perf_counter() - t0


def _templates(cases: list, trails: dict) -> list[tuple]:
    """The month's archived cases made ready to copy: (id, record, its time fields, trail as
    (ms, seq, entry without its chain links, ts, links))."""
    out = []
    for iid, rec in cases:
        ts_keys = [k for k, v in rec.items() if k.endswith("_ts") and isinstance(v, int | float) and v]
        trail = []
        for sid, e in trails.get(iid, ()):
            e = dict(e)
            links = {k: e.pop(k) for k in ("c", "d") if k in e}
            e.pop("entry", None)
            ms_, _, seq = sid.partition("-")
            trail.append((int(ms_), seq, e, float(e.get("ts") or 0), links))
        out.append((iid, rec, ts_keys, trail))
    return out


def _bulk_month(url: str, m: int, days: int, templates: list) -> tuple[list[str], int]:
    """Month -``m``: the month's cases and trails shifted back ``m`` months, one simulated day
    per ``bulk_load`` (so that each day's ``kpi_daily``/``place_daily`` rows are counted once)."""
    s = m * days * DAY
    s_ms = int(s * 1000)
    ids: list[str] = []
    n_audit = 0
    with psycopg.connect(url, autocommit=True) as conn:
        items: list = []
        day = None
        for iid, rec, ts_keys, trail in templates:
            if iid[1:9] != day and items:      # E<yyyymmdd><seq>: a new day, a new batch
                n_audit += bulk_load(conn, items)[1]
                items = []
            day = iid[1:9]
            new_id = f"{iid}-h{m:02d}"
            d = dict(rec, id=new_id)
            for k in ts_keys:
                d[k] = rec[k] - s
            d["times"] = {k: v - s for k, v in (rec.get("times") or {}).items()}
            if rec.get("tasks"):
                d["tasks"] = [{k: (v - s if k.endswith("_ts") and isinstance(v, int | float) and v
                                   else v) for k, v in t.items()} for t in rec["tasks"]]
            items.append((incident_of(d), [
                (f"{ms_ - s_ms}-{seq}", {"e": orjson.dumps(dict(e, ts=ts - s)).decode(), **links})
                for ms_, seq, e, ts, links in trail]))
            ids.append(new_id)
        if items:
            n_audit += bulk_load(conn, items)[1]
    return ids, n_audit


def year_bulk(url: str, months: int, days: int, workers: int = 1) -> tuple[list[str], int, float]:
    """The rest of the year: ``months`` time-shifted copies of the month's archived cases and
    trails, through the archiver's bulk path (COPY), ``workers`` months at once. Returns (ids,
    audit rows, seconds)."""
    with psycopg.connect(url) as c:
        cases = c.execute("SELECT id, record FROM incidents ORDER BY id").fetchall()
        trails: dict[str, list] = {}
        for i, sid, e in c.execute("SELECT incident_id, stream_id, entry FROM incident_audit "
                                   "ORDER BY incident_id, seq"):
            trails.setdefault(i, []).append((sid, e))
    ids: list[str] = []
    n_audit = 0
    t0 = time.perf_counter()
    _TEMPLATES[:] = _templates(cases, trails)     # forked workers inherit it (never pickled)
    del cases, trails
    args = [(url, m, days) for m in range(1, months + 1)]
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.imap(_bulk_star, args)
            for m, (got, na) in enumerate(results, 1):
                ids += got
                n_audit += na
                print(f"  month -{m:2d}: {len(ids):8d} cases loaded, "
                      f"{time.perf_counter() - t0:6.0f} s", flush=True)
    else:
        for m, a in enumerate(args, 1):
            got, na = _bulk_month(*a, _TEMPLATES)
            ids += got
            n_audit += na
            print(f"  month -{m:2d}: {len(ids):8d} cases loaded, {time.perf_counter() - t0:6.0f} s",
                  flush=True)
    return ids, n_audit, time.perf_counter() - t0


_TEMPLATES: list = []


def _bulk_star(a: tuple) -> tuple[list[str], int]:
    return _bulk_month(*a, _TEMPLATES)


def sql_queries(url: str, city, year0: datetime, year1: datetime, r: redis.Redis,  # noqa: ANN001
                svc: IncidentService, now: float) -> dict:
    """A year's KPIs per center from ``kpi_daily`` (the archiver's rows per center and day) and
    today's cases from the live store (``kpi_daily.live_rows``), checked once against the direct
    query over every case; the breakdown by town (PostGIS). Medians of 3."""
    today = kpi_daily.day_of(datetime.fromtimestamp(now, UTC))
    d0, d1 = kpi_daily.day_of(year0), kpi_daily.day_of(year1)

    live_ms: list[float] = []

    def kpis(c: psycopg.Connection) -> list[tuple]:
        t0 = time.perf_counter()
        live = kpi_daily.live_rows(kpi_daily.live_cases(r, svc.store.load_many,
                                                        kpi_daily.day_start(today)))
        live_ms.append(ms(t0))
        return kpi_daily.period(c, d0, min(today, d1), live if today < d1 else None)

    town_sql = """
    SELECT t.code, t.name, count(i.id) FROM bench_towns_sub t
    JOIN incidents i ON ST_Within(i.geom, t.geom)
    WHERE i.created_at >= %s AND i.created_at < %s GROUP BY 1, 2 ORDER BY 1"""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS bench_towns (code text, name text, "
                  "geom geometry(MultiPolygon, 4326))")
        c.execute("TRUNCATE bench_towns")
        with c.cursor() as cur:
            cur.executemany("INSERT INTO bench_towns VALUES (%s, %s, ST_Multi(ST_GeomFromText(%s, 4326)))",
                            [(str(t.code), str(t.name), t.geometry.wkt) for t in city.towns.itertuples()])
        # the towns cut into pieces of at most 64 vertices (ST_Subdivide): a point is tested
        # against a small piece its bounding box hits, not a town's whole boundary
        c.execute("DROP TABLE IF EXISTS bench_towns_sub")
        c.execute("CREATE TABLE bench_towns_sub AS SELECT code, name, ST_Subdivide(geom, 64) "
                  "AS geom FROM bench_towns")
        c.execute("CREATE INDEX bench_towns_sub_geom ON bench_towns_sub USING gist (geom)")
        c.execute("ANALYZE")
        t0 = time.perf_counter()
        direct = c.execute(kpi_daily.DIRECT_SQL, {"since": year0, "until": year1,
                                                  "city": ""}).fetchall()
        direct_ms = ms(t0)
        times: dict[str, list[float]] = {"kpi": [], "town": []}
        times["adhoc"] = []
        for _ in range(3):
            t0 = time.perf_counter()
            rows = kpis(c)
            times["kpi"].append(ms(t0))
            t0 = time.perf_counter()
            by_day = places.daily_breakdown(c, "town", d0, d1)
            times["adhoc"].append(ms(t0))
            t0 = time.perf_counter()
            towns = c.execute(town_sql, (year0, year1)).fetchall()
            times["town"].append(ms(t0))
    same = [x[:4] + x[6:] for x in rows] == [x[:4] + x[6:] for x in direct] and all(
        abs((a or 0) - (b or 0)) < 1e-6 * max(1.0, abs(b or 0))
        for x, y in zip(rows, direct, strict=True) for a, b in zip(x[4:6], y[4:6], strict=True))
    placed = {r[0]: r[3] for r in by_day}
    return {"kpis": rows, "towns": towns, "kpi_ms": statistics.median(times["kpi"]),
            "place_daily_ms": statistics.median(times["adhoc"]), "place_daily_towns": len(by_day),
            "place_daily_same": placed == {str(t[0]): t[2] for t in towns},
            "direct_ms": direct_ms, "same": same, "live_ms": statistics.median(live_ms),
            "town_ms": statistics.median(times["town"])}


def redis_only(args, who: City, rng: random.Random) -> dict:  # noqa: ANN001
    """Today's store: cases stay in Redis for good (no archiver, no retention)."""
    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-redis-only-"))
    rsvc = start_redis_server(tmp, appendonly=True)
    try:
        r = redis.Redis.from_url(rsvc.url, decode_responses=True)
        base = r.info("memory")["used_memory"]
        clock = Clock(START.timestamp())
        svc = IncidentService(r, who.city, clock=clock)
        n = round(FULL_RATE * args.scale)
        created = []
        for d in range(args.redis_only_days):
            created += one_day(svc, who, clock, START.timestamp() + d * DAY, n, rng)
        used = r.info("memory")["used_memory"]
        per_case = (used - base) / len(created)
        since, until = START.timestamp(), START.timestamp() + args.redis_only_days * DAY - 1
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            kpis = {c: svc.kpis(c, since, until) for c in who.city.centers}
            times.append(time.perf_counter() - t0)
        kpi_s = statistics.median(times)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            ids = r.zrange(keys.ALL, 0, -1)
            p = r.pipeline(transaction=False)
            for i in ids:
                p.hmget(keys.incident(i), ["town_code", "created_ts"])
            by_town: dict[str, int] = {}
            for town, ts in p.execute():
                if town and since <= float(ts) <= until + 1:
                    by_town[town] = by_town.get(town, 0) + 1
            times.append(time.perf_counter() - t0)
        town_s = statistics.median(times)
        return {"cases": len(created), "per_case_bytes": per_case, "used": used, "kpi_s": kpi_s,
                "town_s": town_s, "kpis": len(kpis), "towns": len(by_town)}
    finally:
        rsvc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.1, help="fraction of 3,000 cases a day "
                    "(and of 5,400 devices' rollups)")
    ap.add_argument("--days", type=int, default=30, help="the month through the real paths")
    ap.add_argument("--months", type=int, default=11, help="more months through the bulk path")
    ap.add_argument("--retention-days", type=float, default=7.0)
    ap.add_argument("--redis-only-days", type=int, default=2)
    ap.add_argument("--city-dir", default=None)
    ap.add_argument("--workers", type=int, default=1, help="writer processes for the month (the "
                    "archiver then runs as its own process, as in production); 1: one process, "
                    "the archiver drained every simulated hour")
    ap.add_argument("--archive-batch", type=int, default=2000, help="feed entries per archiver "
                    "batch (with --workers > 1)")
    ap.add_argument("--bulk-workers", type=int, default=1, help="processes loading months at once")
    args = ap.parse_args()
    t_all = time.perf_counter()
    if args.city_dir:
        from grid.io import load_city  # noqa: PLC0415

        city = load_city(args.city_dir)
    else:
        from grid.build import build_city  # noqa: PLC0415

        city = build_city("高州市")
    who = City(city)
    per_day = round(FULL_RATE * args.scale)
    print(f"history bench: {per_day} cases a day (scale {args.scale}) × {args.days} days through "
          f"the real paths, retention {args.retention_days} d; + {args.months} months bulk")

    m = month(args, who, random.Random(1))
    try:
        r, url = m["r"], m["url"]
        mem = m["mem"]
        week = mem[-8:] if len(mem) >= 8 else mem
        trend = (week[-1] - week[0]) / week[0] * 100 if week[0] else 0.0
        rate = len(m["created"]) / m["month_s"]
        print(f"month: {len(m['created'])} cases in {m['month_s']:.0f} s ({rate:.0f} cases/s incl. "
              f"archiving and retention), archiver {dict(m['archiver'].stats)}, retention "
              f"{dict(m['retention'].stats)}")
        print(f"Redis used_memory at the month's end: {mb(mem[-1])} MB; last week "
              f"{[mb(x) for x in week]} MB: trend {trend:+.1f} %")
        print("  what Redis holds (MEMORY USAGE by kind of key; the largest):")
        for kind, n, b in m["by_kind"][:8]:
            print(f"    {kind:40s} {n:6d} keys {mb(b):7.1f} MB")
        n_roll, roll_s = m["rollups"]
        print(f"rollups (beside the month): {n_roll} device-hours ({round(FULL_DEVICES * args.scale)} devices × "
              f"{args.days * 24} h) in {roll_s:.0f} s")

        bulk_ids, bulk_audit, bulk_s = year_bulk(url, args.months, args.days, args.bulk_workers)
        print(f"bulk path: {len(bulk_ids)} cases, {bulk_audit} audit entries in {bulk_s:.0f} s "
              f"({len(bulk_ids) / bulk_s:.0f} cases/s)")

        created = m["created"] + bulk_ids
        with psycopg.connect(url) as c:
            in_record = {i for (i,) in c.execute("SELECT id FROM incidents")}
            n_audit, n_roll_rows = c.execute("SELECT (SELECT count(*) FROM incident_audit), "
                                             "(SELECT count(*) FROM telemetry_hourly)").fetchone()
        p = r.pipeline(transaction=False)
        for i in m["created"]:
            p.exists(keys.incident(i))
        hot = {i for i, e in zip(m["created"], p.execute(), strict=True) if e}
        found = sum(1 for i in created if i in hot or i in in_record)
        print(f"created {len(created)} = found {found} (hot in Redis {len(hot)}, in the record "
              f"{len(in_record)}); record rows: incidents {len(in_record)}, audit {n_audit}, "
              f"rollups {n_roll_rows}")
        # a case evicted from Redis is read by id through the record, with its trail
        gone = next(i for i in m["created"] if i not in hot)
        assert m["svc"].store.load(gone) is None and gone in in_record

        year0 = START - timedelta(days=args.months * args.days)
        year1 = START + timedelta(days=args.days)
        q = sql_queries(url, city, year0, year1, r, m["svc"], m["svc"].clock())
        print(f"SQL, a year ({year0:%Y-%m-%d} … {year1:%Y-%m-%d}): KPIs of {len(q['kpis'])} "
              f"centers in {q['kpi_ms']} ms from kpi_daily + today's live cases (of which reading "
              f"today's {q['live_ms']} ms; the direct "
              f"query over every case: {q['direct_ms']} ms; same figures: {q['same']}); by town (PostGIS ST_Within on the towns' polygons, "
              f"subdivided; {len(q['towns'])} towns, {sum(t[2] for t in q['towns'])} cases "
              f"placed) in {q['town_ms']} ms ad hoc, or {q['place_daily_ms']} ms from place_daily "
              f"(the archiver's rows per town and day, placed by the same ST_Within when written; "
              f"{q['place_daily_towns']} towns; same counts: {q['place_daily_same']})")
        for row in q["kpis"][:5]:
            print(f"    {row[0]:12s} received {row[1]:7d} closed {row[2]:7d} voided {row[3]:6d} "
                  f"mean close {row[4] or 0:7.0f} s")
    finally:
        m["rsvc"].stop()
        m["pg"].stop()
        shutil.rmtree(m["tmp"], ignore_errors=True)

    ro = redis_only(args, who, random.Random(2))
    year_cases = FULL_RATE * 365
    ro_year_mb = ro["per_case_bytes"] * year_cases / 2**20
    span_days = args.redis_only_days
    kpi_redis_ms = (ro["kpi_s"] * 365 / span_days + ro["town_s"] * year_cases / ro["cases"]) * 1000
    print(f"Redis-only, {span_days} days ({ro['cases']} cases): {ro['per_case_bytes'] / 1024:.1f} KB "
          f"per case → a year at {FULL_RATE}/day: {ro_year_mb:,.0f} MB; KPIs of {ro['kpis']} "
          f"centers {ro['kpi_s'] * 1000:.0f} ms for {span_days} days (a year ≈ "
          f"{ro['kpi_s'] * 365 / span_days * 1000:,.0f} ms), by town over every hash "
          f"{ro['town_s'] * 1000:.0f} ms (a year ≈ {ro['town_s'] * year_cases / ro['cases'] * 1000:,.0f} ms)")
    # a year's KPIs per center and breakdown by town as the screens read them: both from the
    # archiver's daily rows (+ today's live cases); the ad hoc spatial join is printed above
    kpi_year_ms = round(q["kpi_ms"] + q["place_daily_ms"], 1)
    redis_full = m["base"] + (mem[-1] - m["base"]) / args.scale    # what cases hold scales
    print(f"at the full rate (× {1 / args.scale:.0f}): Redis ≈ {mb(redis_full)} MB steady "
          f"(cases held scale with the rate); record {len(created) / args.scale:,.0f} cases a year")
    print(f"total {time.perf_counter() - t_all:.0f} s")
    print(json.dumps({"bench": "history", "incidents": len(created), "found": found,
                      "redis_mb": mb(mem[-1]), "redis_only_mb_year_est": round(ro_year_mb),
                      "kpi_year_ms": kpi_year_ms, "kpi_year_redis_ms": round(kpi_redis_ms)}))


if __name__ == "__main__":
    main()
