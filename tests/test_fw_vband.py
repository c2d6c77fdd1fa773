"""The virtual band end to end: real micropython on a socat pty, driven by the real mpremote.

socat is a system package: `make test` installs it (Makefile target `socat`) where apt-get is available.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shake

from anklet import cli, engines, flash, replay, vband
from anklet import trace as tr

pytestmark = pytest.mark.slow

MPREMOTE = str(Path(sys.executable).parent / "mpremote")

if shutil.which("socat") is None:  # pragma: no cover - CI installs it
    pytest.skip("SOCAT IS MISSING: the virtual band tests need it (apt-get install socat; `make test` does this)",
                allow_module_level=True)


def shaking_trace(path: Path, fs: float = 100.0) -> None:
    t = np.arange(0, 70, 1 / fs)
    acc = np.zeros((len(t), 3))
    acc[:, 2] = 1.0
    acc[:, 1] = 0.05
    acc = shake(acc, int(fs), 10, 45, 3.0, 0.3, direction=(1.0, 0.0, 0.0))  # clonic-like jerking
    tr.write(path, t, acc)


def mp(port: str, *args: str) -> str:
    res = subprocess.run([MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def band_state(port: str) -> dict:
    out = mp(port, "resume", "exec", "from anklet_fw import app; b = app.band; import json; print(json.dumps("
             "{'boot': b.boot_count, 'reason': b.reset_reason, 'samples': b.samples_in, 'depth': b.queue.depth(), "
             "'next': b.queue.next_seq(), 'fs': b.settings['fs'], 'part': b.imu.PART}))")
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def band(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vband")
    trace = folder.parent / "shake.csv"
    shaking_trace(trace)
    vband.prepare(folder, trace, fs=52, speed=20)
    vb = vband.start(folder)
    yield vb, trace
    vb.stop()


def test_flash_installs_compiled_firmware_and_the_band_runs(band):
    vb, _ = band
    installed = flash.flash(vb.port)
    assert "anklet_fw/eventq.mpy" in installed and "anklet_fw/hw_unix.mpy" in installed
    assert "anklet_fw/hw_esp32.mpy" not in installed
    assert (vb.folder / "anklet_fw" / "band.mpy").exists() and (vb.folder / "main.py").exists()
    import time

    time.sleep(4)  # 80 s of band time at speed 20: the whole trace
    st = band_state(vb.port)
    assert st["boot"] >= 1 and st["reason"] == 2  # mpremote reset: a hard reset
    assert st["part"] == "LSM6DS3TR-C" and st["fs"] == 52
    assert st["samples"] > 52 * 40
    kinds = mp(vb.port, "resume", "exec",
               "from anklet_fw import app, packet_host as packet; q = app.band.queue; buf = bytearray(42)\n"
               "for s in range(q.first_seq(), q.next_seq()):\n"
               "    q.read_into(s, buf); print('K', packet.decode(buf)[2])")
    got = [int(line.split()[1]) for line in kinds.splitlines() if line.startswith("K ")]
    assert got[0] == 5 and 1 in got and 3 in got, got  # BOOT, START, END


def test_resets_count_boots_and_keep_the_queue(band):
    vb, _ = band
    mp(vb.port, "reset")
    import time

    time.sleep(0.5)
    before = band_state(vb.port)
    mp(vb.port, "reset")
    time.sleep(0.5)
    after = band_state(vb.port)
    assert after["boot"] == before["boot"] + 1
    # The next seq is the new BOOT event: nothing lost, nothing repeated. (The trace replays from its start
    # at every boot, so the new boot may already have queued its START too: count, do not time.)
    first_new = mp(vb.port, "resume", "exec",
                   "from anklet_fw import app, packet_host as packet; buf = bytearray(42)\n"
                   f"print('K', app.band.queue.read_into({before['next']}, buf) and packet.decode(buf)[2:5])")
    kind, _, fields = ast.literal_eval(first_new.split("K ", 1)[1].strip())
    assert kind == 5 and fields[1] == after["boot"]  # BOOT, with the new boot count
    assert after["next"] > before["next"]
    assert after["depth"] - before["depth"] == after["next"] - before["next"]


def test_device_engine_matches_the_other_engines(band, capsys):
    vb, trace = band
    counts = replay.load_counts(str(trace), 50, 8)
    want = engines.ENGINES["firmware"](counts, 50, 8)
    got = engines.ENGINES["device"](counts, 50, 8, port=vb.port)
    assert got == want and len(want) >= 3
    assert cli.main(["replay", str(trace), "--engine", "device", "--port", vb.port]) == 0
    dev_out = capsys.readouterr().out.splitlines()
    assert cli.main(["replay", str(trace), "--engine", "firmware"]) == 0
    fw_out = capsys.readouterr().out.splitlines()
    assert dev_out[:-1] == fw_out[:-1]


def test_source_flash_and_flash_errors(band):
    vb, _ = band
    installed = flash.flash(vb.port, source=True)
    assert "anklet_fw/band.py" in installed
    assert not list((vb.folder / "anklet_fw").glob("*.mpy"))  # the old .mpy files are gone
    assert band_state(vb.port)["fs"] == 52
    with pytest.raises(cli.CliError, match="unknown board"):
        flash.flash(vb.port, board="nope")
    with pytest.raises(cli.CliError, match="mpremote failed"):
        flash.flash(str(vb.folder / "no-such-tty"))


def test_vband_refuses_bad_settings_and_rates(tmp_path):
    with pytest.raises(cli.CliError, match="start_s=99 is out of range"):
        vband.prepare(tmp_path, settings={"start_s": 99})
    with pytest.raises(cli.CliError, match="no simulated IMU offers 60 Hz"):
        vband.prepare(tmp_path, fs=60)
    cfg = vband.prepare(tmp_path, fs=100, speed=3, settings={"start_s": 8})
    assert cfg == {"imu": "mpu6886", "speed": 3, "settings": {"fs": 100, "start_s": 8}}


def test_vband_command_and_flash_command_and_restarts(tmp_path, capsys):
    import signal
    import time

    trace = tmp_path / "shake.csv"
    shaking_trace(trace)
    folder = tmp_path / "vb"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "anklet"), "vband", "--dir", str(folder),
                             "--trace", str(trace), "--fs", "50", "--speed", "20"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "virtual band running: port" in line, line
        port = str(folder / "tty")
        assert cli.main(["flash", "--port", port, "--source"]) == 0
        assert "flashed" in capsys.readouterr().out
        time.sleep(1)
        first = band_state(port)
        assert first["part"] == "MPU6886" and first["fs"] == 50
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    with vband.start(folder) as vb:
        again = band_state(vb.port)
    assert again["boot"] == first["boot"] + 1 and again["reason"] == 1  # a power-on
    assert again["next"] > first["next"]
