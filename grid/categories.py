"""Event categories (事件分类) and the demo departments (N) that own them.

A configurable tree with hierarchical codes: ``01`` top level, ``0103`` second level. Names come
from seed-requirements §2c (E37–E51) and §11; Jinhua's traditional terms are converted to
simplified (§10 item 24). A category marked ``sudden`` (突发) routes straight to the city center
(T3). The tree and the department list are DEMO DEFAULTS: a deployment replaces or extends them
from a file (``ONEMAP_CATEGORIES_FILE`` / ``ONEMAP_DEPARTMENTS_FILE``: CSV, JSON or TOML, read by
``load_categories`` / ``load_departments``); the composition root installs the tree at start
(``install_categories``), so ``CATEGORIES`` is always the tree the process runs with.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from grid.model import Department


@dataclass(frozen=True)
class Category:
    """One node of the category tree."""

    code: str
    name: str
    sudden: bool = False       # 突发: goes straight to the city center (T3)

    @property
    def parent(self) -> str | None:
        return self.code[:-2] or None


_TREE: list[tuple[str, str, bool]] = [
    ("01", "城市管理", False),
    ("0101", "市容环境", False), ("0102", "市政设施", False), ("0103", "路灯亮化", False),
    ("0104", "环境卫生", False), ("0105", "占道经营", False), ("0106", "违章停车", False),
    ("0107", "垃圾满溢", False), ("0108", "井盖异常", False),
    ("02", "综治维稳", False), ("0201", "矛盾纠纷", False), ("0202", "治安隐患", False),
    ("0203", "人员聚集", False),
    ("03", "自然灾害", False), ("0301", "防汛排涝", False), ("0302", "道路积水", False),
    ("0303", "地质灾害", False), ("0304", "气象灾害", False), ("0305", "森林火灾", True),
    ("0306", "水位超警", False),
    ("04", "消防安全", False), ("0401", "火灾", True), ("0402", "消防隐患", False),
    ("05", "安全生产", False), ("0501", "危化品泄漏", True), ("0502", "生产安全隐患", False),
    ("0503", "桥梁结构异常", False),
    ("06", "生态环境", False), ("0601", "大气污染", False), ("0602", "水污染", False),
    ("0603", "土壤污染", False), ("0604", "秸秆焚烧", False),
    ("07", "交通运输", False), ("0701", "交通拥堵", False), ("0702", "交通事故", False),
    ("08", "文旅客流", False), ("0801", "景区客流超限", False), ("0802", "旅游投诉", False),
    ("09", "公共卫生", False), ("0901", "公共卫生事件", True),
    ("10", "社区民生", False), ("1001", "民生诉求", False), ("1002", "供电故障", False),
    ("1003", "通信故障", False), ("1004", "紧急求助", False),
    ("11", "设备故障", False), ("1101", "物联设备离线", False), ("1102", "视频设备离线", False),
    ("12", "12345诉求", False), ("1201", "咨询", False), ("1202", "投诉", False),
    ("1203", "求助", False), ("1204", "建议", False),
]

DEMO_CATEGORIES: dict[str, Category] = {c: Category(c, n, s) for c, n, s in _TREE}
"""The demo default tree (seed-requirements §2c, §11)."""

CATEGORIES: dict[str, Category] = dict(DEMO_CATEGORIES)
"""The tree this process runs with: the demo default until ``install_categories`` replaces it."""

# Departments (N ≈ 24, seed-requirements §11) with the category prefixes they own (条): DEMO DEFAULT.
DEMO_DEPARTMENTS: tuple[Department, ...] = (
    Department("CG", "城管", ("01",)),
    Department("GA", "公安", ("0202", "0203", "0702")),
    Department("YJ", "应急", ("03", "0303", "05")),
    Department("XF", "消防", ("04",)),
    Department("SL", "水利", ("0301", "0306")),
    Department("QX", "气象", ("0304",)),
    Department("ZRZY", "自然资源", ()),
    Department("STHJ", "生态环境", ("06",)),
    Department("JT", "交通", ("07", "0503")),
    Department("ZJ", "住建", ("0102",)),
    Department("WJ", "卫健", ("09",)),
    Department("MZ", "民政", ("10",)),
    Department("SCJG", "市场监管", ()),
    Department("WL", "文旅", ("08",)),
    Department("LY", "林业", ("0305",)),
    Department("NYNC", "农业农村", ("0604",)),
    Department("JY", "教育", ()),
    Department("RF", "人防", ()),
    Department("GD", "供电", ("1002",)),
    Department("TX", "通信", ("1003",)),
    Department("RX", "12345热线", ("12",)),
    Department("ZSJ", "政数局", ("11",)),
    Department("ZZ", "综治", ("02",)),
    Department("SF", "司法", ("0201",)),
)


def category_name(code: str) -> str:
    """Display name with its parent, e.g. '城市管理/井盖异常'."""
    c = CATEGORIES.get(code)
    if c is None:
        return code
    p = CATEGORIES.get(c.parent) if c.parent else None
    return f"{p.name}/{c.name}" if p else c.name


def is_sudden(code: str) -> bool:
    """突发: routes straight to the city center."""
    c = CATEGORIES.get(code)
    return bool(c and c.sudden)


# --- import from a file (a deployment's own tree and departments) ------------------------------

class CatalogError(ValueError):
    """A category or department file is wrong: one line per problem, naming the file and row."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(\d\d)+$")]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryRow(_Row):
    """One category: ``code`` (pairs of digits; its parent is the code without the last two),
    ``name``, ``sudden`` (突发: straight to the city center)."""

    code: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    sudden: bool = False


class DepartmentRow(_Row):
    """One line department: ``code`` (letters/digits, e.g. ``CG``), ``name``, ``categories``
    (the category code prefixes it owns; in CSV separated by spaces or ``;``)."""

    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9_]*$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    categories: list[Code] = Field(default_factory=list)

    @field_validator("categories", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return v.replace(";", " ").split() if isinstance(v, str) else v


def _rows(path: Path, table: str) -> list[dict]:
    """The rows of a CSV file (header row), a JSON list (or ``{table: [...]}``) or a TOML file
    with an array of tables ``[[table]]``."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as f:
                return [{k.strip(): (v or "").strip() for k, v in row.items() if k and (v or "").strip()}
                        for row in csv.DictReader(f)]
        if suffix == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".toml":
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            raise CatalogError([f"{path}: 不支持的文件类型 / unsupported file type {suffix!r} "
                                "(use .csv, .json or .toml)"])
    except OSError as e:
        raise CatalogError([f"{path}: 无法读取 / cannot read ({e.strerror or e})"]) from None
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise CatalogError([f"{path}: 格式错误 / not valid {suffix[1:].upper()} ({e})"]) from None
    if isinstance(doc, dict):
        unknown = set(doc) - {table}
        if unknown:
            raise CatalogError([f"{path}: {k}: 未知的配置项 / unknown key (expected [[{table}]])"
                                for k in sorted(unknown)])
        doc = doc.get(table, [])
    if not isinstance(doc, list):
        raise CatalogError([f"{path}: 应为 {table} 列表 / expected a list of {table}"])
    return doc


def _parse(path: Path, table: str, model: type[_Row]) -> list:
    out, problems = [], []
    for i, raw in enumerate(_rows(path, table), start=1):
        try:
            out.append(model.model_validate(raw))
        except ValidationError as e:
            what = f"{path} {table}[{i}]" + (f" ({raw.get('code')})" if isinstance(raw, dict) and
                                              raw.get("code") else "")
            for err in e.errors(include_url=False):
                key = ".".join(str(p) for p in err["loc"])
                cn = "未知的配置项" if err["type"] == "extra_forbidden" else "取值无效"
                en = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                problems.append(f"{what}.{key}: {cn} / {en}")
    if problems:
        raise CatalogError(problems)
    return out


def load_categories(path: str | Path, extend: bool = False) -> dict[str, Category]:
    """A category tree from a file (CSV ``code,name,sudden``; JSON/TOML ``[[categories]]``).
    ``extend``: the file's categories are added to (or rename) the demo tree's; otherwise they
    replace it. Raises :class:`CatalogError` for a bad row, a duplicate code or a code whose
    parent is not in the tree."""
    path = Path(path)
    rows: list[CategoryRow] = _parse(path, "categories", CategoryRow)
    tree = dict(DEMO_CATEGORIES) if extend else {}
    problems, seen = [], set()
    for r in rows:
        if r.code in seen:
            problems.append(f"{path}: {r.code}: 分类代码重复 / duplicate category code")
        seen.add(r.code)
        tree[r.code] = Category(r.code, r.name, r.sudden)
    for code in sorted(tree):
        if len(code) > 2 and code[:-2] not in tree:
            problems.append(f"{path}: {code}: 上级分类 {code[:-2]} 不存在 / parent category "
                            f"{code[:-2]} is not in the tree")
    if not tree:
        problems.append(f"{path}: 分类为空 / no categories")
    if problems:
        raise CatalogError(problems)
    return dict(sorted(tree.items()))


def load_departments(path: str | Path, base: Iterable[Department] = DEMO_DEPARTMENTS,
                     extend: bool = False) -> tuple[Department, ...]:
    """Line departments from a file (CSV ``code,name,categories``; JSON/TOML
    ``[[departments]]``). ``extend``: added to (or replacing by code) ``base``; otherwise they
    replace it."""
    path = Path(path)
    rows: list[DepartmentRow] = _parse(path, "departments", DepartmentRow)
    out = {d.code: d for d in base} if extend else {}
    problems, seen = [], set()
    for r in rows:
        if r.code in seen:
            problems.append(f"{path}: {r.code}: 部门代码重复 / duplicate department code")
        seen.add(r.code)
        out[r.code] = Department(r.code, r.name, tuple(r.categories))
    if problems:
        raise CatalogError(problems)
    return tuple(out.values())


def check_departments(departments: Iterable[Department], tree: dict[str, Category]) -> list[str]:
    """Problems of a department list against a category tree: each category prefix a
    department owns must be a code of the tree."""
    return [f"{d.code}.categories: 分类 {c} 不在分类树中 / category {c} is not in the tree"
            for d in departments for c in d.categories if c not in tree]


def install_categories(tree: dict[str, Category]) -> None:
    """Make ``tree`` the process's category tree (in place: every module that imported
    ``CATEGORIES`` sees it). Called once at start by the composition root (app/)."""
    CATEGORIES.clear()
    CATEGORIES.update(tree)
