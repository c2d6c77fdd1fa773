"""Bad inputs end in a clear error, never a traceback, and alter nothing logged; the night's files are private
(0600) wherever they are written; commands that only read the log open it read-only."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import resource
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from fault_rig import fill, small_fs
from test_report_helpers import add_night, write_recording

from anklet.cli import main
from anklet.store import Store

ROOT = Path(__file__).resolve().parents[1]


def anklet(*argv: str, timeout: float = 60, mem_mb: int | None = None) -> subprocess.CompletedProcess:
    """The command in this process (an exception escaping main() fails the test with its traceback), or in a
    process of its own with its memory capped at mem_mb."""
    if mem_mb is None:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
        return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))

    code = "import sys; from anklet.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=cap)


@pytest.fixture
def night(tmp_path):
    db = tmp_path / "log.db"
    with Store(db) as s:
        add_night(s, date(2026, 11, 21), seizures=1, minutes=10)
    return db


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_traceback(r: subprocess.CompletedProcess, code: int = 2) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)
    return r.stderr


def test_replay_of_a_tiny_csv_with_an_absurd_gap_is_refused_without_allocating(tmp_path):
    csv = tmp_path / "gap.csv"
    csv.write_text("t,ax,ay,az\n0,0,0,1\n1e7,0,0,1\n")
    err = no_traceback(anklet("replay", str(csv), mem_mb=1500))  # it wanted 3.7 GiB
    assert "line 3" in err and "without a sample" in err


def test_replay_reads_a_csv_with_a_byte_order_mark(tmp_path):
    rows = "".join(f"{i / 50:.2f},0.01,0.02,0.98\n" for i in range(500))
    csv = tmp_path / "bom.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + ("t,ax,ay,az\n" + rows).encode())
    assert main(["replay", str(csv)]) == 0


@pytest.mark.parametrize("content", [
    b"[" * 100_000 + b"]" * 100_000,  # nested too deep
    b"\x00\x01\x02\xff\xfe binary",
    json.dumps({"observations": {"colour_change": "yes"}}).encode("utf-16"),
    b'{"baby": {"age_weeks": ' + b"9" * 5000 + b"}}",  # an integer of 5,000 digits
    b'{"baby": {"age_weeks": 1e999}}',
])
def test_odd_triage_answers_are_a_clear_error(tmp_path, content):
    f = tmp_path / "answers.json"
    f.write_bytes(content)
    no_traceback(anklet("triage", "--answers", str(f), "--json"))


def damaged(tmp_path: Path, night: Path) -> Path:
    bad = tmp_path / "damaged.db"
    data = bytearray(night.read_bytes())
    data[100:4096 * 3] = os.urandom(4096 * 3 - 100)  # the schema page and more, overwritten
    bad.write_bytes(bytes(data))
    return bad


@pytest.mark.parametrize("argv", [["log"], ["export", "OUT.json"], ["report", "--out", "OUT.html"]])
def test_damaged_log_is_a_clear_error_in_read_commands(tmp_path, night, argv):
    bad = damaged(tmp_path, night)
    before = digest(bad)
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    err = no_traceback(anklet(*argv, "--db", str(bad)))
    assert "log" in err
    assert digest(bad) == before  # nothing written into it


@pytest.mark.parametrize("what", ["empty", "foreign"])
@pytest.mark.parametrize("argv", [["log"], ["export", "OUT.csv"], ["report", "--out", "OUT.html"],
                                  ["triage", "last", "--show"]])
def test_read_commands_refuse_what_is_not_an_anklet_log_and_write_nothing_into_it(tmp_path, what, argv):
    f = tmp_path / "other.db"
    if what == "empty":
        f.write_bytes(b"")
    else:
        with sqlite3.connect(f) as con:
            con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    before = digest(f)
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    err = no_traceback(anklet(*argv, "--db", str(f)))
    assert "not an anklet log" in err
    assert digest(f) == before and not list(tmp_path.glob("out*"))


def test_monitor_refuses_a_foreign_sqlite_file(tmp_path):
    f = tmp_path / "other.db"
    with sqlite3.connect(f) as con:
        con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    before = digest(f)
    with pytest.raises(Exception, match="not an anklet log"):
        Store(f)
    assert digest(f) == before


def test_read_commands_work_while_another_process_holds_a_write_transaction(tmp_path, night):
    other = sqlite3.connect(night, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO requests (made_at, action) VALUES (0, 'ack')")
    try:
        for argv in (["log", "--what", "episodes"], ["export", str(tmp_path / "e.json")],
                     ["report", "--out", str(tmp_path / "r.html")], ["triage", "last", "--show"]):
            r = anklet(*argv, "--db", str(night), timeout=30)
            assert "Traceback" not in r.stderr and "locked" not in r.stderr, (argv, r.stderr)
            assert r.returncode in (0, 2), (argv, r.stderr)  # 2: --show with no triage saved, said so
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.parametrize("when", ["0001-01-01", "9999-12-31T23:59", "99999999999d", "1e308h", "nonsense"])
def test_extreme_dates_are_a_clear_error_or_work(night, when):
    r = anklet("log", "--db", str(night), "--since", when)
    assert "Traceback" not in r.stderr and r.returncode in (0, 2), r.stderr


def test_exports_and_triage_out_are_private(tmp_path, night):
    os.umask(0o022)
    for name in ("e.csv", "e.json"):
        assert main(["export", "--db", str(night), str(tmp_path / name)]) == 0
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    with Store(night) as s:
        rec = write_recording(add_night(s, date(2026, 11, 22), seizures=0, minutes=5), tmp_path, 10, 40)
    assert main(["export", "--db", str(night), "--edf", str(tmp_path / "n.edf"), "--raw", str(rec)]) == 0
    assert (tmp_path / "n.edf").stat().st_mode & 0o777 == 0o600
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({"observations": {"colour_change": "yes"}}))
    assert main(["triage", "--answers", str(answers), "--out", str(tmp_path / "t.json")]) == 0
    assert (tmp_path / "t.json").stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.part"))


def test_export_to_a_full_disk_leaves_no_truncated_file(tmp_path, night):
    mnt = tmp_path / "fs"
    with small_fs(mnt, 64):
        old = mnt / "e.json"
        old.write_text("{}\n")
        fill(mnt)
        r = anklet("export", "--db", str(night), str(old))
        err = no_traceback(r)
        assert "cannot write" in err
        assert old.read_text() == "{}\n"  # the old file stands, whole
        assert {p.name for p in mnt.iterdir()} == {"e.json", "filler"}  # no temporary file left behind
