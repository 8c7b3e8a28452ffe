"""Actor: who does an action, in which role, for which center (the subject of every scope check).

The roles, what each may see and do, and their Chinese names: ``incidents.roles`` (one table).
"""

from __future__ import annotations

from dataclasses import dataclass

from grid.model import CITY_CENTER
from incidents.roles import ROLE_NAMES, ROLES, Role

__all__ = ["ROLES", "ROLE_NAMES", "SYSTEM", "Actor", "Role"]


@dataclass(frozen=True)
class Actor:
    """The subject of an action: a user in a role at a center."""

    user_id: str
    role: str                   # an incidents.roles.Role value
    center: str                 # CITY, T<town code>, D<dept code>
    name: str = ""
    cell: str | None = None     # grid workers: their own grid cell code
    city: str = ""              # several cities in one deployment: the city's keyspace tag
                                # (grid/keyspace.py; incidents/cities.py); "*" the prefecture

    @property
    def is_city(self) -> bool:
        return self.center == CITY_CENTER


SYSTEM = Actor("system", "city_operator", "CITY", "系统")
