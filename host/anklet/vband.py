"""The virtual band: the real MicroPython unix binary on a pty, as if a board were plugged in.

`anklet vband --dir DIR --trace TRACE.csv` makes DIR the band's filesystem (flash.bin keeps its flash
queue, settings and boot count across restarts), feeds the trace to a simulated IMU chip behind the
real driver, and joins the binary's console to DIR/tty through socat. Then, as with a board:

    anklet flash --port DIR/tty            # installs the firmware into DIR, resets the band
    mpremote connect DIR/tty resume exec "print(1)"
    anklet replay TRACE.csv --engine device --port DIR/tty

The console (firmware/vband/anklet_vband.py) speaks the friendly and raw REPL that mpremote uses.

With --frozen the band runs on the frozen 32-bit build (`make band32`): firmware and console are in the
image, as on a band flashed with a frozen image, and the heap is the band's (FROZEN_HEAP). `anklet flash`
sees the frozen firmware and installs only main.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import band32, engines
from .cli import CliError
from .engines import FIRMWARE_DIR

CONSOLE_DIR = FIRMWARE_DIR / "vband"
# The frozen band's heap: about what MicroPython has on an ESP32 without PSRAM (the reference board's
# PSRAM gives it far more), so that a band that only fits in a PC's memory fails here.
FROZEN_HEAP = "128K"
IMU_FOR_RATE = {26: "lsm6ds3trc", 52: "lsm6ds3trc", 104: "lsm6ds3trc", 25: "mpu6886", 50: "mpu6886",
                100: "mpu6886"}


def micropython_binary() -> str:
    try:
        return engines.micropython_binary()
    except engines.EngineError as exc:
        raise CliError(str(exc)) from exc


def socat_binary() -> str:
    found = shutil.which("socat")
    if not found:
        raise CliError("socat is not installed: apt-get install socat (the virtual band needs it for its pty)")
    return found


def prepare(folder: Path, trace: Path | None = None, fs: int = 52, speed: int = 1,
            settings: dict[str, int] | None = None) -> dict:
    """Write DIR/vband.json (and DIR/trace.bin from a CSV trace) for the band's hw_unix module."""
    from . import trace as tr

    if fs not in IMU_FOR_RATE:
        raise CliError(f"no simulated IMU offers {fs} Hz (choose from {sorted(IMU_FOR_RATE)})")
    from anklet_fw.imu import driver
    from anklet_fw.settings import Settings
    from anklet_fw.sim import RamFlash

    check = Settings(RamFlash(2, 256), rates=driver(IMU_FOR_RATE[fs]).RATES)
    for name, value in (settings or {}).items():
        try:
            check.check(name, value)
        except ValueError as exc:
            raise CliError(f"--set {name}: {exc}") from exc
    folder.mkdir(parents=True, exist_ok=True)
    cfg: dict = {"imu": IMU_FOR_RATE[fs], "speed": int(speed), "settings": {"fs": fs, **(settings or {})}}
    if trace is not None:
        try:
            counts = tr.to_counts(tr.read(trace), fs, 8)
        except (OSError, tr.TraceError) as exc:
            raise CliError(f"cannot read trace {trace}: {exc}") from exc
        (folder / "trace.bin").write_bytes(np.ascontiguousarray(counts, dtype="<i2").tobytes())
        cfg["trace"] = "trace.bin"
    (folder / "vband.json").write_text(json.dumps(cfg))
    return cfg


@dataclass
class VirtualBand:
    folder: Path
    port: str
    proc: subprocess.Popen

    def stop(self) -> None:
        """Stop socat and the MicroPython under it: the whole process group, so no band outlives its command."""
        _stop_group(self.proc)

    def __enter__(self) -> VirtualBand:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(folder: Path, timeout: float = 10.0, frozen: bool = False) -> VirtualBand:
    """Start socat + micropython with `folder` as the band's filesystem; returns once DIR/tty exists.

    frozen: run the frozen 32-bit build, whose path is the band's: the folder, then the frozen modules."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    tty = folder / "tty"
    if tty.is_symlink() or tty.exists():
        tty.unlink()
    if frozen:
        try:
            mp = band32.binary()
        except engines.EngineError as exc:
            raise CliError(str(exc)) from exc
        cmd = f"{mp} -X heapsize={FROZEN_HEAP} -m vband_main"
        env = dict(os.environ, MICROPYPATH=":.frozen")
    else:
        cmd = f"{micropython_binary()} -X heapsize=2M -m vband_main"
        env = dict(os.environ, MICROPYPATH=f":.frozen:{CONSOLE_DIR}")
    # A process group of its own: stop() ends socat and its MicroPython together, whatever interrupts us.
    proc = subprocess.Popen([socat_binary(), f"PTY,link={tty},raw,echo=0", f"EXEC:{cmd},pty=0,stderr"],
                            cwd=folder, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not tty.exists():
            if proc.poll() is not None:
                raise CliError(f"socat exited with code {proc.returncode} before the pty appeared")
            if time.monotonic() > deadline:
                raise CliError("the virtual band's pty did not appear")
            time.sleep(0.02)
    except BaseException:  # Ctrl-C included: never leave a band running behind
        _stop_group(proc)
        raise
    return VirtualBand(folder, str(tty), proc)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def cmd_vband(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    bad = [kv for kv in args.set or [] if "=" not in kv]
    if bad:
        raise CliError(f"--set takes NAME=INTEGER, not {bad[0]!r}")
    settings = dict(kv.split("=", 1) for kv in args.set) if args.set else {}
    try:
        ints = {k: int(v) for k, v in settings.items()}
    except ValueError as exc:
        raise CliError(f"--set takes NAME=INTEGER: {exc}") from exc
    prepare(folder, Path(args.trace) if args.trace else None, args.fs, args.speed, ints)
    band = start(folder, frozen=args.frozen)
    kind = "frozen 32-bit build" if args.frozen else "unix port"
    try:
        print(f"virtual band running: port {band.port} (folder {folder}, {kind}); Ctrl-C stops it", flush=True)
        while band.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        band.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("vband", help="run a virtual band (MicroPython unix port on a pty)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default="vband", help="the band's folder: its filesystem and flash (default ./vband)")
    p.add_argument("--trace", help="CSV trace fed to the simulated IMU (default: a band lying still)")
    p.add_argument("--fs", type=int, default=52, help="IMU data rate: 26/52/104 (LSM6DS3TR-C) or 25/50/100 "
                   "(MPU6886); default 52")
    p.add_argument("--speed", type=int, default=1, help="run the sample clock N times faster than real time")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="a band setting to apply at boot")
    p.add_argument("--frozen", action="store_true", help="run the frozen 32-bit build (`make band32`): the "
                   f"firmware in the image, a heap of {FROZEN_HEAP}")
    p.set_defaults(func=cmd_vband)
