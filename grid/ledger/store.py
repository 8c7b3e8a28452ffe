"""The ledger in PostgreSQL (G8; issue 24): import, the cell roster, export. The connection is
the caller's (``app`` opens it); the tables are migration 0004's.

An import reads the file in chunks (CSV: pandas; XLSX: openpyxl in read-only streaming mode),
validates each chunk vectorised (``model.validate``), COPYs the valid rows into a temporary
staging table, refuses the rows whose key an earlier row of the same file already has (SQL),
then moves the rest with one INSERT … SELECT … ON CONFLICT DO UPDATE: all in one transaction,
so a load that fails half-way leaves the register as it was. Memory is one chunk at a time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from grid.ledger.model import REGISTERS, ImportReport, Rejection, kind_of_header, validate

CHUNK = 100_000
"""Rows validated and copied at a time (bounds the import's memory)."""


class LedgerFileError(ValueError):
    """The file cannot be read as a register (unknown type, no header of a register)."""


def read_chunks(path: Path, chunk: int = CHUNK) -> Iterator[tuple[list[str], pd.DataFrame, int]]:
    """(header, rows as str with '' for empty, the chunk's first row number: header = 1) for
    a CSV (UTF-8, a BOM allowed) or an XLSX (its first sheet) file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        first = 2
        with pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk, index_col=False,
                         encoding="utf-8-sig", skipinitialspace=False) as reader:
            for df in reader:
                df.columns = [str(c).strip() for c in df.columns]
                yield list(df.columns), df, first
                first += len(df)
        return
    if suffix == ".xlsx":
        from openpyxl import load_workbook  # noqa: PLC0415 (only XLSX imports need it)

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            rows = wb.worksheets[0].iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            buf: list[list[str]] = []
            first = 2
            width = len(header)
            for values in rows:
                cells = ["" if v is None else _cell_text(v) for v in values[:width]]
                buf.append(cells + [""] * (width - len(cells)))
                if len(buf) >= chunk:
                    yield header, pd.DataFrame(buf, columns=header), first
                    first += len(buf)
                    buf = []
            if buf:
                yield header, pd.DataFrame(buf, columns=header), first
        finally:
            wb.close()
        return
    raise LedgerFileError(f"不支持的文件类型 {suffix or '（无扩展名）'}：应为 .csv 或 .xlsx")


def _cell_text(v: object) -> str:
    """An XLSX cell as text: whole numbers without '.0' (a phone typed as a number)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _csv_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as CSV without a header (pyarrow's writer: ~10× pandas' ``to_csv``)."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.Table.from_pandas(df.astype(str), preserve_index=False), sink,
                    pacsv.WriteOptions(include_header=False))
    return sink.getvalue().to_pybytes()


def _stage_sql(table: str, cols: tuple[str, ...]) -> str:
    return (f"CREATE TEMP TABLE {table} ({', '.join(f'{c} text' for c in cols)}, row_no integer)"
            " ON COMMIT DROP")


_INSERT = {
    "people": """
INSERT INTO ledger_people (id_number, name, phone, tags, cell_code, town_code, house_code)
SELECT id_number, name, phone, tags::text[], cell, town_code, house FROM ledger_stage
ON CONFLICT (id_number) DO UPDATE SET name = EXCLUDED.name, phone = EXCLUDED.phone,
    tags = EXCLUDED.tags, cell_code = EXCLUDED.cell_code, town_code = EXCLUDED.town_code,
    house_code = EXCLUDED.house_code, updated_at = now()""",
    "houses": """
INSERT INTO ledger_houses (code, address, kind, cell_code, town_code, geom)
SELECT code, address, kind, cell, town_code,
       ST_SetSRID(ST_MakePoint(lon::float8, lat::float8), 4326) FROM ledger_stage
ON CONFLICT (code) DO UPDATE SET address = EXCLUDED.address, kind = EXCLUDED.kind,
    cell_code = EXCLUDED.cell_code, town_code = EXCLUDED.town_code, geom = EXCLUDED.geom,
    updated_at = now()""",
    "units": """
INSERT INTO ledger_units (code, name, kind, phone, cell_code, town_code, geom)
SELECT code, name, kind, phone, cell, town_code,
       ST_SetSRID(ST_MakePoint(lon::float8, lat::float8), 4326) FROM ledger_stage
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
    phone = EXCLUDED.phone, cell_code = EXCLUDED.cell_code, town_code = EXCLUDED.town_code,
    geom = EXCLUDED.geom, updated_at = now()""",
}


def import_file(conn: psycopg.Connection, path: Path, cell_towns: dict[str, str], *,
                kind: str | None = None, bounds: tuple[float, float, float, float] | None = None,
                chunk: int = CHUNK) -> ImportReport:
    """Import one register file (G8): every invalid row refused with its reason, the valid rows
    committed in one transaction (``cell_towns``: the city model's cell code → town code)."""
    path = Path(path)
    try:
        return _import(conn, path, cell_towns, kind, bounds, chunk)
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise LedgerFileError(f"文件无法按 CSV/UTF-8 读取，未导入任何行：{e}") from e


def _import(conn: psycopg.Connection, path: Path, cell_towns: dict[str, str], kind: str | None,
            bounds: tuple[float, float, float, float] | None, chunk: int) -> ImportReport:
    report: ImportReport | None = None
    with conn.transaction(), conn.cursor() as cur:
        for header, df, first in read_chunks(path, chunk):
            if report is None:
                kind = kind or kind_of_header(header)
                if kind not in REGISTERS:
                    raise LedgerFileError("表头不是人员、房屋或单位花名册的列："
                                          + "；".join("、".join(r.columns) for r in REGISTERS.values()))
                missing = [c for c in REGISTERS[kind].columns if c not in header]
                if missing:
                    raise LedgerFileError(f"表头缺少列：{'、'.join(missing)}")
                reg = REGISTERS[kind]
                report = ImportReport(kind)
                cur.execute(_stage_sql("ledger_stage", reg.stored))
            good, bad = validate(kind, df, first, cell_towns, bounds)
            report.rows += len(df)
            report.rejected += bad
            if len(good):
                cols = (*reg.stored, "row_no")
                names = ", ".join(cols)
                with cur.copy(f"COPY ledger_stage ({names}) FROM STDIN "
                              f"(FORMAT csv, FORCE_NOT_NULL ({names}))") as cp:
                    cp.write(_csv_bytes(good[list(cols)]))
        if report is None:
            raise LedgerFileError("文件为空：没有表头")
        reg = REGISTERS[report.kind]
        # a key given twice in one file: the first row stands, the later ones are refused
        cur.execute(f"""
DELETE FROM ledger_stage s USING (
    SELECT row_no, row_number() OVER (PARTITION BY {reg.key} ORDER BY row_no) AS n
    FROM ledger_stage) d
WHERE s.row_no = d.row_no AND d.n > 1 RETURNING s.row_no""")
        report.rejected += [Rejection(r, reg.key, "与本文件前面的行重复") for (r,) in cur.fetchall()]
        cur.execute(_INSERT[report.kind])
        report.imported = cur.rowcount
        if report.imported > 10_000:        # a bulk load: the planner's statistics anew
            cur.execute(f"ANALYZE {reg.table}")
    return report


ROSTER_SQL = """
SELECT id_number, name, phone, tags, house_code FROM ledger_people WHERE cell_code = %s
ORDER BY house_code, name, id_number"""


def roster(conn: psycopg.Connection, cell: str) -> list[dict]:
    """The people of one grid cell (the grid worker's 花名册), unmasked: the caller masks."""
    with conn.cursor() as cur:
        cur.execute(ROSTER_SQL, (cell,))
        return [{"id_number": a, "name": b, "phone": c, "tags": list(d), "house": e}
                for a, b, c, d, e in cur.fetchall()]


_CELL_SQL = {
    "houses": "SELECT code, address, kind, ST_X(geom), ST_Y(geom) FROM ledger_houses "
              "WHERE cell_code = %s ORDER BY code",
    "units": "SELECT code, name, kind, phone, ST_X(geom), ST_Y(geom) FROM ledger_units "
             "WHERE cell_code = %s ORDER BY code",
}
_CELL_KEYS = {"houses": ("code", "address", "kind", "lon", "lat"),
              "units": ("code", "name", "kind", "phone", "lon", "lat")}


def in_cell(conn: psycopg.Connection, kind: str, cell: str) -> list[dict]:
    """One register's rows in a cell (people: ``roster``), unmasked: the caller masks."""
    if kind == "people":
        return roster(conn, cell)
    with conn.cursor() as cur:
        cur.execute(_CELL_SQL[kind], (cell,))
        return [dict(zip(_CELL_KEYS[kind], r, strict=True)) for r in cur.fetchall()]


_EXPORT_COLS = {
    "people": "name, id_number, phone, array_to_string(tags, ';') AS tags, cell_code AS cell, "
              "house_code AS house",
    "houses": "code, address, kind, cell_code AS cell, ST_X(geom) AS lon, ST_Y(geom) AS lat",
    "units": "code, name, kind, phone, cell_code AS cell, ST_X(geom) AS lon, ST_Y(geom) AS lat",
}


def export_csv(conn: psycopg.Connection, kind: str, out: IO[str], *, town: str | None = None,
               mask: Callable[[dict], dict] | None = None) -> int:
    """Write a register (a town's part when ``town``) as CSV in the import's columns (a file
    exported can be imported back); ``mask`` rewrites each row (personal fields). Rows written."""
    reg = REGISTERS[kind]
    where, args = ("WHERE town_code = %s", (town,)) if town else ("", ())
    w = csv.writer(out)
    w.writerow(reg.columns)
    n = 0
    with conn.transaction(), conn.cursor(name=f"ledger_export_{kind}") as cur:
        cur.itersize = 10_000
        cur.execute(f"SELECT {_EXPORT_COLS[kind]} FROM {reg.table} {where} ORDER BY {reg.key}",
                    args)
        for values in cur:
            row = dict(zip(reg.columns, values, strict=True))
            if mask is not None:
                row = mask(row)
            w.writerow(["" if row[c] is None else row[c] for c in reg.columns])
            n += 1
    return n


__all__ = ["CHUNK", "LedgerFileError", "export_csv", "import_file", "in_cell", "read_chunks",
           "roster"]
