"""Offline base map: explicit style, no glyphs, no other origin; GCJ-02 at display time."""

from __future__ import annotations

import json

import numpy as np

from layers import basemap


def test_default_style_is_explicit_and_names_no_remote_resource():
    style = basemap.map_style()
    text = json.dumps(style)
    assert "glyphs" not in style and "sprite" not in style
    assert "http" not in text
    assert style["sources"], "an empty sources object is pruned by plotly and breaks MapLibre"
    assert style["layers"][0]["type"] == "background"


def test_tile_url_adds_one_raster_layer():
    style = basemap.map_style("/tiles/{z}/{x}/{y}.png")
    assert style["sources"]["om-tiles"]["tiles"] == ["/tiles/{z}/{x}/{y}.png"]
    assert [la["type"] for la in style["layers"]] == ["background", "raster"]


def test_gcj02_shifts_points_a_few_hundred_metres_and_wgs84_does_not():
    lon, lat = np.array([110.9]), np.array([21.9])
    same = basemap.to_display(lon, lat, "wgs84")
    assert same[0][0] == 110.9 and same[1][0] == 21.9
    x, y = basemap.to_display(lon, lat, "gcj02")
    shift_m = np.hypot((x[0] - 110.9) * 103_000, (y[0] - 21.9) * 111_000)
    assert 100 < shift_m < 1000


def test_fit_view_covers_the_bounds():
    center, zoom = basemap.fit_view((110.6, 21.7, 111.4, 22.3), 1000, 800)
    assert 110.9 < center["lon"] < 111.1
    # at that zoom the bounds' width in 512-px world pixels fits in 1000 px
    assert (0.8 / 360) * 512 * 2 ** zoom <= 1000
