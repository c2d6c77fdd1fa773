"""`anklet replay` and `anklet simulate` from the command line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import shake, still

from anklet import simulate, trace
from anklet.cli import main


@pytest.fixture(scope="module")
def seizure_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("tr") / "seizure.csv"
    acc = shake(still(90, 100), 100, 20, 60, 2.0, 0.3)
    trace.write(path, np.arange(len(acc)) / 100, acc)
    return path


def test_replay_json_lines_events_and_alarms(seizure_csv, capsys):
    assert main(["replay", str(seizure_csv), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert all("kind" in x and "t" in x for x in lines)
    kinds = [x["kind"] for x in lines]
    assert kinds[0] == "start" and "end" in kinds and "activity" in kinds
    alarms = [x for x in lines if x["kind"] == "alarm"]
    assert [a["level"] for a in alarms] == ["notice", "alarm", "clear"]
    assert 38 <= alarms[1]["t"] <= 44  # 20 s after the shaking began at 20 s
    assert lines == sorted(lines, key=lambda x: x["t"])


@pytest.mark.parametrize("engine", ["firmware", "micropython"])
def test_engines_print_identical_output(seizure_csv, capsys, engine):
    main(["replay", str(seizure_csv), "--json"])
    ref = capsys.readouterr().out
    main(["replay", str(seizure_csv), "--json", "--engine", engine])
    assert capsys.readouterr().out == ref


def test_replay_readable_listing(seizure_csv, capsys):
    assert main(["replay", str(seizure_csv)]) == 0
    out = capsys.readouterr().out
    # The shaking starts at 20 s; the detector dates an episode's onset to within a second of it.
    assert "** ALARM" in out and re.search(r"rhythm began (19|20|21)\.0 s", out) and "1.9" in out
    assert out.splitlines()[-1].endswith("device events, 3 alarm decisions (1 ALARM) over 90 s (model engine)")


def test_malformed_trace_gives_a_clear_error_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,ax,ay,az\n0,0,0,1\n0.01,0,0,1\n0.02,0,zero,1\n")
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 4" in err and "ay is not a number" in err and "Traceback" not in err


@pytest.mark.parametrize("args,msg", [(["--alarm-s", "5"], "10 to 120"), (["--fs", "200"], "data rate"),
                                      (["--engine", "quantum"], "unknown engine"), (["--range", "3"], "range")])
def test_bad_settings_refused(seizure_csv, capsys, args, msg):
    assert main(["replay", str(seizure_csv), *args]) == 2
    assert msg in capsys.readouterr().err


def test_simulate_writes_labelled_nights_that_replay(tmp_path, capsys):
    out = tmp_path / "nights"
    assert main(["simulate", str(out), "--nights", "2", "--hours", "0.1", "--seed", "3", "--seizures", "1"]) == 0
    truth = json.loads((out / "night_001.json").read_text())
    assert truth["seed"] == 3001 and truth["rate"] == 100
    clonic = [e for e in truth["events"] if e["type"] == "clonic"]
    assert len(clonic) == 1 and 1.0 <= clonic[0]["params"]["freq_end"] <= clonic[0]["params"]["freq_start"] <= 3.5
    tr = trace.read(out / "night_001.csv")
    assert abs(tr.duration - 360) < 0.1
    capsys.readouterr()
    assert main(["replay", str(out / "night_001.csv"), "--json"]) == 0


@pytest.mark.parametrize("hours", [0.01, 0.1, 0.3])
def test_short_nights_simulate_without_error(hours):
    nt = simulate.night(seed=int(hours * 1000), hours=hours, seizures=2)
    assert len(nt.signal()[1]) == int(round(hours * 3600 * 100))
    assert all(0 <= x.start <= x.end for x in nt.truth)


def test_simulator_is_deterministic_and_labels_every_model():
    a = simulate.night(11, 4.0, 2)
    b = simulate.night(11, 4.0, 2)
    assert np.array_equal(a.signal()[1], b.signal()[1])
    types = {x.type for seed in (5, 6, 7) for x in simulate.night(seed, 8.0, 1).truth}
    assert {"clonic", "rem_twitches", "posture_change", "kicking", "startle", "tremor", "stereotypy"} <= types
