"""`anklet log`, `anklet export`, `anklet ack`."""

from __future__ import annotations

import argparse
import csv
import json
import time

import pytest

from anklet import logcmd
from anklet.cli import CliError
from anklet.records import DeviceEvent
from anklet.store import Store

T0 = time.time() - 3600


def cli(argv):
    parser = argparse.ArgumentParser(prog="anklet")
    sub = parser.add_subparsers(dest="command")
    logcmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "night.db"
    s = Store(path)
    evs = [DeviceEvent("boot", 0, {"reason": 1, "boot_count": 1, "fw_version": 1}, 1, 1),
           DeviceEvent("activity", 60_000, {"movement_mg": 12, "active_s": 3}, 2, 1),
           DeviceEvent("start", 125_000, {"onset_ms": 120_000, "freq_chz": 250, "rhythm": 900, "amp_mg": 300}, 3, 1),
           DeviceEvent("end", 161_000, {"onset_ms": 120_000, "dur_ms": 40_000, "freq_chz": 240, "f_start_chz": 260,
                                        "f_end_chz": 220, "rhythm": 880, "amp_mg": 310}, 4, 1)]
    s.add_events("band-a", evs, T0 + 200)
    s.add_events("band-a", [DeviceEvent("status", 200_000, {"battery_pct": 80, "worn": 1}, 5, 1)], T0 + 200.1)
    s.add_alarm("alarm", T0 + 141, band_id="band-a", boot=1, onset_ms=120_000, t_ms=140_000, message="shaking 20 s",
                sounded="paplay")
    fid = s.add_alarm("fault", T0 + 300, band_id="band-a", code="no_data", message="no data for 31 s")
    s.end_alarm(fid, T0 + 400)
    s.close()
    return path


def test_log_lists_episodes_alarms_and_events(db, capsys):
    assert cli(["log", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "== episodes (1) ==" in out and "40 s, 2.4 Hz (2.6 -> 2.2)" in out and "ALARM" in out
    assert "no_data" in out and "sound: paplay" in out and "ended" in out
    assert "== events (5) ==" in out and "#4" in out and "movement_mg=12" in out


def test_log_filters_and_json(db, capsys):
    cli(["log", "--db", str(db), "--what", "events", "--kind", "status", "--json"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["kind"] for x in lines] == ["status"] and lines[0]["type"] == "event"
    cli(["log", "--db", str(db), "--what", "events", "--limit", "2"])
    assert len(capsys.readouterr().out.splitlines()) == 2
    cli(["log", "--db", str(db), "--what", "alarms", "--since", "1m"])
    assert capsys.readouterr().out.strip() == "no alarms in the log"


def test_export_json_and_csv(db, tmp_path, capsys):
    out = tmp_path / "night.json"
    assert cli(["export", "--db", str(db), str(out)]) == 0
    data = json.loads(out.read_text())
    assert [len(data[k]) for k in ("events", "episodes", "alarms")] == [5, 1, 2]
    assert data["episodes"][0]["duration_s"] == 40.0 and data["episodes"][0]["max_level"] == "alarm"
    out = tmp_path / "events.csv"
    cli(["export", "--db", str(db), str(out)])
    rows = list(csv.DictReader(out.open()))
    assert [r["kind"] for r in rows] == ["boot", "activity", "start", "end", "status"]
    assert json.loads(rows[1]["fields"]) == {"active_s": 3, "movement_mg": 12}
    cli(["export", "--db", str(db), "--what", "alarms", "-", "--format", "csv"])
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["code"] for r in rows] == ["alarm", "no_data"] and rows[1]["ended_at"]


def test_export_and_log_errors(db, tmp_path):
    with pytest.raises(CliError, match="CSV holds one table"):
        cli(["export", "--db", str(db), "--what", "all", str(tmp_path / "x.csv")])
    with pytest.raises(CliError, match="cannot tell the format"):
        cli(["export", "--db", str(db), str(tmp_path / "x.txt")])
    with pytest.raises(CliError, match="no log at"):
        cli(["log", "--db", str(tmp_path / "missing.db")])
    with pytest.raises(CliError, match="cannot read the time"):
        cli(["log", "--db", str(db), "--since", "yesterday-ish"])
    with pytest.raises(CliError, match="cannot write"):
        cli(["export", "--db", str(db), str(tmp_path / "no" / "such" / "dir.json")])


def test_ack_without_a_running_monitor_marks_the_log_and_warns(db, capsys):
    assert cli(["ack", "--db", str(db)]) == 1
    assert "NOT being watched" in capsys.readouterr().out
    s = Store(db)
    assert s.alarms(unacked=True) == [] and s.alarms()[0].acked_by == "cli"
    s.close()


def test_ack_with_a_running_monitor_leaves_a_request(db, capsys):
    s = Store(db)
    s.start_session(time.time(), pid=4242)
    s.close()
    assert cli(["ack", "--db", str(db), "--mute-min", "10"]) == 0
    assert "pid 4242" in capsys.readouterr().out
    s = Store(db)
    [req] = s.take_requests(time.time())
    assert req["mute_s"] == 600 and req["source"] == "cli"
    s.close()
