"""What the detector must and must not call an episode (movements from shared/DOMAIN.md)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import counts_from_g, shake, sine, still

from anklet import engines, simulate, trace

FS = 50


def events_of(acc, fs=FS, rg=8):
    return engines.run_model(counts_from_g(acc, rg), fs, rg)


def episodes(events):
    return [e for e in events if e.kind == "end"]


# Clonic jerking runs at 1-5 Hz (faster shaking is tremor: docs/detector.md says what the score is for).
@pytest.mark.parametrize("freq", [1.0, 1.3, 2.0, 2.7, 3.5, 5.0])
def test_sustained_clonic_jerking_1_to_5_hz_found_with_frequency_within_0_2_hz(freq):
    acc = shake(still(120), FS, 30, 90, freq, 0.3)
    ends = episodes(events_of(acc))
    assert len(ends) == 1
    f = ends[0].fields
    assert abs(f["freq_chz"] / 100 - freq) <= 0.2
    assert abs(f["onset_ms"] / 1000 - 30) <= 3.0  # dated back to when the jerking began
    assert abs(f["dur_ms"] / 1000 - 60) <= 3.0


def test_start_comes_once_rhythm_has_held_a_few_seconds_and_updates_follow():
    acc = shake(still(120), FS, 30, 90, 2.0, 0.3)
    evs = events_of(acc)
    start = next(e for e in evs if e.kind == "start")
    assert 33 <= start.t <= 40
    updates = [e.t for e in evs if e.kind == "update"]
    assert updates and max(np.diff(updates)) <= 2.0
    assert all(e.fields["onset_ms"] == start.fields["onset_ms"] for e in evs if e.kind in ("update", "end"))


def test_slowing_clonic_jerking_reports_its_drift():
    nt = simulate.Night(np.random.default_rng(3), 0.05, 100)
    nt.rng = np.random.default_rng(5)
    nt.clonic(20.0, 120.0, jitter=0.05, p_miss=0.0)  # steady enough for its rate to be well defined
    t, acc = nt.signal()
    truth = nt.truth[0].params
    ends = episodes(engines.run_model(trace.to_counts(trace.Trace(t, acc), FS, 8), FS, 8))
    assert len(ends) == 1
    f = ends[0].fields
    assert abs(f["f_start_chz"] / 100 - truth["freq_start"]) < 0.35
    assert abs(f["f_end_chz"] / 100 - truth["freq_end"]) < 0.35
    assert (f["f_end_chz"] - f["f_start_chz"]) / 100 == pytest.approx(truth["freq_end"] - truth["freq_start"], abs=0.4)


def test_subtle_small_clonic_still_found():
    acc = shake(still(100), FS, 20, 70, 1.5, 0.07)
    assert len(episodes(events_of(acc))) == 1


def _no_start(acc, fs=FS, rg=8):
    evs = events_of(acc, fs, rg)
    assert not [e for e in evs if e.kind == "start"], [e for e in evs if e.kind != "activity"]
    return evs


def test_sensor_noise_alone_is_quiet():
    evs = _no_start(still(180, noise=0.003))
    assert [e.fields["jerks"] for e in evs if e.kind == "activity"] == [0, 0, 0]


def test_posture_changes_are_not_shaking():
    acc = still(180)
    t = np.arange(len(acc)) / FS
    for t0 in (30, 70, 110, 150):  # the leg rolls over: gravity moves between axes
        w = np.clip((t - t0) / 1.5, 0, 1)[:, None]
        new = np.roll(acc[0], 1)
        acc = acc * (1 - w) + new * w
    evs = _no_start(acc)
    assert sum(e.fields["posture_changes"] for e in evs if e.kind == "activity") >= 1


def test_isolated_twitches_are_counted_but_not_episodes():
    rng = np.random.default_rng(4)
    acc = still(120)
    for t0 in np.sort(rng.uniform(5, 115, 25)):
        i = int(t0 * FS)
        m = int(rng.uniform(0.05, 0.3) * FS)
        acc[i:i + m] += 0.5 * np.sin(2 * np.pi * np.arange(m) / m)[:, None] * rng.normal(size=3)
    evs = _no_start(acc)
    assert sum(e.fields["jerks"] for e in evs if e.kind == "activity") >= 15


def test_a_few_beats_of_rhythm_are_not_an_episode():
    _no_start(shake(still(60), FS, 20, 23, 2.5, 0.4))


def test_startle_then_jittery_tremor_is_not_an_episode():
    acc = still(60)
    i = 20 * FS
    acc[i:i + 40] += 1.2 * np.sin(2 * np.pi * np.arange(40) / 40)[:, None]
    _no_start(shake(acc, FS, 20.8, 24.0, 9.0, 0.05))


def test_slow_rocking_is_not_an_episode():
    _no_start(shake(still(300), FS, 10, 290, 0.6, 0.1))


def test_patting_too_small_at_the_ankle_is_not_an_episode():
    _no_start(shake(still(200), FS, 10, 190, 2.0, 0.012))


def test_irregular_kicking_is_not_an_episode():
    rng = np.random.default_rng(8)
    acc = still(120)
    t = 10.0
    while t < 110:
        period = 0.8 * (1 + 0.5 * rng.standard_normal())
        period = max(0.3, period)
        m = int(period * FS)
        i = int(t * FS)
        acc[i:i + m] += rng.uniform(0.3, 1.5) * np.sin(2 * np.pi * np.arange(m) / m)[:, None] * rng.normal(size=3)
        t += period
    _no_start(acc)


def test_saturated_sensor_is_not_shaking():
    acc = still(120)
    acc[40 * FS: 100 * FS] = [9.0, -9.0, 9.0]  # stuck at full scale
    evs = _no_start(acc)
    assert sum(e.fields["saturated"] for e in evs if e.kind == "activity") >= 50 * FS


def test_activity_summary_every_minute_on_the_sample_clock():
    evs = events_of(still(185))
    acts = [e for e in evs if e.kind == "activity"]
    assert [e.t for e in acts] == [60.0, 120.0, 180.0]
    assert all(set(e.fields) >= {"movement_mg", "jerks", "rhythm_s", "posture"} for e in acts)


def test_settings_out_of_range_are_refused():
    from anklet_fw.detector import Detector

    with pytest.raises(ValueError, match="rhythm_min"):
        Detector(50, 8, {"rhythm_min": 5000})
    with pytest.raises(ValueError, match="data rate"):
        Detector(200, 8)
    with pytest.raises(ValueError, match="range"):
        Detector(50, 3)


@pytest.mark.parametrize("freq,amp", [(1.0, 0.3), (1.8, 0.5), (2.5, 0.2)])
def test_a_minute_of_smooth_regular_swinging_raises_no_episode(freq, amp):
    # Voluntary rhythm (an awake baby's rhythmic kicking, a swing, running at the wrist) is smooth and
    # regular; the old rhythmicity-only detector alarmed on it, the score must not.
    acc = sine(still(120), FS, 30, 90, freq, amp)
    assert episodes(events_of(acc)) == []


def test_irregular_jerking_with_pauses_and_a_rate_change_stays_one_episode():
    # Real clonic jerking: 20 % period jitter, a 3 s pause, then a slower rate: one seizure, one episode.
    acc = still(150)
    acc = shake(acc, FS, 30, 60, 3.0, 0.3, jitter=0.2, seed=1)
    acc = shake(acc, FS, 63, 100, 2.0, 0.3, jitter=0.2, seed=2)
    ends = episodes(events_of(acc))
    assert len(ends) == 1
    f = ends[0].fields
    assert abs(f["onset_ms"] / 1000 - 30) <= 4.0 and f["dur_ms"] / 1000 >= 60
    assert f["f_start_chz"] > f["f_end_chz"]  # the slowing is reported


def test_bigger_jerking_is_still_found():
    # Amplitudes are capped before the trees (the big voluntary swings they learned from must not teach them
    # that big means benign): from subtle to violent, the same minute of jerking is one episode.
    from anklet import twin
    from anklet_fw.episode import SCORE_MIN

    for amp in (0.15, 0.3, 0.6, 1.2, 1.8):
        acc = shake(still(80), FS, 10, 70, 2.0, amp, seed=3)
        sc: list[int] = []
        recs = twin.decide(twin.features(counts_from_g(acc, 16), FS, 16), FS, scores=sc)
        ends = [r for r in recs if r[0] == 3]
        assert len(ends) == 1, amp
        assert ends[0][3] >= 50000, (amp, ends[0])  # the whole minute, one episode
        assert max(sc[20:70]) >= SCORE_MIN
