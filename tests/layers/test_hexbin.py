"""H3 aggregation carries the worst state inside (issue 5: one red alarm makes its hexagon red)."""

from __future__ import annotations

import h3
import pandas as pd

from layers import hexbin, palette


def test_one_alarm_among_many_normals_makes_the_hexagon_red():
    lat, lon = 21.9, 110.9
    frame = pd.DataFrame({"lon": [lon + i * 1e-5 for i in range(200)],
                          "lat": [lat] * 200, "state": ["normal"] * 199 + ["alarm"]})
    agg = hexbin.aggregate(frame, res=7)
    assert len(agg) == 1
    row = agg.iloc[0]
    assert row["worst"] == "alarm" and row["count"] == 200 and row["n_alarm"] == 1
    layer = hexbin.hex_layer(agg)
    trace = layer.traces[0]
    # z is the state rank and the colourscale maps the alarm rank to the alarm colour
    assert trace["z"] == [palette.STATE_RANK["alarm"]]
    pos = (trace["z"][0] - trace["zmin"]) / (trace["zmax"] - trace["zmin"])
    color = [c for p, c in trace["colorscale"] if p <= pos][-1]   # the stop at or below pos
    assert color == hexbin._rgba(palette.STATE_COLORS["alarm"], hexbin.STATE_ALPHA["alarm"])


def test_offline_ranks_below_warning_and_alarm():
    assert palette.worst_state(["normal", "offline"]) == "offline"
    assert palette.worst_state(["offline", "warning"]) == "warning"
    assert palette.worst_state(["warning", "alarm", "offline"]) == "alarm"
    assert palette.worst_state([]) == "normal"


def test_points_split_into_their_own_cells_and_geometry_matches_h3():
    frame = pd.DataFrame({"lon": [110.9, 111.2], "lat": [21.9, 22.2], "state": ["normal", "warning"]})
    agg = hexbin.aggregate(frame, res=7)
    assert sorted(agg["worst"]) == ["normal", "warning"]
    gj = hexbin.hex_geojson(agg["h3"])
    for f in gj["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == len(h3.cell_to_boundary(f["id"])) + 1


def test_aggregate_only_when_many_points_at_low_zoom():
    assert hexbin.use_aggregate(26907, 9.5)
    assert hexbin.use_aggregate(10220, 9.5)            # the demo city at full size
    assert not hexbin.use_aggregate(500, 9.5)
    assert not hexbin.use_aggregate(26907, hexbin.RAW_ZOOM)


def test_hexagons_are_never_smaller_than_a_readable_size():
    # the demo county on a 1920×1080 wall (zoom ≈ 9.7) and on 3840×2160 (≈ 10.7): res 7;
    # a smaller screen or a wider area (zoom ≈ 9) falls back to res 6
    assert hexbin.res_for_zoom(9.7) == 7
    assert hexbin.res_for_zoom(10.7) == 7
    assert hexbin.res_for_zoom(9.0) == 6
    assert hexbin.res_for_zoom(3.0) == min(hexbin.RES_CHOICES)
    assert hexbin.res_for_zoom(15.0) == max(hexbin.RES_CHOICES)
