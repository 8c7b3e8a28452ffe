"""民情日志 (G7, E10; issue 24): what residents tell their grid worker, one entry each (a category
from a fixed list, tags, the place and cell, the words), kept in ``ledger_minqing`` (migration
0006). An entry carries the phone's client key: the offline outbox replaying it inserts nothing
twice. One tap turns an entry into an incident report (``app`` calls the incident service and
then ``link``); the entry keeps the incident's id, the incident's source names the entry.

For leaders: counts per town and category, the daily trend, and the frequent themes of the
words (Chinese segmented with jieba; stop words and one-character tokens dropped).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Iterable

import psycopg

CATEGORIES: dict[str, str] = {
    "矛盾纠纷": "0201", "治安隐患": "0202", "环境卫生": "0104", "市容环境": "0101",
    "安全隐患": "0402", "民生诉求": "1001", "政策咨询": "1201", "意见建议": "1204", "其他": "1001",
}
"""The fixed 民情 categories (what the phone offers), each with the incident category
(``grid.categories``) its one-tap report is filed under unless the worker picks another."""
TAGS_MAX = 8
TEXT_MAX = 1000
TZ = "Asia/Shanghai"

_STOP_TEXT = """
我们 你们 他们 她们 它们 自己 大家 这个 那个 这些 那些 这里 那里 这样 那样 什么 怎么 为什么 因为 所以
但是 而且 或者 如果 虽然 还是 就是 已经 一直 一下 一些 一个 没有 没人 不是 不会 不能 可以 可能 需要
希望 觉得 认为 反映 表示 居民 群众 村民 市民 现在 今天 昨天 最近 时候 有人 问题 情况 时间 很多 非常
比较 及时 不够 不便 发生 出现 进行 要求 其中 还有 经常 总是 每天 晚上 白天 上午 下午 附近 楼下 旁边
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
"""Words too common in residents' talk to be a theme."""
_WORD = re.compile(r"^[\u3400-\u9fffA-Za-z][\u3400-\u9fffA-Za-z0-9]+$")


class MinqingError(ValueError):
    """An entry that cannot be kept (the reason in Chinese)."""


def clean(category: str, tags: Iterable[str] | str | None, text: str) -> tuple[str, list[str], str]:
    """(category, tags, text) checked: the category from ``CATEGORIES``, at most ``TAGS_MAX``
    short tags, non-empty words of at most ``TEXT_MAX`` characters. ``MinqingError`` else."""
    category = (category or "").strip()
    if category not in CATEGORIES:
        raise MinqingError(f"民情类别应为 {'、'.join(CATEGORIES)} 之一")
    if isinstance(tags, str):
        tags = re.split(r"[;；,，、|\s]+", tags)
    out = []
    for t in tags or ():
        t = str(t).strip()[:20]
        if t and t not in out:
            out.append(t)
    if len(out) > TAGS_MAX:
        raise MinqingError(f"标签至多 {TAGS_MAX} 个")
    text = (text or "").strip()
    if not text:
        raise MinqingError("民情内容不能为空")
    if len(text) > TEXT_MAX:
        raise MinqingError(f"民情内容过长（最多 {TEXT_MAX} 字）")
    return category, out, text


_COLS = ("id", "author", "client_key", "category", "tags", "cell_code", "town_code", "place",
         "lon", "lat", "body", "incident_id", "created_at", "reported_at")
_SELECT = f"SELECT {', '.join(_COLS)} FROM ledger_minqing"


def _row(values: tuple) -> dict:
    d = dict(zip(_COLS, values, strict=True))
    d["tags"] = list(d["tags"] or [])
    for t in ("created_at", "reported_at"):
        d[t] = d[t].isoformat(timespec="seconds") if d[t] is not None else ""
    return d


def record(conn: psycopg.Connection, *, author: str, client_key: str, category: str,
           tags: Iterable[str] | str | None, cell: str, town: str, text: str, place: str = "",
           lon: float | None = None, lat: float | None = None) -> tuple[dict, bool]:
    """Keep one entry: (the entry, duplicate). The same ``(author, client_key)`` again returns
    the first entry and inserts nothing (the outbox's replay)."""
    category, tags, text = clean(category, tags, text)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"""INSERT INTO ledger_minqing (author, client_key, category, tags, cell_code,
    town_code, place, lon, lat, body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (author, client_key) DO NOTHING RETURNING {', '.join(_COLS)}""",
                    (author, client_key, category, tags, cell, town, (place or "").strip()[:100],
                     lon, lat, text))
        made = cur.fetchone()
        if made is not None:
            return _row(made), False
        cur.execute(f"{_SELECT} WHERE author = %s AND client_key = %s", (author, client_key))
        return _row(cur.fetchone()), True


def get(conn: psycopg.Connection, entry_id: int) -> dict | None:
    """One entry, or None."""
    with conn.cursor() as cur:
        cur.execute(f"{_SELECT} WHERE id = %s", (entry_id,))
        got = cur.fetchone()
    return _row(got) if got else None


def entries(conn: psycopg.Connection, *, author: str | None = None,
            towns: Iterable[str] | None = None, limit: int = 50) -> list[dict]:
    """Entries newest first, of ``author`` and/or ``towns`` (None: no filter)."""
    where, args = [], []
    if author is not None:
        where.append("author = %s")
        args.append(author)
    if towns is not None:
        where.append("town_code = ANY(%s)")
        args.append(list(towns))
    sql = f"{_SELECT} {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT %s"
    with conn.cursor() as cur:
        cur.execute(sql, (*args, limit))
        return [_row(r) for r in cur.fetchall()]


def link(conn: psycopg.Connection, entry_id: int, incident_id: str) -> dict:
    """The entry became ``incident_id`` (one tap): kept on the entry once; a second tap's link
    leaves the first. Returns the entry."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"""UPDATE ledger_minqing SET incident_id = %s, reported_at = now()
    WHERE id = %s AND incident_id IS NULL RETURNING {', '.join(_COLS)}""", (incident_id, entry_id))
        got = cur.fetchone()
        if got is None:
            cur.execute(f"{_SELECT} WHERE id = %s", (entry_id,))
            got = cur.fetchone()
        return _row(got)


def _scope(towns: Iterable[str] | None, since: dt.datetime, until: dt.datetime) -> tuple[str, list]:
    where, args = ["created_at >= %s", "created_at <= %s"], [since, until]
    if towns is not None:
        where.append("town_code = ANY(%s)")
        args.append(list(towns))
    return " AND ".join(where), args


def counts(conn: psycopg.Connection, since: dt.datetime, until: dt.datetime,
           towns: Iterable[str] | None = None) -> list[dict]:
    """Entries per (town, category) in [since, until]: ``{town, category, n, reported}``
    (``reported``: how many became incident reports)."""
    where, args = _scope(towns, since, until)
    with conn.cursor() as cur:
        cur.execute(f"""SELECT town_code, category, count(*), count(incident_id) FROM ledger_minqing
WHERE {where} GROUP BY town_code, category ORDER BY town_code, count(*) DESC, category""", args)
        return [{"town": t, "category": c, "n": n, "reported": r} for t, c, n, r in cur.fetchall()]


def trend(conn: psycopg.Connection, since: dt.datetime, until: dt.datetime,
          towns: Iterable[str] | None = None, by: str = "town") -> list[dict]:
    """Entries per Beijing day and town (``by="town"``) or category: ``{day, key, n}``."""
    col = "town_code" if by == "town" else "category"
    where, args = _scope(towns, since, until)
    with conn.cursor() as cur:
        cur.execute(f"""SELECT (created_at AT TIME ZONE '{TZ}')::date AS day, {col}, count(*)
FROM ledger_minqing WHERE {where} GROUP BY day, {col} ORDER BY day, {col}""", args)
        return [{"day": d.isoformat(), "key": k, "n": n} for d, k, n in cur.fetchall()]


def texts(conn: psycopg.Connection, since: dt.datetime, until: dt.datetime,
          towns: Iterable[str] | None = None, limit: int = 20_000) -> list[str]:
    """The words of the period's entries (newest first, at most ``limit``)."""
    where, args = _scope(towns, since, until)
    with conn.cursor() as cur:
        cur.execute(f"SELECT body FROM ledger_minqing WHERE {where} ORDER BY id DESC LIMIT %s",
                    (*args, limit))
        return [b for (b,) in cur.fetchall()]


_JIEBA = []


def _jieba():  # noqa: ANN202 (the jieba module, its dictionary loaded once, quietly)
    if not _JIEBA:
        import jieba  # noqa: PLC0415 (loads a 5 MB dictionary: only when themes are asked)

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _JIEBA.append(jieba)
    return _JIEBA[0]


def themes(bodies: Iterable[str], top: int = 10) -> list[tuple[str, int]]:
    """The frequent themes: words (jieba's segmentation, precise mode) of two characters or
    more, not stop words, counted once per entry; the ``top`` most frequent, ties by word."""
    jieba = _jieba()
    seen: Counter[str] = Counter()
    for body in bodies:
        words = {w for w in jieba.lcut(body) if _WORD.match(w) and w not in STOP_WORDS}
        seen.update(words)
    return sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


__all__ = ["CATEGORIES", "STOP_WORDS", "MinqingError", "clean", "counts", "entries", "get", "link",
           "record", "texts", "themes", "trend"]
