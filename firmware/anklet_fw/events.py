# The band's event vocabulary: the kinds of event and the record's shape.
#
# An event is a fixed record of ints: (kind, t_ms, f0..f6). t_ms is the band's
# sample clock (milliseconds since the detector started, counted in samples, not
# wall time). Unused fields are 0. Kept as plain ints so the detector can write
# events into a preallocated ring without touching the heap. The names of the
# fields live in event_fields.py, which the band never loads (RAM).
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
