"""导航: the links from one screen to the others its user may open, from the role table
(``incidents.roles``: each role's ``screens``), so no screen keeps a list of roles of its own
(issue 21: a supervisor landing on /analytics had no way to the console).

Every signed-in screen shows the same bar: the console, /analytics and /ops as Dash components
(``nav_bar``), the phone as HTML (``nav_html``; without the wall: a video wall's page is no use on
a phone). The wall is a kiosk (no one signed in there, no bar).
"""

from __future__ import annotations

import html as _html

from incidents.roles import ROLE_TABLE, Role

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("console", "/console/", "工作台"),
    ("wall", "/wall/", "大屏"),
    ("analytics", "/analytics/", "考核评价"),
    ("replay", "/replay/", "复盘"),
    ("m", "/m/", "手机端"),
    ("ops", "/ops/", "运维"),
)
"""(screen, path, name) in the bar's order; a screen is the first path segment the role table's
``screens`` name (``incidents.roles``); its name is the glossary's (docs/glossary.md)."""

SCREEN_NAMES: dict[str, str] = {s: name for s, _path, name in SCREENS}


def links(role: str | None, current: str | None = None,
          skip: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(screen, path, name) of every screen ``role`` may open, but ``current`` and ``skip``; none
    for no role or an unknown one."""
    try:
        allowed = ROLE_TABLE[Role(role)].screens if role else frozenset()
    except ValueError:
        return []
    return [(s, path, name) for s, path, name in SCREENS
            if s in allowed and s != current and s not in skip]


def nav_bar(role: str | None, current: str, class_name: str = "screen-nav"):  # noqa: ANN201
    """The bar as a Dash ``html.Nav`` (one ``html.A`` per screen, ``data-screen`` naming it)."""
    from dash import html  # noqa: PLC0415  (Dash only where a Dash screen builds its page)

    return html.Nav([html.A(name, href=path, className="btn", **{"data-screen": s})
                     for s, path, name in links(role, current)],
                    className=class_name, **{"aria-label": "切换屏幕"})


def nav_html(role: str | None, current: str, class_name: str = "screen-nav",
             skip: tuple[str, ...] = ()) -> str:
    """The bar as HTML (the phone's page is not Dash); '' when there is nowhere to go."""
    items = "".join(f'<a href="{_html.escape(path)}" data-screen="{s}">{_html.escape(name)}</a>'
                    for s, path, name in links(role, current, skip))
    return f'<nav class="{class_name}" aria-label="切换屏幕">{items}</nav>' if items else ""
