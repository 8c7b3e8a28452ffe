"""The wall's component ids come from one enum (issue 14, house-plan §9.3): the layout names no
other id, and every element id ``assets/wall/*.js`` reaches for is a member, so a renamed id
fails here instead of leaving a push or a patch that never arrives."""

from __future__ import annotations

import re

from app.config import ASSETS_DIR
from app.screens.wall.ids import Id, kpi_tile, kpi_value
from app.screens.wall.layout import KPI_TILES, layout
from layers.themes import KPI_KEYS


def _ids(component) -> list[str]:  # noqa: ANN001 (a Dash component)
    out = [component.id] if getattr(component, "id", None) is not None else []
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            out += _ids(child)
    return out


def test_the_layout_names_only_enum_ids():
    ids = _ids(layout())
    kpis = {kpi_value(cid) for _t, cells in KPI_TILES.values() for cid, _l, _c in cells}
    tiles = {kpi_tile(k) for k in KPI_KEYS}
    assert len(ids) == len(set(ids))                       # one element per id
    assert set(ids) == {str(i) for i in Id} | kpis | tiles
    assert all(i.startswith("wall-") for i in ids)         # one server carries every screen


def test_the_browser_scripts_reach_only_enum_ids():
    """wall.js and live.js name elements by these strings (getElementById, a selector, set_props,
    a callback's trigger, live.js's store/poll/watch)."""
    wanted = set()
    for js in ("wall.js", "live.js"):
        text = (ASSETS_DIR / "wall" / js).read_text(encoding="utf-8")
        code = "\n".join(line for line in text.splitlines()
                         if not line.lstrip().startswith(("*", "//", "/*")))
        wanted |= set(re.findall(r"[\"'#](wall-[a-z-]+)", code))
    assert {"wall-push", "wall-poll", "wall-map", "wall-ready", "wall-delta"} <= wanted
    assert wanted <= {str(i) for i in Id}


def test_the_data_model_is_dash_free():
    """data.py and view.py (webviz's ``_business_logic.py``) import neither Dash nor plotly:
    they are read and tested without a page."""
    import ast  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import app.screens.wall as pkg  # noqa: PLC0415

    for name in ("data.py", "view.py"):
        tree = ast.parse((Path(pkg.__file__).parent / name).read_text(encoding="utf-8"))
        mods = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        mods += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in mods if m.split(".")[0] in ("dash", "plotly", "flask")], name
