"""`anklet export --edf`: raw recordings as EDF+ that read back with pyedflib with the same samples and annotations."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pyedflib
import pytest
from test_report_helpers import CPG, FS, add_night, write_recording

from anklet.cli import main
from anklet.report import edf, raw
from anklet.store import Store

NIGHT = date(2026, 11, 21)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "log.db")
    yield s
    s.close()


def read(path):
    f = pyedflib.EdfReader(str(path))
    try:
        sig = np.stack([f.readSignal(i, digital=True) for i in range(f.signals_in_file)], axis=1)
        phys = np.stack([f.readSignal(i) for i in range(f.signals_in_file)], axis=1)
        onsets, durs, texts = f.readAnnotations()
        return {"digital": sig, "physical": phys, "fs": list(f.getSampleFrequencies()), "labels": f.getSignalLabels(),
                "start": f.getStartdatetime(), "units": [f.getPhysicalDimension(i) for i in range(3)],
                "notes": list(zip(onsets.tolist(), durs.tolist(), texts.tolist(), strict=True))}
    finally:
        f.close()


def test_edf_roundtrip_same_samples_and_annotations(store, tmp_path):
    night = add_night(store, NIGHT, seizures=2, link_lost=(400, 700), battery_low_at=900)
    ep = store.episode(night.episode_ids[0])
    s0 = int(ep.onset_ms / 1000) - 40
    s1 = s0 + int(ep.duration_s) + 80
    path = write_recording(night, tmp_path, s0, s1)
    rec = raw.load(path)
    info = edf.write(rec, tmp_path / "out.edf", store)
    assert info["exact"] and not info["resampled"] and info["clipped"] == 0
    got = read(tmp_path / "out.edf")
    n = (s1 - s0) * FS
    counts = night.counts[s0 * FS:s1 * FS].astype(np.int64)
    # The band's counts, bit for bit (the file stores them at the finest step that holds them exactly).
    step = info["full_scale_g"] / 32256
    assert np.array_equal(got["digital"][:n].astype(np.int64), np.round(counts / CPG / step).astype(np.int64))
    assert np.allclose(got["physical"][:n], counts / CPG, atol=1e-9)
    assert np.allclose(got["physical"][:n], rec.acc, atol=6e-6)  # the CSV's own 5 decimals
    assert got["fs"] == [FS] * 3 and got["labels"] == ["Accel X", "Accel Y", "Accel Z"] and got["units"] == ["g"] * 3
    assert got["start"] == rec.start.replace(tzinfo=None)
    notes = got["notes"]
    # The episode at its wall-clock onset relative to the file start, with its duration and alarm level.
    want = (ep.onset - rec.start).total_seconds()
    epi = [x for x in notes if x[2].startswith(f"Episode {ep.id} ")]
    assert len(epi) == 1
    assert abs(epi[0][0] - want) < 1e-3 and abs(epi[0][1] - ep.duration_s) < 1e-3
    assert epi[0][2] == f"Episode {ep.id} {ep.f_start_hz:.1f}->{ep.f_end_hz:.1f}Hz {ep.amp_mg}mg ALARM"
    alarms = [a for a in store.alarms(rec.start, rec.end) if not a.is_fault]
    assert {a.level for a in alarms} == {"notice", "alarm"}
    for a in alarms:
        hit = [x for x in notes if x[2] == f"{a.level.upper()} raised (episode {ep.id})"]
        assert len(hit) == 1 and abs(hit[0][0] - (a.raised_at - rec.start).total_seconds()) < 1e-3
        assert any(x[2] == f"{a.level.upper()} acknowledged" for x in notes)
    # Nothing from outside the recording.
    assert not any(x[2].startswith("FAULT") for x in notes)
    assert all(0 <= x[0] <= n / FS for x in notes)


def test_edf_faults_gaps_and_padding(store, tmp_path):
    night = add_night(store, NIGHT, seizures=0, link_lost=(400, 700), battery_low_at=900)
    path = write_recording(night, tmp_path, 300, 1000)  # 700 s; cut the last second short below
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-FS // 2]) + "\n")
    rec = raw.load(path)
    n = len(rec.t)
    info = edf.write(rec, tmp_path / "f.edf", store)
    got = read(tmp_path / "f.edf")
    assert len(got["digital"]) % FS == 0 and len(got["digital"]) > n
    assert np.allclose(got["physical"][:n], rec.acc, atol=6e-6)
    assert np.array_equal(got["digital"][n:], np.repeat(got["digital"][n - 1:n], len(got["digital"]) - n, axis=0))
    notes = {x[2]: x for x in got["notes"]}
    assert abs(notes["End of recording (padding follows)"][0] - n / FS) < 1e-3
    fault = notes["FAULT no_data"]
    assert abs(fault[0] - 130) < 0.5 and abs(fault[1] - 270.5) < 0.5
    gap = notes["Gap: no data from the band"]
    last_heard = max(e.t_ms / 1000 for e in night.events if e.t_ms < 400_000) + 0.05  # then the link was lost
    assert abs(gap[0] - (last_heard - 300)) < 1e-3 and abs(gap[0] + gap[1] - 400.5) < 1e-3
    assert "FAULT battery_low" in notes and info["annotations"] == len(got["notes"])


def test_edf_irregular_trace_is_resampled_and_marked(store, tmp_path):
    t = np.sort(np.random.default_rng(1).uniform(0, 20, 2000))
    acc = np.column_stack([0.3 * np.sin(2 * np.pi * 3 * t), np.zeros_like(t), np.ones_like(t)])
    rec = raw.Recording(tmp_path / "x.csv", raw.parse_time("2026-11-21T22:00:00", "t"), t, acc, "command line")
    info = edf.write(rec, tmp_path / "x.edf", None)
    assert info["resampled"] and not info["exact"] and info["fs"] == 100
    f = pyedflib.EdfReader(str(tmp_path / "x.edf"))
    try:
        assert f.getPrefilter(0) == "resampled"
    finally:
        f.close()


def test_export_cli(store, tmp_path, capsys):
    night = add_night(store, NIGHT, seizures=1, minutes=10)
    a = write_recording(night, tmp_path, 100, 160)
    b = write_recording(night, tmp_path, 300, 330, how="sidecar")
    json.loads(b.with_suffix(".json").read_text())
    db = str(store.path)
    out = tmp_path / "x" / "night.edf"
    assert main(["export", "--db", db, "--edf", str(out), "--raw", str(a), "--raw", str(b)]) == 0
    err = capsys.readouterr().err
    assert "night_01.edf" in err and "night_02.edf" in err and "exact samples" in err
    assert read(out.with_name("night_01.edf"))["start"] == raw.load(a).start.replace(tzinfo=None)
    assert len(read(out.with_name("night_02.edf"))["digital"]) == 30 * FS
    # --since/--until choose the recordings.
    since = (night.wall(200)).isoformat()
    assert main(["export", "--db", db, "--edf", str(tmp_path / "one.edf"), "--raw", str(tmp_path), "--since", since]) == 0
    assert (tmp_path / "one.edf").exists() and not (tmp_path / "one_01.edf").exists()
    # Errors: no recordings, nothing in range, wrong name; the CSV/JSON export still works beside it.
    assert main(["export", "--db", db, "--edf", str(tmp_path / "n.edf")]) == 2
    assert "--raw" in capsys.readouterr().err
    later = (night.wall(0) + timedelta(days=1)).isoformat()
    assert main(["export", "--db", db, "--edf", str(tmp_path / "n.edf"), "--raw", str(a), "--since", later]) == 2
    assert "no raw recording in the chosen time range" in capsys.readouterr().err
    assert main(["export", "--db", db, "--edf", str(tmp_path / "n.txt"), "--raw", str(a)]) == 2
    assert main(["export", "--db", db]) == 2
    assert "--edf" in capsys.readouterr().err
    assert main(["export", "--db", db, str(tmp_path / "e.csv"), "--what", "episodes"]) == 0
    assert (tmp_path / "e.csv").read_text().startswith("id,band,boot,onset")
    assert main(["export", "--db", db, str(tmp_path / "all.json"), "--edf", str(tmp_path / "both.edf"),
                 "--raw", str(a)]) == 0
    assert json.loads((tmp_path / "all.json").read_text())["episodes"] and (tmp_path / "both.edf").exists()
