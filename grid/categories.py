"""Event categories (事件分类) and the demo departments (N) that own them.

A configurable tree with hierarchical codes: ``01`` top level, ``0103`` second level. Names come
from seed-requirements §2c (E37–E51) and §11; Jinhua's traditional terms are converted to
simplified (§10 item 24). A category marked ``sudden`` (突发) routes straight to the city center
(T3). The tree and the department list are demo defaults: a deployment replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass

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

CATEGORIES: dict[str, Category] = {c: Category(c, n, s) for c, n, s in _TREE}

# Departments (N ≈ 24, seed-requirements §11) with the category prefixes they own (条).
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
