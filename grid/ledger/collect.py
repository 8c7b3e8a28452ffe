"""信息采集 (E10, G8; issue 24): a grid worker's new or changed register object, kept PENDING
(``ledger_collect``, migration 0006) until the cell's town reviews it; only an approval moves it
into its register, in the same transaction as the review's own row.

The object is validated exactly as an import's row (``model.validate`` on a one-row frame: the
same columns, checks and Chinese reasons); approving it runs the import's own INSERT … SELECT …
ON CONFLICT (``store._INSERT``) from a one-row staging table, so a collected object and an
imported one cannot differ. Scope (who may submit, who may review) and the audit are the
caller's (``app``): this module gets a psycopg connection and plain values.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from grid.ledger import store
from grid.ledger.model import REGISTERS, Rejection, validate

STATUS_NAMES = {"pending": "待审核", "approved": "已通过", "rejected": "已退回"}
OP_NAMES = {"new": "新增", "change": "变更"}


class CollectError(ValueError):
    """The object is refused as the import would refuse its row (``rejections``: why)."""

    def __init__(self, rejections: list[Rejection]) -> None:
        self.rejections = rejections
        super().__init__("；".join(f"{r.field}: {r.reason}" for r in rejections))


class NotPending(RuntimeError):
    """The submission was reviewed already (or does not exist): nothing changed."""


def check(kind: str, row: dict, cell_towns: dict[str, str],
          bounds: tuple[float, float, float, float] | None = None) -> dict:
    """The object ``row`` of register ``kind`` validated like an import's row: its columns
    normalised (tags a list) plus ``town_code``; ``CollectError`` with the reasons otherwise."""
    if kind not in REGISTERS:
        raise CollectError([Rejection(1, "kind", "类型应为 people、houses 或 units")])
    reg = REGISTERS[kind]
    frame = pd.DataFrame([{c: "" if row.get(c) is None else str(row.get(c)) for c in reg.columns}])
    good, bad = validate(kind, frame, 1, cell_towns, bounds)
    if bad:
        raise CollectError(bad)
    got = good.iloc[0].to_dict()
    out = {c: str(got[c]) for c in reg.columns}
    if kind == "people":
        out["tags"] = [t for t in str(got["tags"]).strip("{}").split(",") if t]
    out["town_code"] = str(got["town_code"])
    return out


_COLS = ("id", "author", "client_key", "kind", "op", "obj_key", "data", "cell_code", "town_code",
         "status", "reason", "reviewer", "created_at", "reviewed_at")
_SELECT = f"SELECT {', '.join(_COLS)} FROM ledger_collect"


def _row(values: tuple) -> dict:
    d = dict(zip(_COLS, values, strict=True))
    d["status_name"] = STATUS_NAMES.get(d["status"], d["status"])
    d["op_name"] = OP_NAMES.get(d["op"], d["op"])
    d["kind_name"] = REGISTERS[d["kind"]].cn if d["kind"] in REGISTERS else d["kind"]
    for t in ("created_at", "reviewed_at"):
        d[t] = d[t].isoformat(timespec="seconds") if d[t] is not None else ""
    return d


def submit(conn: psycopg.Connection, *, author: str, client_key: str, kind: str, row: dict,
           cell_towns: dict[str, str], bounds: tuple[float, float, float, float] | None = None
           ) -> tuple[dict, bool]:
    """Keep one collected object pending review: (the submission, duplicate). The same
    ``(author, client_key)`` again (the phone's outbox replaying) returns the first submission
    and inserts nothing. ``CollectError`` for an object the import would refuse."""
    obj = check(kind, row, cell_towns, bounds)
    reg = REGISTERS[kind]
    town = obj.pop("town_code")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"SELECT 1 FROM {reg.table} WHERE {reg.key} = %s", (obj[reg.key],))
        op = "change" if cur.fetchone() else "new"
        cur.execute(f"""INSERT INTO ledger_collect (author, client_key, kind, op, obj_key, data,
    cell_code, town_code) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (author, client_key) DO NOTHING RETURNING {', '.join(_COLS)}""",
                    (author, client_key, kind, op, obj[reg.key], Jsonb(obj), obj["cell"], town))
        made = cur.fetchone()
        if made is not None:
            return _row(made), False
        cur.execute(f"{_SELECT} WHERE author = %s AND client_key = %s", (author, client_key))
        return _row(cur.fetchone()), True


def get(conn: psycopg.Connection, sid: int) -> dict | None:
    """One submission, or None."""
    with conn.cursor() as cur:
        cur.execute(f"{_SELECT} WHERE id = %s", (sid,))
        got = cur.fetchone()
    return _row(got) if got else None


def listing(conn: psycopg.Connection, *, towns: Iterable[str] | None = None,
            status: str | None = "pending", author: str | None = None, limit: int = 200
            ) -> list[dict]:
    """Submissions, newest first: of ``towns`` (None: every town), in ``status`` (None: any),
    by ``author`` (None: anyone). Unmasked: the caller masks."""
    where, args = [], []
    if towns is not None:
        where.append("town_code = ANY(%s)")
        args.append(list(towns))
    if status is not None:
        where.append("status = %s")
        args.append(status)
    if author is not None:
        where.append("author = %s")
        args.append(author)
    sql = f"{_SELECT} {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT %s"
    with conn.cursor() as cur:
        cur.execute(sql, (*args, limit))
        return [_row(r) for r in cur.fetchall()]


def _lock_pending(cur: psycopg.Cursor, sid: int) -> dict:
    cur.execute(f"{_SELECT} WHERE id = %s FOR UPDATE", (sid,))
    got = cur.fetchone()
    if got is None:
        raise NotPending(f"无此采集记录 {sid} (no such submission)")
    sub = _row(got)
    if sub["status"] != "pending":
        raise NotPending(f"采集记录 {sid} 已审核（{sub['status_name']}） (already reviewed)")
    return sub


def approve(conn: psycopg.Connection, sid: int, reviewer: str) -> dict:
    """审核通过: the object enters its register (the import's INSERT … ON CONFLICT: a change
    updates the row) and the submission is marked, in one transaction. ``NotPending`` when it
    was reviewed already (two reviewers at once: the second is told, nothing happens twice)."""
    with conn.transaction(), conn.cursor() as cur:
        sub = _lock_pending(cur, sid)
        reg = REGISTERS[sub["kind"]]
        data = dict(sub["data"])
        if sub["kind"] == "people":
            data["tags"] = "{" + ",".join(data.get("tags") or []) + "}"
        data["town_code"] = sub["town_code"]
        cur.execute(store._stage_sql("ledger_stage", reg.stored))  # noqa: SLF001 (the import's)
        cols = list(reg.stored)
        cur.execute(f"INSERT INTO ledger_stage ({', '.join(cols)}, row_no) "
                    f"VALUES ({', '.join(['%s'] * len(cols))}, 1)",
                    [str(data.get(c, "")) for c in cols])
        cur.execute(store._INSERT[sub["kind"]])  # noqa: SLF001 (one way into a register)
        cur.execute("DROP TABLE ledger_stage")
        cur.execute(f"""UPDATE ledger_collect SET status = 'approved', reviewer = %s,
    reviewed_at = now() WHERE id = %s RETURNING {', '.join(_COLS)}""", (reviewer, sid))
        return _row(cur.fetchone())


def reject(conn: psycopg.Connection, sid: int, reviewer: str, reason: str) -> dict:
    """退回 with a reason the worker reads; the register is untouched. ``ValueError`` without
    a reason, ``NotPending`` when reviewed already."""
    reason = (reason or "").strip()[:500]
    if not reason:
        raise ValueError("退回须填写原因 (a reason is required)")
    with conn.transaction(), conn.cursor() as cur:
        _lock_pending(cur, sid)
        cur.execute(f"""UPDATE ledger_collect SET status = 'rejected', reason = %s, reviewer = %s,
    reviewed_at = now() WHERE id = %s RETURNING {', '.join(_COLS)}""", (reason, reviewer, sid))
        return _row(cur.fetchone())


__all__ = ["OP_NAMES", "STATUS_NAMES", "CollectError", "NotPending", "approve", "check", "get",
           "listing", "reject", "submit"]
