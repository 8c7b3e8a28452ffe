"""Fixtures for incident tests: a service on the real private redis-server, a hand-driven clock,
and actors of every role in a known town."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from incidents.actor import Actor
from incidents.service import IncidentService

T0 = 1_795_000_000.0   # 2026-11-19, a fixed start so tests never depend on wall time


class Clock:
    """An injectable clock the test moves by hand (no sleeping)."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Place:
    """A point inside a grid cell, with its chain."""

    lon: float
    lat: float
    cell: str
    town: str
    worker: str


def point_in(city, i: int) -> Place:
    row = city.cells.iloc[i]
    p = row.geometry.representative_point()
    return Place(float(p.x), float(p.y), str(row["code"]), str(row["town_code"]), str(row["worker_id"]))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(redis_client, demo_city, clock) -> IncidentService:
    return IncidentService(redis_client, demo_city, clock=clock)


@pytest.fixture
def here(demo_city) -> Place:
    return point_in(demo_city, 100)


@pytest.fixture
def elsewhere(demo_city, here) -> Place:
    """A point in another town."""
    for i in range(len(demo_city.cells) - 1, 0, -1):
        p = point_in(demo_city, i)
        if p.town != here.town:
            return p
    raise AssertionError("demo city has one town only")


class Actors:
    def __init__(self, here: Place, elsewhere: Place) -> None:
        t, o = f"T{here.town}", f"T{elsewhere.town}"
        self.worker = Actor(here.worker, "grid_worker", t, "网格员甲", cell=here.cell)
        self.other_worker = Actor(elsewhere.worker, "grid_worker", o, "网格员乙", cell=elsewhere.cell)
        self.town = Actor("town-op", "town_operator", t, "镇值班员")
        self.other_town = Actor("other-town-op", "town_operator", o, "外镇值班员")
        self.town_sup = Actor("town-sup", "supervisor", t, "镇核查员")
        self.cg = Actor("cg-op", "dept_operator", "DCG", "城管值班员")
        self.zj = Actor("zj-op", "dept_operator", "DZJ", "住建值班员")
        self.ga = Actor("ga-op", "dept_operator", "DGA", "公安值班员")
        self.rx = Actor("rx-op", "dept_operator", "DRX", "热线值班员")
        self.city = Actor("city-op", "city_operator", "CITY", "市值班员")
        self.commander = Actor("boss", "city_commander", "CITY", "市指挥长")
        self.city_sup = Actor("city-sup", "supervisor", "CITY", "市核查员")
        self.wall = Actor("wall", "wall_viewer", "CITY", "大屏")
        self.admin = Actor("admin", "admin", "CITY", "管理员")


@pytest.fixture
def who(here, elsewhere) -> Actors:
    return Actors(here, elsewhere)
