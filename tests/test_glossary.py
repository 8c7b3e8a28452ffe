"""docs/glossary.md cannot drift from the code (issue 21: one Chinese term per concept): it is
what ``app.glossary.render`` writes from incidents.vocab, incidents.roles, the screens and the
levels, and those agree with the places that use the words."""

from __future__ import annotations

from collections import Counter
from typing import get_args

from app.glossary import CENTER_KINDS, HOMONYMS, PATH, QUEUE_VIEWS, render
from grid.centers import Kind
from incidents.roles import ROLE_TABLE, screen_roles
from incidents.vocab import Action, Channel, State, TaskState


def test_the_glossary_is_what_the_code_says():
    assert PATH.read_text(encoding="utf-8") == render(), \
        "docs/glossary.md differs from the code: run `python -m app.glossary` and commit it"


def test_every_word_of_the_code_is_in_it():
    text = PATH.read_text(encoding="utf-8")
    for enum in (State, TaskState, Action, Channel):
        for m in enum:
            assert f"| {m.cn} | `{m.value}` |" in text, (enum.__name__, m.value)
    for role, spec in ROLE_TABLE.items():
        assert f"| {spec.cn} | `{role.value}` |" in text
    assert set(CENTER_KINDS) == set(get_args(Kind))


def test_one_term_per_concept():
    for enum in (State, TaskState, Channel):
        names = Counter(m.cn for m in enum)
        assert [n for n, k in names.items() if k > 1] == [], enum.__name__
    shared = {n for n, k in Counter(m.cn for m in Action).items() if k > 1}
    assert shared <= set(HOMONYMS), shared - set(HOMONYMS)
    assert len({s.cn for s in ROLE_TABLE.values()}) == len(ROLE_TABLE)


def test_the_screens_and_queue_tabs_are_the_ones_the_code_uses():
    from app.screens.console.model import VIEWS
    from app.screens.nav import SCREEN_NAMES

    assert set(screen_roles()) <= set(SCREEN_NAMES)
    assert [(v, cn) for v, cn, _what in QUEUE_VIEWS] == list(VIEWS)
