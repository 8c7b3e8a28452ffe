"""What a wall screen shows, Dash-free: the query string (``?theme=``, ``?town=``, ``?focus=``)
and the map's view fitted to the screen the browser measured (M1/M3: one wall, any size)."""

from __future__ import annotations

from urllib.parse import parse_qs

from app.context import AppContext
from layers import basemap, compose
from layers.themes import THEMES, get_theme, next_theme

ROTATE_S = 60             # theme rotation period on the wall (轮播), seconds; demo default
MAP_W, MAP_H = 0.55, 0.72   # share of the viewport the map box gets, when not measured


def theme_from(search: str | None, n_rotate: int | None) -> tuple[str, bool]:
    """(theme code, pinned): ``?theme=`` pins a theme; otherwise rotate every ROTATE_S."""
    q = parse_qs((search or "").lstrip("?"))
    asked = (q.get("theme") or [""])[0]
    if asked:
        return get_theme(asked).code, True
    code = "overview"
    for _ in range(int(n_rotate or 0) % len(THEMES)):
        code = next_theme(code).code
    return code, False


def focus_from(search: str | None) -> bool:
    """``?focus=situation`` (or ``?focus=1``): the wall zooms to the active situation."""
    asked = (parse_qs((search or "").lstrip("?")).get("focus") or [""])[0]
    return asked.lower() in ("situation", "1", "true", "态势")


def town_code_from(ctx: AppContext, search: str | None) -> str | None:
    """``?town=<code or name>``: a wall screen focused on one town/street (镇街), else None."""
    asked = (parse_qs((search or "").lstrip("?")).get("town") or [""])[0]
    if not asked:
        return None
    towns = ctx.city.towns
    hit = towns[(towns["code"] == asked) | (towns["name"] == asked)]
    return str(hit["code"].iloc[0]) if len(hit) else None


def screen_px(value: object, default: int) -> int:
    """A size the browser measured (px), or ``default`` when it is not a sane one (a crafted
    request: never a 500)."""
    try:
        px = int(value or default)
    except (TypeError, ValueError, OverflowError):
        return default
    return px if 50 <= px <= 20000 else default


def view_for(ctx: AppContext, screen: dict | None, town: str | None = None,
             focus: tuple[float, float, float, float] | None = None) -> compose.View:
    """Fit the city (or one town, or the ``focus`` bounds: a situation) into the map area of
    this screen; dots scale with the height. Zoomed in on a town or a situation the map draws
    raw points and cameras' fields of view."""
    screen = screen if isinstance(screen, dict) else {}
    w = screen_px(screen.get("w"), 1920)
    h = screen_px(screen.get("h"), 1080)
    mw = screen_px(screen.get("mw"), int(w * MAP_W))    # the map box as measured in the browser
    mh = screen_px(screen.get("mh"), int(h * MAP_H))
    bounds = ctx.city.boundary.bounds
    if town is not None:
        bounds = ctx.city.towns.loc[ctx.city.towns["code"] == town].total_bounds
    if focus is not None:
        bounds = focus
    zoomed = town is not None or focus is not None
    center, zoom = basemap.fit_view(tuple(bounds), mw, mh, padding=0.08 if focus else 0.03)
    return compose.View(center, zoom, ctx.settings.tile_url, ctx.settings.tile_crs,
                        size_scale=max(1.0, h / 1080),
                        bbox=tuple(float(b) for b in bounds) if zoomed else None)
