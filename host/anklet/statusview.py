"""The monitor's live status in the terminal.

On a TTY a small block is redrawn in place with plain ANSI (cursor up, clear line);
log lines (alarms, faults, link changes) are printed above it and scroll. When the
output is not a TTY (under make, in tests, piped to a file) there is no redraw: log
lines are printed as they happen, and a one-line status every `every_s` seconds of
monitor time.

One source of truth: the block is drawn from `source()` (the monitor's snapshot) at the
moment a log line is printed, so the block never says less than the line above it.
ALARM, ESCALATION and FAULT lines are banners across the whole width (reverse video on
a colour terminal, rows of `!` without one). Parents read one clock (local wall time,
HH:MM:SS, `clock_text`) and one form of duration (`duration_text`: "1 min 05 s");
what the radio or its libraries said goes in `detail`, shown only with `verbose`.

While the triage questions use the terminal (`pause`), log lines are held and printed
after the answers (`resume`); a banner level still prints at once, then the question
being asked is written again, so an alarm is never held back.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from .store import to_datetime

RED = "\x1b[1;31m"
YELLOW = "\x1b[1;33m"
GREEN = "\x1b[32m"
DIM = "\x1b[2m"
RESET = "\x1b[0m"
BANNER = "\x1b[1;7;31m"  # bold reverse red: a full-width bar nobody misses
BANNER_FAULT = "\x1b[1;7;33m"
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
    activity: str = ""  # the latest minute's movement summary, with the minute it is about
    episode: str = ""  # the current episode and its running duration, "" if none
    alarms: list[str] = field(default_factory=list)  # active alarms, loudest first
    muted_s: float | None = None  # remaining mute
    logged: int = 0
    ack_command: str = "anklet ack"  # the acknowledge command, as it works for this monitor's log


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


# Levels printed as full-width banners: the ones that sound.
BANNER_LEVELS = frozenset({"alarm", "escalation", "fault"})
LEVEL_CODES = {"alarm": RED, "escalation": RED, "fault": RED, "notice": YELLOW, "warning": YELLOW, "ok": GREEN}


class StatusView:
    def __init__(self, out: TextIO | None = None, tty: bool | None = None, every_s: float = 600.0,
                 color: bool | None = None, verbose: bool = False, width: int | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        if tty is None:
            try:
                tty = self.out.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = tty
        self.color = tty if color is None else color
        self.verbose = verbose  # radio and library details in the lines (`--verbose`)
        self.every_s = every_s
        self._width = width
        self.source: Callable[[], Snapshot] | None = None  # the monitor's snapshot: the block is drawn from it
        self.prompt: Callable[[], str] | None = None  # while paused: the question being asked, to write again
        self._drawn = 0  # lines of the block currently on screen
        self._last_line_at: float | None = None
        self._last: Snapshot | None = None
        self._drawn_key: tuple[object, ...] | None = None
        self._drawn_at = -1e9
        self.min_redraw_s = 0.1  # real seconds between redraws that change only clocks and counters
        self.paused = False
        self.held: list[str] = []  # lines held while paused

    def width(self) -> int:
        if self._width is not None:
            return self._width
        if self.tty:
            return max(40, min(120, shutil.get_terminal_size((80, 24)).columns))
        return 76

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

    def _fresh(self) -> Snapshot | None:
        """The state now: from the source when there is one, else the last snapshot given."""
        if self.source is not None:
            try:
                self._last = self.source()
            except Exception:  # a broken snapshot must not stop a log line (an alarm) from printing
                pass
        return self._last

    def pause(self, prompt: Callable[[], str] | None = None) -> None:
        """The triage questions are using the terminal: stop redrawing and hold log lines (banners still print)."""
        if self.tty:
            self._write(self._clear_block())
        self.paused = True
        self.prompt = prompt

    def resume(self) -> None:
        """The questions are over: print what was held, then the block again."""
        waiting = self.prompt() if self.prompt is not None else ""  # a question still open (the monitor stops)
        self.paused = False
        self.prompt = None
        held, self.held = self.held, []
        if held:
            self._write(("\n" if waiting else "") + f"(held while the questions were asked: {len(held)} line(s))\n"
                        + "".join(held))
        self._drawn_at = -1e9
        self._drawn_key = None
        if self.tty:
            self._write(self._clear_block() + self._block(self._fresh()))

    def line(self, now: float, text: str, level: str = "info", detail: str | None = None) -> None:
        """A log line, kept in the scrollback; `detail` (radio, library) only when verbose."""
        if detail and self.verbose:
            text = f"{text} [{detail}]"
        if level in BANNER_LEVELS:
            msg = self._banner(now, text, level)
        else:
            code = LEVEL_CODES.get(level, "")
            msg = f"{clock_text(now)}  {self._c(code, text) if code else text}\n"
        if self.paused:
            if level not in BANNER_LEVELS:
                self.held.append(msg)
                return
            # Never held: the alarm goes over the question, then the question is asked again.
            again = self.prompt() if self.prompt is not None else ""
            snap = self._fresh()
            ack = f"`{snap.ack_command}` in another terminal" if snap is not None else "`anklet ack` in another terminal"
            self._write("\n" + msg + f"(it sounds until acknowledged: {ack}, or the key a after the questions; "
                                      "the questions go on below)\n" + again)
            return
        if self.tty:
            self._write(self._clear_block() + msg + self._block(self._fresh()))
        else:
            self._write(msg)

    def _banner(self, now: float, text: str, level: str) -> str:
        """A log line nobody misses: the whole width, reverse video on a colour terminal, rows of ! without."""
        w = self.width()
        head = f"{clock_text(now)}  "
        if self.tty:  # a block as wide as the terminal
            body = textwrap.wrap(text, w - len(head) - 2, break_on_hyphens=False) or [""]
        else:  # a file or a pipe: the message on one line, for grep
            body = [text]
        rows = [head + body[0]] + [" " * len(head) + b for b in body[1:]]
        if self.color:
            code = BANNER_FAULT if level == "fault" else BANNER
            bar = code + " " * w + RESET
            return "\n".join([bar, *(code + (" " + r).ljust(w) + RESET for r in rows), bar]) + "\n"
        bar = "!" * w
        return "\n".join([bar, *("! " + r for r in rows), bar]) + "\n"

    def update(self, snap: Snapshot) -> None:
        self._last = snap
        if self.paused:
            return
        if self.tty:
            real = time.monotonic()
            key = self._key(snap)
            # Accelerated time: do not flood the terminal with clocks and counters; a change of state draws at once.
            if key == self._drawn_key and real - self._drawn_at < self.min_redraw_s:
                return
            self._drawn_at, self._drawn_key = real, key
            self._write(self._clear_block() + self._block(snap))
        elif self._last_line_at is None or snap.now - self._last_line_at >= self.every_s:
            self._last_line_at = snap.now
            self._write(f"{clock_text(snap.now)}  status: {self.summary(snap)}\n")

    @staticmethod
    def _key(s: Snapshot) -> tuple[object, ...]:
        """What the block says, apart from clocks and counters."""
        level = s.episode.rpartition("(")[2] if s.episode else ""
        return (s.link, bool(s.episode), level, tuple(s.alarms), s.worn, s.battery_pct, s.activity, bool(s.muted_s))

    def close(self) -> None:
        """The monitor stops: the block goes, and is not drawn again under the lines that follow."""
        if self.held:
            self.resume()
        if self.tty and self._last is not None:
            self._write(self._clear_block())
        self._last = None
        self.source = None

    # -- formatting --------------------------------------------------------------------

    @staticmethod
    def summary(s: Snapshot) -> str:
        parts = [f"band {s.link}"]
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
        w = self.width()
        link = s.link if s.link == "connected" else self._c(RED, s.link)
        silent = "-" if s.silent_s is None else duration_text(s.silent_s)
        if s.silent_s is not None and s.silent_s > 30:
            silent = self._c(RED, silent)
        bat = "-" if s.battery_pct is None else f"{s.battery_pct} %" + (
            f" ({s.battery_mv} mV)" if s.battery_mv and self.verbose else "")
        worn = "-" if s.worn is None else ("yes" if s.worn else self._c(RED, "NO"))

        def fit(text: str) -> str:  # a row longer than the terminal would wrap, and the redraw would miscount
            return text if len(text) <= w else text[:w - 1] + "…"

        episode = fit(f" episode    {s.episode}")
        lines = [
            self._c(DIM, fit(f"── anklet monitor · {s.band} · {clock_text(s.now)} ──")),
            f" band       {link}      last data {silent} ago",
            f" battery    {bat}      worn {worn}",
            fit(f" activity   {s.activity or '-'}"),
            episode[:12] + self._c(YELLOW, episode[12:]) if s.episode else " episode    none",
        ]
        if s.alarms:
            for a in s.alarms:
                row = (" " + a)[:w].ljust(w)
                loud = not a.startswith(("NOTICE", "WARNING"))
                lines.append(self._c(BANNER if loud else YELLOW, row) if self.color else
                             ("!" + row[1:] if loud else row))
            # Wrapped, not cut: the command must stay whole to work as written.
            lines += textwrap.wrap(f"press a (or run `{s.ack_command}`) to acknowledge" +
                                   (f"; muted {duration_text(s.muted_s)}" if s.muted_s else ""), w - 1,
                                   initial_indent=" ", subsequent_indent=" ", break_long_words=False,
                                   break_on_hyphens=False)
        elif s.muted_s:
            lines.append(f" muted      {duration_text(s.muted_s)} more")
        lines.append(self._c(DIM, fit(f" {s.logged} events logged · a: acknowledge · t: triage questions · Ctrl-C: stop")))
        self._drawn = len(lines)
        return "\n".join(lines) + "\n"


RADIO_LOGGERS = ("anklet.ble", "anklet.bumble_band", "anklet.bumble_backend", "bleak", "bumble", "dbus_fast")


def radio_logs(verbose: bool) -> None:
    """The radio libraries' own log messages: printed with `--verbose`, else kept from the parents' terminal (the
    monitor says what matters in its own words: "band out of reach", and a FAULT when events are lost)."""
    import logging

    if verbose:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s  [%(name)s] %(message)s", datefmt="%H:%M:%S")
        return
    for name in RADIO_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
