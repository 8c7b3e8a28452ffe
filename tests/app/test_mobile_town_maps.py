"""The phone page's mini-map cache lives in app.mobile_api (TownMaps), not in the app context."""

from __future__ import annotations

import copy

from app.mobile_api import town_maps


def test_each_town_map_is_built_once_per_city(demo_city):
    town = str(demo_city.towns["code"].iloc[2])
    cell = str(demo_city.cells[demo_city.cells["town_code"] == town]["code"].iloc[0])
    maps = town_maps(demo_city)
    first = maps.get(town, cell)
    assert town_maps(demo_city) is maps and maps.get(town, cell) is first      # cached
    assert [f["properties"]["code"] for f in first["features"] if f["properties"]["own"]] == [cell]
    assert maps.get(town, "") is not first                                     # another key
    other = copy.copy(demo_city)              # another city object: its own cache, never stale
    assert town_maps(other) is not maps and town_maps(other).city is other
