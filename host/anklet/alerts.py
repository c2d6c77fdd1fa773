"""How an alarm reaches the parents: a loud sound, a desktop notification, the terminal.

Sound: data/alarm.wav played through whatever the platform has (paplay for PulseAudio
or PipeWire, aplay for ALSA, afplay on macOS, PowerShell's SoundPlayer on Windows),
with the terminal bell as the last resort. A sound that could not be played is
returned as an error text; the monitor raises it as a FAULT alarm of its own.
`mode="report"` never plays: it says what would have sounded (the demo, and machines
without an audio device).

Desktop notification: desktop-notifier. It logs rather than raises when there is no
desktop session, so failures are caught from its logger and reported once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

BELL = "\a"
PLAY_TIMEOUT_S = 10.0


def sound_file() -> Path:
    return Path(str(resources.files("anklet") / "data" / "alarm.wav"))


@dataclass(frozen=True)
class SoundResult:
    played: bool  # a sound came out (as far as the player says)
    how: str  # "paplay", "bell", "reported (demo)", ...
    error: str | None = None  # why the proper alarm sound could not be played

    def __str__(self) -> str:
        return self.how if self.error is None else f"{self.how} ({self.error})"


def _has_audio_device() -> tuple[bool, str]:
    """Best guess whether a sound can come out of this machine."""
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        return True, ""
    if shutil.which("pactl"):
        try:
            r = subprocess.run(["pactl", "info"], capture_output=True, timeout=3)
            if r.returncode == 0:
                return True, ""
        except (OSError, subprocess.TimeoutExpired):
            pass
    if os.path.isdir("/dev/snd") and any(n.startswith("pcm") for n in os.listdir("/dev/snd")):
        return True, ""
    return False, "no audio device (no sound server, no /dev/snd)"


def find_player() -> tuple[list[str] | None, str]:
    """The command that plays a WAV here (the file name is appended), or None and why not."""
    if sys.platform == "darwin" and shutil.which("afplay"):
        return ["afplay"], ""
    if sys.platform.startswith("win"):
        ps = shutil.which("powershell") or shutil.which("pwsh")
        if ps:
            return [ps, "-NoProfile", "-Command", "(New-Object Media.SoundPlayer $args[0]).PlaySync()"], ""
        return None, "PowerShell not found"
    ok, why = _has_audio_device()
    if not ok:
        return None, why
    for cmd in (["paplay"], ["pw-play"], ["aplay", "-q"]):
        if shutil.which(cmd[0]):
            return cmd, ""
    return None, "no sound player found (install pulseaudio-utils or alsa-utils)"


class Sound:
    """Plays the alarm sound. mode: "auto" (play, bell as last resort), "bell", "report" (never play)."""

    def __init__(self, mode: str = "auto", out: TextIO | None = None, path: Path | None = None,
                 player: list[str] | None = None) -> None:
        if mode not in ("auto", "bell", "report"):
            raise ValueError(f"unknown sound mode {mode!r}: use auto, bell or report")
        self.mode = mode
        self.out = out if out is not None else sys.stdout
        self.path = path or sound_file()
        self.why_not = ""
        if player is not None:
            self.player: list[str] | None = player
        elif mode == "auto":
            self.player, self.why_not = find_player()
        else:
            self.player = None
        self.plays = 0

    def describe(self) -> str:
        if self.mode == "report":
            return "reported, not played"
        if self.mode == "bell":
            return "terminal bell"
        if self.player:
            return f"{Path(self.player[0]).name} {self.path.name}"
        return f"terminal bell only ({self.why_not})"

    async def play(self) -> SoundResult:
        self.plays += 1
        if self.mode == "report":
            return SoundResult(False, "reported, not played")
        if self.mode == "bell" or not self.player:
            self._bell()
            return SoundResult(True, "terminal bell", None if self.mode == "bell" else self.why_not)
        name = Path(self.player[0]).name
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.player, str(self.path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            try:
                _, stderr = await asyncio.wait_for(proc.communicate(), PLAY_TIMEOUT_S)
                code = proc.returncode
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                stderr, code = b"timed out", -1
            if code == 0:
                return SoundResult(True, name)
            reason = f"{name} failed: {(stderr or b'').decode(errors='replace').strip()[:120] or code}"
        except OSError as exc:
            reason = f"{name} could not run: {exc}"
        self._bell()
        return SoundResult(True, "terminal bell", reason)

    def _bell(self) -> None:
        try:
            self.out.write(BELL)
            self.out.flush()
        except (OSError, ValueError):
            pass


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            msg = f"{msg}: {record.exc_info[1]}"
        self.messages.append(msg)


def _no_session_reason() -> str | None:
    if sys.platform.startswith("linux") and not (os.environ.get("DBUS_SESSION_BUS_ADDRESS") or os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return "no desktop session (no D-Bus session bus or display)"
    return None


class Notifier:
    """Desktop notifications that fail soft: send() returns None, or why it could not notify."""

    def __init__(self, enabled: bool = True, app_name: str = "anklet",
                 factory: Callable[[], object] | None = None) -> None:
        self.enabled = enabled
        self.app_name = app_name
        self._factory = factory
        self._notifier: object | None = None
        self.sent = 0
        self.unavailable: str | None = None if enabled else "disabled"

    async def send(self, title: str, message: str, critical: bool = True) -> str | None:
        if self.unavailable is not None:
            return self.unavailable
        reason = None if self._factory else _no_session_reason()
        if reason:
            self.unavailable = reason
            return reason
        log = logging.getLogger("desktop_notifier")
        cap = _Capture()
        log.addHandler(cap)
        old_propagate, log.propagate = log.propagate, False  # its tracebacks must not spill over the status
        try:
            if self._notifier is None:
                if self._factory is not None:
                    self._notifier = self._factory()
                else:
                    from desktop_notifier import DesktopNotifier

                    self._notifier = DesktopNotifier(app_name=self.app_name)
            from desktop_notifier import Urgency

            urgency = Urgency.Critical if critical else Urgency.Normal
            await asyncio.wait_for(self._notifier.send(title=title, message=message, urgency=urgency), 5.0)  # type: ignore[attr-defined]
        except Exception as exc:  # any failure of a desktop service must not stop the monitor
            cap.messages.append(f"{type(exc).__name__}: {exc}")
        finally:
            log.removeHandler(cap)
            log.propagate = old_propagate
        if cap.messages:
            self.unavailable = cap.messages[0][:200]
            return self.unavailable
        self.sent += 1
        return None
