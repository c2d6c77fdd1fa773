"""The monitor's live status in the terminal.

On a TTY a small block is redrawn in place with plain ANSI (cursor up, clear line);
log lines (alarms, faults, link changes) are printed above it and scroll. When the
output is not a TTY (under make, in tests, piped to a file) there is no redraw: log
lines are printed as they happen, and a one-line status every `every_s` seconds of
monitor time.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from .store import to_datetime

RED = "\x1b[1;31m"
YELLOW = "\x1b[1;33m"
GREEN = "\x1b[32m"
DIM = "\x1b[2m"
RESET = "\x1b[0m"
UP_CLEAR = "\x1b[1A\x1b[2K"


@dataclass
class Snapshot:
    """What the status shows; the monitor fills it."""

    now: float
    band: str
    link: str  # "connected", "connecting", "reconnecting in 4 s (attempt 3)", ...
    silent_s: float | None  # time since the last data
    battery_pct: int | None = None
    battery_mv: int | None = None
    worn: bool | None = None
    activity: str = ""  # last minute's movement summary
    episode: str = ""  # the current episode and its running duration, "" if none
    alarms: list[str] = field(default_factory=list)  # active alarms, loudest first
    muted_s: float | None = None  # remaining mute
    logged: int = 0


def clock_text(ts: float) -> str:
    dt = to_datetime(ts)
    assert isinstance(dt, datetime)
    return dt.strftime("%H:%M:%S")


def duration_text(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class StatusView:
    def __init__(self, out: TextIO | None = None, tty: bool | None = None, every_s: float = 600.0,
                 color: bool | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        if tty is None:
            try:
                tty = self.out.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = tty
        self.color = tty if color is None else color
        self.every_s = every_s
        self._drawn = 0  # lines of the block currently on screen
        self._last_line_at: float | None = None
        self._last: Snapshot | None = None
        self._drawn_at = -1e9
        self.min_redraw_s = 0.1  # real seconds between redraws
        self.paused = False

    def _c(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            pass  # a closed terminal must not stop the monitor

    def _clear_block(self) -> str:
        s, self._drawn = UP_CLEAR * self._drawn, 0
        return s

    def pause(self) -> None:
        """Stop redrawing (the triage questions are using the terminal); log lines still print."""
        if self.tty:
            self._write(self._clear_block())
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._drawn_at = -1e9

    def line(self, now: float, text: str, level: str = "info") -> None:
        """A log line: kept in the scrollback."""
        code = {"alarm": RED, "escalation": RED, "fault": RED, "notice": YELLOW, "warning": YELLOW, "ok": GREEN}.get(level, "")
        msg = f"{clock_text(now)}  {self._c(code, text) if code else text}\n"
        if self.paused:
            self._write(msg)
        elif self.tty:
            self._write(self._clear_block() + msg + self._block(self._last))
        else:
            self._write(msg)

    def update(self, snap: Snapshot) -> None:
        self._last = snap
        if self.paused:
            return
        if self.tty:
            real = time.monotonic()
            if real - self._drawn_at < self.min_redraw_s:  # accelerated time: do not flood the terminal
                return
            self._drawn_at = real
            self._write(self._clear_block() + self._block(snap))
        elif self._last_line_at is None or snap.now - self._last_line_at >= self.every_s:
            self._last_line_at = snap.now
            self._write(f"{clock_text(snap.now)}  status: {self.summary(snap)}\n")

    def close(self) -> None:
        if self.tty and self._last is not None:
            self._write(self._clear_block())
        self._last = None

    # -- formatting --------------------------------------------------------------------

    @staticmethod
    def summary(s: Snapshot) -> str:
        parts = [f"link {s.link}"]
        if s.silent_s is not None:
            parts.append(f"last data {duration_text(s.silent_s)} ago")
        if s.battery_pct is not None:
            parts.append(f"battery {s.battery_pct} %")
        if s.worn is not None:
            parts.append("worn" if s.worn else "NOT WORN")
        if s.activity:
            parts.append(s.activity)
        parts.append(s.episode or "no episode")
        if s.alarms:
            parts.append("ALARMS: " + "; ".join(s.alarms))
        if s.muted_s:
            parts.append(f"muted {duration_text(s.muted_s)}")
        return ", ".join(parts)

    def _block(self, s: Snapshot | None) -> str:
        if s is None:
            return ""
        link = s.link if s.link == "connected" else self._c(RED, s.link)
        silent = "-" if s.silent_s is None else duration_text(s.silent_s)
        if s.silent_s is not None and s.silent_s > 30:
            silent = self._c(RED, silent)
        bat = "-" if s.battery_pct is None else f"{s.battery_pct} %" + (f" ({s.battery_mv} mV)" if s.battery_mv else "")
        worn = "-" if s.worn is None else ("yes" if s.worn else self._c(RED, "NO"))
        lines = [
            self._c(DIM, f"── anklet monitor · {s.band} · {clock_text(s.now)} ──"),
            f" link       {link}      last data {silent} ago",
            f" battery    {bat}      worn {worn}",
            f" activity   {s.activity or '-'}",
            f" episode    {self._c(YELLOW, s.episode) if s.episode else 'none'}",
        ]
        if s.alarms:
            for a in s.alarms:
                lines.append(" " + self._c(RED, "ALARM") + f"      {a}")
            lines.append("            press a (or run `anklet ack`) to acknowledge" +
                         (f"; muted {duration_text(s.muted_s)}" if s.muted_s else ""))
        elif s.muted_s:
            lines.append(f" muted      {duration_text(s.muted_s)} more")
        lines.append(self._c(DIM, f" {s.logged} events logged · a: acknowledge · t: triage questions · Ctrl-C: stop"))
        self._drawn = len(lines)
        return "\n".join(lines) + "\n"
