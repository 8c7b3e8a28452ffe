"""The ledger's composition (辖区对象花名册, G8; issue 24): the PostgreSQL connection, the reader's
scope, masking and the audit of unmasked reads.

- Scope (S1/S2): a grid worker reads their own cell only; a town's roles (镇街值班员, a town's
  监督核查员) their town's cells; the city's readers (市指挥长, 市值班员, a city 监督核查员) every
  cell. Departments, admins and everyone else: none (the register is the 块's, not the 条's).
  A refusal is 403 and audited (``app.auth.deny``).
- Masking (SEC18): ID number, phone and name masked by ``incidents.masking`` for every role
  without ``sees_personal_data`` (a grid worker sees 张*, 440981********123X, 138****5678).
- Audit (SEC9): every read that returns unmasked personal fields writes one security-audit
  entry (``ledger_read``: who, which cell, how many records).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import psycopg
import redis

from app import security
from grid import centers as cc
from grid.ledger import REGISTERS, store
from grid.model import City
from incidents import masking
from incidents.actor import Actor
from incidents.roles import CITY_READERS

AUDIT_EVENT = "ledger_read"


@dataclass
class Ledger:
    """The registers of one city in one PostgreSQL (``connect`` opens a connection)."""

    connect: Callable[[], psycopg.Connection]
    city: City
    redis: redis.Redis

    @cached_property
    def cell_towns(self) -> dict[str, str]:
        """Cell code → town code, from the city model (the import's check)."""
        return dict(zip(self.city.cells["code"].astype(str), self.city.cells["town_code"].astype(str),
                        strict=True))

    def import_file(self, path, kind: str | None = None):  # noqa: ANN001, ANN201 (Path → ImportReport)
        with self.connect() as conn:
            return store.import_file(conn, path, self.cell_towns, kind=kind,
                                     bounds=tuple(self.city.boundary.bounds))

    def roster(self, actor: Actor, cell: str, path: str = "", kind: str = "people") -> list[dict]:
        """The ``kind`` register's rows in ``cell`` (people: the 花名册) as ``actor`` may read
        them: PermissionError (the reason) out of scope; personal fields masked for a role
        without personal data; a read returning them unmasked audited (houses have none)."""
        reason = may_read_cell(actor, cell, self.cell_towns)
        if reason:
            raise PermissionError(reason)
        with self.connect() as conn:
            rows = store.in_cell(conn, kind, cell)
        if not masking.sees(actor.role):
            return [MASKS[kind](r) for r in rows]
        if rows and kind != "houses":
            security.audit(self.redis, AUDIT_EVENT, user=actor.user_id, role=actor.role,
                           center=actor.center, path=path, target=cell,
                           reason=f"未脱敏读取{REGISTERS[kind].cn} {len(rows)} 条")
        return rows


def mask_person(row: dict) -> dict:
    """A person's row with name, ID number and phone masked (``incidents.masking``)."""
    out = dict(row)
    out["name"] = masking.name(out.get("name") or "")
    out["id_number"] = masking.id_number(out.get("id_number") or "")
    out["phone"] = masking.phones(out.get("phone") or "")
    return out


def mask_unit(row: dict) -> dict:
    """A unit's row with its phone masked."""
    return dict(row, phone=masking.phones(row.get("phone") or ""))


MASKS: dict[str, Callable[[dict], dict]] = {"people": mask_person, "units": mask_unit,
                                            "houses": lambda r: r}


def may_read_cell(actor: Actor, cell: str, cell_towns: dict[str, str]) -> str | None:
    """None when ``actor`` may read the registers of ``cell``, else why not (S1/S2)."""
    town = cell_towns.get(cell)
    if town is None:
        return "网格编码不在本市城市模型中 (no such cell)"
    if actor.role == "grid_worker":
        return None if actor.cell == cell else "网格员只能查看本网格的花名册 (own cell only)"
    if actor.role in CITY_READERS or (actor.role == "supervisor" and actor.is_city):
        return None
    if actor.role in ("town_operator", "supervisor") and cc.town_of(actor.center) == town:
        return None
    return f"不在 {actor.center} 的管辖范围内 (outside the scope of {actor.center})"


def attach(ctx, url: str) -> Ledger:  # noqa: ANN001 (app.context.AppContext)
    """Give the process's context its ledger over the record at ``url``."""
    from app.pg import connector  # noqa: PLC0415

    led = ctx.__dict__["ledger"] = Ledger(connector(url, "onemap-ledger"), ctx.city, ctx.redis)
    return led


def ledger_of(ctx) -> Ledger | None:  # noqa: ANN001
    """The context's ledger (None: no record in this process)."""
    return ctx.__dict__.get("ledger")


__all__ = ["AUDIT_EVENT", "MASKS", "Ledger", "attach", "ledger_of", "mask_person", "mask_unit",
           "may_read_cell"]
