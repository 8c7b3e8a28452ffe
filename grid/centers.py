"""Center codes (指挥中心编码), parsed in one place.

A handler or owner of a case is named by one string: ``CITY`` (市城运中心), ``T<town code>`` (镇街
分中心), ``D<dept code>`` (部门分中心) or ``W<cell code>`` (a grid cell's grid worker, 网格员). Code
asks ``CenterCode.parse(code)`` (or the small helpers below) instead of slicing strings by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grid.model import CITY_CENTER

Kind = Literal["city", "town", "dept", "worker"]
_PREFIX: dict[str, Kind] = {"T": "town", "D": "dept", "W": "worker"}


@dataclass(frozen=True)
class CenterCode:
    """One parsed center code: ``kind`` and the code it carries (``local``: town, dept or cell)."""

    kind: Kind
    local: str = ""

    @classmethod
    def parse(cls, code: str) -> CenterCode:
        """``CITY`` / ``T…`` / ``D…`` / ``W…`` → CenterCode; ValueError for anything else."""
        if code == CITY_CENTER:
            return cls("city")
        kind = _PREFIX.get(code[:1])
        if kind is None or len(code) < 2:
            raise ValueError(f"不是中心编码 {code!r}（CITY、T…、D…、W…） (not a center code)")
        return cls(kind, code[1:])

    def __str__(self) -> str:
        if self.kind == "city":
            return CITY_CENTER
        return {"town": "T", "dept": "D", "worker": "W"}[self.kind] + self.local

    @property
    def town(self) -> str | None:
        """The town code of a town center (a worker's town needs the city's cells: ``City``)."""
        return self.local if self.kind == "town" else None

    @property
    def dept(self) -> str | None:
        return self.local if self.kind == "dept" else None

    @property
    def cell(self) -> str | None:
        return self.local if self.kind == "worker" else None


def kind_of(code: str) -> Kind | None:
    """The kind of a center code, None when it is none."""
    try:
        return CenterCode.parse(code).kind
    except ValueError:
        return None


def is_town(code: str) -> bool:
    return kind_of(code) == "town"


def is_dept(code: str) -> bool:
    return kind_of(code) == "dept"


def is_worker(code: str) -> bool:
    return kind_of(code) == "worker"


def town_of(code: str) -> str | None:
    """The town code of ``T<town>``; None for any other code."""
    return code[1:] if is_town(code) else None


def dept_of(code: str) -> str | None:
    """The department code of ``D<dept>``; None for any other code."""
    return code[1:] if is_dept(code) else None


def cell_of(code: str) -> str | None:
    """The grid cell code of ``W<cell>``; None for any other code."""
    return code[1:] if is_worker(code) else None


def worker_code(cell: str) -> str:
    """The handler code of a cell's grid worker."""
    return f"W{cell}"
