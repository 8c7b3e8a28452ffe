"""Redis key names of the emergency resource register (应急资源, X15/X18) and its dispatch
(一键调度, X19/X23): the one home of every ``om:res:`` key (issue 16);
``om:{<city>}:res:`` on a tagged keyspace (grid/keyspace.py). ``grid.resources`` keeps
the register; ``incidents.emergency.dispatch`` commits resources to incidents and responses.

- ``om:res:ids``                 set: every resource id of the register
- ``om:res:demo``                set: the generated demo resources (labelled demo)
- ``om:res:item:{rid}``          hash: one resource: ``doc`` (its record, JSON), ``cat``
                                 (team/material/shelter/expert), ``owner``, ``town``, ``demo``;
                                 a team's/expert's ``state`` (available or its assignment's state)
                                 and ``asg`` (its open assignment); a material's ``total`` and
                                 ``avail`` (quantities: total = avail + every open assignment's)
- ``om:res:import:log``          stream: imports (who, when, how many, which file)
- ``om:res:asg:seq``             counter for assignment ids (``A…``)
- ``om:res:asg:{aid}``           hash: one assignment (调派): resource, quantity, incident,
                                 response, state, who and when of each step, last position
- ``om:res:asg:{aid}:log``       stream: the assignment's steps (who, when, from → to)
- ``om:res:asg:open``            zset: assignments not released → dispatch ts
- ``om:res:asg:all``             zset: every assignment → dispatch ts
- ``om:res:asg:inc:{id}``        zset: assignments for an incident → ts
- ``om:res:asg:resp:{aid}``      zset: assignments for a response (应急响应) → ts
- ``om:res:idem:{user}:{key}``   string: a dispatch click's idempotency key → its assignment
"""

from __future__ import annotations

from grid import keyspace as _ks


def item(rid: str) -> str:
    return f"{_ks.city()}res:item:{rid}"


def assignment(aid: str) -> str:
    return f"{_ks.city()}res:asg:{aid}"


def assignment_log(aid: str) -> str:
    return f"{_ks.city()}res:asg:{aid}:log"


def by_incident(incident_id: str) -> str:
    return f"{_ks.city()}res:asg:inc:{incident_id}"


def by_response(response_id: str) -> str:
    return f"{_ks.city()}res:asg:resp:{response_id}"


def idem(user_id: str, key: str) -> str:
    return f"{_ks.city()}res:idem:{user_id}:{key}"


_CITY_NAMES = {
    "PREFIX": "res:",
    "IDS": "res:ids",
    "DEMO": "res:demo",
    "IMPORT_LOG": "res:import:log",
    "ASG_SEQ": "res:asg:seq",
    "ASG_OPEN": "res:asg:open",
    "ASG_ALL": "res:asg:all",
}
__getattr__ = _ks.lazy_names(globals(), _CITY_NAMES)
