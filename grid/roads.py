"""路网距离 (road distance, issue 16): when a road network is configured, 一键调度 ranks the
suggested resources by the distance along the roads instead of the straight line.

The network is a GeoJSON file of ``LineString`` / ``MultiLineString`` features (WGS-84), e.g. an
OpenStreetMap extract of the city's roads. Every vertex is a node (coordinates rounded to
1e-6°, so lines that share a vertex are joined); every segment an undirected edge weighted by its
great-circle length. A point off the network (an incident, a resource's base) joins it at its
nearest vertex, and that straight hop is added to the distance. A resource the origin cannot
reach along the roads gets ``inf`` (ranked last). The distances are single-source Dijkstra
(``networkx``) from the origin's vertex.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import numpy as np

R_EARTH_M = 6_371_000.0


def _hav(lon1: np.ndarray | float, lat1: np.ndarray | float, lon2: np.ndarray | float,
         lat2: np.ndarray | float) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.subtract(lon2, lon1)) / 2) ** 2
    return 2 * R_EARTH_M * np.arcsin(np.sqrt(a))


class RoadNetwork:
    """A road graph and distances along it (metres)."""

    def __init__(self, lines: list[list[tuple[float, float]]]) -> None:
        g = nx.Graph()
        for line in lines:
            pts = [(round(float(x), 6), round(float(y), 6)) for x, y, *_ in line]
            for a, b in zip(pts, pts[1:], strict=False):
                if a != b:
                    w = float(_hav(a[0], a[1], b[0], b[1]))
                    if not g.has_edge(a, b) or g[a][b]["w"] > w:
                        g.add_edge(a, b, w=w)
        if not g.number_of_nodes():
            raise ValueError("路网没有任何道路线 (the road network has no lines)")
        self.graph = g
        self.nodes = list(g.nodes)
        self._lon = np.array([n[0] for n in self.nodes])
        self._lat = np.array([n[1] for n in self.nodes])

    @classmethod
    def from_geojson(cls, path: str | Path) -> RoadNetwork:
        """Read the lines of a GeoJSON FeatureCollection (or one geometry); a file without any
        line is refused with a clear message."""
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        feats = doc.get("features", [doc]) if isinstance(doc, dict) else []
        lines: list = []
        for f in feats:
            g = f.get("geometry", f) if isinstance(f, dict) else None
            if not isinstance(g, dict):
                continue
            if g.get("type") == "LineString":
                lines.append(g["coordinates"])
            elif g.get("type") == "MultiLineString":
                lines += g["coordinates"]
        return cls(lines)

    def _snap(self, lon: float, lat: float) -> tuple[tuple[float, float], float]:
        d = _hav(lon, lat, self._lon, self._lat)
        i = int(np.argmin(d))
        return self.nodes[i], float(d[i])

    def distances(self, lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Road distance (m) from (lon, lat) to each target: hop on, along the roads, hop off;
        ``inf`` where the roads do not connect them."""
        src, hop = self._snap(lon, lat)
        along = nx.single_source_dijkstra_path_length(self.graph, src, weight="w")
        out = np.full(len(lons), math.inf)
        for i, (x, y) in enumerate(zip(lons, lats, strict=True)):
            node, off = self._snap(float(x), float(y))
            if node in along:
                out[i] = hop + along[node] + off
        return out


__all__ = ["RoadNetwork"]
