"""What the real tonic-clonic seizures look like, measured: the numbers the simulator's clonic model uses.

    python -m anklet.seizure_stats      (docs/detector.md, "What the real seizures look like", quotes it)

Inside each curated seizure span of ../shared/realdata (OSDB, wrist, vector magnitude only), the
magnitude is band-passed (0.8-10 Hz) and its jerks found as its positive peaks at least 0.12 s apart and
above a third of the span's 90th-percentile peak. Per 6 s stretch holding 5 or more jerks:
- period jitter: the standard deviation of the intervals over their median;
- jerk size: each jerk's height over the stretch's median height (5th and 95th percentiles);
- missed beats: intervals longer than 1.6 x the median, per interval;
- harmonic content: spectral power at twice the dominant frequency over the power at it.
Axis wander cannot be measured here: every tonic-clonic recording holds the magnitude only.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from . import realdata, trace

FS = 25
WIN_S = 6


def stretches(x: np.ndarray) -> list[dict]:
    b, a = signal.butter(2, [0.8, 10], btype="bandpass", fs=FS)
    y = signal.filtfilt(b, a, x)
    # Positive peaks only: |signal| would count both half-cycles of every jerk.
    peaks, props = signal.find_peaks(y, distance=int(0.12 * FS), height=0.0)
    if len(peaks) < 5:
        return []
    h = props["peak_heights"]
    keep = h >= np.percentile(h, 90) / 3
    peaks, h = peaks[keep], h[keep]
    out = []
    for s0 in range(0, len(x) - WIN_S * FS + 1, WIN_S * FS):
        sel = (peaks >= s0) & (peaks < s0 + WIN_S * FS)
        if sel.sum() < 5:
            continue
        iv = np.diff(peaks[sel]) / FS
        med = np.median(iv)
        seg = y[s0: s0 + WIN_S * FS]
        f, p = signal.periodogram(seg, FS)
        band = (f >= 1) & (f <= 8)
        f0 = f[band][np.argmax(p[band])]
        p1 = p[np.argmin(np.abs(f - f0))]
        p2 = p[np.argmin(np.abs(f - 2 * f0))] if 2 * f0 < FS / 2 else 0.0
        out.append({"jitter": float(np.std(iv[iv <= 1.6 * med]) / med), "sizes": h[sel] / np.median(h[sel]),
                    "missed": float(np.mean(iv > 1.6 * med)), "harmonic": float(p2 / max(p1, 1e-12)),
                    "rate": float(1 / med)})
    return out


def main() -> int:
    recs = [r for r in realdata.load() if r.entry["group"] == "seizure_real_tc" and r.span]
    allst = []
    for r in recs:
        acc = trace.resample(r.trace, FS)
        mag = np.sqrt((acc ** 2).sum(axis=1))
        a, b = r.span
        allst += stretches(mag[int(a * FS): int(b * FS)])
    jit = np.array([s["jitter"] for s in allst])
    sizes = np.concatenate([s["sizes"] for s in allst])
    miss = np.array([s["missed"] for s in allst])
    harm = np.array([s["harmonic"] for s in allst])
    rate = np.array([s["rate"] for s in allst])
    q = (25, 50, 75)
    print(f"{len(recs)} real tonic-clonic seizures, {len(allst)} stretches of {WIN_S} s with 5 or more jerks")
    print(f"jerk rate (Hz), quartiles: {np.round(np.percentile(rate, q), 2).tolist()}")
    print(f"period jitter (sd / median interval), quartiles: {np.round(np.percentile(jit, q), 3).tolist()}")
    print(f"jerk size over the stretch's median, 5th-95th percentile: {np.round(np.percentile(sizes, (5, 95)), 2).tolist()}")
    print(f"missed beats (intervals > 1.6 x median), mean share: {miss.mean():.3f}")
    print(f"power at twice the dominant frequency over power at it, quartiles: {np.round(np.percentile(harm, q), 3).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
