"""The one reader of times typed by people (`--since`, `--until`, a recording's start, a report's night).

Every command takes the same forms, in local time unless the text carries an offset:

    2026-11-30T20:00   2026-11-30 20:00   2026-11-30T20:00:05+01:00   an ISO date and time
    2026-11-30                                                     midnight at the start of that day
    22:30                                                          the latest 22:30 that is not in the future
    12h  90m  2d  30s                                              that long ago
    now

The result is always an aware datetime, so times from the log (aware) and from the command line compare.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta

FORMS = "an ISO date/time such as 2026-11-30T20:00 (local time), a date 2026-11-30, a clock time 22:30, " \
        "or an age such as 12h, 90m, 2d"
_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TimeError(ValueError):
    """Text that is not a time in any of the accepted forms; the message says which forms are."""


def parse_time(text: str, now: float | None = None) -> datetime:
    """`text` as an aware datetime (local time unless it says otherwise); raises TimeError."""
    try:
        dt = _parse_time(text, now)
        dt.timestamp()  # the log's times are Unix seconds: a time that has none cannot be compared with them
    except TimeError:
        raise
    except (OverflowError, OSError, ValueError):
        raise TimeError(f"cannot use the time {text!r}: it is too far from today") from None
    return dt


def _parse_time(text: str, now: float | None) -> datetime:
    s = text.strip()
    now_dt = datetime.fromtimestamp(time.time() if now is None else now).astimezone()
    if s.lower() == "now":
        return now_dt
    m = _AGE.match(s.lower())
    if m:
        return now_dt - timedelta(seconds=float(m[1]) * _UNITS[m[2]])
    m = _CLOCK.match(s)
    if m:
        h, mi, sec = int(m[1]), int(m[2]), int(m[3] or 0)
        if h > 23 or mi > 59 or sec > 59:
            raise TimeError(f"cannot read the time {text!r}: there is no such clock time; use {FORMS}")
        t = now_dt.replace(hour=h, minute=mi, second=sec, microsecond=0)
        if t > now_dt:
            t = (t.replace(tzinfo=None) - timedelta(days=1)).astimezone()
        return t
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise TimeError(f"cannot read the time {text!r}: use {FORMS}") from None
    return dt if dt.tzinfo is not None else dt.astimezone()


def parse_day(text: str, now: float | None = None) -> date:
    """A date (2026-11-30), or the date of any time `parse_time` reads (2d: the date two days ago)."""
    s = text.strip()
    try:
        return date.fromisoformat(s)
    except ValueError:
        pass
    try:
        return parse_time(s, now).date()
    except TimeError:
        raise TimeError(f"cannot read the date {text!r}: use YYYY-MM-DD (2026-11-30), or {FORMS}") from None
