"""Shared test helpers: signals in sensor counts, and the real MicroPython binary."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from anklet.engines import FIRMWARE_DIR, micropython_binary

ROOT = Path(__file__).resolve().parent.parent


# A shell that starts `make test` in the background ignores Ctrl-C for it, and an ignored signal stays ignored
# in every child it starts: the tests that press Ctrl-C on a command would find it ignored. A handler here is
# reset to the default in each child instead.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def counts_from_g(acc: np.ndarray, range_g: int = 8) -> np.ndarray:
    cpg = 32768 // range_g
    return np.clip(np.round(acc * cpg), -32768, 32767).astype(np.int16)


def still(seconds: float, fs: int = 50, gravity=(0.2, 0.1, 0.97), noise: float = 0.0012,
          seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    g = np.array(gravity) / np.linalg.norm(gravity)
    return g[None, :] + noise * rng.standard_normal((n, 3))


def shake(acc: np.ndarray, fs: int, t0: float, t1: float, freq: float, amp: float,
          direction=(1.0, 0.3, 0.2), jitter: float = 0.08, seed: int = 0) -> np.ndarray:
    """Clonic-like jerking from t0 to t1: beats at `freq` with period jitter, each a fast flexion and a slower
    return (peak `amp` g, size varying 0.7-1.3x), along `direction`: what the detector is for."""
    rng = np.random.default_rng(seed)
    d = np.array(direction) / np.linalg.norm(direction)
    out = acc.copy()
    q = 0.3
    t = t0
    while t < t1:
        period = max(2.0 / fs, (1 / freq) * (1 + jitter * rng.standard_normal()))
        i0 = int(round(t * fs))
        m = max(2, int(round(min(period, t1 - t) * fs)))
        ph = np.arange(m) / max(1, int(round(period * fs)))
        wave = np.where(ph < q, np.sin(np.pi * ph / q), -q / (1 - q) * np.sin(np.pi * (ph - q) / (1 - q)))
        j = min(len(out), i0 + m)
        if j > i0:
            out[i0:j] += (amp * rng.uniform(0.7, 1.3) * wave[: j - i0])[:, None] * d[None, :]
        t += period
    return out


def sine(acc: np.ndarray, fs: int, t0: float, t1: float, freq: float, amp: float,
         direction=(1.0, 0.3, 0.2)) -> np.ndarray:
    """A smooth, perfectly regular swing (voluntary rhythm, not a seizure)."""
    t = np.arange(len(acc)) / fs
    d = np.array(direction) / np.linalg.norm(direction)
    on = (t >= t0) & (t < t1)
    out = acc.copy()
    out[on] += amp * np.sin(2 * np.pi * freq * (t[on] - t0))[:, None] * d[None, :]
    return out


def run_mp(code: str, timeout: float = 120) -> str:
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE_DIR}:.frozen")
    proc = subprocess.run([micropython_binary(), "-c", code], capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    return proc.stdout


@pytest.fixture(scope="session")
def mpy_bin() -> str:
    return micropython_binary()


@pytest.fixture(scope="session")
def band32() -> str:
    """The frozen 32-bit MicroPython (`make band32`), brought up to date with the firmware first.

    Skipped where MicroPython's source is not available (README.md, "MicroPython's source")."""
    from anklet import band32 as b32

    res = subprocess.run(["make", "-s", "--no-print-directory", "band32"], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    if res.returncode != 0:
        pytest.fail(f"make band32 failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    if not b32.BINARY.exists():
        src = os.environ.get("MICROPY_SRC", "../shared/micropython")
        pytest.skip(f"no frozen 32-bit MicroPython: no MicroPython source at MICROPY_SRC={src} "
                    "(README.md, \"MicroPython's source\", says where to get it)")
    return str(b32.BINARY)
