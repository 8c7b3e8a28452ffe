"""底图: the base-map style, offline by default (Plotly's default style blanks the map offline).

Default: a plain dark background and nothing else; the city's own GeoJSON boundaries (layers.
boundaries) are the base map. Optional: a raster tile URL from configuration (e.g. an intranet
Tianditu mirror), served through the style dict so that MapLibre fetches it. Our data are stored
in WGS-84; a GCJ-02 tile server needs our coordinates shifted at display time (``to_display``).

The style never names a ``glyphs`` URL: glyph PBFs are not available offline, so the map draws no
text at all; place names are HTML overlays (assets/wall/labels.js).
"""

from __future__ import annotations

import numpy as np

from layers import palette


def map_style(tile_url: str | None = None, background: str = palette.BACKGROUND,
              tile_opacity: float = 0.55) -> dict:
    """MapLibre style dict: background only, or background + one raster tile source."""
    # ``sources`` must never be empty: plotly prunes empty objects when it copies the layout, and
    # MapLibre then rejects the style ("missing required property sources") on the next update
    style: dict = {"version": 8, "name": "onemap",
                   "sources": {"om-none": {"type": "geojson", "data": {
                       "type": "FeatureCollection", "features": []}}},
                   "layers": [{"id": "om-bg", "type": "background",
                               "paint": {"background-color": background}}]}
    if tile_url:
        style["sources"]["om-tiles"] = {"type": "raster", "tiles": [tile_url], "tileSize": 256}
        style["layers"].append({"id": "om-tiles", "type": "raster", "source": "om-tiles",
                                "paint": {"raster-opacity": tile_opacity}})
    return style


def to_display(lons, lats, tile_crs: str = "wgs84") -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """WGS-84 → the tile server's CRS (GCJ-02 for most Chinese base maps), vectorised."""
    lons = np.asarray(lons, dtype=float)
    lats = np.asarray(lats, dtype=float)
    if tile_crs.lower() != "gcj02":
        return lons, lats
    from grid.coords import wgs84_to_gcj02  # noqa: PLC0415 (only when a GCJ-02 base map is set)

    out = wgs84_to_gcj02(lons, lats)
    return np.asarray(out[0], float), np.asarray(out[1], float)


def fit_view(bounds: tuple[float, float, float, float], width_px: int, height_px: int,
             padding: float = 0.04) -> tuple[dict, float]:
    """Center and zoom (Web Mercator, 512-px tiles) that fit ``bounds`` into the given pixels."""
    minx, miny, maxx, maxy = bounds

    def merc_y(lat: float) -> float:
        s = np.sin(np.radians(lat))
        return 0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)

    dx = (maxx - minx) / 360.0
    dy = abs(merc_y(miny) - merc_y(maxy))
    usable = 1 - 2 * padding
    zx = np.log2(width_px * usable / 512.0 / max(dx, 1e-9))
    zy = np.log2(height_px * usable / 512.0 / max(dy, 1e-9))
    center = {"lon": float(minx + maxx) / 2, "lat": float(miny + maxy) / 2}
    return center, float(min(zx, zy))


def map_layout(center: dict, zoom: float, style: dict, uirevision: str = "wall") -> dict:
    """``layout`` for the one map: explicit style (never the default), no margins, no legend."""
    return {"map": {"style": style, "center": center, "zoom": zoom, "layers": []},
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False,
            "paper_bgcolor": palette.BACKGROUND, "plot_bgcolor": palette.BACKGROUND,
            "uirevision": uirevision, "hovermode": False, "dragmode": False}
