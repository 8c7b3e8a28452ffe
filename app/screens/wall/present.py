"""The wall's small Dash pieces built from data: the ticker's lines and the map's legend."""

from __future__ import annotations

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


def initial_ticker(ctx: AppContext, scope: WallScope | None = None) -> list:
    """The ticker at page load (``data.recent_ticker``, of ``scope`` when given), newest first."""
    return [ticker_line(t, False) for t in recent_ticker(ctx, scope)]


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
