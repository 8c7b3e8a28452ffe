"""`make demo`'s pip step (scripts/pip-quiet.sh, issue 21): the index notes go to the install log,
the terminal gets one line and every error."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pip-quiet.sh"
NOTE = "WARNING: Location 'file:///opt/pypi-more/simple/{}/' is ignored: it is neither a file nor a directory."


def _fake_pip(tmp_path: Path, rc: int, extra: str = "") -> Path:
    pip = tmp_path / "pip"
    notes = "\n".join(NOTE.format(f"pkg{i}") for i in range(300))
    pip.write_text(f"#!/bin/sh\ncat >&2 <<'X'\n{notes}\n{extra}\nX\necho 'Successfully installed a-1'\n"
                   f"exit {rc}\n")
    pip.chmod(0o755)
    return pip


def _run(tmp_path: Path, pip: Path) -> subprocess.CompletedProcess:
    log = tmp_path / "var" / "install.log"
    return subprocess.run([str(SCRIPT), str(pip), "-e", ".[embedded]"], capture_output=True,
                          text=True, env={"INSTALL_LOG": str(log), "PATH": "/usr/bin:/bin"},
                          check=False, timeout=30)


def test_a_good_install_says_one_line_and_logs_the_rest(tmp_path):
    done = _run(tmp_path, _fake_pip(tmp_path, 0))
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        f"pip: installed -e .[embedded] (300 index notes and the details in {tmp_path}/var/install.log)"]
    assert done.stderr == ""
    log = (tmp_path / "var" / "install.log").read_text()
    assert log.count("is ignored") == 300 and "Successfully installed a-1" in log


def test_errors_stay_on_the_terminal(tmp_path):
    done = _run(tmp_path, _fake_pip(tmp_path, 1, "ERROR: No matching distribution found for lxml"))
    assert done.returncode == 1
    assert "ERROR: No matching distribution found for lxml" in done.stderr
    assert "is ignored" not in done.stderr and "failed (exit 1)" in done.stderr
    # a resolver complaint on a good install is shown too
    done = _run(tmp_path, _fake_pip(tmp_path, 0, "ERROR: pip's dependency resolver: a conflict"))
    assert done.returncode == 0 and "dependency resolver" in done.stderr
