"""The demo's first minutes (issue 21): the URLs and accounts last, in a table that stays aligned
with Chinese names and says which center each account belongs to by name; ``--reset`` stops what
runs on the data dir and wipes only the demo's data there."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import click
from click.testing import CliRunner

from app import demo_reset
from app.commands.demo import accounts_table, final_block, reset_data
from app.config import Settings
from app.termtable import table, width

CITY = SimpleNamespace(centers={"CITY": SimpleNamespace(name="高州市指挥中心"),
                                "T440981101": SimpleNamespace(name="东岸镇"),
                                "DCG": SimpleNamespace(name="城管局")})
ACCOUNTS = [
    {"user": "commander", "password": "pw-commander1", "role": "city_commander", "center": "CITY",
     "name": "市指挥长"},
    {"user": "town", "password": "pw-town-22", "role": "town_operator", "center": "T440981101",
     "name": "东岸镇值班员"},
    {"user": "chengguan", "password": "pw-cg-333", "role": "dept_operator", "center": "DCG",
     "name": "城管值班员"},
    {"user": "W440981101001001", "password": "pw-w-4444", "role": "grid_worker",
     "center": "T440981101", "name": "李四"},
]


def _starts(line: str, cells: list[str]) -> list[int]:
    """The terminal column where each cell starts on ``line``."""
    cols, at = [], 0
    for cell in cells:
        i = line.index(cell, at)
        cols.append(width(line[:i]))
        at = i + len(cell)
    return cols


def test_width_counts_chinese_as_two_columns():
    assert width("town") == 4 and width("东岸镇") == 6 and width("W44·镇") == 6
    assert width("é") == 1 and width("e\u0301") == 1       # a combining accent takes none


def test_the_accounts_table_stays_aligned_and_names_the_centers():
    text = accounts_table(ACCOUNTS, CITY)
    lines = text.splitlines()
    assert len(lines) == 1 + len(ACCOUNTS)
    header = _starts(lines[0], ["账号", "密码", "角色", "所属", "名称"])
    for a, line in zip(ACCOUNTS, lines[1:], strict=True):
        center = CITY.centers[a["center"]].name
        role = {"city_commander": "市指挥长", "town_operator": "镇街值班员",
                "dept_operator": "部门值班员", "grid_worker": "网格员"}[a["role"]]
        assert _starts(line, [a["user"], a["password"], role, center, a["name"]]) == header, line
    assert "东岸镇" in lines[2] and "城管局" in lines[3] and "T440981101" not in text
    assert all(line == line.rstrip() for line in lines)


def test_table_pads_short_rows():
    text = table(("a", "b"), [("x",), ("镇", "y")])
    assert text.splitlines()[2].index("y") == text.splitlines()[0].index("b") - 1   # 镇 is wide


def test_the_urls_and_accounts_come_last():
    settings = Settings(host="127.0.0.1", port=8050, kiosk_token="k" * 20)
    block = final_block(settings, CITY, ACCOUNTS).splitlines()
    assert block[-1] == "Ctrl-C stops everything."
    urls = [i for i, line in enumerate(block) if "http://127.0.0.1:8050/" in line]
    accounts = [i for i, line in enumerate(block) if "pw-" in line]
    assert urls and accounts and max(urls) < min(accounts)
    assert any("/wall/?kiosk=" + "k" * 20 in line and "大屏" in line for line in block)
    assert any("/console/" in line and "工作台" in line for line in block)


def _data_dir(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    for d in ("redis/acl", "mqtt", "mqtt-auth", "pg/pgdata", "secrets", "snapshots",
              "cities/高州市"):
        (var / d).mkdir(parents=True)
    for f in ("redis/appendonly.aof", "secrets/session-key", "kiosk-token", "demo-accounts.json",
              "cities/高州市/city.json", "my-notes.txt"):
        (var / f).write_text("x")
    return var


def test_reset_wipes_only_the_demo_data(tmp_path):
    var = _data_dir(tmp_path)
    removed = demo_reset.reset(var, say=lambda _line: None)
    assert set(removed) == {"redis", "mqtt", "mqtt-auth", "pg", "secrets", "snapshots",
                            "kiosk-token", "demo-accounts.json"}
    assert sorted(p.name for p in var.iterdir()) == ["cities", "my-notes.txt"]
    assert (var / "cities" / "高州市" / "city.json").exists()
    assert demo_reset.reset(tmp_path / "none", say=lambda _line: None) == []


def test_reset_stops_the_demo_running_there_first(tmp_path):
    var = _data_dir(tmp_path)
    # stands in for `onemap demo` (its command line names the demo), noted in demo.pid
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "demo"])
    try:
        (var / demo_reset.DEMO_PIDFILE).write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + 10      # until its exec is done (/proc shows its argv)
        while demo_reset.running_demo(var) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert demo_reset.running_demo(var) == proc.pid
        said: list[str] = []
        demo_reset.reset(var, say=said.append)
        assert proc.wait(10) == -15                  # SIGTERM: the demo stops its services
        assert said and str(proc.pid) in said[0]
        assert not (var / "redis").exists() and not (var / demo_reset.DEMO_PIDFILE).exists()
    finally:
        proc.kill()


def test_reset_asks_first_and_a_no_keeps_everything(tmp_path):
    var = _data_dir(tmp_path)

    @click.command()
    @click.option("--yes", is_flag=True)
    def cmd(yes: bool) -> None:
        reset_data(var, yes)

    out = CliRunner().invoke(cmd, [], input="n\n")
    assert out.exit_code == 1 and "Aborted" in out.output
    assert (var / "redis" / "appendonly.aof").exists()
    out = CliRunner().invoke(cmd, ["--yes"])
    assert out.exit_code == 0, out.output
    assert not (var / "redis").exists() and (var / "cities").exists()
    assert "removed" in out.output


def test_the_refusals(tmp_path):
    import pytest

    with pytest.raises(demo_reset.ResetRefused):
        demo_reset.check_data_dir(Path("/"))
    demo_reset.check_data_dir(tmp_path)
