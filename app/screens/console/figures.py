"""The console's map (webviz's ``_figures.py``): the center's territory, a pick grid, then the
live traces in fixed slots, as plain-dict traces from ``layers.trace`` like the wall's layers
(no plotly validators per redraw)."""

from __future__ import annotations

from html import escape

from grid import centers as cc
from incidents.actor import Actor
from incidents.incident import FINAL_STATES
from layers.basemap import fit_view, map_style
from layers.geojson import feature_collection
from layers.palette import OVERDUE_COLOR, SEVERITY_COLORS, SEVERITY_SIZES
from layers.trace import scattermap

_GEO_CACHE: dict[tuple[int, str], dict] = {}

PICK_SLOT = 0
"""The pick grid is trace 0: a click on it picks a location, not an incident."""
LABELS_META = "labels"
"""The place-name trace (after the live slots; never patched): read by assets/console/labels.js,
which draws the names as HTML over the map (no map glyphs offline, docs: ecosystem notes)."""
SELECT_ZOOM = 14.5
"""The map's zoom on a case just chosen in the queue (its street and village in view)."""
VILLAGE_ZOOM_STEP = 1.2
"""Village names show from this far in past the zoom that fits the city (town names always)."""


def scope_geo(city, center: str) -> dict:  # noqa: ANN001
    """Boundary layers, pick points, view and landmarks for a center (cached per center)."""
    key = (id(city), center)
    hit = _GEO_CACHE.get(key)
    if hit is None:
        hit = _GEO_CACHE[key] = _build_scope_geo(center, city)
    return hit


def _build_scope_geo(center: str, city) -> dict:  # noqa: ANN001
    town = cc.town_of(center)
    if town and town in set(city.towns["code"]):
        towns = city.towns[city.towns["code"] == town]
        villages = city.villages[city.villages["town_code"] == town]
        cells = city.cells[city.cells["town_code"] == town]
        bounds = tuple(towns.total_bounds)
    else:
        towns, villages, cells = city.towns, city.villages.iloc[0:0], city.cells
        bounds = tuple(city.towns.total_bounds)
    # the fill goes under the markers (MapLibre draws layout layers above traces otherwise)
    layers = [{"sourcetype": "geojson", "type": "fill", "color": "#0f2238", "opacity": 0.8,
               "below": "traces",
               "source": feature_collection(towns, "code", (), tolerance_deg=0.0004)},
              {"sourcetype": "geojson", "type": "line", "color": "#3a86c8", "line": {"width": 1.6},
               "source": feature_collection(towns, "code", (), tolerance_deg=0.0004)}]
    if len(villages):
        layers.append({"sourcetype": "geojson", "type": "line", "color": "#2c5a86",
                       "line": {"width": 0.8},
                       "source": feature_collection(villages, "code", (), tolerance_deg=0.0002)})
    pts = cells.geometry.representative_point()
    center_pt, zoom = fit_view(bounds, 640, 460)
    _, city_zoom = fit_view(tuple(city.towns.total_bounds), 640, 460)
    vlabels = villages if len(villages) else city.villages
    tp, vp = towns.geometry.representative_point(), vlabels.geometry.representative_point()
    label_lon = [round(float(p.x), 5) for p in (*tp, *vp)]
    label_lat = [round(float(p.y), 5) for p in (*tp, *vp)]
    label_text = [*towns["name"].astype(str), *vlabels["name"].astype(str)]
    label_min = [0.0] * len(towns) + [round(city_zoom + VILLAGE_ZOOM_STEP, 2)] * len(vlabels)
    vil = villages if len(villages) else city.villages
    vpts = vil.geometry.representative_point()
    tnames = city.town_names
    landmarks = [{"label": f"{tnames.get(t, '')} {n}", "value": f"{p.x:.6f},{p.y:.6f}"}
                 for n, t, p in zip(vil["name"], vil["town_code"], vpts, strict=True)]
    return {"layers": layers, "pick_lon": [round(float(x), 6) for x in pts.x],
            "pick_lat": [round(float(y), 6) for y in pts.y], "pick_id": cells["code"].tolist(),
            "center": center_pt, "zoom": zoom, "landmarks": landmarks,
            "labels": {"lon": label_lon, "lat": label_lat, "text": label_text, "min": label_min}}


def map_traces(rows: list[dict], selected=None, cameras=(), pick=None) -> list[dict]:  # noqa: ANN001
    """The live traces of the console map, in fixed slots 1..6 (slot 0 is the pick grid):
    overdue rings, incidents, cameras that see the selection, the selection, the picked point,
    the selected situation's sources (issue 15: where each alarm and report came from)."""
    rows = [r for r in rows if r.get("state") not in FINAL_STATES]
    srcs = [x for x in (selected.sources if selected is not None and len(selected.sources) > 1 else [])
            if x.get("lon") is not None and x.get("lat") is not None]
    od = [r for r in rows if r.get("overdue")]
    return [
        scattermap(lon=[r["lon"] for r in od], lat=[r["lat"] for r in od],
                   customdata=[r["id"] for r in od], mode="markers",
                   marker={"size": [SEVERITY_SIZES.get(r["severity"], 9) + 12 for r in od],
                           "color": OVERDUE_COLOR, "opacity": 0.85},
                   hoverinfo="skip", meta="overdue", name="超期"),
        scattermap(lon=[r["lon"] for r in rows], lat=[r["lat"] for r in rows],
                   customdata=[r["id"] for r in rows], mode="markers",
                   # titles are what callers typed: text, never markup Plotly would draw (a link)
                   text=[f"{r['id']} {escape(str(r['title']))}<br>{r['state_name']} · {r['severity']}"
                         for r in rows],
                   marker={"size": [SEVERITY_SIZES.get(r["severity"], 9) + 5 for r in rows],
                           "color": [SEVERITY_COLORS.get(r["severity"], "#4fc3f7") for r in rows],
                           "opacity": 1.0},
                   unselected={"marker": {"opacity": 1.0}},
                   hovertemplate="%{text}<extra></extra>", meta="incidents", name="事件"),
        scattermap(lon=[c["lon"] for c in cameras], lat=[c["lat"] for c in cameras],
                   mode="markers", marker={"size": 9, "color": "#b388ff"},
                   text=[escape(str(c["name"])) for c in cameras],
                   hovertemplate="摄像机 %{text}<extra></extra>",
                   meta="cameras", name="摄像机"),
        scattermap(lon=[selected.lon] if selected else [], lat=[selected.lat] if selected else [],
                   mode="markers", marker={"size": 28, "color": "#ffffff", "opacity": 0.45},
                   hoverinfo="skip", meta="selected", name="选中"),
        scattermap(lon=[pick["lon"]] if pick else [], lat=[pick["lat"]] if pick else [],
                   mode="markers", marker={"size": 16, "color": "#00e676"}, hoverinfo="skip",
                   meta="picked", name="新事件位置"),
        scattermap(lon=[float(x["lon"]) for x in srcs], lat=[float(x["lat"]) for x in srcs],
                   mode="markers", marker={"size": 10, "color": "#ff9800", "opacity": 0.95},
                   text=[f"{escape(str(x.get('channel', '')))} · "
                         f"{escape(str(x.get('description', ''))[:30])}" for x in srcs],
                   hovertemplate="来源 %{text}<extra></extra>", meta="sources", name="态势来源"),
    ]


def map_figure(city, actor: Actor, rows: list[dict], selected=None, cameras=(), pick=None,  # noqa: ANN001
               tile_url: str | None = None) -> dict:
    """The whole console map: territory (GeoJSON layers), pick grid, then ``map_traces``."""
    geo = scope_geo(city, actor.center)
    pick_grid = scattermap(lon=geo["pick_lon"], lat=geo["pick_lat"], customdata=geo["pick_id"],
                           mode="markers", marker={"size": 7, "color": "#5f7a99", "opacity": 0.25},
                           hovertemplate="网格 %{customdata}<br>点击选为新事件位置<extra></extra>",
                           meta="pick", name="网格")
    layout = {"map": {"style": map_style(tile_url), "center": geo["center"], "zoom": geo["zoom"],
                      "layers": geo["layers"]},
              "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False,
              "paper_bgcolor": "#07111f", "uirevision": actor.center, "hovermode": "closest",
              "clickmode": "event"}
    lab = geo["labels"]
    labels = scattermap(lon=lab["lon"], lat=lab["lat"], text=lab["text"], customdata=lab["min"],
                        mode="markers", marker={"size": 1, "opacity": 0}, hoverinfo="skip",
                        meta=LABELS_META, name="地名")
    return {"data": [pick_grid, *map_traces(rows, selected, cameras, pick), labels],
            "layout": layout}
