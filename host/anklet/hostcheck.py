"""The computer that runs the monitor, checked for the ways it can stop the watch without a word.

Each check is a small probe: `check()` returns the problem in words, or None when all is well *or unknown* (no
pactl, no battery, a platform that cannot tell: unknown is not a fault). The monitor runs them every
`Settings.host_check_s` seconds in a thread (they may run a command) and each problem is a FAULT:

- `host_audio`: the system's audio output is muted or at zero volume (pactl, else amixer): the alarm would be silent.
- `host_power`: the computer runs on its battery: it will sleep or die before morning.
- `host_disk`: the disk under the log is nearly full: the log will stop before the night is over.
- `host_slept`: the computer was asleep (suspended) and nothing was watched meanwhile. The monotonic clock stands
  still in a suspend, so the no-data FAULT alone would not say so; CLOCK_BOOTTIME does not.

`SleepInhibitor` asks systemd-logind not to sleep while the monitor runs (systemd-inhibit, where there is one), and
holds a delay lock as well: a suspend that goes ahead all the same (a laptop's lid closed: logind ignores block locks
for the lid by default) waits a few seconds, in which `watch_sleep` hears logind's PrepareForSleep signal and the
monitor raises the FAULT `host_sleeping`, sounded here and sent to every output, before the computer goes quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CMD_TIMEOUT_S = 3.0
DISK_MIN_FREE_BYTES = 200 * 1024 * 1024  # a night's log is a few MB: this leaves room for many nights and the OS
DISK_MIN_FREE_PCT = 2.0
SLEPT_MIN_S = 5.0


class Probe(Protocol):
    code: str  # the FAULT's code
    once: bool  # True: each problem is reported once (an event); False: a condition that lasts until it clears

    def check(self) -> str | None: ...


def _run(*cmd: str) -> str | None:
    """A command's output, or None when it is not there or fails (unknown)."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=CMD_TIMEOUT_S,
                           env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


# -- audio ---------------------------------------------------------------------------------------------------


def parse_pactl_mute(text: str) -> bool | None:
    m = re.search(r"Mute:\s*(yes|no)", text)
    return None if m is None else m.group(1) == "yes"


def parse_pactl_volume(text: str) -> int | None:
    """The loudest channel's volume in percent ("Volume: front-left: 0 /   0% / -inf dB, ...")."""
    found = [int(p) for p in re.findall(r"(\d+)%", text.split("balance")[0])]
    return max(found) if found else None


def parse_amixer(text: str) -> tuple[bool | None, int | None]:
    """(muted, loudest volume %) from `amixer get Master`: "Front Left: Playback 0 [0%] [-65.25dB] [off]"."""
    pcts = [int(p) for p in re.findall(r"\[(\d+)%\]", text)]
    states = re.findall(r"\[(on|off)\]", text)
    muted = None if not states else all(s == "off" for s in states)
    return muted, (max(pcts) if pcts else None)


@dataclass
class AudioProbe:
    code: str = "host_audio"
    once: bool = False

    def check(self) -> str | None:
        mute = _run("pactl", "get-sink-mute", "@DEFAULT_SINK@")
        if mute is not None:
            muted = parse_pactl_mute(mute)
            vol = _run("pactl", "get-sink-volume", "@DEFAULT_SINK@")
            pct = parse_pactl_volume(vol) if vol is not None else None
        else:
            out = _run("amixer", "get", "Master")
            if out is None:
                return None  # no sound system we know how to ask: unknown
            muted, pct = parse_amixer(out)
        return audio_problem(muted, pct)


def audio_problem(muted: bool | None, pct: int | None) -> str | None:
    if muted:
        return "the computer's sound is muted: the alarm would be silent here; unmute it"
    if pct == 0:
        return "the computer's volume is at zero: the alarm would be silent here; turn it up"
    return None


# -- power -----------------------------------------------------------------------------------------------------


def power_problem(root: Path = Path("/sys/class/power_supply")) -> str | None:
    """On battery (mains absent, a battery discharging) from Linux's sysfs; None when on mains or unknown."""
    try:
        supplies = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return None

    def read(p: Path, name: str) -> str:
        with contextlib.suppress(OSError):
            return (p / name).read_text().strip()
        return ""

    mains = [read(p, "online") for p in supplies if read(p, "type") in ("Mains", "USB")]
    batteries = [p for p in supplies if read(p, "type") == "Battery" and read(p, "scope") != "Device"]
    if "1" in mains or not batteries:
        return None  # on mains, or a desktop without a battery
    discharging = [p for p in batteries if read(p, "status") == "Discharging"]
    if not discharging:
        return None  # full, charging, or it cannot say
    pct = read(discharging[0], "capacity")
    charge = f" ({pct} %)" if pct.isdigit() else ""
    return (f"the computer runs on its battery{charge}: it may sleep or switch off before morning; plug it in")


@dataclass
class PowerProbe:
    root: Path = Path("/sys/class/power_supply")
    code: str = "host_power"
    once: bool = False

    def check(self) -> str | None:
        return power_problem(self.root)


# -- disk -----------------------------------------------------------------------------------------------------


def disk_problem(path: Path, total: int, free: int, min_free: int = DISK_MIN_FREE_BYTES,
                 min_pct: float = DISK_MIN_FREE_PCT) -> str | None:
    if total <= 0:
        return None
    pct = 100.0 * free / total
    if free >= min_free and pct >= min_pct:
        return None
    return (f"the disk under the log {path} is nearly full ({free / 1e6:.0f} MB free, {pct:.1f} %): the log will "
            "stop; free some space")


@dataclass
class DiskProbe:
    path: Path
    min_free: int = DISK_MIN_FREE_BYTES
    min_pct: float = DISK_MIN_FREE_PCT
    code: str = "host_disk"
    once: bool = False

    def check(self) -> str | None:
        where = Path(self.path)
        where = where if where.is_dir() else where.parent
        try:
            u = shutil.disk_usage(where)
        except OSError:
            return None  # the log's own FAULTs say what is wrong with its folder
        return disk_problem(Path(self.path), u.total, u.free, self.min_free, self.min_pct)


# -- sleep ----------------------------------------------------------------------------------------------------


def _suspended_offset() -> float | None:
    boot = getattr(time, "CLOCK_BOOTTIME", None)
    if boot is None:
        return None
    return time.clock_gettime(boot) - time.monotonic()


@dataclass
class SleepProbe:
    """A suspend found after the fact: CLOCK_BOOTTIME ran on while CLOCK_MONOTONIC stood still."""

    code: str = "host_slept"
    once: bool = True

    def __post_init__(self) -> None:
        self._offset = _suspended_offset()

    def check(self) -> str | None:
        now = _suspended_offset()
        if now is None or self._offset is None:
            return None
        slept, self._offset = now - self._offset, now
        return slept_problem(slept)


def slept_problem(slept_s: float) -> str | None:
    if slept_s < SLEPT_MIN_S:
        return None
    from .statusview import duration_text

    return (f"the computer was asleep for {duration_text(slept_s)}: nothing was watched meanwhile; switch off its "
            "sleep (anklet takes a sleep inhibitor where it can)")


SLEEP_MATCH = "type='signal',interface='org.freedesktop.login1.Manager',member='PrepareForSleep'"


class SleepSignals:
    """logind's PrepareForSleep in `dbus-monitor` output: the signal's header line, then "   boolean true" (going to
    sleep) or "   boolean false" (awake again)."""

    def __init__(self) -> None:
        self._pending = False

    def feed(self, line: str) -> bool | None:
        if "member=PrepareForSleep" in line:
            self._pending = True
            return None
        if self._pending:
            self._pending = False
            word = line.split()
            if len(word) == 2 and word[0] == "boolean":
                return word[1] == "true"
        return None


async def watch_sleep(on_change: Callable[[bool], None]) -> str:
    """Call on_change(True) when the computer is about to sleep, on_change(False) when it is awake again, until
    cancelled; return why not (no dbus-monitor, no system bus) when it cannot listen."""
    exe = shutil.which("dbus-monitor")
    if exe is None:
        return "dbus-monitor is not available"
    try:
        proc = await asyncio.create_subprocess_exec(exe, "--system", SLEEP_MATCH, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        return str(exc)
    signals = SleepSignals()
    try:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            going = signals.feed(raw.decode("utf-8", "replace"))
            if going is not None:
                on_change(going)
        err = (await proc.stderr.read()).decode("utf-8", "replace").strip() if proc.stderr else ""
        return err.splitlines()[-1] if err else f"dbus-monitor exited with {await proc.wait()}"
    finally:
        if proc.returncode is None:
            proc.kill()
            with contextlib.suppress(Exception):
                await proc.wait()


def default_probes(log_path: str | Path) -> list[Probe]:
    return [AudioProbe(), PowerProbe(), DiskProbe(Path(log_path)), SleepProbe()]


class SleepInhibitor:
    """Asks systemd-logind not to sleep (or idle-suspend) while the monitor runs.

    The inhibitor lives in a `systemd-inhibit` process that waits for this one to end (`tail --pid`), so a killed
    monitor does not leave the computer unable to sleep."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.delay_proc: subprocess.Popen[bytes] | None = None
        self.why_not = ""

    def start(self) -> bool:
        exe = shutil.which("systemd-inhibit")
        if exe is None or shutil.which("tail") is None:
            self.why_not = "systemd-inhibit is not available"
            return False
        cmd = [exe, "--what=sleep:idle", "--who=anklet", "--why=watching the baby's band", "--mode=block",
               "tail", f"--pid={os.getpid()}", "-f", "/dev/null"]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            self.why_not = str(exc)
            return False
        # A suspend that goes ahead all the same waits for this lock (logind's InhibitDelayMaxSec, 5 s by
        # default): time to sound the FAULT and tell the outputs.
        delay = [exe, "--what=sleep", "--who=anklet", "--why=saying that the band is no longer watched",
                 "--mode=delay", "tail", f"--pid={os.getpid()}", "-f", "/dev/null"]
        with contextlib.suppress(OSError):
            self.delay_proc = subprocess.Popen(delay, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, start_new_session=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(0.5)  # no logind (a container, no D-Bus): it fails at once
        if self.proc.returncode is not None:
            err = self.proc.stderr.read().decode("utf-8", "replace").strip() if self.proc.stderr else ""
            self.why_not = err.splitlines()[-1] if err else f"systemd-inhibit exited with {self.proc.returncode}"
            self.stop()
            return False
        return True

    def stop(self) -> None:
        for p in (self.proc, self.delay_proc):
            if p is not None and p.poll() is None:
                p.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(2)
        self.proc = self.delay_proc = None
