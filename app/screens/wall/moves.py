"""调派力量 on the wall's map (issue 16, X28 "forces moved … on one map"): the teams committed to
the active response drawn where their responders' phones last reported them, with their state
(已调派 / 在途 / 到场) and a line to the scene (``layers.response_moves``).

The positions reach Redis through the phone (``POST /m/api/dispatches/<id>/position``, the
responder role 救援队员: ``ResourceDispatch.update_position``). The 应急专题 callback re-reads the
response on a push or a poll and changes ``Id.RESPONSE_SIG`` when anything it shows changed, the
teams' positions included (``response_theme.signature``); this callback then patches the two
traces' coordinates into the figure on show (found by index: ``mv_trace`` in ``Id.THEME``),
and again after the map is rebuilt (a theme change), without rebuilding the map.
"""

from __future__ import annotations

from collections.abc import Callable

from dash import Dash, Input, Output, Patch
from dash.exceptions import PreventUpdate

from app.screens.wall import response_theme
from app.screens.wall.ids import Id
from layers.response_moves import LINES, TEAMS, trace_data


def trace_indices(mf_index: dict[str, int]) -> list[int | None]:
    """The two traces' indices in a composed figure (``MapFigure.index``), for ``Id.THEME``."""
    return [mf_index.get(LINES), mf_index.get(TEAMS)]


def patch_for(moves: list[dict], indices: object, tile_crs: str = "wgs84") -> Patch:
    """The figure patch that draws ``moves`` into the traces at ``indices`` (checked: two ints)."""
    if not (isinstance(indices, list) and len(indices) == 2
            and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 1000 for i in indices)):
        raise PreventUpdate
    fig = Patch()
    for i, (_meta, parts) in zip(indices, trace_data(moves, tile_crs).items(), strict=True):
        for k, v in parts.items():
            if k == "marker.color":
                fig["data"][i]["marker"]["color"] = v
            else:
                fig["data"][i][k] = v
    return fig


def register_moves(app: Dash, ctx, who: Callable, responses: Callable[[], tuple]) -> None:  # noqa: ANN001
    """The callback that keeps ``layers.response_moves`` on the wall's map current."""

    @app.callback(Output(Id.MAP, "figure", allow_duplicate=True),
                  Input(Id.RESPONSE_SIG, "data"), Input(Id.THEME, "data"),
                  prevent_initial_call=True)
    def response_moves(_sig, theme):  # noqa: ANN001, ANN202
        actor = who()
        if not isinstance(theme, dict):
            raise PreventUpdate
        s = response_theme.summary(*responses(), ctx.incidents, ctx.city, actor)
        return patch_for(s["moves"] if s else [], theme.get("mv_trace"),
                         str(theme.get("tile_crs") or "wgs84"))


__all__ = ["patch_for", "register_moves", "trace_indices"]
