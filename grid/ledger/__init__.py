"""The grid worker's ledger (辖区对象花名册, G8, E2/G6 人-房-单位 per cell; issue 24): registers of
people, houses/buildings and units, each row in one grid cell of the city model.

``model``: the registers' columns and the vectorised validation of a file's rows (pure, pandas);
``store``: the PostgreSQL side (COPY into a staging table, validated INSERT … SELECT, one
transaction; the cell roster; export), given a psycopg connection by ``app``;
``visits``: 走访/服务记录 against a patrol task (migration 0005, idempotent by the phone's id).
"""

from grid.ledger.model import KINDS, REGISTERS, ImportReport, Register, Rejection

__all__ = ["KINDS", "REGISTERS", "ImportReport", "Register", "Rejection"]
