# The band's settings: detector thresholds, data rate, sensor range, raw
# streaming, status interval and the band-off timeout, kept in flash.
#
#   s = Settings(dev, rates=imu.RATES)
#   s.set("start_s", 8)        # ValueError with the reason; the old value stays
#   s["fs"], s.values, s.detector_params()
#
# Stored as one versioned record in a RecordLog (flashlog.py): u32 generation,
# u8 format version, u8 count, then count i32 values in NAMES order. NAMES only
# ever grows, so a record from older firmware loads with defaults for the new
# names; a setting's index in NAMES is its id on the radio's control point.
from . import episode
from .flashlog import RecordLog

VERSION = 1

# name: (default, lowest, highest); fs and range_g are further checked against the IMU and the detector.
LIMITS = {}
for _name, _lim in episode.PARAMS.items():
    LIMITS[_name] = _lim
LIMITS["fs"] = (52, 25, 104)  # Hz; must be a rate the IMU offers
LIMITS["range_g"] = (8, 2, 16)  # +-g; one of 2, 4, 8, 16
LIMITS["raw"] = (0, 0, 1)  # 1: stream raw samples for trace recording
LIMITS["status_s"] = (60, 10, 3600)  # seconds between STATUS events
# Kept for its id: "not worn" is now decided by the noise floor (status.Wear: 3 dead-still minutes).
LIMITS["off_min"] = (20, 5, 240)

NAMES = ("amp_min_mg", "rhythm_min", "start_s", "update_s", "gap_s", "fs", "range_g", "raw", "status_s",
         "off_min", "score_min")
DETECTOR = tuple(episode.PARAMS)
_RANGES = (2, 4, 8, 16)
_HDR = 6
_SIZE = _HDR + 4 * 16  # room for 16 settings


class Settings:
    def __init__(self, dev, rates=None, defaults=None):
        self.rates = tuple(rates) if rates else None
        self.values = {}
        for name in NAMES:
            self.values[name] = LIMITS[name][0]
        if defaults:
            for name, v in defaults.items():
                self.check(name, v)
                self.values[name] = v
        self.problems = []  # what could not be loaded, for the host to see
        self.log = RecordLog(dev, _SIZE)
        if self.log.damaged:
            what = "older settings are" if self.log.gen >= 0 else "defaults are"
            self.problems.append(f"the newest stored settings are damaged in flash: {what} in use; set them again")
        if self.log.gen >= 0:
            self._load(self.log.payload)

    def __getitem__(self, name):
        return self.values[name]

    def check(self, name, value):
        """Raise ValueError saying why `value` is not acceptable for `name`."""
        if name not in LIMITS:
            raise ValueError(f"unknown setting {name!r} (known: {', '.join(NAMES)})")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        lo, hi = LIMITS[name][1], LIMITS[name][2]
        if not lo <= value <= hi:
            raise ValueError(f"{name}={value} is out of range {lo}..{hi}")
        if name == "range_g" and value not in _RANGES:
            raise ValueError(f"range_g={value} is not a sensor range (use one of {_RANGES})")
        if name == "fs" and self.rates is not None and value not in self.rates:
            raise ValueError(f"fs={value} Hz is not a data rate of this band's IMU (use one of {self.rates})")

    def set(self, name, value):
        self.update({name: value})

    def update(self, changes):
        """Validate every change first; store them all in one record, or none and raise ValueError."""
        for name, v in changes.items():
            self.check(name, v)
        new = dict(self.values)
        new.update(changes)
        self._store(new)
        self.values = new
        self.problems = [p for p in self.problems if "damaged" not in p]  # a good newest record again

    def detector_params(self):
        out = {}
        for name in DETECTOR:
            out[name] = self.values[name]
        return out

    def _store(self, values):
        p = bytearray(_SIZE)
        p[4] = VERSION
        p[5] = len(NAMES)
        for i, name in enumerate(NAMES):
            v = values[name] & 0xFFFFFFFF
            for k in range(4):
                p[_HDR + 4 * i + k] = (v >> (8 * k)) & 0xFF
        self.log.write(p)

    def _load(self, p):
        if p[4] != VERSION:
            self.problems.append(f"stored settings have format {p[4]}, this firmware reads {VERSION}: defaults used")
            return
        for i in range(min(p[5], len(NAMES))):
            name = NAMES[i]
            o = _HDR + 4 * i
            v = p[o] | (p[o + 1] << 8) | (p[o + 2] << 16) | (p[o + 3] << 24)
            if v & 0x80000000:
                v -= 1 << 32
            try:
                self.check(name, v)
            except ValueError as exc:
                self.problems.append(f"stored {exc}: default {self.values[name]} used")
                continue
            self.values[name] = v


class BootLog:
    """Counts boots in flash and remembers the reset reason of each: count is this boot's number.

    `boot_id` (the u16 in every event packet) is the count plus a random base drawn when the boot log is
    new, so a wiped or re-flashed band does not start again at the boot ids it used before: the host
    never takes its new events for the old ones (docs/protocol.md, RESUME)."""

    def __init__(self, dev):
        self.log = RecordLog(dev, 8)
        self.count = 0
        self.reason = 0
        self.boot_id = 0
        p = self.log.payload
        self.last_reason = p[4] if self.log.gen >= 0 else 0
        if self.log.gen >= 0:
            self.base = p[6] | (p[7] << 8)
        else:
            import os

            r = os.urandom(2)
            self.base = r[0] | (r[1] << 8)

    def record(self, reason):
        p = bytearray(8)
        p[4] = reason & 0xFF
        p[6] = self.base & 0xFF
        p[7] = self.base >> 8
        self.log.write(p)
        self.count = self.log.gen + 1  # generation 0 is the first boot
        self.boot_id = (self.base + self.count) & 0xFFFF
        self.reason = reason
        return self.count
