"""Accelerometer traces: the CSV format, and turning a trace into the counts the band would see.

Format: a header line `t,ax,ay,az`, then one sample per line: time in seconds
(increasing, any rate, irregular spacing allowed) and acceleration in g.

`to_counts` resamples to the band's data rate by averaging the signal over each
output sample period (what the sensor's own low-pass filter does, and well
defined for any input timing), then quantises to sensor counts for the range.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anklet_fw import dsp

HEADER = ("t", "ax", "ay", "az")
# A trace is one recording of at most a night and a day, sampled without long holes: beyond these a file is
# refused with its line, before anything as large as the resampled night is allocated.
MAX_DURATION_S = 26 * 3600.0
MAX_GAP_S = 600.0


class TraceError(ValueError):
    """A malformed trace; the message names the line and the problem."""


@dataclass
class Trace:
    t: np.ndarray  # seconds, strictly increasing
    acc: np.ndarray  # N x 3, g
    source: str = "<memory>"

    @property
    def duration(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self.t) else 0.0


def _check_line(lineno: int, line: str) -> None:
    parts = line.rstrip("\r\n").split(",")
    if len(parts) != 4:
        raise TraceError(f"line {lineno}: expected 4 comma-separated values (t,ax,ay,az), found {len(parts)}: {line.strip()!r}")
    for name, part in zip(HEADER, parts, strict=True):
        try:
            val = float(part)
        except ValueError:
            raise TraceError(f"line {lineno}: {name} is not a number: {part.strip()!r}") from None
        if not math.isfinite(val):
            raise TraceError(f"line {lineno}: {name} is not finite: {part.strip()!r}")


def parse(text: str, source: str = "<string>") -> Trace:
    lines = text.removeprefix("\ufeff").splitlines()  # a byte-order mark (spreadsheets write one) is not data
    if not lines:
        raise TraceError(f"{source}: empty file (expected a header line 't,ax,ay,az')")
    header = tuple(h.strip().lower() for h in lines[0].split(","))
    if header != HEADER:
        raise TraceError(f"{source}: line 1: header must be 't,ax,ay,az', found {lines[0].strip()!r}")
    body = [ln for ln in lines[1:]]
    try:
        data = np.loadtxt(io.StringIO("\n".join(body)), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        data = None
    if data is None or (len(body) and data.shape[1] != 4) or not np.isfinite(data).all():
        for i, line in enumerate(body, start=2):
            if line.strip():
                try:
                    _check_line(i, line)
                except TraceError as exc:
                    raise TraceError(f"{source}: {exc}") from None
        raise TraceError(f"{source}: could not read the samples")  # pragma: no cover - _check_line finds it
    blank = [i for i, ln in enumerate(body, start=2) if not ln.strip()]
    if blank and blank[0] != len(lines):
        raise TraceError(f"{source}: line {blank[0]}: blank line inside the samples")
    if len(data) < 2:
        raise TraceError(f"{source}: needs at least 2 samples, found {len(data)}")
    dt = np.diff(data[:, 0])
    bad = np.nonzero(dt <= 0)[0]
    if len(bad):
        i = int(bad[0]) + 3  # data row i+1 is file line i+3
        raise TraceError(f"{source}: line {i}: time {float(data[i - 2, 0]):g} does not increase (previous {float(data[i - 3, 0]):g})")
    gap = int(np.argmax(dt))
    if dt[gap] > MAX_GAP_S:
        i = gap + 3
        raise TraceError(f"{source}: line {i}: {float(dt[gap]):g} s without a sample (at most {MAX_GAP_S:g} s): "
                         "is the time column in seconds?")
    if data[-1, 0] - data[0, 0] > MAX_DURATION_S:
        raise TraceError(f"{source}: the trace lasts {float(data[-1, 0] - data[0, 0]):g} s, longer than "
                         f"{MAX_DURATION_S / 3600:g} h: is the time column in seconds?")
    return Trace(data[:, 0].copy(), data[:, 1:4].copy(), source)


def read(path: str | Path) -> Trace:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TraceError(f"{p}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise TraceError(f"{p}: not a text file") from None
    return parse(text, str(p))


def write(path: str | Path, t: np.ndarray, acc: np.ndarray) -> None:
    with open(path, "w") as f:
        f.write("t,ax,ay,az\n")
        np.savetxt(f, np.column_stack([t, acc]), fmt=["%.4f", "%.5f", "%.5f", "%.5f"], delimiter=",")


def resample(trace: Trace, fs: int) -> np.ndarray:
    """Samples at exactly `fs` Hz from the trace's start, each the mean over its period (g)."""
    t = trace.t - trace.t[0]
    period = 1.0 / fs
    n = int(np.floor(t[-1] * fs + 1e-9))
    if n < 1:
        raise TraceError(f"{trace.source}: shorter than one sample period at {fs} Hz")
    # Cumulative integral of the piecewise-linear signal, evaluated at period boundaries.
    seg = 0.5 * (trace.acc[1:] + trace.acc[:-1]) * np.diff(t)[:, None]
    cum = np.vstack([np.zeros((1, 3)), np.cumsum(seg, axis=0)])
    edges = np.arange(n + 1) * period
    at = np.empty((n + 1, 3))
    for axis in range(3):
        at[:, axis] = _integral_at(t, trace.acc[:, axis], cum[:, axis], edges)
    return np.diff(at, axis=0) * fs


def _integral_at(t: np.ndarray, a: np.ndarray, cum: np.ndarray, x: np.ndarray) -> np.ndarray:
    i = np.clip(np.searchsorted(t, x, side="right") - 1, 0, len(t) - 2)
    dt = x - t[i]
    slope = (a[i + 1] - a[i]) / (t[i + 1] - t[i])
    return cum[i] + a[i] * dt + 0.5 * slope * dt * dt


def quantise(acc_g: np.ndarray, range_g: int) -> np.ndarray:
    cpg, _, _ = dsp.scale_for(range_g)
    return np.clip(np.round(acc_g * cpg), -32768, 32767).astype(np.int16)


def to_counts(trace: Trace, fs: int = 50, range_g: int = 8) -> np.ndarray:
    dsp.geometry(fs)  # validates the rate
    return quantise(resample(trace, fs), range_g)
