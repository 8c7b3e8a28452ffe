"""Validation of a city's own territory data (数据校验) before import: every problem named.

Checks, each reported with the layer, the feature (its row in the source file, code and name)
and the problem:

- attributes: missing names; missing, malformed or duplicate codes; codes not nested in their
  parent's code; a parent code that is not in the parent layer;
- geometry: missing or empty geometries, non-polygons, invalid polygons (with GEOS's reason);
- topology (in the files' own CRS, areas in m²): overlaps between features of one layer, a grid cell
  (or village) in no parent or in two, one that extends outside its parent, a parent not fully
  covered by its children (gaps), and gaps between towns; all beyond ``tolerance_m2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from grid.codes import Level, code_problem

TOLERANCE_M2 = 25.0
"""Demo default: overlaps and gaps smaller than this (m²) are digitising noise, not errors."""

LAYER_LEVEL: dict[str, Level] = {"towns": "town", "villages": "village", "cells": "cell"}
PARENT_LAYER = {"villages": "towns", "cells": "villages"}
_NOUN = {"towns": "town", "villages": "village", "cells": "grid cell"}


@dataclass(frozen=True)
class Problem:
    """One reason to refuse the data."""

    layer: str       # towns | villages | cells | crs
    feature: str     # e.g. 'cells #12 (code 440981101001001, name 一网格)' or the file
    message: str

    def __str__(self) -> str:
        return f"{self.feature}: {self.message}"


class CityDataError(ValueError):
    """The data was refused (拒绝导入); ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem], limit: int = 50) -> None:
        self.problems = problems
        lines = [f"refused: {len(problems)} problem(s) found, nothing was imported"]
        lines += [f"  - {p}" for p in problems[:limit]]
        if len(problems) > limit:
            lines.append(f"  ... and {len(problems) - limit} more")
        super().__init__("\n".join(lines))


def label(layer: str, gdf: gpd.GeoDataFrame, i: int) -> str:
    """How a feature is named in messages: layer, 1-based row in its file, code and name."""
    row = gdf.iloc[i]
    bits = []
    for col in ("code", "name"):
        v = row.get(col)
        if v is not None and not (isinstance(v, float) and v != v) and str(v).strip():
            bits.append(f"{col} {v}")
    src = int(row["_row"]) if "_row" in gdf.columns else i + 1
    return f"{layer} #{src}" + (f" ({', '.join(bits)})" if bits else "")


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v) or str(v).strip() == ""


def check_attributes(layer: str, gdf: gpd.GeoDataFrame, parent_codes: set[str] | None) -> list[Problem]:
    """Names, codes, duplicate codes, parent codes."""
    out: list[Problem] = []
    level = LAYER_LEVEL[layer]
    seen: dict[str, int] = {}
    for i in range(len(gdf)):
        row = gdf.iloc[i]
        lab = label(layer, gdf, i)
        if _blank(row.get("name")) and (layer != "cells" or "name" in gdf.columns):
            out.append(Problem(layer, lab, "missing name"))
        parent = row.get("parent") if layer in PARENT_LAYER else None
        msg = code_problem(row.get("code"), level,
                           None if _blank(parent) else str(parent))
        if msg:
            out.append(Problem(layer, lab, msg))
            continue
        code = str(row["code"])
        if code in seen:
            out.append(Problem(layer, lab, f"duplicate code {code} (also {label(layer, gdf, seen[code])})"))
        seen.setdefault(code, i)
        if layer in PARENT_LAYER:
            pl = PARENT_LAYER[layer]
            if _blank(parent):
                out.append(Problem(layer, lab, f"missing {_NOUN[pl]} code (parent field)"))
            elif parent_codes is not None and str(parent) not in parent_codes:
                out.append(Problem(layer, lab, f"{_NOUN[pl]} code {parent} is not in the {pl} file"))
    return out


def check_geometries(layer: str, gdf: gpd.GeoDataFrame) -> list[Problem]:
    """Missing, empty, non-polygon and invalid geometries."""
    out: list[Problem] = []
    geoms = gdf.geometry.values
    for i, g in enumerate(geoms):
        lab = label(layer, gdf, i)
        if g is None:
            out.append(Problem(layer, lab, "missing geometry"))
        elif g.is_empty:
            out.append(Problem(layer, lab, "empty geometry"))
        elif g.geom_type not in ("Polygon", "MultiPolygon"):
            out.append(Problem(layer, lab, f"geometry is a {g.geom_type}, expected a Polygon"))
        elif not g.is_valid:
            out.append(Problem(layer, lab, f"invalid geometry: {shapely.is_valid_reason(g)}"))
    return out


def _at(g: shapely.Geometry, to_ll: Callable) -> str:
    p = g.representative_point()
    lon, lat = to_ll(p.x, p.y)
    return f"around ({lon:.5f}, {lat:.5f})"


def check_overlaps(layer: str, gdf: gpd.GeoDataFrame, m: np.ndarray, tol: float,
                   to_ll: Callable, unit: float = 1.0, gs: float = 0.0) -> list[Problem]:
    """Pairs of features of one layer overlapping by more than tol m²."""
    out: list[Problem] = []
    tree = shapely.STRtree(m)
    a, b = tree.query(m, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not a.size:
        return out
    inter = shapely.intersection(m[a], m[b], grid_size=gs)
    area = shapely.area(inter)
    for i, j, ar, g in zip(a, b, area, inter, strict=True):
        if ar > tol:
            out.append(Problem(layer, label(layer, gdf, int(i)),
                               f"overlaps {label(layer, gdf, int(j))} by {ar * unit:.0f} m² "
                               f"{_at(g, to_ll)}"))
    return out


def check_nesting(layer: str, gdf: gpd.GeoDataFrame, m: np.ndarray, parents: gpd.GeoDataFrame,
                  pm: np.ndarray, tol: float, unit: float = 1.0, gs: float = 0.0) -> list[Problem]:
    """Each child lies in exactly one parent, the one its parent code names, and not outside it."""
    out: list[Problem] = []
    pl = PARENT_LAYER[layer]
    noun = _NOUN[pl]
    tree = shapely.STRtree(pm)
    ci, pi = tree.query(m, predicate="intersects")
    area = shapely.area(shapely.intersection(m[ci], pm[pi], grid_size=gs)) if ci.size else np.zeros(0)
    child_area = shapely.area(m)
    by_child: dict[int, list[tuple[int, float]]] = {}
    for c, p, a in zip(ci, pi, area, strict=True):
        if a > tol:
            by_child.setdefault(int(c), []).append((int(p), float(a)))
    pcodes = parents["code"].astype(str).to_numpy()
    for i in range(len(gdf)):
        lab = label(layer, gdf, i)
        inside = by_child.get(i, [])
        if not inside:
            out.append(Problem(layer, lab, f"lies in no {noun}"))
            continue
        if len(inside) > 1:
            parts = ", ".join(f"{label(pl, parents, p)} ({a * unit:.0f} m²)" for p, a in inside)
            out.append(Problem(layer, lab, f"lies in {len(inside)} {noun}s: {parts}"))
            continue
        p, a = inside[0]
        declared = gdf.iloc[i].get("parent")
        if not _blank(declared) and str(declared) != pcodes[p]:
            out.append(Problem(layer, lab, f"lies in {label(pl, parents, p)} but its {noun} code "
                                           f"is {declared}"))
        outside = child_area[i] - a
        if outside > tol:
            out.append(Problem(layer, lab, f"extends {outside * unit:.0f} m² outside "
                                           f"{label(pl, parents, p)}"))
    return out


def check_gaps(layer: str, parents: gpd.GeoDataFrame, pm: np.ndarray, children: np.ndarray, tol: float,
               to_ll: Callable, unit: float = 1.0, gs: float = 0.0) -> list[Problem]:
    """Each parent is covered by its children (no gap beyond tol m²)."""
    out: list[Problem] = []
    child_layer = {v: k for k, v in PARENT_LAYER.items()}[layer]
    tree = shapely.STRtree(children)
    for i, g in enumerate(pm):
        kids = children[tree.query(g, predicate="intersects")]
        gap = (shapely.difference(g, shapely.union_all(kids, grid_size=gs), grid_size=gs)
               if kids.size else g)
        if gap.area > tol:
            biggest = max(shapely.get_parts(gap), key=lambda x: x.area)
            out.append(Problem(layer, label(layer, parents, i),
                               f"{gap.area * unit:.0f} m² not covered by any {_NOUN[child_layer]} "
                               f"{_at(biggest, to_ll)}"))
    return out


def check_town_gaps(pm: np.ndarray, tol: float, to_ll: Callable, unit: float = 1.0,
                    gs: float = 0.0) -> list[Problem]:
    """Holes in the union of the towns: land between towns that belongs to none."""
    out: list[Problem] = []
    union = shapely.union_all(pm, grid_size=gs)
    for poly in shapely.get_parts(union):
        for ring in poly.interiors:
            hole = shapely.Polygon(ring)
            if hole.area > tol:
                out.append(Problem("towns", "towns", f"gap of {hole.area * unit:.0f} m² between towns "
                                                     f"{_at(hole, to_ll)}"))
    return out


def validate_layers(layers: dict[str, gpd.GeoDataFrame], tolerance_m2: float = TOLERANCE_M2,
                    step: Callable[[str], None] = lambda s: None,
                    source_crs: CRS | None = None) -> list[Problem]:
    """All problems of towns/villages/cells (EPSG:4326; columns code, name, parent, geometry).

    Topology is checked in ``source_crs`` (the files' own CRS, when they share one): reprojecting
    bends long straight edges by centimetres, which over kilometres of shared edge would add up
    to false overlaps. Areas are converted to m² (geographic CRSs by the local scale).
    """
    problems: list[Problem] = []
    step("checking names and codes")
    for layer in ("towns", "villages", "cells"):
        pl = PARENT_LAYER.get(layer)
        pcs = set(layers[pl]["code"].dropna().astype(str)) if pl else None
        problems += check_attributes(layer, layers[layer], pcs)
    admins = {str(c)[:6] for c in layers["towns"]["code"].dropna()}
    if len(admins) > 1:
        problems.append(Problem("towns", "towns", f"town codes span several admin codes: "
                                                   f"{', '.join(sorted(admins))}"))
    step("checking geometries")
    geom_problems = []
    for layer in ("towns", "villages", "cells"):
        geom_problems += check_geometries(layer, layers[layer])
    problems += geom_problems
    if geom_problems:
        return problems   # topology needs valid polygons
    step("checking topology")
    work = source_crs if source_crs is not None else CRS.from_epsg(4326)
    metric = {k: np.asarray(v.to_crs(work).geometry.values, dtype=object) for k, v in layers.items()}
    back = Transformer.from_crs(work, "EPSG:4326", always_xy=True).transform
    if work.is_geographic:
        lat = math.radians(float(np.mean(layers["towns"].total_bounds[[1, 3]])))
        unit = 111_320.0 * math.cos(lat) * 110_574.0      # m² per deg² here
    else:
        unit = work.axis_info[0].unit_conversion_factor ** 2
    tol = tolerance_m2 / unit
    # a fixed precision grid (~0.1 mm) makes GEOS overlay robust: in floating precision, near-
    # coincident shared edges can make a difference() return its whole input (seen, GEOS 3.14)
    gs = 1e-9 if work.is_geographic else 1e-4 / work.axis_info[0].unit_conversion_factor
    for layer in ("towns", "villages", "cells"):
        problems += check_overlaps(layer, layers[layer], metric[layer], tol, back, unit, gs)
    problems += check_town_gaps(metric["towns"], tol, back, unit, gs)
    for layer in ("villages", "cells"):
        pl = PARENT_LAYER[layer]
        problems += check_nesting(layer, layers[layer], metric[layer], layers[pl], metric[pl], tol, unit,
                                  gs)
        problems += check_gaps(pl, layers[pl], metric[pl], metric[layer], tol, back, unit, gs)
    return problems
