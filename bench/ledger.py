"""ledger — 高州市's registers (1.5 M people, 500 k houses, 60 k units) imported from CSV (issue 24).

A synthetic register at ``--scale`` × 高州市's size is written to three CSV files (people, houses,
units) in a child process (so this process's peak RSS is the import's), with a 1 % defect sample
planted in each (a wrong ID check character, an unknown cell, a malformed phone, an empty name or
address, a key given twice, an unknown unit kind, a non-numeric longitude …). Each file is then
imported on a private PostgreSQL 15 + PostGIS (``app.pg.start_postgres``) through the product's
path (``grid.ledger.store.import_file``: chunked vectorised validation, COPY into a staging
table, one INSERT … SELECT in one transaction). Then 200 random cells' rosters are read (the
query of ``GET /api/ledger/cells/<cell>/people`` and its masking) for the p95.

Beside it, in the same run, the naive import: the same validation, then one INSERT per row
(``cursor.execute``) in one transaction, on the first 1/10 of the people file (``--naive-frac``),
extrapolated to the whole register's rows (said in the output).

Checks: imported + rejected == rows; rejected == the defects planted (exit 1 otherwise).

    python bench/ledger.py                  # the full size: ~2–4 min busy
    python bench/ledger.py --scale 0.05     # a quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.ledger import mask_person  # noqa: E402
from app.pg import migrate, start_postgres  # noqa: E402
from grid.ledger import store  # noqa: E402
from grid.ledger.model import HOUSE_KINDS, PERSON_TAGS, UNIT_KINDS, validate  # noqa: E402

FULL = {"people": 1_500_000, "houses": 500_000, "units": 60_000}
DEFECT_RATE = 0.01
_W = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK = np.array(list("10X98765432"))
_SURNAMES = np.array(list("陈李黄张梁林刘吴杨何钟邓罗谢冯叶朱郑曾彭"))
_GIVEN = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华文"))
_CODE_ALPHA = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))


def _digits(n: np.ndarray, width: int) -> np.ndarray:
    """(len(n), width) digit matrix of non-negative ints."""
    return (n[:, None] // 10 ** np.arange(width - 1, -1, -1)) % 10


def _ids(n: int) -> np.ndarray:
    """``n`` distinct valid ID numbers: 440981 + a birth date + a sequence + the check char."""
    i = np.arange(n)
    born = np.datetime64("1940-01-01") + (i // 1000) * 7
    ymd = pd.DatetimeIndex(born)
    date = (ymd.year * 10000 + ymd.month * 100 + ymd.day).to_numpy()
    first17 = np.int64(440981) * 10**11 + date.astype(np.int64) * 1000 + i % 1000
    d = _digits(first17, 17)
    return (pd.Series(first17).astype(str) + _CHECK[(d @ _W) % 11]).to_numpy()


def _plant(df: pd.DataFrame, rng: np.random.Generator, key: str,
           defects: list[tuple[str, object]]) -> int:
    """Put 1 % defects in ``df`` (each row at most one; a duplicated key copies an earlier,
    sound row's); returns how many."""
    n = len(df)
    k = max(len(defects), int(n * DEFECT_RATE))
    rows = np.sort(rng.choice(np.arange(1, n), size=k, replace=False))
    sound = np.setdiff1d(np.arange(n), rows)
    for j, (col, value) in enumerate(defects):
        at = rows[j::len(defects)]
        if col == "dup":
            src = sound[np.searchsorted(sound, at) - 1]     # the sound row just before
            df.loc[at, key] = df.loc[src, key].to_numpy()
        else:
            df.loc[at, col] = value
    return k


def generate(tmp: Path, scale: float, seed: int, cells: list[str], points: dict, q) -> None:  # noqa: ANN001
    """Write people.csv, houses.csv, units.csv under ``tmp``; put the defect counts on ``q``."""
    rng = np.random.default_rng(seed)
    n = {k: max(100, int(v * scale)) for k, v in FULL.items()}
    cell_arr = np.array(cells)
    planted = {}

    hc = rng.integers(0, len(cells), n["houses"])
    lon = np.array([points[c][0] for c in cells])[hc]
    lat = np.array([points[c][1] for c in cells])[hc]
    houses = pd.DataFrame({
        "code": pd.Series(np.arange(n["houses"])).map("H{:08d}".format),
        "address": pd.Series(rng.integers(1, 300, n["houses"])).map("幸福路{}号".format),
        "kind": np.array(HOUSE_KINDS)[rng.integers(0, 4, n["houses"])],
        "cell": cell_arr[hc], "lon": lon.round(6).astype(str), "lat": lat.round(6).astype(str)})
    planted["houses"] = _plant(houses, rng, "code", [
        ("cell", "440981999999999"), ("address", ""), ("lon", "东经"), ("dup", None),
        ("kind", "城堡")])
    houses.to_csv(tmp / "houses.csv", index=False)

    pn = n["people"]
    ph = rng.integers(0, n["houses"], pn)
    phone = pd.Series(rng.integers(13_000_000_000, 19_999_999_999, pn)).astype(str)
    phone[rng.random(pn) < 0.4] = ""
    tags = np.where(rng.random(pn) < 0.1, np.array(PERSON_TAGS)[rng.integers(0, len(PERSON_TAGS), pn)], "")
    people = pd.DataFrame({
        "name": pd.Series(_SURNAMES[rng.integers(0, len(_SURNAMES), pn)])
        + _GIVEN[rng.integers(0, len(_GIVEN), pn)] + _GIVEN[rng.integers(0, len(_GIVEN), pn)],
        "id_number": _ids(pn), "phone": phone, "tags": tags,
        "cell": houses["cell"].to_numpy()[ph], "house": houses["code"].to_numpy()[ph]})
    people.loc[people["cell"] == "440981999999999", "cell"] = cells[0]   # only planted defects count
    bad_check = people["id_number"].str[:17] + "0"
    wrong = bad_check.where(people["id_number"].str[17] != "0", people["id_number"].str[:17] + "1")
    planted["people"] = _plant(people, rng, "id_number", [
        ("cell", "440981999999999"), ("phone", "1381234"), ("name", ""), ("dup", None),
        ("tags", "外星人"), ("id_number", None)])
    # the wrong-check-character defect: its rows got None above, now the wrong ID itself
    miss = people["id_number"].isna()
    people.loc[miss, "id_number"] = wrong[miss]
    people.to_csv(tmp / "people.csv", index=False)
    del people

    un = n["units"]
    i = np.arange(un)
    code = pd.Series(["91440981"] * un) + pd.Series(
        ["".join(r) for r in _CODE_ALPHA[_digits(i, 10) * 3 % len(_CODE_ALPHA)].tolist()])
    uc = rng.integers(0, len(cells), un)
    units = pd.DataFrame({
        "code": code, "name": pd.Series(i).map("第{}商行".format),
        "kind": np.array(UNIT_KINDS)[rng.integers(0, len(UNIT_KINDS), un)],
        "phone": "", "cell": cell_arr[uc],
        "lon": np.array([points[c][0] for c in cells])[uc].round(6).astype(str),
        "lat": np.array([points[c][1] for c in cells])[uc].round(6).astype(str)})
    planted["units"] = _plant(units, rng, "code", [
        ("kind", "飞船"), ("code", "BAD-CODE"), ("cell", "440981999999999"), ("dup", None),
        ("phone", "12")])
    units.to_csv(tmp / "units.csv", index=False)
    q.put(planted)


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def naive(url: str, path: Path, frac: float, cell_towns: dict, bounds) -> tuple[int, float]:  # noqa: ANN001
    """The same validation, then one INSERT per row in one transaction (a copy table)."""
    with open(path, encoding="utf-8") as f:
        nrows = sum(1 for _ in f) - 1
    take = max(1, int(nrows * frac))
    df = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=take)
    t0 = time.perf_counter()
    good, _ = validate("people", df, 2, cell_towns, bounds)
    with psycopg.connect(url) as c, c.cursor() as cur:
        cur.execute("CREATE TABLE naive_people (LIKE ledger_people INCLUDING ALL)")
        for r in good.itertuples(index=False):
            cur.execute("INSERT INTO naive_people (id_number, name, phone, tags, cell_code, town_code,"
                        " house_code) VALUES (%s, %s, %s, %s::text[], %s, %s, %s) ON CONFLICT DO NOTHING",
                        (r.id_number, r.name, r.phone, r.tags, r.cell, r.town_code, r.house))
        c.commit()
    return take, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--naive-frac", type=float, default=0.1)
    ap.add_argument("--roster-reads", type=int, default=200)
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument("--city-dir", default=None)
    args = ap.parse_args()
    if args.city_dir:
        from grid.io import load_city  # noqa: PLC0415

        city = load_city(args.city_dir)
    else:
        from grid.build import build_city  # noqa: PLC0415

        city = build_city("高州市")
    cells = sorted(city.cells["code"].astype(str))
    cell_towns = dict(zip(city.cells["code"].astype(str), city.cells["town_code"].astype(str),
                          strict=True))
    points = {str(c): g.representative_point().coords[0]
              for c, g in zip(city.cells["code"], city.cells.geometry, strict=True)}
    bounds = tuple(city.boundary.bounds)

    tmp = Path(tempfile.mkdtemp(prefix="onemap-bench-ledger-"))
    tmp.chmod(0o755)            # as root, PostgreSQL runs as postgres: it must get through
    t0 = time.perf_counter()
    q = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=generate, args=(tmp, args.scale, args.seed, cells, points, q))
    p.start()
    planted = q.get()
    p.join()
    print(f"generated in {time.perf_counter() - t0:.1f} s (child process): "
          + ", ".join(f"{k} defects {v}" for k, v in planted.items()), flush=True)
    pg = start_postgres(tmp / "pg", durable=False)
    try:
        migrate(pg.url)
        rows = imported = rejected = 0
        import_s = 0.0
        for kind in ("houses", "people", "units"):
            with psycopg.connect(pg.url, autocommit=True) as c:
                t = time.perf_counter()
                rep = store.import_file(c, tmp / f"{kind}.csv", cell_towns, bounds=bounds)
                dt = time.perf_counter() - t
            import_s += dt
            rows, imported, rejected = rows + rep.rows, imported + rep.imported, rejected + len(rep.rejected)
            print(f"{kind:<7} {rep.rows:>9,} rows  imported {rep.imported:>9,}  rejected "
                  f"{len(rep.rejected):>6,} (planted {planted[kind]:,})  {dt:6.1f} s  "
                  f"{rep.rows / dt:,.0f} rows/s  e.g. {rep.rejected[0] if rep.rejected else '-'}",
                  flush=True)
        rss = rss_mb()
        print(f"import: {rows:,} rows in {import_s:.1f} s = {rows / import_s:,.0f} rows/s; "
              f"peak RSS {rss} MB (the import's process)", flush=True)

        rng = np.random.default_rng(args.seed)
        times = []
        with psycopg.connect(pg.url, autocommit=True) as c:
            for cell in rng.choice(cells, args.roster_reads):
                t = time.perf_counter()
                got = [mask_person(r) for r in store.roster(c, str(cell))]
                times.append((time.perf_counter() - t) * 1000)
        p95 = statistics.quantiles(times, n=20)[18]
        print(f"roster: {args.roster_reads} cells, ~{len(got)} people each, median "
              f"{statistics.median(times):.1f} ms, p95 {p95:.1f} ms", flush=True)

        take, naive_dt = naive(pg.url, tmp / "people.csv", args.naive_frac, cell_towns, bounds)
        naive_s = naive_dt * rows / take
        print(f"naive row-by-row INSERT: {take:,} rows (1/{round(1 / args.naive_frac)} of people.csv)"
              f" in {naive_dt:.1f} s = {take / naive_dt:,.0f} rows/s; extrapolated to {rows:,} rows: "
              f"{naive_s:.0f} s (×{naive_s / import_s:.1f} the staged import)", flush=True)
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    total_planted = sum(planted.values())
    ok = imported + rejected == rows and rejected == total_planted
    if not ok:
        print(f"CHECK FAILED: imported + rejected = {imported + rejected} (rows {rows}); "
              f"rejected {rejected}, planted {total_planted}", flush=True)
    print(json.dumps({"bench": "ledger", "rows": rows, "imported": imported, "rejected": rejected,
                      "import_s": round(import_s, 1), "naive_import_s": round(naive_s, 1),
                      "rss_mb": rss, "roster_p95_ms": round(p95, 1)}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
