"""Point lookup benchmark (定位入格): bulk points/s and single-lookup latency vs a naive sjoin.

    python bench/lookup.py [--points 1000000] [--singles 20000] [--city-dir DIR]

Builds (or loads) the demo city 高州市, draws random points uniformly in the cells' bounding box
(~60 % fall inside the city), and measures in this one process:

- bulk: ``City.locate_many`` on all points (best of 3), points/s;
- single: ``City.locate`` (the live-feed fast path, ``try_locate`` outside) one point at a time,
  median µs over ``--singles`` calls timed with ``time.perf_counter_ns``;
- baseline: ``geopandas.sjoin(points, cells, predicate="within")`` on the same points, points/s
  (including building the point GeoDataFrame, as a naive caller would).

It checks that both give the same cell for every point, then prints the figures; the last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grid.io import load_or_build_city  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--singles", type=int, default=20_000)
    ap.add_argument("--city-dir", type=Path, default=None)
    args = ap.parse_args()

    city_dir = args.city_dir or Path(tempfile.mkdtemp(prefix="onemap-bench-")) / "高州市"
    city = load_or_build_city("高州市", city_dir)
    t = time.perf_counter()
    loc = city._locator   # build the index outside the timed loops (it is built once per process)
    build_s = time.perf_counter() - t
    print(f"city: {len(city.cells)} cells; index built in {build_s:.2f} s "
          f"({loc.nx}×{loc.ny} pixels, {loc.boundary_fraction:.1%} boundary)")

    rng = np.random.default_rng(42)
    x0, y0, x1, y1 = city.cells.total_bounds
    lons = rng.uniform(x0, x1, args.points)
    lats = rng.uniform(y0, y1, args.points)

    bulk_s = min(_timed(lambda: city.locate_many(lons, lats)) for _ in range(3))
    rows = city.locate_many(lons, lats)
    bulk = args.points / bulk_s

    ns = []
    clock = time.perf_counter_ns
    for lon, lat in zip(lons[: args.singles].tolist(), lats[: args.singles].tolist(), strict=True):
        a = clock()
        city.try_locate(lon, lat)
        ns.append(clock() - a)
    single_us = statistics.median(ns) / 1000
    raw = []
    for lon, lat in zip(lons[: args.singles].tolist(), lats[: args.singles].tolist(), strict=True):
        a = clock()
        loc.locate_one(lon, lat)
        raw.append(clock() - a)

    t = time.perf_counter()
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs="EPSG:4326")
    joined = gpd.sjoin(pts, city.cells[["geometry"]], predicate="within", how="inner")
    sjoin_s = time.perf_counter() - t
    sjoin = args.points / sjoin_s
    ref = np.full(args.points, -1, dtype=np.int64)
    first = joined.groupby(level=0)["index_right"].min()
    ref[first.index.to_numpy()] = first.to_numpy()
    agree = float(np.mean(ref == rows))

    print(f"bulk   City.locate_many: {args.points:,} points in {bulk_s * 1000:.1f} ms "
          f"= {bulk:,.0f} points/s ({np.mean(rows >= 0):.1%} inside)")
    print(f"single City.try_locate: median {single_us:.2f} µs, p99 {np.percentile(ns, 99) / 1000:.2f} µs "
          f"(Locator.locate_one alone: median {statistics.median(raw) / 1000:.2f} µs) over {len(ns):,} calls")
    print(f"baseline geopandas.sjoin: {sjoin_s * 1000:.0f} ms = {sjoin:,.0f} points/s")
    print(f"ratio bulk/sjoin: {bulk / sjoin:.1f}×; agreement with sjoin: {agree:.4%}")
    if agree != 1.0:
        print("ERROR: lookup disagrees with sjoin", file=sys.stderr)
    print(json.dumps({"bench": "lookup", "bulk_points_per_s": round(bulk),
                      "single_lookup_us_median": round(single_us, 3),
                      "sjoin_points_per_s": round(sjoin), "ratio": round(bulk / sjoin, 2)}))
    if agree != 1.0:
        sys.exit(1)


def _timed(f) -> float:  # noqa: ANN001
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
