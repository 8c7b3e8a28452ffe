"""Configuration a deployment changes (issue 14): the TOML file named by ONEMAP_CONFIG reaches the
running service; unknown keys and bad values stop a process at start, naming the key; the
category tree and department list come from files; ``onemap config show`` names each source."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.config import ConfigError, Settings, load_settings
from app.context import AppContext
from grid import categories
from incidents.actor import Actor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No ONEMAP_* of the caller's shell leaks into these tests; the demo tree is put back."""
    for k in list(os.environ):
        if k.startswith("ONEMAP_") and k != "ONEMAP_TEST_CITY_DIR":
            monkeypatch.delenv(k)
    yield
    categories.install_categories(categories.DEMO_CATEGORIES)


def _toml(tmp_path: Path, text: str, name: str = "onemap.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _worker(city) -> tuple[Actor, float, float]:
    row = city.cells.iloc[100]
    p = row.geometry.representative_point()
    return (Actor(str(row["worker_id"]), "grid_worker", f"T{row['town_code']}", "网格员",
                  cell=str(row["code"])), float(p.x), float(p.y))


# --- the [incidents] table reaches the running service -------------------------------------------

def test_a_toml_deadline_changes_the_deadline_the_running_service_applies(
        redis_service, redis_client, demo_city_dir, tmp_path, monkeypatch):
    default_accept = Settings().incident_config.stage_limit("accept", "0108", "一般")
    assert default_accept != 42
    monkeypatch.setenv("ONEMAP_CONFIG", str(_toml(tmp_path, """
[incidents]
stage_seconds = { accept = { "一般" = 42 } }
""")))
    monkeypatch.setenv("ONEMAP_CITY_DIR", str(demo_city_dir))
    ctx = AppContext(load_settings(), redis_service.url)
    worker, lon, lat = _worker(ctx.city)
    inc = ctx.incidents.report(worker, "0108", lon, lat, description="井盖松动")
    stored = ctx.incidents.get(inc.id, worker)
    assert stored.stage == "accept"
    assert stored.due_ts - stored.stage_ts == pytest.approx(42)

    monkeypatch.delenv("ONEMAP_CONFIG")          # the same report without the file: the default
    ctx = AppContext(load_settings(), redis_service.url)
    inc = ctx.incidents.report(worker, "0108", lon, lat + 0.01, description="另一处",
                               correlate=False)
    stored = ctx.incidents.get(inc.id, worker)
    assert stored.due_ts - stored.stage_ts == pytest.approx(default_accept)


def test_the_incidents_table_may_come_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("ONEMAP_INCIDENTS", json.dumps({"routing_rules": [
        {"prefix": "0108", "owner": "line"}], "escalate_after_fraction": 1.0}))
    cfg = load_settings().incident_config
    assert cfg.rule_for("0108").owner == "line" and cfg.escalate_after_fraction == 1.0


# --- a bad configuration stops the process at start, naming the key --------------------------------

BAD_INCIDENT_KEY = """
[incidents]
stage_secnods = { accept = { "一般" = 42 } }
"""
BAD_TOP_LEVEL_KEY = """
prot = 8051
"""


@pytest.mark.parametrize(("cmd", "text", "key"), [
    ("web", BAD_INCIDENT_KEY, "incidents.stage_secnods"),
    ("dispatch", BAD_INCIDENT_KEY, "incidents.stage_secnods"),
    ("web", BAD_TOP_LEVEL_KEY, "prot"),
    ("dispatch", BAD_TOP_LEVEL_KEY, "prot"),
    ("ingest", BAD_INCIDENT_KEY, "incidents.stage_secnods"),
    ("demo", BAD_TOP_LEVEL_KEY, "prot"),
    ("ingest", "[sensors.thresholds.gas]\nlel = {bleu = 3}\n", "sensors.thresholds.gas.lel.bleu"),
    ("dispatch", '[incidents.stage_seconds.handle]\n"一般" = -5\n', "incidents.stage_seconds.handle.一般"),
])
def test_a_bad_key_stops_the_real_process_at_start_naming_it(tmp_path, demo_city_dir, cmd, text, key):
    """The real CLI in a subprocess. Redis and MQTT point at a closed port: the process must stop
    on the configuration before it needs either (and before `demo` starts its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env |= {"ONEMAP_CONFIG": str(_toml(tmp_path, text)), "ONEMAP_CITY_DIR": str(demo_city_dir),
            "ONEMAP_DATA_DIR": str(tmp_path / "var"), "ONEMAP_REDIS_URL": "redis://127.0.0.1:1/0",
            "ONEMAP_MQTT_URL": "mqtt://127.0.0.1:1"}
    proc = subprocess.run([sys.executable, "-m", "app.cli", cmd], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert key in proc.stderr, proc.stderr
    assert "配置错误" in proc.stderr and "configuration error" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "var" / "redis").exists()      # demo started nothing


def test_a_missing_config_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEMAP_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="nope.toml"):
        load_settings()
    monkeypatch.setenv("ONEMAP_CONFIG", str(_toml(tmp_path, "[incidents]\n一般 = 1\n")))
    with pytest.raises(ConfigError, match="TOML syntax error.*line 2"):
        load_settings()


def test_config_check_exits_0_when_valid_and_2_naming_the_key(tmp_path):
    good = _toml(tmp_path, "[incidents]\nwarn_before_fraction = 0.3\n", "good.toml")
    bad = _toml(tmp_path, "[incidents]\nwarn_before_fraction = 3\n", "bad.toml")
    ok = CliRunner().invoke(main, ["config", "check"], env={"ONEMAP_CONFIG": str(good)})
    assert ok.exit_code == 0, ok.output
    no = CliRunner().invoke(main, ["config", "check"], env={"ONEMAP_CONFIG": str(bad)})
    assert no.exit_code == 2 and "incidents.warn_before_fraction" in no.output


# --- onemap config show: the effective value and where it came from --------------------------------

def test_config_show_names_the_source_of_each_value(tmp_path):
    path = _toml(tmp_path, """
port = 8123
[incidents]
stage_seconds = { accept = { "一般" = 42 } }
[sensors.thresholds.gas]
lel = { blue = 18 }
""")
    res = CliRunner().invoke(main, ["config", "show", "--json"],
                             env={"ONEMAP_CONFIG": str(path), "ONEMAP_SIM_RATE": "7.5"})
    assert res.exit_code == 0, res.output
    rows = {r["key"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert rows["port"] == {"key": "port", "value": 8123, "source": f"toml {path}"}
    assert rows["sim_rate"] == {"key": "sim_rate", "value": 7.5, "source": "env ONEMAP_SIM_RATE"}
    assert rows["host"]["source"] == "default"
    assert rows["incidents.stage_seconds.accept.一般"]["value"] == 42
    assert rows["incidents.stage_seconds.accept.一般"]["source"] == f"toml {path}"
    assert rows["incidents.stage_seconds.accept.较大"]["source"].startswith("demo default")
    assert rows["sensors.thresholds.gas.lel"] == {
        "key": "sensors.thresholds.gas.lel", "value": [18.0, 20.0, 25.0, 50.0],
        "source": f"toml {path}"}
    assert rows["sensors.thresholds.gas.h2s"]["source"] == "demo default (sensors/kinds/gas.py)"
    assert rows["categories"]["source"] == "demo default (grid/categories.py)"
    text = CliRunner().invoke(main, ["config", "show"], env={"ONEMAP_CONFIG": str(path)}).stdout
    assert re.search(r"^port\s+= 8123\s+# toml ", text, re.M)


def test_every_setting_is_in_help_and_no_onemap_variable_bypasses_settings():
    help_text = CliRunner().invoke(main, ["--help"]).output
    for name in Settings.model_fields:
        assert f"ONEMAP_{name.upper()}" in help_text
    for var in ("ONEMAP_DEMO_FIRST_STORY_S", "ONEMAP_REDIS_SERVER", "ONEMAP_MOSQUITTO"):
        assert var in help_text
    stray = []
    for pkg in ("app", "incidents", "sensors", "layers", "grid"):
        for f in (ROOT / pkg).rglob("*.py"):
            if f.relative_to(ROOT).as_posix() in ("app/config.py", "app/commands/config.py"):
                continue
            if re.search(r"(environ\.get\(|environ\[|getenv\()\s*f?[\"']ONEMAP_",
                         f.read_text(encoding="utf-8")):
                stray.append(str(f.relative_to(ROOT)))
    assert stray == []


def test_the_binaries_of_the_private_services_come_from_settings(monkeypatch, tmp_path):
    from app.services import system_binary  # noqa: PLC0415

    monkeypatch.setenv("ONEMAP_REDIS_SERVER", "/opt/redis/bin/redis-server")
    assert system_binary("redis-server") == "/opt/redis/bin/redis-server"
    monkeypatch.setenv("ONEMAP_CONFIG", str(_toml(tmp_path, 'mosquitto = "/opt/mq/mosquitto"\n')))
    assert system_binary("mosquitto") == "/opt/mq/mosquitto"


# --- the category tree and the department list from files ------------------------------------------

def test_a_categories_file_replaces_the_tree(tmp_path, monkeypatch):
    path = tmp_path / "cats.csv"
    path.write_text("code,name,sudden\n01,市容秩序,\n0101,乱堆乱放,false\n02,应急,\n0201,燃气泄漏,true\n",
                    encoding="utf-8")
    monkeypatch.setenv("ONEMAP_CATEGORIES_FILE", str(path))
    settings = load_settings()
    assert set(categories.CATEGORIES) == {"01", "0101", "02", "0201"}
    assert categories.category_name("0101") == "市容秩序/乱堆乱放"
    assert categories.is_sudden("0201") and not categories.is_sudden("0101")
    assert "0108" not in categories.CATEGORIES
    assert len(settings.category_tree) == 4


def test_a_categories_file_extends_the_tree_and_the_service_takes_the_new_category(
        redis_service, redis_client, demo_city_dir, tmp_path, monkeypatch):
    path = _toml(tmp_path, """
[[categories]]
code = "0109"
name = "共享单车乱停"

[[categories]]
code = "0108"
name = "井盖缺失"
""", "cats.toml")
    monkeypatch.setenv("ONEMAP_CITY_DIR", str(demo_city_dir))
    ctx = AppContext(load_settings(), redis_service.url)
    worker, lon, lat = _worker(ctx.city)
    with pytest.raises(Exception, match="0109"):
        ctx.incidents.report(worker, "0109", lon, lat)      # not in the demo tree
    monkeypatch.setenv("ONEMAP_CATEGORIES_FILE", str(path))
    monkeypatch.setenv("ONEMAP_CATEGORIES_MODE", "extend")
    ctx = AppContext(load_settings(), redis_service.url)
    assert categories.CATEGORIES["0108"].name == "井盖缺失"               # renamed
    assert categories.CATEGORIES["0401"] == categories.DEMO_CATEGORIES["0401"]   # kept
    inc = ctx.incidents.report(worker, "0109", lon, lat)
    assert inc.category == "0109" and categories.category_name("0109") == "城市管理/共享单车乱停"


def test_a_departments_file_replaces_the_citys_departments(redis_service, demo_city_dir, tmp_path,
                                                           monkeypatch):
    path = tmp_path / "depts.json"
    path.write_text(json.dumps({"departments": [
        {"code": "CG", "name": "城市管理局", "categories": ["01"]},
        {"code": "SW", "name": "水务局", "categories": ["03", "0306"]}]}, ensure_ascii=False),
        encoding="utf-8")
    monkeypatch.setenv("ONEMAP_DEPARTMENTS_FILE", str(path))
    monkeypatch.setenv("ONEMAP_CITY_DIR", str(demo_city_dir))
    city = AppContext(load_settings(), redis_service.url).city
    assert [d.code for d in city.departments] == ["CG", "SW"]
    assert city.department_for("0306").code == "SW"
    assert "DSW" in city.centers and "DGA" not in city.centers


@pytest.mark.parametrize(("filename", "text", "setting", "needle"), [
    ("c.csv", "code,name\n01,a\n0302,b\n", "ONEMAP_CATEGORIES_FILE", "parent category 03"),
    ("c.csv", "code,name\n1,a\n", "ONEMAP_CATEGORIES_FILE", "categories[1] (1).code"),
    ("c.json", '[{"code": "01", "nam": "a"}]', "ONEMAP_CATEGORIES_FILE", "categories[1] (01).nam"),
    ("c.toml", "[[categorys]]\ncode='01'\n", "ONEMAP_CATEGORIES_FILE", "categorys"),
    ("c.xlsx", "", "ONEMAP_CATEGORIES_FILE", ".xlsx"),
    ("d.csv", "code,name,categories\nCG,城管,01 9999\n", "ONEMAP_DEPARTMENTS_FILE", "9999"),
    ("d.csv", "code,name,categories\nCG,城管,0109\n", "ONEMAP_DEPARTMENTS_FILE",
     "departments.CG.categories"),                                                   # not in tree
])
def test_a_bad_catalog_file_stops_the_start_naming_the_row(tmp_path, monkeypatch, filename, text,
                                                           setting, needle):
    path = tmp_path / filename
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(setting, str(path))
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert needle in e.value.format_message()
    assert categories.CATEGORIES == categories.DEMO_CATEGORIES       # nothing installed
