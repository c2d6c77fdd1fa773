"""OpenSeizureDetector's default algorithm, re-implemented as a bench baseline (not used by the band).

Described from the public source of OpenSeizureDetector (github OpenSeizureDetector/Android_Pebble_SD,
GPL-3.0; this is the project's own code written from that description, not a copy): every 5 s the
watch delivers 125 samples (25 Hz) of acceleration vector magnitude in milli-g. The phone takes their
FFT; with mag(i) = Re^2 + Im^2,
    specPower = sum(mag(i), i = 1..bin(12 Hz)) / N / 2 / 1000
    roiPower  = sum(mag(i), i = bin(fmin)..bin(fmax)-1) / (bin(fmax) - bin(fmin)) / 1000
    roiRatio  = 10 * roiPower / specPower
A 5 s datapoint is seizure-like when roiPower > AlarmThresh (100) and roiRatio > AlarmRatioThresh (57).
Each seizure-like datapoint adds 5 s to a counter, any other resets it (from ALARM it drops back to
WARNING); WARNING above WarnTime (5 s), ALARM above AlarmTime (10 s): three seizure-like datapoints
in a row. Defaults: fmin 3 Hz, fmax 8 Hz; the "1-8 Hz" variant only lowers fmin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import trace

FS = 25
PERIOD_S = 5
N = FS * PERIOD_S
SCALE = 1000  # the app's ACCEL_SCALE_FACTOR


@dataclass(frozen=True)
class OsdSettings:
    fmin_hz: float = 3.0
    fmax_hz: float = 8.0
    cutoff_hz: float = 12.0
    alarm_thresh: float = 100.0
    ratio_thresh: float = 57.0
    warn_s: int = 5
    alarm_s: int = 10


DEFAULT = OsdSettings()
WIDE = OsdSettings(fmin_hz=1.0)


def datapoint_flags(mag_mg: np.ndarray, s: OsdSettings = DEFAULT) -> np.ndarray:
    """Seizure-like or not, for each whole 5 s datapoint of a 25 Hz magnitude signal (milli-g)."""
    n = len(mag_mg) // N
    if n == 0:
        return np.zeros(0, bool)
    spec = np.fft.rfft(mag_mg[: n * N].reshape(n, N), axis=1)
    mag = spec.real ** 2 + spec.imag ** 2
    res = FS / N
    cut = int(s.cutoff_hz / res)
    spec_power = mag[:, 1: cut + 1].sum(axis=1) / N / 2 / SCALE
    n_min, n_max = int(s.fmin_hz / res), int(s.fmax_hz / res)
    roi_power = mag[:, n_min:n_max].sum(axis=1) / (n_max - n_min) / SCALE
    ratio = 10 * roi_power / np.maximum(spec_power, 1e-9)
    return (roi_power > s.alarm_thresh) & (ratio > s.ratio_thresh)


def alarm_times(flags: np.ndarray, s: OsdSettings = DEFAULT) -> list[float]:
    """Times (s, end of the datapoint) at which the state machine enters ALARM."""
    count, state, out = 0, 0, []
    for i, hit in enumerate(flags.tolist()):
        if hit:
            count += PERIOD_S
            new = 2 if count > s.alarm_s else 1 if count > s.warn_s else state
        elif state == 2:
            new, count = 1, s.warn_s + 1
        else:
            new, count = 0, 0
        if new == 2 and state != 2:
            out.append(float((i + 1) * PERIOD_S))
        state = new
    return out


def run_trace(tr: trace.Trace, s: OsdSettings = DEFAULT) -> list[float]:
    acc = trace.resample(tr, FS)
    mag = 1000.0 * np.sqrt((acc ** 2).sum(axis=1))
    return alarm_times(datapoint_flags(mag, s), s)
