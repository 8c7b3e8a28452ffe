"""The ledger's registers and the validation of an import's rows (G8, E2, G6; issue 24).

Three registers, one file each (CSV or XLSX, a header row then one object a row):

| register | key | columns |
|---|---|---|
| people 人员 | ``id_number`` | name, id_number, phone, tags (重点人群, ``;``-separated), cell, house |
| houses 房屋/楼栋 | ``code`` | code, address, kind, cell, lon, lat |
| units 单位 | ``code`` | code, name, kind (企业/商铺/学校…), phone, cell, lon, lat |

Validation is vectorised over a chunk (pandas): every invalid row is refused with its row number
(the file's, header = row 1), the first failing field and the reason in Chinese; the valid rows
come back normalised (tags as a PostgreSQL array literal, the cell's town added). Duplicate keys
inside one file are refused in SQL (``store``): a chunk does not see the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PERSON_TAGS = ("独居老人", "空巢老人", "留守儿童", "困境儿童", "残疾人", "低保户", "特困人员",
               "优抚对象", "社区矫正人员", "刑满释放人员", "严重精神障碍患者", "吸毒人员",
               "重点信访人员", "流动人口", "境外人员")
"""重点人群 categories a person may be tagged with (G8)."""
UNIT_KINDS = ("企业", "商铺", "学校", "医院", "幼儿园", "养老机构", "机关", "社会组织", "其他")
HOUSE_KINDS = ("住宅", "楼栋", "自建房", "商住", "厂房", "其他")

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_ID_FORM = r"^[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]$"
_PHONE = r"^(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"
_UNIT_CODE = r"^[0-9A-HJ-NP-RT-UW-Y]{18}$"        # 统一社会信用代码 (GB 32100)
_HOUSE_CODE = r"^[0-9A-Za-z\-]{4,40}$"
_TAG_SPLIT = re.compile(r"[;；、|]")
_TAG_SEP = re.compile(r"\s*(?:[;；、|]\s*)+")


@dataclass(frozen=True)
class Rejection:
    """One refused row: its number in the file (header = 1), the field and why (Chinese)."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"第 {self.row} 行 {self.field}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did: rows read, imported (inserted or updated), refused (with reasons)."""

    kind: str
    rows: int = 0
    imported: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def to_dict(self, limit: int = 1000) -> dict:
        return {"kind": self.kind, "rows": self.rows, "imported": self.imported,
                "rejected": len(self.rejected),
                "problems": [str(r) for r in sorted(self.rejected, key=lambda r: r.row)[:limit]]}


@dataclass(frozen=True)
class Register:
    """One register: its table, key and columns (in file order; ``required`` must be non-empty)."""

    kind: str
    cn: str
    table: str
    key: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    geom: bool = False

    @property
    def stored(self) -> tuple[str, ...]:
        """The staging/table columns: the file's plus the cell's town."""
        return (*self.columns, "town_code")


REGISTERS: dict[str, Register] = {r.kind: r for r in (
    Register("people", "人员", "ledger_people", "id_number",
             ("name", "id_number", "phone", "tags", "cell", "house"), ("name", "id_number", "cell")),
    Register("houses", "房屋", "ledger_houses", "code",
             ("code", "address", "kind", "cell", "lon", "lat"),
             ("code", "address", "cell", "lon", "lat"), geom=True),
    Register("units", "单位", "ledger_units", "code",
             ("code", "name", "kind", "phone", "cell", "lon", "lat"),
             ("code", "name", "kind", "cell", "lon", "lat"), geom=True),
)}
KINDS = tuple(REGISTERS)


def kind_of_header(header: Iterable[str]) -> str | None:
    """The register a file's header names (its columns are a register's), None when none."""
    cols = {str(h).strip() for h in header if h is not None}
    for reg in REGISTERS.values():
        if set(reg.columns) <= cols:
            return reg.kind
    return None


def id_numbers_valid(s: pd.Series) -> np.ndarray:
    """Which 18-character resident ID numbers (GB 11643) are well formed with a right check
    character, vectorised."""
    ok = s.str.fullmatch(_ID_FORM).fillna(False).to_numpy(dtype=bool, copy=True)
    if ok.any():
        good = s[ok].to_numpy(dtype=str)
        raw = np.frombuffer("".join(good).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
        digits = raw[:, :17].astype(np.int64) - 48
        check = _ID_CHECK[(digits @ _ID_WEIGHTS) % 11]
        ok[np.flatnonzero(ok)] = check == raw[:, 17]
    return ok


def check_digit(first17: str) -> str:
    """The check character of an ID number's first 17 digits (tests and the bench make IDs)."""
    return chr(_ID_CHECK[int(np.dot(np.frombuffer(first17.encode(), np.uint8) - 48, _ID_WEIGHTS)) % 11])


def _tags(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(bad mask, PostgreSQL array literals) for the tag column (vectorised: no per-row Python)."""
    bad = np.zeros(len(s), dtype=bool)
    out = pd.Series("{}", index=s.index, dtype=object)
    has = (s != "").to_numpy()
    if has.any():
        sub = s[has]
        parts = sub.str.split(_TAG_SPLIT).explode().str.strip()
        parts = parts[parts != ""]
        unknown = parts.index[~parts.isin(PERSON_TAGS).to_numpy()].unique()
        bad[s.index.get_indexer(unknown)] = True
        joined = sub.str.replace(_TAG_SEP, ",", regex=True).str.strip(", ")
        out[has] = ("{" + joined + "}").to_numpy()
    return bad, out


def validate(kind: str, chunk: pd.DataFrame, first_row: int, cell_towns: dict[str, str],
             bounds: tuple[float, float, float, float] | None = None
             ) -> tuple[pd.DataFrame, list[Rejection]]:
    """Validate one chunk of ``kind``'s rows (all columns as str, '' for empty; the chunk's first
    row is the file's row ``first_row``). Returns the valid rows normalised (with ``town_code``
    and ``row_no``) and one ``Rejection`` per refused row (its first failing field)."""
    reg = REGISTERS[kind]
    df = chunk.reindex(columns=list(reg.columns), fill_value="").fillna("").astype(str)
    df = df.apply(lambda c: c.str.strip())
    n = len(df)
    failed = np.zeros(n, dtype=bool)
    reasons: list[Rejection] = []
    rows = np.arange(first_row, first_row + n)

    def refuse(mask: np.ndarray, col: str, reason: str) -> None:
        new = mask & ~failed
        if new.any():
            reasons.extend(Rejection(int(r), col, reason) for r in rows[new])
            failed[new] = True

    for col in reg.required:
        refuse((df[col] == "").to_numpy(), col, "必填项为空")
    for col in ("name", "address"):
        if col in df:
            refuse((df[col].str.len() > 100).to_numpy(), col, "过长（最多 100 字）")
    if kind == "people":
        refuse(~id_numbers_valid(df["id_number"]), "id_number", "身份证号格式或校验位错误")
        refuse(((df["phone"] != "") & ~df["phone"].str.fullmatch(_PHONE)).to_numpy(), "phone",
               "电话号码格式错误（手机 11 位或区号-座机号）")
        bad_tags, tag_lits = _tags(df["tags"])
        refuse(bad_tags, "tags", f"未知的重点人群类别（可选：{'、'.join(PERSON_TAGS)}）")
        df["tags"] = tag_lits
        refuse((df["house"].str.len() > 40).to_numpy(), "house", "房屋编码过长（最多 40 字）")
    elif kind == "houses":
        refuse(~df["code"].str.fullmatch(_HOUSE_CODE).to_numpy(), "code",
               "房屋编码应为 4–40 位字母、数字或连字符")
        refuse(((df["kind"] != "") & ~df["kind"].isin(HOUSE_KINDS)).to_numpy(), "kind",
               f"房屋类型应为 {'、'.join(HOUSE_KINDS)} 之一")
    else:
        refuse(~df["code"].str.fullmatch(_UNIT_CODE).to_numpy(), "code",
               "统一社会信用代码应为 18 位（数字及大写字母，不含 I、O、Z、S、V）")
        refuse(~df["kind"].isin(UNIT_KINDS).to_numpy(), "kind",
               f"单位类型应为 {'、'.join(UNIT_KINDS)} 之一")
        refuse(((df["phone"] != "") & ~df["phone"].str.fullmatch(_PHONE)).to_numpy(), "phone",
               "电话号码格式错误（手机 11 位或区号-座机号）")
    refuse(~df["cell"].isin(cell_towns.keys()).to_numpy(), "cell", "网格编码不在本市城市模型中")
    if reg.geom:
        lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy()
        lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy()
        refuse(np.isnan(lon) | np.isnan(lat), "lon", "经纬度应为数字")
        if bounds is not None:
            x0, y0, x1, y1 = bounds
            with np.errstate(invalid="ignore"):
                out = ~((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
            refuse(out, "lon", "坐标在本市范围以外")
    good = df[~failed].copy()
    good["town_code"] = good["cell"].map(cell_towns)
    good["row_no"] = rows[~failed]
    reasons.sort(key=lambda r: r.row)
    return good, reasons


__all__ = ["HOUSE_KINDS", "KINDS", "PERSON_TAGS", "REGISTERS", "UNIT_KINDS", "ImportReport",
           "Register", "Rejection", "check_digit", "id_numbers_valid", "kind_of_header", "validate"]
