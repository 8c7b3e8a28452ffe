"""Bench: the grid worker's phone page — page weight and the report endpoint (issue 6).

1. Page weight: everything /m/ needs before the worker can type (HTML + JS + CSS), raw and
   gzipped; baseline in the same run: a Dash screen's first load (/ops/: its HTML and every
   script it references), which is what /m/ would cost as a Dash app.
2. Reports over HTTP: ``POST /m/api/reports`` through the whole Flask stack (session, CSRF,
   rate limit off, scope, intake, routing, one atomic Lua commit), then the same report sent
   again with the same key (a network retry); baseline: ``IncidentService.report`` called
   directly in the same process, i.e. the overhead of the web layer.

    python bench/mobile.py            # options: --reports 300 --city-dir DIR
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import security  # noqa: E402
from app.config import Settings  # noqa: E402
from app.context import AppContext  # noqa: E402
from app.server import create_server  # noqa: E402
from app.services import start_redis_server  # noqa: E402
from app.users import UserStore, ensure_demo_users  # noqa: E402
from grid.io import load_or_build_city  # noqa: E402

PASSWORD = "bench-pass-123"


def weight(client, page: str, pattern: str) -> tuple[int, int, int]:
    """(raw bytes, gzip bytes, requests) of a page and the scripts/styles it references."""
    html = client.get(page).get_data()
    urls = re.findall(pattern.encode(), html)
    blobs = [html] + [client.get(u.decode()).get_data() for u in urls]
    raw = sum(len(b) for b in blobs)
    gz = sum(len(gzip.compress(b, 6)) for b in blobs)
    return raw, gz, len(blobs)


def login(client, user: str) -> str:
    client.get("/login")
    tok = client.get_cookie("_csrf_token").value
    r = client.post("/login", data={"user": user, "password": PASSWORD, "csrf_token": tok})
    assert r.status_code == 302, r.status_code
    return client.get_cookie("_csrf_token").value


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=300)
    ap.add_argument("--city-dir", type=Path)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-mobile-"))
    city = load_or_build_city("高州市", args.city_dir or tmp / "高州市")
    svc_redis = start_redis_server(tmp / "redis")
    try:
        ctx = AppContext(Settings(secret_key="b" * 64, data_dir=tmp), svc_redis.url)
        ctx.__dict__["city"] = city
        accounts = ensure_demo_users(ctx.redis, city, PASSWORD)
        server = create_server(ctx)
        # the bench measures the endpoint, not the per-user limit (30/min)
        security.REPORT_LIMIT = security.RateLimit("report", 10**9, 60)
        worker = next(a for a in accounts if a["role"] == "grid_worker")
        # one report per grid cell (so each makes a new incident, none is correlated)
        pts = [g.representative_point() for g in city.cells.geometry]
        n = min(args.reports, len(pts) // 2)

        c = server.test_client()
        tok = login(c, worker["user_id"])
        m_raw, m_gz, m_n = weight(c, "/m/", r'(?:src|href)="(/m/assets/[^"]+)"')
        admin = server.test_client()
        login(admin, "admin")
        d_raw, d_gz, d_n = weight(admin, "/ops/", r'(?:src|href)="(/ops/[^"]+\.(?:js|css)[^"]*)"')
        print(f"page weight /m/  : {m_raw / 1024:8.1f} KiB raw, {m_gz / 1024:7.1f} KiB gzip, "
              f"{m_n} requests")
        print(f"baseline Dash /ops/: {d_raw / 1024:8.1f} KiB raw, {d_gz / 1024:7.1f} KiB gzip, "
              f"{d_n} requests")
        print(f"ratio Dash / mobile (gzip): {d_gz / m_gz:.1f}x")

        http_ms, retry_ms = [], []
        for i in range(n):
            p = pts[i]
            body = {"category": "0107", "description": f"bench {i}", "lon": p.x, "lat": p.y,
                    "key": f"bench{i:06d}"}
            t0 = time.perf_counter()
            r = c.post("/m/api/reports", json=body, headers={"X-CSRFToken": tok})
            http_ms.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.get_data(as_text=True)
            t0 = time.perf_counter()
            r2 = c.post("/m/api/reports", json=body, headers={"X-CSRFToken": tok})
            retry_ms.append((time.perf_counter() - t0) * 1000)
            assert r2.json["id"] == r.json["id"] and r2.json["duplicate"]
        actor = UserStore(ctx.redis).get(worker["user_id"]).actor
        direct_ms = []
        for i in range(n):
            p = pts[n + i]
            t0 = time.perf_counter()
            ctx.incidents.report(actor, "0107", p.x, p.y, description=f"direct {i}",
                                 idempotency_key=f"direct{i:06d}")
            direct_ms.append((time.perf_counter() - t0) * 1000)
        h50, d50 = statistics.median(http_ms), statistics.median(direct_ms)
        print(f"POST /m/api/reports      median {h50:6.2f} ms  p95 {pct(http_ms, .95):6.2f} ms "
              f"({n} reports)")
        print(f"same key again (retry)   median {statistics.median(retry_ms):6.2f} ms  "
              f"p95 {pct(retry_ms, .95):6.2f} ms (answers the first incident)")
        print(f"baseline service.report  median {d50:6.2f} ms  p95 {pct(direct_ms, .95):6.2f} ms")
        print(f"ratio HTTP / direct: {h50 / d50:.2f}x")
        print(json.dumps({"bench": "mobile", "page_kib_gzip": round(m_gz / 1024, 1),
                          "page_kib_raw": round(m_raw / 1024, 1),
                          "dash_page_kib_gzip": round(d_gz / 1024, 1),
                          "weight_ratio": round(d_gz / m_gz, 1),
                          "report_ms_median": round(h50, 2),
                          "report_ms_p95": round(pct(http_ms, .95), 2),
                          "retry_ms_median": round(statistics.median(retry_ms), 2),
                          "direct_ms_median": round(d50, 2), "ratio": round(h50 / d50, 2)}))
    finally:
        svc_redis.stop()


if __name__ == "__main__":
    main()
