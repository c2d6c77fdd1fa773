# The band's event vocabulary: kinds and the meaning of their fields.
#
# An event is a fixed record of ints: (kind, t_ms, f0..f6). t_ms is the band's
# sample clock (milliseconds since the detector started, counted in samples, not
# wall time). Unused fields are 0. Kept as plain ints so the detector can write
# events into a preallocated ring without touching the heap.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


N_FIELDS = const(7)
REC_LEN = const(9)  # kind, t_ms, 7 fields

START = const(1)  # rhythm has held long enough to call it an episode
UPDATE = const(2)  # every few seconds while the episode lasts
END = const(3)  # the episode is over; its summary
ACTIVITY = const(4)  # once a minute: context for the host
BOOT = const(5)  # the band started: reason, boot count
DROPPED = const(6)  # the flash queue dropped its oldest records
STATUS = const(7)  # battery, wear, FIFO overflows, queue depth

# Field names per kind, in record order. Units are in the names:
# _ms milliseconds of band clock, _chz centi-hertz, rhythm 0..1024 (1024 =
# perfectly periodic), _mg milli-g RMS of the 1-8 Hz band.
FIELDS = {
    START: ("onset_ms", "freq_chz", "rhythm", "amp_mg"),
    UPDATE: ("onset_ms", "dur_ms", "freq_chz", "rhythm", "amp_mg", "drift_chz"),
    END: ("onset_ms", "dur_ms", "freq_chz", "f_start_chz", "f_end_chz", "rhythm", "amp_mg"),
    ACTIVITY: ("movement_mg", "jerks", "rhythm_s", "posture", "posture_changes", "saturated", "active_s"),
    BOOT: ("reason", "boot_count", "fw_version"),
    DROPPED: ("count", "first_seq", "last_seq"),
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
