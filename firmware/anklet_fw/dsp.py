# The detector's signal path: raw accelerometer counts in, one feature set per second out.
#
# Per raw sample: saturation check and a D-sample boxcar (decimation to fd = fs/D,
# 18..35 Hz). Per decimated sample: gravity removed by subtracting a centred 1 s
# moving mean per axis (posture changes become one short transient, not rhythm),
# scaled to 2 mg units and clamped at 2 g, written to a ring; jerks counted. Once a
# second (a "hop"): RMS amplitude of the last 3 s; if there is movement at all, the
# vector autocorrelation of those 3 s at lags for 0.9..8.5 Hz (rotation invariant:
# sum over axes, so no axis needs choosing and nothing doubles the frequency), its
# first strong peak, and the period refined by parabolic interpolation.
#
# Integers only, nothing allocated after __init__. Bit budget (ESP32 small ints are
# +-2**30): u = band value in 2 mg units, |u| <= 1000 (clamp); e = |u|^2 summed over
# axes <= 3e6; window sums over W <= 105 samples <= 3.2e8; (E + Eb) <= 9e8 < 2**30;
# correlations are shifted so (R >> s) < 2**19 before scaling by 2**10.
#
# host/anklet/twin.py computes exactly the same features with numpy, vectorised;
# tests hold the two to bit-for-bit equality.
from array import array

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


FS_MIN = const(25)
FS_MAX = const(104)
FD_MAX = const(35)  # highest decimated rate: bounds the ring, so the state stays under 4 KB
RANGES_G = (2, 4, 8, 16)

WIN_S = const(3)  # analysis window, seconds
LAG_F_LO = const(90)  # lowest frequency searched, centi-Hz
LAG_F_HI = const(850)  # highest frequency searched, centi-Hz
CLAMP_MG = const(2000)  # band values clamped here (beyond: impacts, not rhythm)
UNIT_MG = const(2)  # one band unit
GATE_MG = const(8)  # below this RMS the window is still: no correlation computed
JERK_MG = const(150)  # a decimated sample above this magnitude may start a jerk
_SHIFT_CAP = const(524288)  # 2**19
_SHAPE_CAP = const(524288)  # 2**19: sharp's numerator (about <= e) * 2**10 and crest's e * W * 8 stay < 2**30


def isqrt(n):
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


def geometry(fs):
    """Derived sizes for a data rate: (D, L, c, W, kmin, kmax, B). Shared with the twin."""
    if not FS_MIN <= fs <= FS_MAX:
        raise ValueError("data rate %d Hz out of range %d..%d" % (fs, FS_MIN, FS_MAX))
    d = -(-fs // FD_MAX)  # the fewest samples per block that keep fd <= 35 Hz (memory)
    lhp = (fs + d // 2) // d  # 1 s of decimated samples
    c = (lhp - 1) // 2  # centre of the moving-mean window
    w = (WIN_S * fs + d // 2) // d
    kmin = max(2, (fs * 100) // (d * LAG_F_HI))
    kmax = -((-fs * 100) // (d * LAG_F_LO))
    b = w + kmax + 2
    return d, lhp, c, w, kmin, kmax, b


def scale_for(range_g):
    """(counts per g, clamp in counts, Q16 multiplier counts -> 2 mg units)."""
    if range_g not in RANGES_G:
        raise ValueError("sensor range +-%r g not supported (use one of %s)" % (range_g, RANGES_G))
    cpg = 32768 // range_g
    clamp = cpg * CLAMP_MG // 1000
    k = (65536 * 1000 // UNIT_MG) // cpg
    return cpg, clamp, k


def posture_of(gx, gy, gz):
    ax = gx if gx >= 0 else -gx
    ay = gy if gy >= 0 else -gy
    az = gz if gz >= 0 else -gz
    if ax >= ay and ax >= az:
        return 0 if gx >= 0 else 1
    if ay >= az:
        return 2 if gy >= 0 else 3
    return 4 if gz >= 0 else 5


class Frontend:
    """Raw samples in; after each hop the attributes below hold that second's features.

    amp_mg, rhythm (0..1024, 0 if no peak), freq_chz (0 if no peak), sharp (change energy
    / energy * 256, about 0..1100), crest (peak sample energy / mean * 8), harm (sharp over
    a sine's at freq_chz, * 16; 0 if no peak), jerks, posture,
    sat (saturated raw samples), active (movement above the gate; the shape and rhythm
    features are 0 when not active).
    """

    def __init__(self, fs=50, range_g=8):
        self.fs = fs
        self.d, self.lhp, self.c, self.w, self.kmin, self.kmax, self.b = geometry(fs)
        self.cpg, self.clamp, self.k = scale_for(range_g)
        self.jerk_e = (JERK_MG // UNIT_MG) ** 2
        self.refractory = max(1, (fs // self.d) // 4)
        self.dring = array("h", bytes(6 * self.lhp))  # decimated raw, interleaved xyz
        self.v = array("h", bytes(12 * self.b))  # band values, ring stored twice so windows never wrap
        self.r = array("h", bytes(2 * (self.kmax + 2)))  # normalised autocorrelation by lag
        self.primed = False
        self.sx = self.sy = self.sz = 0
        self.ax = self.ay = self.az = 0
        self.dn = 0  # raw samples in the current decimation block
        self.hn = 0  # raw samples in the current hop
        self.di = 0  # next slot in dring
        self.q = 0  # next slot in v (single copy index)
        self.quiet = self.refractory
        self._reset_hop()
        self.amp_mg = self.rhythm = self.freq_chz = self.posture = 0
        self.sharp = self.crest = self.harm = 0
        self.fd2 = (fs * fs) // (self.d * self.d)  # decimated rate squared
        self.jerks = self.sat = 0  # every attribute exists before the heap is locked: no dict growth later
        self.active = False

    def _reset_hop(self):
        self.jerks_acc = 0
        self.sat_acc = 0

    def push(self, x, y, z):
        """Feed one raw sample; returns True when it completed a hop."""
        if x >= 32767 or x <= -32768 or y >= 32767 or y <= -32768 or z >= 32767 or z <= -32768:
            self.sat_acc += 1
        self.ax += x
        self.ay += y
        self.az += z
        self.dn += 1
        if self.dn == self.d:
            self._decimated()
        self.hn += 1
        if self.hn == self.fs:
            self.hn = 0
            self._hop()
            return True
        return False

    def _decimated(self):
        d = self.d
        x = self.ax // d
        y = self.ay // d
        z = self.az // d
        self.ax = self.ay = self.az = self.dn = 0
        ring = self.dring
        n = self.lhp
        if not self.primed:
            # Start as if the band had been still at this posture, so gravity is no step.
            for i in range(n):
                ring[3 * i] = x
                ring[3 * i + 1] = y
                ring[3 * i + 2] = z
            self.sx, self.sy, self.sz = x * n, y * n, z * n
            self.primed = True
        i = 3 * self.di
        self.sx += x - ring[i]
        self.sy += y - ring[i + 1]
        self.sz += z - ring[i + 2]
        ring[i] = x
        ring[i + 1] = y
        ring[i + 2] = z
        j = self.di - self.c
        if j < 0:
            j += n
        j *= 3
        self.di = self.di + 1 if self.di + 1 < n else 0
        cl = self.clamp
        k = self.k
        ux = ring[j] - self.sx // n
        uy = ring[j + 1] - self.sy // n
        uz = ring[j + 2] - self.sz // n
        ux = ((cl if ux > cl else -cl if ux < -cl else ux) * k) >> 16
        uy = ((cl if uy > cl else -cl if uy < -cl else uy) * k) >> 16
        uz = ((cl if uz > cl else -cl if uz < -cl else uz) * k) >> 16
        v = self.v
        p = 3 * self.q
        v[p] = ux
        v[p + 1] = uy
        v[p + 2] = uz
        p += 3 * self.b
        v[p] = ux
        v[p + 1] = uy
        v[p + 2] = uz
        self.q = self.q + 1 if self.q + 1 < self.b else 0
        if ux * ux + uy * uy + uz * uz > self.jerk_e:
            if self.quiet >= self.refractory:
                self.jerks_acc += 1
            self.quiet = 0
        elif self.quiet < self.refractory:
            self.quiet += 1

    def _hop(self):
        n = self.lhp
        self.posture = posture_of(self.sx // n, self.sy // n, self.sz // n)
        self.jerks = self.jerks_acc
        self.sat = self.sat_acc
        self._reset_hop()
        w = self.w
        v = self.v
        # Linear index (x3) of the newest sample, in the second copy of the ring.
        top = 3 * (self.q - 1 + self.b)
        lo = top - 3 * (w - 1)
        e = _energy(v, lo, top + 3)
        self.amp_mg = UNIT_MG * isqrt(e // w)
        self.active = self.amp_mg >= GATE_MG
        self.rhythm = self.freq_chz = self.sharp = self.crest = self.harm = 0
        if self.active:
            self._shape(e, lo, top + 3)
            self._correlate(e, lo, top + 3)
            f = self.freq_chz
            if f:
                # Sharpness over what a sine at the found frequency would give (about 16): a smooth swing
                # reads ~16 at any rate, a train of abrupt jerks far more. (sharp of a sine is
                # 1024 sin^2(pi f / fd), about f^2 / fd^2 with f in centi-Hz.)
                self.harm = (self.sharp * self.fd2 * 16) // (f * f)

    def _shape(self, e, lo, hi):
        # How sharp the movement is: energy of the sample-to-sample change against the
        # energy itself (4*sin^2(pi f/fd) for a sine, so it grows with frequency and with
        # the harmonics of abrupt jerks; smooth voluntary swings keep it low), and the
        # crest: the strongest sample against the mean (jerks are brief, swings are not).
        v = self.v
        dsum = 0
        emax = 0
        for i in range(lo, hi, 3):
            # Halved, so the sum stays a small int: |change| <= 2000 units per axis, 105 samples.
            a = (v[i] - v[i - 3]) >> 1
            b = (v[i + 1] - v[i - 2]) >> 1
            c = (v[i + 2] - v[i - 1]) >> 1
            dsum += a * a + b * b + c * c
            m = v[i] * v[i] + v[i + 1] * v[i + 1] + v[i + 2] * v[i + 2]
            if m > emax:
                emax = m
        # Shift so every product below stays a small int (< 2**30) on the band.
        while e >= _SHAPE_CAP:
            e >>= 1
            dsum >>= 1
            emax >>= 1
        self.sharp = (dsum << 10) // (e + 1)
        self.crest = (emax * self.w * 8) // (e + 1)

    def _correlate(self, e, lo, hi):
        v = self.v
        r = self.r
        k0 = self.kmin - 1
        k1 = self.kmax + 1
        # Energy of the window shifted back by k, updated lag by lag.
        eb = _energy(v, lo - 3 * k0, hi - 3 * k0)
        eb_lo = eb
        m = 0
        for k in range(k0, k1 + 1):
            if e + eb > m:
                m = e + eb
            a = lo - 3 * k - 3
            b = hi - 3 * k - 3
            eb += v[a] * v[a] + v[a + 1] * v[a + 1] + v[a + 2] * v[a + 2]
            eb -= v[b] * v[b] + v[b + 1] * v[b + 1] + v[b + 2] * v[b + 2]
        m >>= 1
        s = 0
        while (m >> s) >= _SHIFT_CAP:
            s += 1
        eb = eb_lo
        for k in range(k0, k1 + 1):
            den = ((e + eb) >> 1) >> s
            if den < 1:
                den = 1
            r[k] = ((_xcorr(v, lo, hi, 3 * k) >> s) << 10) // den
            a = lo - 3 * k - 3
            b = hi - 3 * k - 3
            eb += v[a] * v[a] + v[a + 1] * v[a + 1] + v[a + 2] * v[a + 2]
            eb -= v[b] * v[b] + v[b + 1] * v[b + 1] + v[b + 2] * v[b + 2]
        self._peak()

    def _peak(self):
        # Peaks are compared by their parabola-interpolated height: at 6-8 Hz a period
        # is only 3-5 samples, and the sampled peak can sit far below the true one.
        r = self.r
        best = 0
        for k in range(self.kmin, self.kmax + 1):
            if r[k] > r[k - 1] and r[k] >= r[k + 1]:
                h = _vertex(r[k - 1], r[k], r[k + 1])
                if h > best:
                    best = h
        if best <= 0:
            return
        # The shortest lag nearly as strong as the best: the period, not a multiple of it.
        thr = best - (best >> 2)
        h = 0
        for k in range(self.kmin, self.kmax + 1):
            if r[k] > r[k - 1] and r[k] >= r[k + 1]:
                h = _vertex(r[k - 1], r[k], r[k + 1])
                if h >= thr:
                    break
        a = r[k - 1]
        c = r[k + 1]
        frac = (128 * (a - c)) // (a - 2 * r[k] + c)  # a local maximum: the divisor is < 0
        if frac > 128:
            frac = 128
        elif frac < -128:
            frac = -128
        self.rhythm = h if h < 1024 else 1024
        self.freq_chz = (self.fs * 25600) // (self.d * (256 * k + frac))


def _vertex(a, b, c):
    # Height of the parabola through (-1, a), (0, b), (1, c) at its top; b is a local maximum.
    return b + ((a - c) * (a - c)) // (-8 * (a - 2 * b + c))


def _energy(v, lo, hi):
    acc = 0
    for i in range(lo, hi):
        acc += v[i] * v[i]
    return acc


def _xcorr(v, lo, hi, off):
    # The hot loop: about 3*W multiply-adds per lag, only for windows with movement.
    acc = 0
    for i in range(lo, hi):
        acc += v[i] * v[i - off]
    return acc
