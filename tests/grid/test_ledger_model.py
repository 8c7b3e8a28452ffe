"""The ledger's validation, pure (G8; issue 24): an ID number's check character, tags, cells and
coordinates, one reason a refused row, in Chinese, with the file's row number."""

from __future__ import annotations

import pandas as pd

from grid.ledger.model import check_digit, id_numbers_valid, kind_of_header, validate

CELLS = {"440981001001001": "440981001", "440981101001001": "440981101"}


def ident(n: int) -> str:
    s = f"440981199001{n:02d}{n % 1000:03d}"[:17]
    return s + check_digit(s)


def test_id_numbers_check_character() -> None:
    good = ident(7)
    wrong = good[:17] + ("1" if good[17] != "1" else "2")
    got = id_numbers_valid(pd.Series([good, wrong, "123", "", good.lower()]))
    assert got.tolist() == [True, False, False, False, good == good.lower()]
    assert check_digit("11010519491231002") == "X"        # GB 11643's own example


def test_people_rows_refused_with_row_field_and_reason() -> None:
    df = pd.DataFrame([
        ["张三", ident(1), "13812345678", "独居老人;低保户", "440981001001001", "H-0001"],
        ["李四", ident(2)[:17] + "0" if ident(2)[17] != "0" else ident(2)[:17] + "1", "", "", "440981001001001", ""],
        ["", ident(3), "", "", "440981001001001", ""],
        ["王五", ident(4), "12345", "", "440981001001001", ""],
        ["赵六", ident(5), "", "外星人", "440981001001001", ""],
        ["钱七", ident(6), "0668-1234567", "", "440981999001001", ""],
    ], columns=["name", "id_number", "phone", "tags", "cell", "house"])
    good, bad = validate("people", df, 2, CELLS)
    assert [str(b) for b in bad] == [
        "第 3 行 id_number: 身份证号格式或校验位错误",
        "第 4 行 name: 必填项为空",
        "第 5 行 phone: 电话号码格式错误（手机 11 位或区号-座机号）",
        f"第 6 行 tags: {bad[3].reason}",
        "第 7 行 cell: 网格编码不在本市城市模型中",
    ]
    assert "未知的重点人群类别" in bad[3].reason
    assert good["row_no"].tolist() == [2]
    assert good.iloc[0]["tags"] == "{独居老人,低保户}" and good.iloc[0]["town_code"] == "440981001"


def test_units_and_houses() -> None:
    assert kind_of_header(["code", "name", "kind", "phone", "cell", "lon", "lat"]) == "units"
    assert kind_of_header(["x"]) is None
    df = pd.DataFrame([["91440981MA4UABCD1X", "某公司", "企业", "", "440981101001001", "110.9", "21.9"],
                       ["91440981MA4UABCD1Y", "某店", "商铺", "", "440981101001001", "东", "21.9"],
                       ["91440981MA4UABCD1Z", "某校", "学校", "", "440981101001001", "100", "21.9"]],
                      columns=["code", "name", "kind", "phone", "cell", "lon", "lat"])
    good, bad = validate("units", df, 2, CELLS, bounds=(110.0, 21.0, 112.0, 23.0))
    assert [(b.row, b.field) for b in bad] == [(3, "lon"), (4, "code")]
    assert len(good) == 1
