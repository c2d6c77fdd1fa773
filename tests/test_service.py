"""`anklet service install|uninstall`: a systemd user unit for `anklet monitor` written under $XDG_CONFIG_HOME,
restarting on failure, not enabled unless asked, checked by systemd-analyze where it is installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from anklet.cli import main
from anklet.service import UNIT


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # systemctl must not be reached without --enable: a stand-in that records any call
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    fake = bin_dir / "systemctl"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return tmp_path, log


def test_install_writes_a_unit_that_restarts_on_failure_and_does_not_enable_it(xdg, capsys):
    tmp, log = xdg
    cfg = tmp / "my config.toml"
    assert main(["service", "install", "--config", str(cfg), "--web", "0.0.0.0:8765"]) == 0
    unit = tmp / "config" / "systemd" / "user" / UNIT
    text = unit.read_text()
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    [exec_line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert "-m anklet.cli monitor --config" in exec_line and "'" + str(cfg) + "'" in exec_line  # quoted: a space
    assert exec_line.endswith("--web 0.0.0.0:8765")
    out = capsys.readouterr().out
    assert "not enabled yet" in out and f"systemctl --user enable --now {UNIT}" in out
    assert "loginctl enable-linger" in out
    assert not log.exists()  # nothing enabled, nothing started
    if shutil.which("systemd-analyze", path="/usr/bin:/bin"):
        r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        bad = tmp / "bad.service"
        bad.write_text(text.replace("Restart=on-failure", "Restart=on-failure\nExecStart=/nonexistent/python"))
        assert subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True).returncode != 0


def test_install_enable_runs_systemctl_and_uninstall_removes_it(xdg, capsys):
    tmp, log = xdg
    assert main(["service", "install", "--enable"]) == 0
    assert log.read_text().splitlines() == ["--user daemon-reload", f"--user enable --now {UNIT}"]
    assert "enabled and started" in capsys.readouterr().out
    unit = tmp / "config" / "systemd" / "user" / UNIT
    assert unit.exists()
    assert main(["service", "uninstall"]) == 0
    assert not unit.exists()
    assert f"--user disable --now {UNIT}" in log.read_text()
    assert main(["service", "uninstall"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_show_prints_the_unit(capsys):
    assert main(["service", "show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[Unit]") and "monitor" in out and "Restart=on-failure" in out
