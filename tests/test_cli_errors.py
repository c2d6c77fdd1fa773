"""Every command, given bad arguments, ends in one clear line and a non-zero exit: never a traceback. Ctrl-C
ends a command cleanly. Commands that only read create no file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from anklet.cli import main

TRACE = "t,ax,ay,az\n0,0,0,1\n0.02,0,0,1\n"

# (argv, a phrase of the message). Files: t.csv is a valid tiny trace, old.db an existing file.
BAD = [
    (["replay", "missing.csv"], "cannot read"),
    (["replay", "t.csv", "--alarm-s", "5"], "10 to 120"),
    (["replay", "t.csv", "--fs", "7"], "out of range"),
    (["replay", "t.csv", "--engine", "bogus"], "unknown engine"),
    (["replay", "t.csv", "--fs", "fast"], "invalid int value"),
    (["simulate", "out", "--hours", "-1"], "--hours"),
    (["simulate", "out", "--rate", "0"], "--rate"),
    (["simulate", "out", "--seizures", "-1"], "--seizures"),
    (["demo", "--alarm-s", "5"], "10 to 120"),
    (["demo", "--hours", "-1"], "--hours"),
    (["demo", "--speed", "-1"], "--speed"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--db", "old.db"], "exists"),
    (["monitor", "--alarm-s", "5"], "10 to 120"),
    (["monitor", "--no-data-s", "-1"], "out of range"),
    (["log", "--db", "missing.db"], "no log at"),
    (["log", "--db", "old.db", "--since", "last tuesday"], "cannot read the time"),
    (["log", "--what", "nothing"], "invalid choice"),
    (["export"], "give an output file"),
    (["export", "--db", "missing.db", "x.csv"], "no log at"),
    (["ack", "--db", "missing.db"], "no log at"),
    (["pair", "00:11:22:33:44:55", "--passkey", "abc"], "invalid int value"),
    (["pair", "--passkey", "123456"], "required: address"),
    (["record", "out.csv", "--duration", "-1"], "--duration"),
    (["triage", "abc", "--db", "old.db"], "EPISODE must be"),
    (["triage", "last", "--db", "missing.db"], "no log at"),
    (["triage", "--answers", "missing.json"], "cannot read the answers file"),
    (["report", "--db", "old.db", "--out", "x.txt"], ".html"),
    (["report", "--db", "missing.db", "--out", "r.html"], "no log at"),
    (["report", "--db", "old.db", "--night", "tonight", "--out", "r.html"], "cannot read the date"),
    (["flash"], "required: --port"),
    (["vband", "--fs", "7"], "7 Hz"),
    (["vband", "--set", "bogus"], "NAME=INTEGER"),
    (["nonsense"], "invalid choice"),
]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "home"))
    monkeypatch.delenv("ANKLET_DB", raising=False)
    monkeypatch.delenv("ANKLET_DEBUG", raising=False)
    (tmp_path / "t.csv").write_text(TRACE)
    from anklet.store import Store

    Store(tmp_path / "old.db").close()
    return tmp_path


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return int(exc.code or 0)


def _commands() -> list[str]:
    import anklet.cli as cli

    return sorted(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


@pytest.mark.parametrize("command", _commands())
def test_every_command_refuses_an_unknown_option_cleanly(here, capsys, command):
    assert _run([command, "--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert ("unrecognized arguments: --no-such-option" in err or "arguments are required" in err), err
    assert "Traceback" not in err


def test_the_cases_below_cover_the_commands_of_this_build():
    missing = set(_commands()) - {argv[0] for argv, _ in BAD} - {"scan"}  # scan needs a radio to fail on
    assert not (missing & {"replay", "simulate", "demo", "monitor", "log", "export", "ack", "pair", "record",
                           "triage", "report", "flash", "vband"}), sorted(missing)


@pytest.mark.parametrize("argv, phrase", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_give_one_clear_line(here, capsys, argv, phrase):
    code = _run(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err and "internal error" not in err, err
    assert phrase in err, err


def test_reading_commands_create_no_file(here, capsys):
    before = {p for p in here.rglob("*")}
    for argv in (["log"], ["log", "--what", "episodes", "--since", "12h"], ["export", "-", "--format", "json"],
                 ["triage", "last"], ["triage", "1", "--show"], ["report", "--out", "r.html"], ["ack"]):
        assert _run(argv) == 2
        assert "no log at" in capsys.readouterr().err
    assert {p for p in here.rglob("*")} == before


def test_ctrl_c_stops_the_demo_without_a_traceback(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "anklet.cli", "demo", "--speed", "20", "--link", "inproc",
                             "--sound", "report", "--no-notify"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the night is under way
            if "monitoring band" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert "stopped (Ctrl-C)" in out + err and Path(tmp_path / "demo-night.db").exists()


def test_the_command_table_is_what_the_modules_register():
    import anklet.cli as cli

    assert _commands() == sorted(cli.COMMANDS)
    for command, module in cli.COMMANDS.items():
        one = cli.build_parser(command)._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        assert command in one, (command, module)


def test_a_replay_loads_neither_bluetooth_nor_the_web_server(tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom anklet.cli import main\n"
            "try:\n    main(['replay', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('bleak', 'bumble', 'starlette', 'uvicorn', 'matplotlib', 'anklet.monitor') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
