"""The band's firmware frozen into a 32-bit MicroPython unix port: the interpreter closest to the band here.

`make band32` builds build/band32/micropython from MicroPython's source (firmware/manifest_unix.py lists
what is frozen: asyncio, the whole anklet_fw package, the virtual band's console). On it small integers
stop at 2^30 and pointers take 4 bytes, as on the ESP32, and bytecode stays out of the heap, as in a
frozen band image. The tests, `make bench` and `anklet vband --frozen` run it through this module.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .engines import FIRMWARE_DIR, EngineError, parse_feed_output
from .records import DeviceEvent

ROOT = FIRMWARE_DIR.parent
BINARY = ROOT / "build" / "band32" / "micropython"
# Only the frozen modules: a firmware folder on the path would shadow them.
ENV = {"MICROPYPATH": ".frozen"}


def binary() -> str:
    if not BINARY.exists():
        raise EngineError(f"{BINARY} is not built: run `make band32` (it needs MicroPython's source; "
                          "README.md, \"MicroPython's source\", says where to get it)")
    return str(BINARY)


def run(code: str, *, heap: str = "1M", cwd: Path | None = None, timeout: float = 300,
        path: str = ".frozen") -> subprocess.CompletedProcess:
    """Run `code` on the frozen 32-bit build; sys.path is `path` (frozen modules only by default)."""
    env = dict(os.environ, MICROPYPATH=path)
    return subprocess.run([binary(), "-X", f"heapsize={heap}", "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def run_feed(counts: np.ndarray, fs: int, range_g: int, *, locked: bool = False,
             diag: dict | None = None) -> list[DeviceEvent]:
    """The detector over `counts` through anklet_fw.feed, as engines.run_micropython does on the 64-bit port."""
    fd, name = tempfile.mkstemp(suffix=".bin", prefix="anklet-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(np.ascontiguousarray(counts, dtype="<i2").tobytes())
        fn = "run_locked" if locked else "run_file"
        # run_locked holds the trace in RAM (6 bytes a sample) beside the band's own state.
        heap = f"{max(1, 8 * len(counts) // (1 << 20) + 1)}M"
        res = run(f"from anklet_fw import feed; feed.{fn}({name!r}, {int(fs)}, {int(range_g)})", heap=heap)
    finally:
        os.unlink(name)
    if res.returncode != 0:
        raise EngineError(f"the 32-bit build failed (exit {res.returncode}): {res.stderr.strip() or res.stdout[-500:]}")
    events, d = parse_feed_output(res.stdout)
    if diag is not None:
        diag.update(d)
    return events
