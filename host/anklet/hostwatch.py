"""The computer that runs the monitor: the ways it can stop anklet being heard or watching without a word.

A monitor on a muted laptop, on a battery that will run out before morning, on a disk about to fill, or a computer
that goes to sleep at 2 a.m. watches nothing and says nothing. `SystemProbe` reads those conditions (the sound
server or mixer, the power supplies in sysfs, the free space under the log); the monitor turns what it reads into
FAULTs (`FaultTracker.host`). `SleepGuard` holds the system's sleep inhibitor for as long as the monitor runs.

What cannot be read is unknown, never a fault: a machine without PulseAudio/PipeWire or ALSA tools, or without
power-supply information, is not reported as muted or on battery. Parsers are pure functions, tested on the text
the real tools print.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

POWER_SUPPLY = Path("/sys/class/power_supply")
COMMAND_TIMEOUT_S = 3.0
DISK_LOW_B = 100 * 1024 * 1024  # under this, a night's log (a few MB) and its write-ahead file may not fit
HOST_BATTERY_LOW_PCT = 15  # on battery and at or under this: it will stop watching before morning


@dataclass(frozen=True)
class HostState:
    """One reading; None is "could not tell"."""

    muted: bool | None = None
    volume_pct: int | None = None
    on_battery: bool | None = None
    battery_pct: int | None = None
    disk_free_b: int | None = None


class HostProbe(Protocol):
    def read(self) -> HostState: ...


# -- parsing what the tools print --------------------------------------------------------------------------------


def parse_pactl_mute(text: str) -> bool | None:
    """`pactl get-sink-mute @DEFAULT_SINK@` prints "Mute: yes" or "Mute: no"."""
    m = re.search(r"Mute:\s*(yes|no)", text)
    return None if m is None else m[1] == "yes"


def parse_pactl_volume(text: str) -> int | None:
    """`pactl get-sink-volume @DEFAULT_SINK@`: the loudest channel's percentage."""
    levels = [int(p) for p in re.findall(r"(\d+)%", text)]
    return max(levels) if levels else None


def parse_amixer(text: str) -> tuple[bool | None, int | None]:
    """`amixer get Master`: "[74%] [on]" per channel; muted only if every channel is off."""
    levels = [int(p) for p in re.findall(r"\[(\d+)%\]", text)]
    switches = re.findall(r"\[(on|off)\]", text)
    muted = None if not switches else all(s == "off" for s in switches)
    return muted, (max(levels) if levels else None)


def read_power(root: Path = POWER_SUPPLY) -> tuple[bool | None, int | None]:
    """(on battery, battery %) from sysfs: on battery when a battery discharges and no mains supply is online."""
    if not root.is_dir():
        return None, None
    mains_online = False
    batteries: list[tuple[str, int | None]] = []
    for dev in sorted(root.iterdir()):
        kind = _read(dev / "type")
        if kind in ("Mains", "USB", "USB_C", "USB_PD"):
            mains_online = mains_online or _read(dev / "online") == "1"
        elif kind == "Battery" and _read(dev / "scope") != "Device":  # a mouse's battery is not the computer's
            cap = _read(dev / "capacity")
            batteries.append((_read(dev / "status") or "", int(cap) if cap and cap.isdigit() else None))
    if not batteries:
        return (False if mains_online else None), None
    pcts = [p for _, p in batteries if p is not None]
    pct = min(pcts) if pcts else None
    discharging = any(s == "Discharging" for s, _ in batteries)
    return (discharging and not mains_online), pct


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


# -- the probe of this computer -------------------------------------------------------------------------------------


class SystemProbe:
    """This computer's sound, power and disk, read with the tools it has."""

    def __init__(self, log_path: str | os.PathLike[str], power_root: Path = POWER_SUPPLY) -> None:
        self.log_dir = Path(log_path).resolve().parent
        self.power_root = power_root

    def read(self) -> HostState:
        muted, volume = self._audio()
        on_battery, pct = read_power(self.power_root)
        try:
            free: int | None = shutil.disk_usage(self.log_dir).free
        except OSError:
            free = None
        return HostState(muted, volume, on_battery, pct, free)

    def _audio(self) -> tuple[bool | None, int | None]:
        if shutil.which("pactl"):
            mute = _run(["pactl", "get-sink-mute", "@DEFAULT_SINK@"])
            vol = _run(["pactl", "get-sink-volume", "@DEFAULT_SINK@"])
            if mute is not None or vol is not None:
                return (parse_pactl_mute(mute or ""), parse_pactl_volume(vol or ""))
        if shutil.which("amixer"):
            out = _run(["amixer", "get", "Master"])
            if out is not None:
                return parse_amixer(out)
        return None, None


def _run(argv: list[str]) -> str | None:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


# -- keeping the computer awake ---------------------------------------------------------------------------------


def inhibitor_command(pid: int) -> list[str] | None:
    """The system's own way to keep this computer from sleeping while process `pid` runs, if it has one."""
    if sys.platform.startswith("linux") and shutil.which("systemd-inhibit"):
        return ["systemd-inhibit", "--what=sleep:idle:handle-lid-switch", "--who=anklet",
                "--why=watching a baby's band through the night", "--mode=block", "sleep", "infinity"]
    if sys.platform == "darwin" and shutil.which("caffeinate"):
        return ["caffeinate", "-dimsu", "-w", str(pid)]
    return None


class SleepGuard:
    """Holds a sleep inhibitor for as long as the monitor runs; `held` says whether the system took it."""

    def __init__(self, command: list[str] | None = None, settle_s: float = 0.5) -> None:
        self.command = command if command is not None else inhibitor_command(os.getpid())
        self.settle_s = settle_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.reason = ""

    def start(self) -> bool:
        if not self.command:
            self.reason = "this system offers no sleep inhibitor anklet knows (systemd-inhibit, caffeinate)"
            return False
        try:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        except OSError as exc:
            self.reason = f"{self.command[0]}: {exc}"
            return False
        time.sleep(self.settle_s)  # a refused inhibitor exits at once (no logind, not allowed)
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
            self.reason = f"{self.command[0]} refused: {err or 'exit ' + str(self.proc.returncode)}"
            self.proc = None
            return False
        return True

    @property
    def held(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(2)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc = None
