"""The case panel's live video (issue 23; T25 看得见, V1, V27 全程可控, V28, M3): the best
camera that can see the case's spot plays in the panel, the next four in a 2×2 grid under it
(a click on a tile makes it the main picture); 截图取证 grabs a frame on the server and
attaches it to the case; 上墙 pins a camera to the hall's wall.

- Which cameras: those that can see the spot (``sensors.cameras.cameras_seeing``: range and
  field of view), nearest first, a camera known offline (``om:video:state``) after the others;
  then, to fill the grid or when none sees it, the nearest ones (``cameras_nearest``), labelled
  最近摄像头 (not 可视), as ``cameras_for`` does for the panel's list.
- Only cameras the caller may watch (``Policy.may_watch``) are ever sent to the page: a camera
  out of scope is not named. Playing is asked of ``POST /api/video/play`` again (the policy, the
  quota and the 视频调阅 log there); the stream's address never reaches the browser.
- The browser side is ``assets/console/video.js`` (mpegts.js: muted autoplay; the gateway's
  refusals shown in Chinese: 离线, 视频通道已满 …); 截图取证 posts to
  ``/api/incidents/<id>/video/evidence`` (``app.http.video_evidence``); 上墙 posts
  ``{"camera_id", "pinned": true}`` to ``/api/video/wall/pins`` (the wall's video area).
- The case's evidence frames (its trail's 截图取证 entries: who, camera, when) are listed under
  the player, each with its picture.
"""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from app.auth import guarded
from app.http.video_evidence import EVIDENCE
from app.http.video_wall import hall_refusal
from app.nearby import CAMERA_RADIUS_M
from app.screens.console.ids import Id
from app.screens.console.model import ConsoleData, fmt, new_photos, who_did
from incidents.actor import Actor
from sensors.cameras import cameras_nearest, cameras_seeing, live_positions
from sensors.video import access
from sensors.video import keys as vkeys

TILES = 4
"""The grid under the main picture: 2×2."""
SCAN = 60
"""Cameras looked at around the spot before the policy filters them (a department sees only
those shared to it: enough to find five of its own)."""
SEEING, NEAREST = "可视摄像头", "最近摄像头"
"""A camera's label: it sees the spot, or it is only near it (pointing elsewhere)."""


def watchable_cameras(data: ConsoleData, actor: Actor, lon: float, lat: float,
                      n: int = TILES + 1) -> list[dict]:
    """Up to ``n`` cameras for the spot that ``actor`` may watch, best first: those that can
    see it (online or untried before offline), then the nearest others. Each: id, name,
    distance_m, seeing (bool), label."""
    policy = data.service.policy
    pos = live_positions(data.redis)
    devices = data.ctx.devices
    states = access.stream_states(data.redis)
    seeing = cameras_seeing(devices, lon, lat, radius_m=CAMERA_RADIUS_M, limit=SCAN, positions=pos)
    seeing.sort(key=lambda c: (states.get(c["id"], {}).get("state") == "offline", c["distance_m"]))
    out: list[dict] = []

    def take(group: list[dict], sees: bool) -> None:
        for c in group:
            if len(out) >= n:
                return
            if any(o["id"] == c["id"] for o in out) or policy.may_watch(actor, c) is not None:
                continue                      # out of scope: never named to the page
            out.append({"id": str(c["id"]), "name": str(c["name"]),
                        "distance_m": float(c["distance_m"]), "seeing": sees,
                        "label": SEEING if sees else NEAREST})
    take(seeing, True)
    if len(out) < n:        # fill the grid (or stand in for none) with the nearest, so labelled
        take(cameras_nearest(devices, lon, lat, radius_m=4 * CAMERA_RADIUS_M, limit=SCAN,
                             positions=pos), False)
    return out


def evidence_items(data: ConsoleData, trail: list[dict]) -> list[dict]:
    """The case's 截图取证 frames from its trail: url, who, when, what (camera), newest first."""
    out = []
    for e in trail:
        if str(e.get("reason") or "").startswith(EVIDENCE):
            for url in new_photos(e):
                out.append({"url": url, "who": who_did(data.city, e),
                            "when": fmt(float(e.get("ts") or 0), True), "what": str(e["reason"])})
    return out[::-1]


def evidence_list(items: list[dict]) -> list:
    """The evidence frames as the panel shows them (a click enlarges one: photos.js)."""
    if not items:
        return []
    return [html.Div(f"{EVIDENCE}（{len(items)}）", className="vid-shots-head"),
            *[html.Figure(className="photo evidence", children=[
                html.Img(src=x["url"], alt=EVIDENCE, title="点击放大", className="zoomable"),
                html.Figcaption(f"{x['when']} · {x['who']} · {x['what'][len(EVIDENCE) + 3:]}")])
              for x in items]]


def video_box() -> html.Div:
    """The player, the 2×2 grid, the buttons and the evidence list (hidden until a case with a
    camera is open). The text and the players are ``video.js``'s; the evidence list is the
    server's."""
    tiles = [html.Div(className="vid-tile", id=f"{Id.VIDEO_TILE}-{k}", hidden=True, children=[
        html.Video(className="vid-small", muted=True, autoPlay=True, controls=False,
                   title="点击切换为主画面", **{"data-slot": str(k + 1)}),
        html.Div(className="vid-cap", children=[html.Span(className="vid-name"),
                                                html.Span(className="vid-state")]),
        html.Button("上墙", type="button", className="vid-pin", hidden=True,
                    title="推送到大厅大屏的视频区", **{"data-slot": str(k + 1)})])
        for k in range(TILES)]
    return html.Div(id=Id.VIDEO_BOX, className="vid-box", hidden=True, children=[
        html.Div(className="vid-head", children=[
            html.Span(id=Id.VIDEO_TITLE, className="vid-title"),
            html.Span(id=Id.VIDEO_STATE, className="vid-state", role="status")]),
        html.Video(id=Id.VIDEO_MAIN, className="vid-main", muted=True, autoPlay=True,
                   controls=False, **{"data-slot": "0"}),
        html.Div(className="vid-buttons", children=[
            html.Button(EVIDENCE, id=Id.VIDEO_EVIDENCE, type="button",
                        title="从实时画面截取一帧，作为证据附到本事件（记入审计）"),
            html.Button("上墙", id=Id.VIDEO_WALL, type="button", className="vid-pin", hidden=True,
                        title="推送到大厅大屏的视频区", **{"data-slot": "0"}),
            html.Span(id=Id.VIDEO_MSG, className="msg", role="status")]),
        html.Div(id=Id.VIDEO_GRID, className="vid-grid", children=tiles),
        html.Div(id=Id.VIDEO_SHOTS, className="vid-shots photos"),
        html.Div(id=Id.VIDEO_ACK, hidden=True),
    ])


def stores() -> list:
    """The cameras of the open case (for ``video.js``) and the evidence list's version."""
    return [dcc.Store(id=Id.VIDEO_CAMS), dcc.Store(id=Id.VIDEO_VER)]


def register_video(app: Dash, data: ConsoleData, console_actor) -> None:  # noqa: ANN001
    """The callbacks: the open case's cameras (scoped), its evidence list, and the clientside
    piece that plays them (``window.dash_clientside.onemapVideo.show``)."""

    @app.callback(Output(Id.VIDEO_CAMS, "data"), Output(Id.VIDEO_BOX, "hidden"),
                  Input(Id.SEL, "data"))
    def cameras(sel):
        actor = console_actor()
        if not sel:
            return None, True
        with guarded(sel):
            inc = data.service.get(sel, actor)
        cams = watchable_cameras(data, actor, inc.lon, inc.lat)
        if not cams:
            return None, True
        # no gateway running (its status key lapses within 10 s): say so, start no player
        up = bool(data.redis.exists(vkeys.GATEWAY))
        return {"case": inc.id, "cameras": cams, "wall": hall_refusal(actor) is None,   # 上墙 (video_wall)
                "gateway": up}, False

    @app.callback(Output(Id.VIDEO_SHOTS, "children"), Output(Id.VIDEO_VER, "data"),
                  Input(Id.SEL, "data"), Input(Id.FEED_LAST, "data"), Input(Id.REV, "data"),
                  State(Id.VIDEO_VER, "data"))
    def shots(sel, _feed, _rev, seen):
        actor = console_actor()
        if not sel:
            return [], None
        with guarded(sel):
            inc = data.service.get(sel, actor)
            ver = f"{inc.id}:{inc.version}"
            if ver == seen:
                return no_update, no_update
            trail = data.service.timeline(sel, actor)
        return evidence_list(evidence_items(data, trail)), ver

    app.clientside_callback(ClientsideFunction(namespace="onemapVideo", function_name="show"),
                            Output(Id.VIDEO_ACK, "children"), Input(Id.VIDEO_CAMS, "data"))
