"""The ledger on real PostgreSQL and Redis (辖区对象花名册, G8, SEC18, SEC9, S1/S2; issue 24): an
import with bad rows refuses exactly those rows with their reasons and commits the rest in one
transaction (a load that fails half-way leaves nothing); the cell roster is masked for a grid
worker, unmasked and audited for a town operator, refused (403, audited) for another town's cell;
XLSX imports the same; export writes the import's columns back."""

from __future__ import annotations

import io

import psycopg
import pytest

from app import ledger as app_ledger
from app import security
from grid.ledger import store
from grid.ledger.model import check_digit
from tests.app.authkit import accounts, app_ctx, client_as, web  # noqa: F401
from tests.app.test_api import PZ
from tests.record.conftest import _record_template, pg_service, record_url  # noqa: F401


def ident(n: int) -> str:
    s = f"44098119800101{n:03d}"
    return s + check_digit(s)


def _cells(city, town: str) -> list[str]:
    return sorted(city.cells[city.cells["town_code"] == town]["code"].astype(str))


@pytest.fixture
def led(app_ctx, record_url):  # noqa: ANN001, ANN201, F811
    return app_ledger.attach(app_ctx, record_url)


def test_import_refuses_bad_rows_and_commits_the_rest(led, record_url, tmp_path) -> None:  # noqa: ANN001, F811
    cell = _cells(led.city, PZ)[0]
    lines = ["name,id_number,phone,tags,cell,house",
             f"张三,{ident(1)},13812345678,独居老人;低保户,{cell},H-1",        # row 2
             f"李四,{ident(2)[:17]}{'1' if ident(2)[17] != '1' else '2'},,,{cell},H-1",  # 3: check
             f"王五,{ident(3)},,,999999999999999,H-2",                     # 4: cell
             f"赵六,{ident(4)},138,,{cell},H-2",                           # 5: phone
             f"钱七,{ident(5)},,,{cell},H-3",                              # 6
             f"孙八,{ident(5)},,,{cell},H-3"]                              # 7: duplicate
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rep = led.import_file(path)
    got = rep.to_dict()
    assert (got["rows"], got["imported"], got["rejected"]) == (6, 2, 4)
    assert got["problems"] == ["第 3 行 id_number: 身份证号格式或校验位错误",
                               "第 4 行 cell: 网格编码不在本市城市模型中",
                               "第 5 行 phone: 电话号码格式错误（手机 11 位或区号-座机号）",
                               "第 7 行 id_number: 与本文件前面的行重复"]
    with psycopg.connect(record_url) as c:
        assert c.execute("SELECT name, tags FROM ledger_people ORDER BY name").fetchall() == [
            ("张三", ["独居老人", "低保户"]), ("钱七", [])]

    # a load that fails half-way (its second chunk breaks)
    # leaves the register as it was: nothing half-imported
    class Boom(RuntimeError):
        pass

    real = store.validate

    def failing(kind, df, first, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        if first > 2:
            raise Boom("the load broke")
        return real(kind, df, first, *a, **k)

    more = tmp_path / "more.csv"
    more.write_text("\n".join([lines[0]] + [f"周{i},{ident(100 + i)},,,{cell}," for i in range(5)]),
                    encoding="utf-8")
    store.validate = failing
    try:
        with pytest.raises(Boom), psycopg.connect(record_url, autocommit=True) as c:
            store.import_file(c, more, led.cell_towns, chunk=2)
    finally:
        store.validate = real
    with psycopg.connect(record_url) as c:
        assert c.execute("SELECT count(*) FROM ledger_people").fetchone()[0] == 2

    # a file that is not CSV at all: refused whole, in Chinese
    broken = tmp_path / "broken.csv"
    broken.write_text(f"{lines[0]}\n{lines[5]}\n{lines[1]},x,y,z\n", encoding="utf-8")
    with pytest.raises(store.LedgerFileError, match="未导入任何行"):
        led.import_file(broken)

    # XLSX, streamed: the same rules; export gives the import's columns back
    from openpyxl import Workbook  # noqa: PLC0415

    wb = Workbook()
    ws = wb.active
    ws.append(["code", "name", "kind", "phone", "cell", "lon", "lat"])
    lon, lat = led.city.cells[led.city.cells["code"] == cell].geometry.iloc[0].representative_point().coords[0]
    ws.append(["91440981MA4UABCD1X", "潘州小学", "学校", 13912345678, cell, lon, lat])
    ws.append(["91440981MA4UABCD1Y", "某店", "飞船", None, cell, lon, lat])
    wb.save(tmp_path / "units.xlsx")
    rep = led.import_file(tmp_path / "units.xlsx")
    assert rep.imported == 1 and [(r.row, r.field) for r in rep.rejected] == [(3, "kind")]
    assert "单位类型应为" in rep.rejected[0].reason
    out = io.StringIO()
    with psycopg.connect(record_url, autocommit=True) as c:
        assert store.export_csv(c, "people", out) == 2
    assert out.getvalue().splitlines()[0] == "name,id_number,phone,tags,cell,house"
    assert f"张三,{ident(1)},13812345678,独居老人;低保户,{cell},H-1" in out.getvalue()


def test_roster_masked_scoped_and_audited(web, led, app_ctx, accounts, tmp_path) -> None:  # noqa: ANN001, F811
    worker = next(a for a in accounts.values() if a["role"] == "grid_worker")
    cell = worker["cell"]
    town = led.cell_towns[cell]
    town_op = next(a for a in accounts.values()
                   if a["role"] == "town_operator" and a["center"] == f"T{town}")
    other = next(c for c in led.cell_towns if led.cell_towns[c] != town)
    path = tmp_path / "p.csv"
    path.write_text("name,id_number,phone,tags,cell,house\n"
                    f"张三,{ident(1)},13812345678,独居老人,{cell},H-1\n"
                    f"李四,{ident(2)},,,{other},H-9\n", encoding="utf-8")
    assert led.import_file(path).imported == 2
    url = f"/api/ledger/cells/{cell}/people"

    w = client_as(web, worker["user_id"])
    before = len(security.audit_entries(app_ctx.redis, 1000))
    got = w.get(url).json["people"]
    assert got == [{"name": "张*", "id_number": ident(1)[:6] + "********" + ident(1)[-4:],
                    "phone": "138****5678", "tags": ["独居老人"], "house": "H-1"}]
    assert len(security.audit_entries(app_ctx.redis, 1000)) == before   # masked: not audited

    t = client_as(web, town_op["user_id"])
    got = t.get(url).json["people"]
    assert got[0]["id_number"] == ident(1) and got[0]["phone"] == "13812345678"
    entry = security.audit_entries(app_ctx.redis, 1)[0]
    assert (entry["event"], entry["user"], entry["target"]) == (
        app_ledger.AUDIT_EVENT, town_op["user_id"], cell)

    # scope: another town's cell → 403 (audited); the worker's neighbour cell too
    r = t.get(f"/api/ledger/cells/{other}/people")
    assert r.status_code == 403 and "people" not in r.json
    assert security.audit_entries(app_ctx.redis, 1)[0]["event"] == "denied"
    assert w.get(f"/api/ledger/cells/{other}/people").status_code == 403
    assert w.get("/api/ledger/cells/abc/people").status_code == 404
    boss = client_as(web, "commander")
    assert boss.get(f"/api/ledger/cells/{other}/people").json["people"][0]["name"] == "李四"

    # units and houses of the cell: the same scope; a unit's phone masked like a person's
    lon, lat = led.city.cells[led.city.cells["code"] == cell].geometry.iloc[0].representative_point().coords[0]
    (tmp_path / "u.csv").write_text("code,name,kind,phone,cell,lon,lat\n"
                                    f"91440981MA4UABCD1X,某店,商铺,13812345678,{cell},{lon},{lat}\n",
                                    encoding="utf-8")
    (tmp_path / "h.csv").write_text(f"code,address,kind,cell,lon,lat\nH-0001,幸福路1号,住宅,{cell},{lon},{lat}\n",
                                    encoding="utf-8")
    assert led.import_file(tmp_path / "u.csv").imported == led.import_file(tmp_path / "h.csv").imported == 1
    assert w.get(f"/api/ledger/cells/{cell}/units").json["units"][0]["phone"] == "138****5678"
    assert t.get(f"/api/ledger/cells/{cell}/units").json["units"][0]["phone"] == "13812345678"
    assert w.get(f"/api/ledger/cells/{cell}/houses").json["houses"][0]["address"] == "幸福路1号"
    assert t.get(f"/api/ledger/cells/{other}/houses").status_code == 403
    assert w.get(f"/api/ledger/cells/{cell}/cars").status_code == 404


def test_cli_import_and_export(redis_service, record_url, demo_city, demo_city_dir, monkeypatch,  # noqa: ANN001, F811
                               tmp_path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from app.cli import main  # noqa: PLC0415

    for k, v in {"ONEMAP_REDIS_URL": redis_service.url, "ONEMAP_PG_URL": record_url,
                 "ONEMAP_CITY_DIR": str(demo_city_dir), "ONEMAP_DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(k, v)
    cell = _cells(demo_city, PZ)[0]
    src = tmp_path / "p.csv"
    src.write_text("name,id_number,phone,tags,cell,house\n"
                   f"张三,{ident(1)},13812345678,,{cell},H-1\n张三,1,,,{cell},\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["ledger", "import", str(src)])
    assert r.exit_code == 0, r.output
    assert "第 3 行 id_number: 身份证号格式或校验位错误" in r.output and "导入 1 行，拒绝 1 行" in r.output
    r = CliRunner().invoke(main, ["ledger", "export", "people"])
    assert r.exit_code == 0, r.output
    assert f"张*,{ident(1)[:6]}********{ident(1)[-4:]},138****5678,,{cell},H-1" in r.output
