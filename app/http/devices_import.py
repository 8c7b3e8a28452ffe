"""Device registry import (设备台账导入, issue 18): ``POST /api/admin/devices/import`` — the
admin's route for ``onemap devices import``: a CSV, GeoJSON or GeoPackage upload, checked row by
row (``sensors.device_import``), refused with every row and field named (400), never half-written.
Ingest workers take new devices at their next start (docs/mqtt.md)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, jsonify, request

from app import security
from app.auth import require_role
from app.http import ctx

bp = Blueprint("api_devices_import", __name__)

SUFFIXES = (".csv", ".geojson", ".json", ".gpkg")
MAX_BYTES = 20 * 1024 * 1024


@bp.post("/api/admin/devices/import")
def import_devices_route():
    """导入设备: form field ``file``; ``kind`` = sensors (default) | cameras; ``dry_run`` = 1."""
    actor = require_role("admin")
    from sensors.device_import import DeviceImportError  # noqa: PLC0415
    from sensors.registry import import_devices, merge_devices, save  # noqa: PLC0415

    up = request.files.get("file")
    kind = request.values.get("kind", "sensors")
    if up is None or kind not in ("sensors", "cameras"):
        return security.json_error(400, "bad_request", reason="需要文件 file，kind 为 sensors 或 "
                                   "cameras / a file and kind=sensors|cameras are required")
    suffix = Path(up.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        return security.json_error(400, "bad_request", reason=f"不支持的格式 / unsupported format "
                                   f"{suffix!r} (CSV, GeoJSON, GeoPackage)")
    data = up.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return security.json_error(413, "too_large", reason=f"文件超过 / file over {MAX_BYTES} bytes")
    cameras = kind == "cameras"
    app = ctx()
    with tempfile.TemporaryDirectory(prefix="onemap-devices-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            new = import_devices(path, app.city, cameras=cameras)
        except DeviceImportError as e:
            return security.json_error(
                400, "invalid_devices", reason="导入被拒绝，未写入任何设备 / import refused, "
                "nothing written",
                problems=[{"row": r, "field": f, "message": m} for r, f, m in e.problems])
    reg, added, updated = merge_devices(app.devices, new, cameras)
    dry = request.values.get("dry_run") in ("1", "true")
    if not dry:
        save(reg, app.settings.resolved_city_dir)
        app.__dict__["devices"] = reg     # this process sees them at once
        security.audit(app.redis, "devices_import", user=actor.user_id, role=actor.role,
                       center=actor.center, path=request.path, target=kind,
                       reason=f"{added} new, {updated} replaced from {up.filename}"[:200])
    return jsonify(kind=kind, imported=len(new), added=added, updated=updated, dry_run=dry)
