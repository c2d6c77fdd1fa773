"""`make bench`'s figure for the frozen 32-bit build: the detector's CPU time per second of signal on it,
beside the same figure on the 64-bit unix port from PyPI (both on this machine, not on an ESP32)."""

from __future__ import annotations

import resource
from collections.abc import Callable

import numpy as np

from . import band32, engines


def _cpu_s(run: Callable[[], object]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_figures(counts: np.ndarray, fs: int, range_g: int, seconds: int = 3600) -> None:
    """Print the CPU per second of signal over the first `seconds` of `counts` on both interpreters."""
    part = counts[: seconds * fs]
    signal_s = len(part) / fs
    us64 = 1e6 * _cpu_s(lambda: engines.run_micropython(part, fs, range_g)) / signal_s
    head = f"detector CPU per second of signal ({signal_s / 60:.0f} min, this machine): 64-bit unix port {us64:.0f} us"
    try:
        band32.binary()
    except engines.EngineError as exc:
        print(f"{head}; frozen 32-bit build: not measured ({exc})")
        return
    us32 = 1e6 * _cpu_s(lambda: band32.run_feed(part, fs, range_g)) / signal_s
    print(f"{head}, frozen 32-bit build {us32:.0f} us ({us32 / us64:.2f} x)")
