"""信息采集's object check (E10, G8; issue 24): a collected object is validated exactly as an
import's row (``grid.ledger.model.validate``): the same reasons, tags normalised, the cell's town."""

from __future__ import annotations

import pytest

from grid.ledger import collect
from grid.ledger.model import check_digit

CELLS = {"440981001001001": "440981001"}


def _id(n: int) -> str:
    s = f"44098119800101{n:03d}"
    return s + check_digit(s)


def test_a_collected_person_is_checked_like_an_imported_row() -> None:
    got = collect.check("people", {"name": " 张三 ", "id_number": _id(1), "phone": "13812345678",
                                   "tags": "独居老人；低保户", "cell": "440981001001001"}, CELLS)
    assert got == {"name": "张三", "id_number": _id(1), "phone": "13812345678",
                   "tags": ["独居老人", "低保户"], "cell": "440981001001001", "house": "",
                   "town_code": "440981001"}
    with pytest.raises(collect.CollectError) as e:
        collect.check("people", {"name": "李四", "id_number": _id(2)[:17] + ("1" if _id(2)[17] != "1" else "2"),
                                 "cell": "440981001001001"}, CELLS)
    assert [(r.field, r.reason) for r in e.value.rejections] == [
        ("id_number", "身份证号格式或校验位错误")]
    with pytest.raises(collect.CollectError, match="cell: 网格编码不在本市城市模型中"):
        collect.check("people", {"name": "王五", "id_number": _id(3), "cell": "1"}, CELLS)
    with pytest.raises(collect.CollectError, match="kind"):
        collect.check("cars", {}, CELLS)


def test_a_collected_unit_needs_its_kind_and_a_place_inside_the_city() -> None:
    row = {"code": "91440981MA4UABCD1X", "name": "某店", "kind": "商铺", "cell": "440981001001001",
           "lon": "110.9", "lat": "21.9"}
    assert collect.check("units", row, CELLS, (110, 21, 112, 23))["kind"] == "商铺"
    with pytest.raises(collect.CollectError, match="坐标在本市范围以外"):
        collect.check("units", dict(row, lon="100"), CELLS, (110, 21, 112, 23))
    with pytest.raises(collect.CollectError, match="单位类型应为"):
        collect.check("units", dict(row, kind="飞船"), CELLS)
