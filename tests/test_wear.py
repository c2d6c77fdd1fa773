"""The band's wear decision (status.Wear) on the twin's per-second features: a still leg is worn, a table is not."""

import numpy as np
from conftest import counts_from_g, still

from anklet import simulate, trace, twin

FS = 50


def not_worn(acc: np.ndarray, rg: int = 8) -> list[int]:
    return twin.not_worn_times(twin.features(counts_from_g(acc, rg), FS, rg), FS, rg)


def test_a_band_flat_on_a_table_is_not_worn_within_four_minutes():
    for rg in (2, 8, 16):
        times = not_worn(still(600, FS, gravity=(0.01, 0.02, 1.0), seed=rg), rg)
        assert len(times) == 1 and 180 <= times[0] <= 240, (rg, times)


def test_a_still_leg_in_any_posture_is_worn_all_along():
    # Ten minutes held still in each of six orientations (foot up included), with the micro-motion of a living leg.
    for k, g in enumerate([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0.3, 1), (0.2, 0.1, -1)]):
        nt = simulate.Night(np.random.default_rng(k), 10 / 60, FS)
        nt.postures = [(0.0, np.array(g, float) / np.linalg.norm(g))]
        t, acc = nt.signal()
        assert not_worn(acc) == [], g


def test_a_whole_simulated_night_never_reads_not_worn():
    nt = simulate.night(5, 8.0, 1)
    t, acc = nt.signal()
    counts = trace.to_counts(trace.Trace(t, acc), FS, 8)
    assert twin.not_worn_times(twin.features(counts, FS, 8), FS, 8) == []


def test_the_band_is_worn_again_as_soon_as_it_moves():
    acc = still(400, FS, seed=1)
    acc[300 * FS: 301 * FS, 0] += 0.3  # picked up
    times = not_worn(acc)
    assert len(times) == 1 and times[0] <= 240
    from types import SimpleNamespace

    from anklet_fw import dsp
    from anklet_fw.status import Wear

    feat = twin.features(counts_from_g(acc, 8), FS, 8)
    _, lhp, *_ = dsp.geometry(FS)
    fe = SimpleNamespace(cpg=4096, lhp=lhp)
    wear = Wear()
    states = []
    for g, po, ac in zip(feat.gsum.tolist(), feat.posture.tolist(), feat.active.tolist(), strict=True):
        fe.sx, fe.sy, fe.sz = g
        fe.posture, fe.active = po, ac
        states.append(wear.hop(fe))
    assert not states[299] and states[301]
