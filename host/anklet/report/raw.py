"""Raw accelerometer recordings for the report and the EDF+ export.

The log keeps the band's events, not its raw samples: raw samples exist only where someone recorded them
(`anklet record` writes a trace CSV, header t,ax,ay,az in seconds and g). A trace's t counts from the start of
the recording, so it carries no wall-clock time of its own. A recording is placed on the clock by, in order:

1. the command line: ``PATH@2026-11-21T23:40:05`` (the wall time of t = 0);
2. a sidecar ``PATH.json`` next to it (same name, .json) holding ``{"start": "2026-11-21T23:40:05+01:00"}``;
3. a date and time in the file name: ``night-2026-11-21T23-40-05.csv`` or ``20261121-234005.csv``.

Times without a UTC offset are local time. A file's modification time is never used: copying a file changes
it, and a raw signal shown at the wrong moment would mislead a doctor. Recordings that cannot be placed are
reported, not guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from .. import timeparse, trace


class RawError(ValueError):
    """A recording cannot be used; the text names the file and why."""


@dataclass
class Recording:
    path: Path
    start: datetime  # wall time of t = 0 (aware)
    t: np.ndarray  # seconds since start
    acc: np.ndarray  # N x 3, g
    placed_by: str  # "command line" | "sidecar" | "file name"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=float(self.t[-1]))

    @property
    def first(self) -> datetime:
        return self.start + timedelta(seconds=float(self.t[0]))

    def covers(self, t0: datetime, t1: datetime) -> bool:
        """True if the recording overlaps [t0, t1]."""
        return self.first <= t1 and self.end >= t0

    def window(self, t0: datetime, t1: datetime) -> tuple[np.ndarray, np.ndarray]:
        """Samples in [t0, t1]: (seconds relative to t0, acc in g)."""
        a = (t0 - self.start).total_seconds()
        b = (t1 - self.start).total_seconds()
        i, j = np.searchsorted(self.t, [a, b], side="left")
        return self.t[i:j] - a, self.acc[i:j]

    def rate(self) -> float:
        """The mean sample rate."""
        return float((len(self.t) - 1) / (self.t[-1] - self.t[0]))

    def is_regular(self, tol: float = 1e-3, tol_s: float = 1.2e-4) -> bool:
        """Evenly spaced samples, as `anklet record` writes them: within `tol` of a period, plus `tol_s` for the
        4 decimals of t in a trace CSV (each time rounded by up to 0.05 ms)."""
        p = 1.0 / self.rate()
        expected = self.t[0] + p * np.arange(len(self.t))
        return bool(np.all(np.abs(self.t - expected) <= tol * p + tol_s))


_NAME_TIMES = (
    re.compile(r"(\d{4})-(\d{2})-(\d{2})[T_ ](\d{2})[-:.](\d{2})[-:.](\d{2})"),
    re.compile(r"(\d{4})(\d{2})(\d{2})[T_-](\d{2})(\d{2})(\d{2})"),
)


def parse_time(text: str, where: str) -> datetime:
    """A recording's start (anklet.timeparse forms); without an offset it is local time."""
    try:
        return timeparse.parse_time(text)
    except timeparse.TimeError as exc:
        raise RawError(f"{where}: {exc}") from None


def time_from_name(name: str) -> datetime | None:
    for rx in _NAME_TIMES:
        m = rx.search(name)
        if m:
            try:
                return datetime(*(int(g) for g in m.groups())).astimezone()
            except ValueError:
                return None
    return None


def placement(path: Path, explicit: str | None = None) -> tuple[datetime, str] | None:
    """Where the recording starts on the wall clock, and how that is known; None if it is not known."""
    if explicit is not None:
        return parse_time(explicit, str(path)), "command line"
    side = path.with_suffix(".json")
    if side.is_file():
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RawError(f"{side}: cannot read the sidecar: {exc}") from exc
        if isinstance(meta, dict) and "start" in meta:
            return parse_time(str(meta["start"]), str(side)), "sidecar"
    t = time_from_name(path.name)
    if t is not None:
        return t, "file name"
    return None


def _split(spec: str) -> tuple[Path, str | None]:
    # PATH@TIME; a bare '@' inside a path without a time after it is part of the path.
    if "@" in spec:
        path, _, when = spec.rpartition("@")
        if path and re.match(r"\d{4}-\d{2}-\d{2}", when):
            return Path(path), when
    return Path(spec), None


def load(path: Path, explicit: str | None = None) -> Recording:
    """One recording; RawError if it cannot be read or placed."""
    where = placement(path, explicit)
    if where is None:
        raise RawError(f"{path}: cannot tell when this recording started: name it with the start time "
                       f"(night-2026-11-21T23-40-05.csv), put {{\"start\": \"2026-11-21T23:40:05\"}} in "
                       f"{path.with_suffix('.json').name}, or give {path}@2026-11-21T23:40:05")
    try:
        tr = trace.read(path)
    except trace.TraceError as exc:
        raise RawError(str(exc)) from exc
    return Recording(path, where[0], tr.t, tr.acc, where[1])


def find(specs: list[str]) -> tuple[list[Recording], list[str]]:
    """Recordings from files, directories (their *.csv) and PATH@TIME specs.

    A file named on the command line that cannot be used is an error (RawError). In a directory, files that
    cannot be placed or read are skipped and reported in the returned warnings.
    """
    out: list[Recording] = []
    warnings: list[str] = []
    for spec in specs:
        path, when = _split(spec)
        if path.is_dir():
            for p in sorted(path.glob("*.csv")):
                try:
                    out.append(load(p))
                except RawError as exc:
                    warnings.append(f"skipped {exc}")
        elif path.is_file():
            out.append(load(path, when))
        else:
            raise RawError(f"{path}: no such file or directory")
    out.sort(key=lambda r: r.first)
    return out, warnings
