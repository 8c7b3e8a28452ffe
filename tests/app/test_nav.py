"""导航 (issue 21): every signed-in screen links to the other screens its user may open, read from
the role table (incidents.roles), so a supervisor landing on /analytics reaches the console."""

from __future__ import annotations

import json

import pytest

from app.screens.nav import SCREENS, links, nav_html
from incidents.roles import ROLE_TABLE, home
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401

PATHS = {s: path for s, path, _name in SCREENS}


@pytest.mark.parametrize("role", [r.value for r in ROLE_TABLE])
def test_the_links_are_the_role_tables_screens(role):
    spec = ROLE_TABLE[next(r for r in ROLE_TABLE if r.value == role)]
    for current in PATHS:
        got = {s for s, _path, _name in links(role, current)}
        assert got == set(spec.screens) - {current}
    # from its landing screen, every other screen the role may open is one click away
    landing = home(role).strip("/")
    assert {s for s, _p, _n in links(role, landing)} == set(spec.screens) - {landing}


def test_every_screen_of_the_table_has_a_name_and_path():
    named = set(PATHS)
    assert set().union(*(s.screens for s in ROLE_TABLE.values())) <= named
    assert all(path == f"/{s}/" for s, path in PATHS.items())
    assert links(None, "console") == [] and links("nobody", "console") == []


def test_the_phone_bar_leaves_out_the_wall_and_a_grid_worker_has_none():
    assert nav_html("grid_worker", "m", skip=("wall",)) == ""
    bar = nav_html("city_operator", "m", skip=("wall",))
    assert 'href="/console/"' in bar and 'href="/analytics/"' in bar and "/wall/" not in bar


def _hrefs(layout: dict) -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Nav" and "screen-nav" in str(node.get("props", {}).get("className")):
                found.add("nav")
            href = node.get("props", {}).get("href") if "props" in node else None
            if isinstance(href, str):
                found.add(href)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(layout)
    return found


def test_each_screen_shows_the_users_other_screens(web, accounts):  # noqa: F811
    # the supervisor lands on /analytics and may open the console: a link there (issue 21)
    c = web.test_client()
    login(c, "supervisor")
    hrefs = _hrefs(json.loads(c.get("/analytics/_dash-layout").get_data(as_text=True)))
    assert {"/console/", "/wall/"} <= hrefs and "/ops/" not in hrefs
    # a town operator's console: the wall and its own figures
    c = web.test_client()
    login(c, "panzhou")
    hrefs = _hrefs(json.loads(c.get("/console/_dash-layout").get_data(as_text=True)))
    assert {"nav", "/wall/", "/analytics/"} <= hrefs and "/ops/" not in hrefs and "/m/" not in hrefs
    # the administrator's /ops
    c = web.test_client()
    login(c, "admin")
    hrefs = _hrefs(json.loads(c.get("/ops/_dash-layout").get_data(as_text=True)))
    assert {"nav", "/wall/", "/analytics/"} <= hrefs and "/console/" not in hrefs
    # the phone: the city operator's other desks; a grid worker's header has none
    c = web.test_client()
    login(c, "ops")
    page = c.get("/m/").get_data(as_text=True)
    assert 'class="screen-nav"' in page and 'href="/console/"' in page
    worker = next(u for u, a in accounts.items() if a["role"] == "grid_worker")
    c = web.test_client()
    login(c, worker)
    assert 'class="screen-nav"' not in c.get("/m/").get_data(as_text=True)
