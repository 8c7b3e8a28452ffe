"""应急资源库 (X15, X18; issue 16): a CSV or GeoJSON register imports whole; every kind of bad row
is refused naming its row and field and NOTHING of the file is stored; contacts are masked; the
demo's generated resources are labelled demo and give way to a real import."""

from __future__ import annotations

import json

import pytest

from grid import keys
from grid.resources import ImportRefused, Register, mask_contact, read_csv, read_geojson

PZ, DA = "440981001", "440981101"      # 潘州街道, 东岸镇


def _pt(city, town: str, k: int = 0) -> tuple[float, float]:
    g = city.towns[city.towns["code"].astype(str) == town].geometry.iloc[0]
    p = g.representative_point()
    return round(p.x, 6), round(p.y + k * 1e-5, 6)


def good_csv(city) -> str:
    (x1, y1), (x2, y2), (x3, y3) = _pt(city, PZ), _pt(city, DA), _pt(city, PZ, 1)
    return ("category,id,name,owner,lon,lat,kind,people,equipment,contact,status,item,quantity,unit,"
            "capacity,occupancy,field\n"
            f"team,t-pz,潘州防汛抢险队,T{PZ},{x1},{y1},防汛抢险队,30,冲锋舟2艘,王队长 13812345678,,,,,,,\n"
            f"team,t-xf,市消防救援一队,DXF,{x2},{y2},消防救援队,25,,,,,,,,,\n"
            f"material,m-sb,潘州物资仓库,T{PZ},{x3},{y3},,,,,,沙袋,500,个,,,\n"
            f"shelter,s-1,潘州一中避难场所,T{PZ},{x1},{y1},,,,,,,,,800,120,\n"
            f"expert,e-1,李工,DYJ,{x2},{y2},,,,13987654321,,,,,,,地质灾害\n")


def test_a_good_csv_imports_and_reads_back(redis_client, demo_city) -> None:
    reg = Register(redis_client, demo_city)
    got = reg.import_rows(read_csv(good_csv(demo_city)), by="boss", source="r.csv")
    assert got == {"imported": 5, "demo_dropped": 0}
    byid = {h.id: h for h in reg.all()}
    assert set(byid) == {"t-pz", "t-xf", "m-sb", "s-1", "e-1"}
    assert byid["t-pz"].town == PZ and byid["t-pz"].state == "available" and byid["t-pz"].usable
    assert byid["m-sb"].total == byid["m-sb"].avail == 500
    assert byid["t-xf"].town == DA                          # a department's team: where it stands
    v = byid["t-pz"].view(unmasked=False)
    assert v["contact"] == "王** 138****5678" and v["status_name"] == "可用"
    assert byid["t-pz"].view(unmasked=True)["contact"] == "王队长 13812345678"
    assert byid["s-1"].view(False)["occupancy"] == 120 and not byid["s-1"].usable
    frame = reg.frame()
    assert sorted(frame["kind"]) == ["rescue_team", "rescue_team", "shelter", "warehouse"]
    assert set(frame["status"]) == {"available"}
    assert redis_client.xlen(keys.IMPORT_LOG) == 1


def test_a_good_geojson_imports(redis_client, demo_city) -> None:
    x, y = _pt(demo_city, DA)
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
         "properties": {"category": "material", "id": "m-pump", "name": "东岸仓库", "owner": f"T{DA}",
                        "item": "抽水泵", "quantity": 6, "unit": "台"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
         "properties": {"category": "team", "id": "t-da", "name": "东岸救援队", "owner": f"T{DA}",
                        "kind": "综合应急救援队", "people": 20}}]}
    reg = Register(redis_client, demo_city)
    assert reg.import_rows(read_geojson(json.dumps(fc)))["imported"] == 2
    pump = reg.get("m-pump")
    assert pump is not None and (pump.record.lon, pump.record.lat) == (x, y) and pump.avail == 6


def test_every_kind_of_bad_row_is_named_and_nothing_is_imported(redis_client, demo_city) -> None:
    reg = Register(redis_client, demo_city)
    (x1, y1), (x2, y2) = _pt(demo_city, PZ), _pt(demo_city, DA)
    head = good_csv(demo_city)
    bad = head + "\n".join([
        f"team,t-2,缺人数队,T{PZ},{x1},{y1},防汛抢险队,,,,,,,,,,",            # line 7: people missing
        f"material,m-2,仓库,T{PZ},{x1},{y1},,,,,,沙袋,很多,个,,,",              # line 8: quantity text
        f"boat,b-1,船,T{PZ},{x1},{y1},,,,,,,,,,,",                              # line 9: category
        f"team,t-3,外市队,DNOPE,{x1},{y1},救援队,5,,,,,,,,,",                   # line 10: owner
        "team,t-4,远方队,CITY,100.0,30.0,救援队,5,,,,,,,,,",                   # line 11: outside
        f"team,t-5,越界队,T{PZ},{x2},{y2},救援队,5,,,,,,,,,",                   # line 12: other town
        f"team,t-pz,重号队,T{PZ},{x1},{y1},救援队,5,,,,,,,,,",                  # line 13: duplicate
        f"shelter,s-2,满场,T{PZ},{x1},{y1},,,,,,,,,100,200,",                   # line 14: occupancy
        f"team,t-6,多字段队,T{PZ},{x1},{y1},救援队,5,,,,,9,,,,",                # line 15: extra field
    ]) + "\n"
    with pytest.raises(ImportRefused) as e:
        reg.import_rows(read_csv(bad))
    p = e.value.problems
    want = ["第 7 行 people: 缺少此项", "第 8 行 quantity: 应为整数", "第 9 行 category:",
            "第 10 行 owner: DNOPE 不是本市的中心", "第 11 行 lon:", "第 12 行 owner: 镇街的资源应在其辖区内",
            "第 13 行 id: t-pz 与第 2 行重复", "第 14 行 occupancy: 不能大于 capacity",
            "第 15 行 quantity: 不是该类资源的字段"]
    for w in want:
        assert any(x.startswith(w) for x in p), (w, p)
    assert len(p) == len(want), p
    assert redis_client.scard(keys.IDS) == 0 and not redis_client.keys("om:res:item:*")

    # GeoJSON: a polygon where a point belongs is named by its feature and field
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x1, y1]},
         "properties": {"category": "team", "id": "t-ok", "name": "好队", "owner": f"T{PZ}",
                        "kind": "救援队", "people": 9}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
            [[x1, y1], [x1 + 0.01, y1], [x1, y1 + 0.01], [x1, y1]]]},
         "properties": {"category": "team", "id": "t-poly", "name": "面队", "owner": f"T{PZ}",
                        "kind": "救援队", "people": 9}}]}
    with pytest.raises(ImportRefused) as e:
        reg.import_rows(read_geojson(json.dumps(fc)))
    assert e.value.problems == ["第 2 个要素 geometry: 应为点（Point），而不是 Polygon / a Point is expected"]
    with pytest.raises(ImportRefused, match="CSV|没有任何资源"):
        reg.import_rows(read_csv("category,id\n"))
    assert redis_client.scard(keys.IDS) == 0


def test_demo_resources_are_labelled_and_give_way_to_a_real_import(redis_client, demo_city) -> None:
    reg = Register(redis_client, demo_city)
    n = reg.ensure_demo()
    assert n > len(demo_city.towns) and reg.ensure_demo() == 0
    assert all(h.record.demo for h in reg.all())
    assert set(reg.frame()["kind"]) == {"rescue_team", "warehouse", "shelter"}
    got = reg.import_rows(read_csv(good_csv(demo_city)))
    assert got["demo_dropped"] == n
    assert {h.id for h in reg.all()} == {"t-pz", "t-xf", "m-sb", "s-1", "e-1"}


def test_contacts_are_masked() -> None:
    assert mask_contact("13812345678") == "138****5678"
    assert mask_contact("张三 0668-6612345") == "张* 0668-661****"
    assert mask_contact("") == ""
