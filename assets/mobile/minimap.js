/* A tiny SVG map to check and correct the report's location: the worker's town and grid cells,
 * the current point, tap to move it, drag to pan, +/− to zoom. No tiles, no library: a few KB,
 * and it works with no network at all. */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const NS = "http://www.w3.org/2000/svg";

  OM.MiniMap = class {
    constructor(svg, geo, onPick) {
      this.svg = svg;
      this.onPick = onPick;
      this.k = Math.cos(((geo.bbox[1] + geo.bbox[3]) / 2) * Math.PI / 180);  // lon shrink
      const [x0, y0] = this.project(geo.bbox[0], geo.bbox[3]);
      const [x1, y1] = this.project(geo.bbox[2], geo.bbox[1]);
      this.full = [x0, y0, x1 - x0, y1 - y0];
      this.view = this.full.slice();
      const g = document.createElementNS(NS, "g");
      for (const f of geo.features) {
        const p = document.createElementNS(NS, "path");
        p.setAttribute("d", this.pathOf(f.geometry));
        p.setAttribute("class", f.properties.own ? "cell own" : "cell");
        g.appendChild(p);
      }
      svg.appendChild(g);
      this.marker = document.createElementNS(NS, "circle");
      this.marker.setAttribute("class", "marker");
      svg.appendChild(this.marker);
      this.apply();
      this.bindPointer();
    }

    project(lon, lat) { return [lon * this.k, -lat]; }
    unproject(x, y) { return [x / this.k, -y]; }

    pathOf(geom) {
      const polys = geom.type === "Polygon" ? [geom.coordinates] : geom.coordinates;
      return polys.map((rings) => rings.map((ring) => "M" + ring.map((c) =>
        this.project(c[0], c[1]).map((v) => v.toFixed(5)).join(",")).join("L") + "Z").join(""))
        .join("");
    }

    apply() {
      this.svg.setAttribute("viewBox", this.view.join(" "));
      const r = this.view[2] / 40;
      this.marker.setAttribute("r", r.toFixed(6));
      this.marker.setAttribute("stroke-width", (r / 3).toFixed(6));
      this.svg.querySelectorAll("path").forEach((p) =>
        p.setAttribute("stroke-width", (this.view[2] / 300).toFixed(6)));
    }

    setPoint(lon, lat, recenter) {
      const [x, y] = this.project(lon, lat);
      this.marker.setAttribute("cx", x);
      this.marker.setAttribute("cy", y);
      if (recenter) { this.view[0] = x - this.view[2] / 2; this.view[1] = y - this.view[3] / 2; }
      this.apply();
    }

    zoom(f) {
      const cx = this.view[0] + this.view[2] / 2, cy = this.view[1] + this.view[3] / 2;
      const w = Math.min(this.full[2] * 1.5, this.view[2] / f);
      const h = Math.min(this.full[3] * 1.5, this.view[3] / f);
      this.view = [cx - w / 2, cy - h / 2, w, h];
      this.apply();
    }

    toMap(ev) {
      const pt = this.svg.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      const m = this.svg.getScreenCTM().inverse();
      const p = pt.matrixTransform(m);
      return [p.x, p.y];
    }

    bindPointer() {
      let start = null;
      this.svg.addEventListener("pointerdown", (ev) => {
        start = {x: ev.clientX, y: ev.clientY, view: this.view.slice(), moved: false};
        this.svg.setPointerCapture(ev.pointerId);
      });
      this.svg.addEventListener("pointermove", (ev) => {
        if (!start) return;
        const dx = ev.clientX - start.x, dy = ev.clientY - start.y;
        if (Math.abs(dx) + Math.abs(dy) > 8) start.moved = true;
        if (!start.moved) return;
        const s = this.view[2] / this.svg.clientWidth;
        this.view[0] = start.view[0] - dx * s;
        this.view[1] = start.view[1] - dy * s;
        this.apply();
      });
      this.svg.addEventListener("pointerup", (ev) => {
        if (start && !start.moved) {
          const [x, y] = this.toMap(ev);
          const [lon, lat] = this.unproject(x, y);
          this.setPoint(lon, lat, false);
          this.onPick(lon, lat);
        }
        start = null;
      });
    }
  };
})();
