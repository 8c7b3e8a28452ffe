"""GeoJSON exports of the map: towns, villages, cells (a town: its own), incidents (scoped), sensors
and cameras (``policy.visible_devices``)."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from app import security
from app.api import (
    point_features,
    summary,
)
from app.auth import deny, guarded, require_actor
from app.http import ctx, svc
from incidents.policy import visible_devices

bp = Blueprint("api_geojson", __name__)


@bp.get("/api/geojson/<layer>")
def geojson(layer: str):
    actor = require_actor()
    from grid.io import to_geojson  # noqa: PLC0415 (the one export path, issue 18)

    city = ctx().city
    if layer in ("towns", "villages", "cells"):
        frame = getattr(city, layer)
        if actor.center.startswith("T") and layer != "towns":
            frame = frame[frame["town_code"].astype(str) == actor.center[1:]]
        props = {"towns": ("code", "name", "kind"), "villages": ("code", "name", "town_code"),
                 "cells": ("code", "village_code", "town_code")}[layer]
        # RFC 7946, the layer simplified as one coverage: `onemap city import` takes it back
        return jsonify(to_geojson(frame, props=props, tolerance_deg=0.00005))
    if layer == "incidents":
        with guarded("geojson:incidents"):
            incs = svc().list_queue(actor, request.args.get("view", "open"), limit=5000)
        now = time.time()
        feats = [{"type": "Feature", "id": i.id,
                  "geometry": {"type": "Point", "coordinates": [i.lon, i.lat]},
                  "properties": {k: v for k, v in summary(i, now).items()
                                 if k not in ("lon", "lat")}} for i in incs]
        return jsonify(type="FeatureCollection", features=feats)
    if layer in ("sensors", "cameras"):
        if actor.role == "admin":
            deny("admins manage accounts, not devices", f"geojson:{layer}")
        reg = ctx().devices
        if layer == "sensors":
            frame = visible_devices(actor, reg.sensors, "dept")
            props = ("type", "name", "cell_code", "town_code", "dept")
        else:
            frame = visible_devices(actor, reg.cameras, "share")
            props = ("name", "cls", "owner", "site_type", "heading_deg", "fov_deg", "range_m",
                     "cell_code", "town_code")
        return jsonify(point_features(frame, props))
    return security.json_error(404, "unknown_layer",
                               reason="未知图层，可选 (one of) towns, villages, cells, incidents, "
                               "sensors, cameras")
