"""`anklet service install` writes a systemd user unit that runs this anklet's monitor and restarts it after any
failure; systemd itself checks the unit where it is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from anklet.cli import main
from anklet.service import UNIT_NAME


def test_install_writes_a_unit_that_restarts_the_monitor_and_uninstall_removes_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert main(["service", "install", "--db", str(tmp_path / "night db.sqlite")]) == 0
    out = capsys.readouterr().out
    unit = tmp_path / "cfg" / "systemd" / "user" / UNIT_NAME
    text = unit.read_text()
    assert "Restart=on-failure" in text and "StartLimitIntervalSec=0" in text and "WantedBy=default.target" in text
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_line.startswith(f"ExecStart={sys.executable} -m anklet.cli monitor --db ")
    assert "'" in exec_line  # the space in the path is quoted
    assert "systemctl --user enable --now anklet-monitor.service" in out and "loginctl enable-linger" in out
    # The command the unit runs is a working anklet monitor command line.
    res = subprocess.run([sys.executable, "-m", "anklet.cli", "monitor", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    if shutil.which("systemd-analyze"):
        res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        problems = [line for line in res.stderr.splitlines() if UNIT_NAME in line and "bluetooth" not in line
                    and "sound" not in line]
        assert not problems, res.stderr
    assert main(["service", "uninstall"]) == 0
    assert not unit.exists() and "removed" in capsys.readouterr().out


def test_enable_without_systemd_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["service", "install", "--enable"]) == 2
    assert "does not run systemd" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["service"], ["service", "start"]])
def test_bad_service_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
