"""The numpy twin, the firmware under CPython and the firmware under MicroPython agree bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import counts_from_g, shake, still
from hypothesis import given, settings
from hypothesis import strategies as st

from anklet import engines, simulate, trace


def _all_equal(counts, fs, rg, micropython=True):
    a = engines.run_model(counts, fs, rg)
    b = engines.run_firmware(counts, fs, rg)
    assert a == b
    if micropython:
        c = engines.run_micropython(counts, fs, rg)
        assert a == c
    return a


def test_simulated_night_segment_identical_in_all_three_engines():
    nt = simulate.night(seed=7, hours=0.5, seizures=2, rate=100)
    t, acc = nt.signal()
    counts = trace.to_counts(trace.Trace(t, acc), 50, 8)
    events = _all_equal(counts, 50, 8)
    kinds = {e.kind for e in events}
    assert {"start", "update", "end", "activity"} <= kinds  # the comparison covered every event kind


@pytest.mark.parametrize("fs,rg", [(25, 2), (35, 4), (36, 8), (52, 16), (71, 8), (104, 8)])
def test_rates_and_ranges_identical(fs, rg):
    rng = np.random.default_rng(fs * 100 + rg)
    acc = shake(still(150, fs, seed=fs), fs, 20, 80, rng.uniform(1.2, 4.0), rng.uniform(0.15, 1.2))
    acc[int(100 * fs): int(100.5 * fs)] = 30.0  # saturation burst
    acc[int(110 * fs):] += 0.3 * rng.standard_normal((len(acc) - int(110 * fs), 3))  # wild kicking
    events = _all_equal(counts_from_g(acc, rg), fs, rg)
    assert any(e.kind == "start" for e in events)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), fs=st.integers(25, 104), rg=st.sampled_from([2, 4, 8, 16]),
       seconds=st.integers(0, 140))
def test_random_traces_twin_equals_firmware(seed, fs, rg, seconds):
    rng = np.random.default_rng(seed)
    n = seconds * fs + int(rng.integers(0, fs))
    # Random walk of gravity, bursts of noise, random-frequency shaking, clipping: anything goes.
    acc = np.cumsum(rng.normal(0, 0.01, (n, 3)), axis=0) + rng.normal(0, 1, 3)
    for _ in range(int(rng.integers(0, 4))):
        a, b = sorted(rng.integers(0, max(1, n), 2))
        f = rng.uniform(0.3, 12)
        acc[a:b] += rng.uniform(0.01, 3) * np.sin(2 * np.pi * f * np.arange(b - a) / fs)[:, None] * rng.normal(size=3)
    counts = counts_from_g(acc, rg)
    assert engines.run_model(counts, fs, rg) == engines.run_firmware(counts, fs, rg)


def test_random_traces_under_micropython():
    rng = np.random.default_rng(99)
    for fs in (26, 50, 104):
        n = 200 * fs
        acc = still(200, fs, seed=fs) + 0.2 * rng.standard_normal((n, 3)) * (rng.random((n, 1)) < 0.3)
        acc = shake(acc, fs, 60, 140, 2.2, 0.4)
        _all_equal(counts_from_g(acc, 8), fs, 8)


def test_trace_shorter_than_a_second_gives_no_events():
    counts = counts_from_g(still(0.5), 8)
    assert _all_equal(counts, 50, 8) == []
