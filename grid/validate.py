"""Validation of a city's own territory data (数据校验) before import: every problem named.

Checks, each reported with the layer, the feature (its row in the source file, code and name)
and the problem:

- attributes: missing names; missing, malformed or duplicate codes; codes not nested in their
  parent's code; a parent code that is not in the parent layer;
- geometry: missing or empty geometries, non-polygons, invalid polygons (with GEOS's reason);
- topology (in the files' own CRS, areas in m²): overlaps between features of one layer, a grid cell
  (or village) in no parent or in two, one that extends outside its parent, a parent not fully
  covered by its children (gaps), and gaps between towns. A piece of overlap or gap counts only
  if it is both larger than ``tolerance_m2`` and wider than ``tolerance_width_m`` (mean width
  2·area/perimeter): kilometres of centimetre-wide sliver along a shared edge (rounding,
  reprojection) are noise, a 5 m × 10 m overlap is not.
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

TOLERANCE_WIDTH_M = 0.5
"""Demo default: overlaps and gaps narrower than this (m, mean width) are slivers, not errors."""

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


@dataclass(frozen=True)
class _Tol:
    """Tolerances in the working CRS's units, and how to report in m² and lon/lat."""

    area: float                 # work units²
    width: float                # work units
    unit: float                 # m² per work unit²
    gs: float                   # precision grid for overlay (work units)
    to_ll: Callable             # work CRS → lon/lat

    def big(self, g: np.ndarray | shapely.Geometry) -> np.ndarray | bool:
        """Larger than the area tolerance and wider than the width tolerance."""
        a = shapely.area(g)
        per = shapely.length(g)
        width = np.divide(2 * a, per, out=np.zeros_like(np.asarray(a, float)), where=np.asarray(per) > 0)
        return (a > self.area) & (width > self.width)

    def m2(self, a: float) -> str:
        return f"{a * self.unit:.0f} m²"

    def at(self, g: shapely.Geometry) -> str:
        p = g.representative_point()
        lon, lat = self.to_ll(p.x, p.y)
        return f"around ({lon:.5f}, {lat:.5f})"


def check_overlaps(layer: str, gdf: gpd.GeoDataFrame, m: np.ndarray, tol: _Tol) -> list[Problem]:
    """Pairs of features of one layer overlapping beyond the tolerance."""
    out: list[Problem] = []
    a, b = shapely.STRtree(m).query(m, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not a.size:
        return out
    inter = shapely.intersection(m[a], m[b], grid_size=tol.gs)
    for i, j, g, big in zip(a, b, inter, tol.big(inter), strict=True):
        if big:
            out.append(Problem(layer, label(layer, gdf, int(i)),
                               f"overlaps {label(layer, gdf, int(j))} by {tol.m2(g.area)} {tol.at(g)}"))
    return out


def check_nesting(layer: str, gdf: gpd.GeoDataFrame, m: np.ndarray, parents: gpd.GeoDataFrame,
                  pm: np.ndarray, tol: _Tol) -> list[Problem]:
    """Each child lies in exactly one parent, the one its parent code names, and not outside it."""
    out: list[Problem] = []
    pl = PARENT_LAYER[layer]
    noun = _NOUN[pl]
    ci, pi = shapely.STRtree(pm).query(m, predicate="intersects")
    inter = shapely.intersection(m[ci], pm[pi], grid_size=tol.gs)
    big = tol.big(inter) if ci.size else np.zeros(0, bool)
    by_child: dict[int, list[tuple[int, float]]] = {}
    for c, p, g, b in zip(ci, pi, inter, big, strict=True):
        if b:
            by_child.setdefault(int(c), []).append((int(p), float(g.area)))
    pcodes = parents["code"].astype(str).to_numpy()
    for i in range(len(gdf)):
        lab = label(layer, gdf, i)
        inside = by_child.get(i, [])
        if not inside:
            out.append(Problem(layer, lab, f"lies in no {noun}"))
            continue
        if len(inside) > 1:
            parts = ", ".join(f"{label(pl, parents, p)} ({tol.m2(a)})" for p, a in inside)
            out.append(Problem(layer, lab, f"lies in {len(inside)} {noun}s: {parts}"))
            continue
        p, a = inside[0]
        declared = gdf.iloc[i].get("parent")
        if not _blank(declared) and str(declared) != pcodes[p]:
            out.append(Problem(layer, lab, f"lies in {label(pl, parents, p)} but its {noun} code "
                                           f"is {declared}"))
        if m[i].area - a > tol.area:
            outside = shapely.difference(m[i], pm[p], grid_size=tol.gs)
            if tol.big(outside):
                out.append(Problem(layer, lab, f"extends {tol.m2(outside.area)} outside "
                                               f"{label(pl, parents, p)} {tol.at(outside)}"))
    return out


def _big_parts(g: shapely.Geometry, tol: _Tol) -> list[shapely.Geometry]:
    parts = shapely.get_parts(g)
    return [x for x, b in zip(parts, np.atleast_1d(tol.big(parts)), strict=True) if b]


def check_gaps(layer: str, parents: gpd.GeoDataFrame, pm: np.ndarray, children: np.ndarray,
               tol: _Tol) -> list[Problem]:
    """Each parent is covered by its children (no gap beyond the tolerance)."""
    out: list[Problem] = []
    child_layer = {v: k for k, v in PARENT_LAYER.items()}[layer]
    tree = shapely.STRtree(children)
    for i, g in enumerate(pm):
        kids = children[tree.query(g, predicate="intersects")]
        gap = (shapely.difference(g, shapely.union_all(kids, grid_size=tol.gs), grid_size=tol.gs)
               if kids.size else g)
        if gap.area <= tol.area:
            continue
        parts = _big_parts(gap, tol)
        if parts:
            biggest = max(parts, key=lambda x: x.area)
            out.append(Problem(layer, label(layer, parents, i),
                               f"{tol.m2(sum(x.area for x in parts))} not covered by any "
                               f"{_NOUN[child_layer]} {tol.at(biggest)}"))
    return out


def check_town_gaps(pm: np.ndarray, tol: _Tol) -> list[Problem]:
    """Holes in the union of the towns: land between towns that belongs to none."""
    out: list[Problem] = []
    for poly in shapely.get_parts(shapely.union_all(pm, grid_size=tol.gs)):
        for ring in poly.interiors:
            hole = shapely.Polygon(ring)
            if tol.big(hole):
                out.append(Problem("towns", "towns", f"gap of {tol.m2(hole.area)} between towns "
                                                     f"{tol.at(hole)}"))
    return out


def validate_layers(layers: dict[str, gpd.GeoDataFrame], tolerance_m2: float = TOLERANCE_M2,
                    step: Callable[[str], None] = lambda s: None,
                    source_crs: CRS | None = None,
                    tolerance_width_m: float = TOLERANCE_WIDTH_M) -> list[Problem]:
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
    if work.is_geographic:
        lat = math.radians(float(np.mean(layers["towns"].total_bounds[[1, 3]])))
        unit = 111_320.0 * math.cos(lat) * 110_574.0      # m² per deg² here
    else:
        unit = work.axis_info[0].unit_conversion_factor ** 2
    # a fixed precision grid (~0.1 mm) makes GEOS overlay robust: in floating precision, near-
    # coincident shared edges can make a difference() return its whole input (seen, GEOS 3.14)
    tol = _Tol(area=tolerance_m2 / unit, width=tolerance_width_m / math.sqrt(unit), unit=unit,
               gs=1e-4 / math.sqrt(unit),
               to_ll=Transformer.from_crs(work, "EPSG:4326", always_xy=True).transform)
    for layer in ("towns", "villages", "cells"):
        problems += check_overlaps(layer, layers[layer], metric[layer], tol)
    problems += check_town_gaps(metric["towns"], tol)
    for layer in ("villages", "cells"):
        pl = PARENT_LAYER[layer]
        problems += check_nesting(layer, layers[layer], metric[layer], layers[pl], metric[pl], tol)
        problems += check_gaps(pl, layers[pl], metric[pl], metric[layer], tol)
    return problems
