"""The wall's video area (issue 23; M3 大厅视频系统, T25 看得见, V1 全时可用): live tiles of the
cameras that can see the active situation, over the map's top-right corner.

What it shows (``area``):

- the target: the situation in focus (``data.focus_situation``: what the wall highlights), else
  the gravest open case (severity, then the newest), both cut to the caller's scope;
- its cameras: those that can see the spot (``sensors.cameras.cameras_for``: in range and field
  of view, labelled 可视), or else the nearest ones (labelled 最近), the console's own rule;
- the cameras the hall operator pinned (上墙, ``POST /api/video/wall/pins``,
  ``app.http.video_wall``) come first, in the order they were pinned;
- up to ``TILES`` tiles (``TILES_WIDE`` on a 3840-wide wall), each a camera the caller may watch
  (``Policy.may_watch``; the wall's kiosk is the city's: every camera).

The area is off (nothing drawn, nothing fetched) while no video gateway runs (its status key,
``sensors.video.keys.GATEWAY``, is refreshed every second by a running gateway). The browser
side (``assets/wall/video.js``) plays each tile muted through ``POST /wall/video/play`` (the
wall's grant path: the kiosk may not call ``/api/*``), shows 离线 when a stream drops and
retries with a backoff until the camera is back.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from dash import ClientsideFunction, Dash, Input, Output, State
from dash.exceptions import PreventUpdate

from app import keys
from app.context import AppContext
from app.nearby import CAMERA_RADIUS_M
from app.screens.wall.data import (
    WallSources,
    focus_situation,
    open_incidents,
    scoped_incidents,
    wall_scope,
)
from app.screens.wall.ids import Id
from app.screens.wall.view import screen_px
from incidents.actor import Actor
from layers import palette
from sensors.cameras import cameras_for, live_positions
from sensors.video import keys as vkeys

TILES = 4
"""Tiles on a 1920-wide wall (2×2)."""
TILES_WIDE = 9
"""Tiles on a 3840-wide wall (3×3)."""
WIDE_PX = 3200
"""A screen this wide (px, as the browser measured it) or wider is a 4K wall."""
POLL_MS = 10_000
"""How often the wall re-reads its video area (ms): a new situation or a pin shows within it."""
MAX_PINS = TILES_WIDE
"""Cameras the hall may pin at once (the most a wall shows)."""

SEEING, NEAREST, PINNED = "可视", "最近", "上墙"


def tiles_for(screen: object) -> int:
    """How many tiles this screen shows (4, or 9 on a 3840-wide wall)."""
    w = screen_px(screen.get("w") if isinstance(screen, dict) else None, 1920)
    return TILES_WIDE if w >= WIDE_PX else TILES


def gateway_running(ctx: AppContext) -> bool:
    """A video gateway has published its status within its TTL (``app.video``)."""
    return bool(ctx.redis.exists(vkeys.GATEWAY))


def pinned(ctx: AppContext) -> list[str]:
    """The pinned cameras (上墙), first pinned first."""
    return list(ctx.redis.zrange(keys.WALL_VIDEO_PINS, 0, -1))


def target(ctx: AppContext, frame: pd.DataFrame) -> dict | None:
    """The case the area shows: the situation in focus, else the gravest open case (severity,
    then the newest), as ``{id, title, lon, lat, kind}``; None when nothing is open."""
    sit = focus_situation(ctx, frame)
    if sit is not None:
        return {"id": sit["id"], "title": sit["title"], "lon": sit["lon"], "lat": sit["lat"],
                "kind": "态势"}
    if frame is None or frame.empty:
        return None
    f = frame.dropna(subset=["lon", "lat"]).copy()
    if f.empty:
        return None
    f["_sev"] = f["severity"].map({s: i for i, s in enumerate(palette.SEVERITY_ORDER)}).fillna(0)
    row = f.sort_values(["_sev", "created_ts"], ascending=False).iloc[0]
    return {"id": str(row["id"]), "title": str(row.get("title") or ""),
            "lon": float(row["lon"]), "lat": float(row["lat"]), "kind": "事件"}


def _tile(ctx: AppContext, cam: dict, kind: str) -> dict:
    town = str(cam.get("town_code") or "")
    return {"id": str(cam["id"]), "name": str(cam.get("name") or cam["id"]), "kind": kind,
            "town": ctx.city.town_names.get(town, "")}


def area(ctx: AppContext, src: WallSources, actor: Actor | None, screen: object = None) -> dict:
    """What the video area shows: ``{on, title, case, tiles: [{id, name, kind, town}], n}``
    (``on`` False: no gateway, or nothing to show)."""
    if not gateway_running(ctx):
        return {"on": False, "tiles": []}
    n = tiles_for(screen)
    policy = ctx.incidents.policy
    reg = ctx.devices

    def may(cam: dict | None) -> bool:
        return cam is not None and (actor is None or policy.may_watch(actor, cam) is None)

    tiles: list[dict] = []
    for cid in pinned(ctx):
        cam = reg.camera(cid)
        if may(cam):
            tiles.append(_tile(ctx, cam, PINNED))
    frame = scoped_incidents(ctx, open_incidents(ctx), wall_scope(src, actor))
    tgt = target(ctx, frame)
    if tgt is not None:
        cams, seeing = cameras_for(reg, tgt["lon"], tgt["lat"], radius_m=CAMERA_RADIUS_M,
                                   limit=TILES_WIDE, positions=live_positions(ctx.redis))
        kind = SEEING if seeing else NEAREST
        shown = {t["id"]: t for t in tiles}
        for cam in cams:
            if str(cam["id"]) in shown:        # pinned and seeing: both said
                shown[str(cam["id"])]["kind"] = f"{PINNED} · {kind}"
            elif may(cam):
                tiles.append(_tile(ctx, cam, kind))
    tiles = tiles[:n]
    title = f"现场视频 · {tgt['kind']}：{tgt['title']}" if tgt else "现场视频 · 上墙画面"
    return {"on": bool(tiles), "title": title, "case": tgt["id"] if tgt else "",
            "tiles": tiles, "n": n}


def register_video(app: Dash, src: WallSources, who: Callable[[], Actor | None]) -> None:
    """The area's callback (server: what to show, resent only when it changed) and its
    clientside renderer (``assets/wall/video.js``: tiles reconciled, players kept)."""
    ctx = src.ctx

    @app.callback(Output(Id.VIDEO_DATA, "data"), Input(Id.SCREEN, "data"),
                  Input(Id.VIDEO_POLL, "n_intervals"), State(Id.VIDEO_DATA, "data"))
    def video_area(screen, _n, shown):  # noqa: ANN001, ANN202
        out = area(ctx, src, who(), screen)
        if out == shown:
            raise PreventUpdate
        return out

    app.clientside_callback(ClientsideFunction("wallvideo", "render"),
                            Output(Id.VIDEO_SIG, "data"), Input(Id.VIDEO_DATA, "data"),
                            prevent_initial_call=True)


__all__ = ["MAX_PINS", "POLL_MS", "TILES", "TILES_WIDE", "area", "gateway_running", "pinned",
           "register_video", "target", "tiles_for"]
