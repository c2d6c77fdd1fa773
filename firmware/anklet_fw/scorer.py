# Per-second seizure score: the second's features and those of the seconds before it,
# through a few shallow decision trees learned offline (`make train` writes their
# constants to seizure_model.py from real recordings and simulated nights).
#
# Features (index: what), all integers:
#   0 amp_mg  1 rhythm  2 freq_chz  3 sharp  4 crest  5 jerks  12 harm   (this second, dsp.Frontend)
#   6 mean amp  7 least amp  8 mean rhythm  9 mean sharp  10 active seconds  11 amp spread
#   13 mean harm
#   (6..11 and 13 over the last CTX seconds: clonic jerking is sustained and keeps its size and
#   sharpness; voluntary movement and daily life come and go)
# Each tree is full and DEPTH levels deep, stored as its 2**DEPTH - 1 split nodes in heap order,
# each (feature, u16 threshold), x <= threshold goes left, then its 2**DEPTH s16 leaves. The score is the sum of the
# leaves plus the base, in 1/256 of log-odds: 0 is even odds.
from array import array

from . import seizure_model as m

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


CTX = const(8)
_GATE = const(8)  # dsp.GATE_MG: a second with movement at all
# Amplitudes are capped before the trees see them: the recordings that taught them hold big voluntary
# swings (running) and few big seizures: beyond the cap, size itself cannot lower a seizure's score.
AMP_CAP = const(250)
N_FEAT = const(14)


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


def _s16(b, i):
    v = b[i] | (b[i + 1] << 8)
    return v - 65536 if v >= 32768 else v


class Scorer:
    def __init__(self, model=m):
        # model: anything with BASE, DEPTH and TREES (the generated module by default; `make train`
        # passes candidates while it cross-validates).
        self.base = model.BASE
        self.trees = model.TREES
        self.depth = model.DEPTH
        self.inner = (1 << model.DEPTH) - 1  # split nodes per tree
        self.size = 3 * self.inner + 2 * (self.inner + 1)
        self.x = array("i", bytes(4 * N_FEAT))
        self.amp = array("i", bytes(4 * CTX))
        self.rh = array("i", bytes(4 * CTX))
        self.sh = array("i", bytes(4 * CTX))
        self.hm = array("i", bytes(4 * CTX))
        self.i = 0
        self.score = self.base

    def hop(self, amp_mg, rhythm, freq_chz, sharp, crest, harm, jerks):
        """One second of features in; returns (and keeps in .score) the seizure score."""
        i = self.i
        if amp_mg > AMP_CAP:
            amp_mg = AMP_CAP
        self.amp[i] = amp_mg
        self.rh[i] = rhythm
        self.sh[i] = sharp
        self.hm[i] = harm
        self.i = i + 1 if i + 1 < CTX else 0
        sa = sr = ss = shm = act = 0
        lo = 1 << 30
        hi = 0
        for j in range(CTX):
            a = self.amp[j]
            sa += a
            sr += self.rh[j]
            ss += self.sh[j]
            shm += self.hm[j]
            if a >= _GATE:
                act += 1
            if a < lo:
                lo = a
            if a > hi:
                hi = a
        x = self.x
        x[0] = amp_mg
        x[1] = rhythm
        x[2] = freq_chz
        x[3] = sharp
        x[4] = crest
        x[5] = jerks
        x[6] = sa // CTX
        x[7] = lo
        x[8] = sr // CTX
        x[9] = ss // CTX
        x[10] = act
        x[11] = ((hi - lo) * 64) // (x[6] + 1)
        x[12] = harm
        x[13] = shm // CTX
        t = self.trees
        s = self.base
        inner = self.inner
        size = self.size
        end = len(t)
        k = 0
        while k < end:  # (a range() with a variable step would allocate on MicroPython)
            n = 0  # nodes in heap order: children of n are 2n+1 and 2n+2
            for _ in range(self.depth):
                o = k + 3 * n
                n = 2 * n + (1 if x[t[o]] <= _u16(t, o + 1) else 2)
            s += _s16(t, k + 3 * inner + 2 * (n - inner))
            k += size
        self.score = s
        return s
