# The band's detector: raw accelerometer counts in, events out.
#
#   det = Detector(fs=52, range_g=8)
#   det.push(x, y, z)            # every sample; integers only, no allocation
#   while det.pop_into(rec):     # rec: a preallocated array('i', 9) or list
#       queue.append(rec)
#
# Events wait in a small preallocated ring; if the caller does not drain it, the
# oldest are overwritten and counted in `overrun` (the caller drains after every
# FIFO batch, so this never happens in practice; tests check it stays 0).
from array import array

from .activity import Activity
from .dsp import Frontend
from .episode import Episodes, check_params
from .scorer import Scorer

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x

_RING = const(8)
_REC = const(9)

class Detector:
    def __init__(self, fs=50, range_g=8, params=None):
        self.fe = Frontend(fs, range_g)
        self.fs = fs
        self.scorer = Scorer()
        self.episodes = Episodes(self, check_params(params or {}))
        self.activity = Activity(self)
        self.ring = array("i", bytes(4 * _RING * _REC))
        self.head = 0  # next event to hand out
        self.count = 0
        self.overrun = 0
        self.hops = 0

    def t_ms(self):
        """The band's sample clock: milliseconds of samples seen so far (whole hops)."""
        return self.hops * 1000

    def push(self, x, y, z):
        fe = self.fe
        if fe.push(x, y, z):
            self.hops += 1
            t = self.hops * 1000
            # A quarter second of saturated samples makes the window's rhythm untrustworthy.
            rh = fe.rhythm if fe.sat * 4 < self.fs else 0
            score = self.scorer.hop(fe.amp_mg, rh, fe.freq_chz, fe.sharp, fe.crest, fe.harm, fe.jerks)
            rhythmic = self.episodes.hop(t, fe.amp_mg, rh, fe.freq_chz, score)
            self.activity.hop(t, fe.amp_mg, fe.jerks, rhythmic, fe.posture, fe.sat, fe.active)

    def emit(self, kind, t_ms, f0, f1, f2, f3, f4, f5, f6):
        if self.count == _RING:
            self.head = (self.head + 1) % _RING
            self.count -= 1
            self.overrun += 1
        i = ((self.head + self.count) % _RING) * _REC
        r = self.ring
        r[i] = kind
        r[i + 1] = t_ms
        r[i + 2] = f0
        r[i + 3] = f1
        r[i + 4] = f2
        r[i + 5] = f3
        r[i + 6] = f4
        r[i + 7] = f5
        r[i + 8] = f6
        self.count += 1

    def pending(self):
        return self.count

    def pop_into(self, rec):
        if self.count == 0:
            return 0
        i = self.head * _REC
        for j in range(_REC):
            rec[j] = self.ring[i + j]
        self.head = (self.head + 1) % _RING
        self.count -= 1
        return rec[0]
