"""Fixtures for the layer tests: the demo city and device frames in the registry's shape."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.fixtures import synthetic


@pytest.fixture(scope="session")
def sensors_df(demo_city) -> pd.DataFrame:
    return synthetic.sensors_frame(demo_city, 2000)


@pytest.fixture(scope="session")
def cameras_df(demo_city) -> pd.DataFrame:
    return synthetic.cameras_frame(demo_city, 1500)


@pytest.fixture
def incidents_df(demo_city) -> pd.DataFrame:
    """Open incidents in the columns of IncidentService.open_incidents_frame."""
    t = demo_city.towns.iloc[:4]
    pts = t.geometry.representative_point()
    return pd.DataFrame({
        "id": ["E1", "E2", "E3", "E4"], "state": ["reported", "dispatched", "closed", "in_progress"],
        "center": ["CITY", f"T{t['code'].iloc[1]}", "DCG", "DSL"],
        "category": ["0401", "0101", "0101", "0306"], "severity": ["重大", "一般", "一般", "较大"],
        "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy(), "town_code": t["code"].to_numpy(),
        "overdue": [True, False, False, False]})
