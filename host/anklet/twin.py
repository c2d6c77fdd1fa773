"""The detector's numpy twin: the firmware's signal path, vectorised, bit for bit.

`anklet_fw.dsp.Frontend` runs sample by sample on the band; this module computes the
same per-second features for a whole trace at once with integer numpy arithmetic
(int64, so nothing overflows, and every rounding is the floor the firmware uses).
The per-second decisions (episodes, minute summaries) are the firmware's own
modules, fed with these features: one source of truth for the logic, two
implementations of the arithmetic, and tests that hold them equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anklet_fw import dsp
from anklet_fw.activity import Activity
from anklet_fw.episode import Episodes, check_params
from anklet_fw.scorer import Scorer

_CHUNK_HOPS = 4096  # active windows correlated per numpy batch (bounds memory)


@dataclass
class Features:
    """One row per hop (second): what Frontend holds after each hop."""

    amp_mg: np.ndarray
    rhythm: np.ndarray
    freq_chz: np.ndarray
    sharp: np.ndarray
    crest: np.ndarray
    harm: np.ndarray
    jerks: np.ndarray
    posture: np.ndarray
    sat: np.ndarray
    active: np.ndarray
    gsum: np.ndarray | None = None  # (hops, 3): the 1 s sums of decimated counts (Frontend.sx, sy, sz)


def _isqrt(n: np.ndarray) -> np.ndarray:
    r = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    r -= (r * r > n).astype(np.int64)
    r += ((r + 1) * (r + 1) <= n).astype(np.int64)
    return r


def _bitlen(m: np.ndarray) -> np.ndarray:
    _, e = np.frexp(m.astype(np.float64))
    return np.where(m > 0, e, 0).astype(np.int64)


def features(counts: np.ndarray, fs: int, range_g: int) -> Features:
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[1] != 3:
        raise ValueError("counts must be an N x 3 array")
    d, lhp, c, w, kmin, kmax, b = dsp.geometry(fs)
    _, clamp, kq = dsp.scale_for(range_g)
    n_raw = len(counts)
    n_hops = n_raw // fs
    sat_raw = ((counts >= 32767) | (counts <= -32768)).any(axis=1)
    sat = sat_raw[: n_hops * fs].reshape(n_hops, fs).sum(axis=1) if n_hops else np.zeros(0, np.int64)

    nd = n_raw // d
    dec = np.floor_divide(counts[: nd * d].reshape(nd, d, 3).sum(axis=1), d)
    if nd == 0:
        empty = np.zeros(n_hops, np.int64)
        return Features(empty, empty, empty, empty, empty, empty, empty, empty, sat, empty.astype(bool))
    # Moving sum over the last lhp decimated samples, the ring primed with the first sample.
    padded = np.concatenate([np.repeat(dec[:1], lhp - 1, axis=0), dec])
    cs = np.concatenate([np.zeros((1, 3), np.int64), np.cumsum(padded, axis=0)])
    msum = cs[lhp:] - cs[:-lhp]
    centre = padded[lhp - 1 - c: lhp - 1 - c + nd]
    hp = centre - np.floor_divide(msum, lhp)
    u = (np.clip(hp, -clamp, clamp) * kq) >> 16
    e = (u * u).sum(axis=1)

    # Jerks: above threshold after at least `refractory` quiet samples.
    refr = max(1, (fs // d) // 4)
    above = e > (dsp.JERK_MG // dsp.UNIT_MG) ** 2
    ca_prev = np.concatenate([np.zeros(1, np.int64), np.cumsum(above)])
    prior = ca_prev[np.arange(nd)] - ca_prev[np.maximum(np.arange(nd) - refr, 0)]
    jerk = above & (prior == 0)

    hop_end = (np.arange(1, n_hops + 1) * fs) // d  # decimated samples done at each hop
    cj = np.concatenate([[0], np.cumsum(jerk)])
    jerks = cj[hop_end] - cj[np.concatenate([[0], hop_end[:-1]])]
    last = hop_end - 1
    gsum = msum[last]
    gx, gy, gz = (np.floor_divide(gsum[:, i], lhp) for i in range(3))
    posture = _posture(gx, gy, gz)

    # Zero history before the first sample, as the band's ring starts zeroed.
    pad = b
    up = np.concatenate([np.zeros((pad, 3), np.int64), u])
    ep = np.concatenate([np.zeros(pad, np.int64), e])
    ce = np.concatenate([[0], np.cumsum(ep)])
    top = last + pad  # index in up of each hop's newest sample
    energy = ce[top + 1] - ce[top + 1 - w]
    amp = dsp.UNIT_MG * _isqrt(energy // w)
    active = amp >= dsp.GATE_MG
    rhythm = np.zeros(n_hops, np.int64)
    freq = np.zeros(n_hops, np.int64)
    idx = np.nonzero(active)[0]
    for s0 in range(0, len(idx), _CHUNK_HOPS):
        sel = idx[s0: s0 + _CHUNK_HOPS]
        r_k, f_k = _correlate(up, ce, top[sel], energy[sel], w, kmin, kmax, fs, d)
        rhythm[sel] = r_k
        freq[sel] = f_k
    sharp, crest = _shape(up, ep, top, energy, w, active)
    fd2 = (fs * fs) // (d * d)
    harm = np.where(freq > 0, (sharp * fd2 * 16) // np.maximum(freq * freq, 1), 0)
    return Features(amp, rhythm, freq, sharp, crest, harm, jerks, posture, sat, active, gsum)


def _shape(up, ep, top, energy, w, active):
    dd = np.zeros(len(ep), np.int64)
    dd[1:] = (((up[1:] - up[:-1]) >> 1) ** 2).sum(axis=1)
    cd = np.concatenate([[0], np.cumsum(dd)])
    dsum = cd[top + 1] - cd[top + 1 - w]
    emax = np.lib.stride_tricks.sliding_window_view(ep, w).max(axis=1)[top + 1 - w]
    s = np.maximum(_bitlen(energy) - 19, 0)
    e = energy >> s
    sharp = ((dsum >> s) << 10) // (e + 1)
    crest = ((emax >> s) * w * 8) // (e + 1)
    return np.where(active, sharp, 0), np.where(active, crest, 0)


def _posture(gx: np.ndarray, gy: np.ndarray, gz: np.ndarray) -> np.ndarray:
    ax, ay, az = np.abs(gx), np.abs(gy), np.abs(gz)
    return np.where(
        (ax >= ay) & (ax >= az),
        np.where(gx >= 0, 0, 1),
        np.where(ay >= az, np.where(gy >= 0, 2, 3), np.where(gz >= 0, 4, 5)),
    )


def _correlate(up, ce, top, energy, w, kmin, kmax, fs, d):
    lags = np.arange(kmin - 1, kmax + 2)
    win = top[:, None] - np.arange(w)[None, :]  # (H, W) sample indices of each window
    cur = up[win]  # (H, W, 3)
    corr = np.empty((len(top), len(lags)), np.int64)
    for j, k in enumerate(lags):
        corr[:, j] = np.einsum("hwa,hwa->h", cur, up[win - k])
    eb = ce[top[:, None] + 1 - lags[None, :]] - ce[top[:, None] + 1 - lags[None, :] - w]
    tot = energy[:, None] + eb
    m = tot.max(axis=1) >> 1
    s = np.maximum(_bitlen(m) - 19, 0)[:, None]
    den = np.maximum((tot >> 1) >> s, 1)
    r = ((corr >> s) << 10) // den

    left, inner, right = r[:, :-2], r[:, 1:-1], r[:, 2:]
    peak = (inner > left) & (inner >= right)
    curv = np.where(peak, left - 2 * inner + right, -1)  # < 0 at every local maximum
    height = inner + ((left - right) ** 2) // (-8 * curv)
    best = np.where(peak, height, 0).max(axis=1)
    thr = best - (best >> 2)
    chosen = peak & (height >= thr[:, None]) & (best[:, None] > 0)
    has = chosen.any(axis=1)
    j = np.argmax(chosen, axis=1)
    rows = np.arange(len(top))
    a, c = left[rows, j], right[rows, j]
    frac = np.clip((128 * (a - c)) // curv[rows, j], -128, 128)
    k = lags[j + 1]
    freq = (fs * 25600) // (d * (256 * k + frac))
    return np.where(has, np.minimum(height[rows, j], 1024), 0), np.where(has, freq, 0)


class _Sink:
    def __init__(self) -> None:
        self.records: list[tuple[int, ...]] = []

    def emit(self, kind, t_ms, f0, f1, f2, f3, f4, f5, f6):
        self.records.append((kind, t_ms, f0, f1, f2, f3, f4, f5, f6))


def decide(feat: Features, fs: int, params: dict | None = None, model: object = None,
           scores: list[int] | None = None) -> list[tuple[int, ...]]:
    """Run the firmware's per-second logic over the features; the event records, in order.

    `model` replaces the generated seizure model (training); `scores`, if given, collects each second's score.
    """
    sink = _Sink()
    scorer = Scorer(model) if model is not None else Scorer()
    episodes = Episodes(sink, check_params(params or {}))
    activity = Activity(sink)
    cols = [x.tolist() for x in (feat.amp_mg, feat.rhythm, feat.freq_chz, feat.sharp, feat.crest, feat.harm,
                                  feat.jerks, feat.posture, feat.sat, feat.active)]
    for h, (amp, rh, fr, sh, cr, hm, jk, po, st, ac) in enumerate(zip(*cols, strict=True)):
        t = (h + 1) * 1000
        rh = rh if st * 4 < fs else 0
        score = scorer.hop(amp, rh, fr, sh, cr, hm, jk)
        if scores is not None:
            scores.append(score)
        rhythmic = episodes.hop(t, amp, rh, fr, score)
        activity.hop(t, amp, jk, rhythmic, po, st, ac)
    return sink.records


def context_rows(feat: Features, fs: int) -> np.ndarray:
    """The scorer's 12 features for every second (what the trees see): for training."""
    scorer = Scorer()
    rows = np.zeros((len(feat.amp_mg), len(scorer.x)), np.int64)
    cols = [x.tolist() for x in (feat.amp_mg, feat.rhythm, feat.freq_chz, feat.sharp, feat.crest, feat.harm,
                                  feat.jerks, feat.sat)]
    for h, (amp, rh, fr, sh, cr, hm, jk, st) in enumerate(zip(*cols, strict=True)):
        scorer.hop(amp, rh if st * 4 < fs else 0, fr, sh, cr, hm, jk)
        rows[h] = scorer.x
    return rows


def not_worn_times(feat: Features, fs: int, range_g: int) -> list[int]:
    """Seconds at which the band's wear decision (status.Wear) turns to "not worn"."""
    from types import SimpleNamespace

    from anklet_fw.status import Wear

    assert feat.gsum is not None
    d, lhp, *_ = dsp.geometry(fs)
    fe = SimpleNamespace(cpg=dsp.scale_for(range_g)[0], lhp=lhp)
    wear = Wear()
    out = []
    for h, (g, po, ac) in enumerate(zip(feat.gsum.tolist(), feat.posture.tolist(), feat.active.tolist(),
                                        strict=True)):
        fe.sx, fe.sy, fe.sz = g
        fe.posture, fe.active = po, ac
        was = wear.worn
        if not wear.hop(fe) and was:
            out.append(h + 1)
    return out


def run(counts: np.ndarray, fs: int = 50, range_g: int = 8, params: dict | None = None) -> list[tuple[int, ...]]:
    return decide(features(counts, fs, range_g), fs, params)
