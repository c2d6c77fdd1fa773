# The meaning of each event kind's fields: the host's view of an event record.
#
# The vocabulary itself (kinds, record length) is events.py. These tables are
# kept apart because only readers of records need them (the host, the tests);
# the band writes fields by position, and every name loaded on the band costs
# heap there.
from .events import ACTIVITY, BOOT, DROPPED, END, START, STATUS, UPDATE

# Field names per kind, in record order. Units are in the names:
# _ms milliseconds of band clock, _chz centi-hertz, rhythm 0..1024 (1024 =
# perfectly periodic), _mg milli-g RMS of the 1-8 Hz band.
FIELDS = {
    START: ("onset_ms", "freq_chz", "rhythm", "amp_mg"),
    UPDATE: ("onset_ms", "dur_ms", "freq_chz", "rhythm", "amp_mg", "drift_chz"),
    END: ("onset_ms", "dur_ms", "freq_chz", "f_start_chz", "f_end_chz", "rhythm", "amp_mg"),
    ACTIVITY: ("movement_mg", "jerks", "rhythm_s", "posture", "posture_changes", "saturated", "active_s"),
    BOOT: ("reason", "boot_count", "fw_version"),
    DROPPED: ("count", "first_seq", "last_seq", "cause", "total"),  # cause: eventq.LOST_*; total: running count
    STATUS: ("battery_mv", "battery_pct", "worn", "fifo_overflows", "queue_depth", "uptime_s", "flags"),
}

NAMES = {
    START: "start",
    UPDATE: "update",
    END: "end",
    ACTIVITY: "activity",
    BOOT: "boot",
    DROPPED: "dropped",
    STATUS: "status",
}

# Posture codes in ACTIVITY: which sensor axis gravity lies along, and its sign.
POSTURE_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")
