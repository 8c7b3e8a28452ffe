"""A kind is one file: sensors/kinds/ is discovered, and nothing outside it switches on a kind."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import sensors.kinds
from sensors.kinds import CAMERA, KINDS
from sensors.placement import STRATEGIES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "layers", "sensors", "incidents", "grid")


def test_every_module_of_the_package_is_a_kind_and_every_placement_is_known():
    modules = {m.name for m in pkgutil.iter_modules(sensors.kinds.__path__)} - {"base"}
    assert {k.name for k in (*KINDS.values(), CAMERA)} == modules
    for k in KINDS.values():
        assert k.placement in STRATEGIES, k.name
        assert k.short and k.order


def test_no_code_outside_sensors_kinds_switches_on_a_kind_name():
    # "fire" is also a simulator scenario's name (flood | fire | outage), so it is not checked;
    # a kind name used as a dict key ("bridge": …) is data, not a switch
    names = sorted(set(KINDS) - {"fire"})
    pattern = re.compile(rf"[\"']({'|'.join(names)})[\"'](?!\s*:)")
    hits = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if (ROOT / "sensors" / "kinds") in path.parents:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line.split("#", 1)[0]):
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert hits == []
