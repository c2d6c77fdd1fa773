"""Trace CSV: clear errors naming the line; resampling and quantising as the band sees it."""

from __future__ import annotations

import numpy as np
import pytest

from anklet import trace as tr


def csv(rows, header="t,ax,ay,az"):
    return header + "\n" + "\n".join(rows) + "\n"


GOOD = [f"{i / 100:.2f},0.1,0.2,0.97" for i in range(300)]


@pytest.mark.parametrize("text,msg", [
    ("", "empty file"),
    (csv(GOOD, "time,x,y,z"), "line 1: header"),
    (csv(GOOD[:5] + ["0.05,0.1,abc,0.97"] + GOOD[6:]), "line 7: ay is not a number"),
    (csv(GOOD[:5] + ["0.05,0.1,0.2"] + GOOD[6:]), "line 7: expected 4"),
    (csv(GOOD[:-1] + ["2.99,0.1,"]), "line 301"),
    (csv(GOOD[:10] + ["0.05,0.1,0.2,0.97"] + GOOD[11:]), "line 12: time 0.05 does not increase"),
    (csv(GOOD[:3] + ["0.03,nan,0.2,0.97"] + GOOD[4:]), "line 5: ax is not finite"),
    (csv(GOOD[:1]), "at least 2 samples"),
    (csv(GOOD[:3] + [""] + GOOD[3:]), "line 5: blank line"),
])
def test_malformed_traces_name_the_line_and_problem(text, msg):
    with pytest.raises(tr.TraceError, match=msg):
        tr.parse(text, "x.csv")


def test_read_reports_missing_file(tmp_path):
    with pytest.raises(tr.TraceError, match="cannot read"):
        tr.read(tmp_path / "nope.csv")


def test_constant_signal_resamples_exactly_and_quantises():
    t = np.sort(np.random.default_rng(0).uniform(0, 10, 2000))  # irregular timing
    acc = np.tile([0.25, -0.5, 1.0], (len(t), 1))
    counts = tr.to_counts(tr.Trace(t, acc), 50, 8)
    assert counts.dtype == np.int16
    assert (counts == [1024, -2048, 4096]).all()
    assert len(counts) == int((t[-1] - t[0]) * 50)


@pytest.mark.parametrize("rate", [25.0, 100.0, 400.0, 37.3])
def test_any_input_rate_gives_the_band_rate_with_the_signal_kept(rate):
    t = np.arange(0, 20, 1 / rate)
    acc = np.zeros((len(t), 3))
    acc[:, 0] = 0.3 * np.sin(2 * np.pi * 2.0 * t)
    out = tr.resample(tr.Trace(t, acc), 50)
    assert abs(len(out) - 50 * t[-1]) <= 1
    ref = 0.3 * np.sin(2 * np.pi * 2.0 * (np.arange(len(out)) + 0.5) / 50)  # mean over each period
    assert np.abs(out[:, 0] - ref).max() < 0.02


def test_quantise_clips_to_the_sensor_range():
    q = tr.quantise(np.array([[20.0, -20.0, 0.0]]), 8)
    assert q.tolist() == [[32767, -32768, 0]]


def test_write_then_read_round_trip(tmp_path):
    t = np.arange(100) / 100
    acc = np.random.default_rng(1).normal(0, 0.3, (100, 3))
    tr.write(tmp_path / "a.csv", t, acc)
    back = tr.read(tmp_path / "a.csv")
    assert np.allclose(back.acc, acc, atol=1e-5) and np.allclose(back.t, t)
