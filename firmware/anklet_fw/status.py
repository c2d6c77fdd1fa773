# What the STATUS event reports: battery, wear state and the flags around them.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# STATUS flags field, bit by bit.
FLAG_NO_BATTERY = const(1)  # this board cannot measure its battery
FLAG_RAW = const(2)  # raw streaming is on
FLAG_IMU_ERROR = const(4)  # the last FIFO read failed
FLAG_SETTINGS = const(8)  # stored settings could not all be loaded (defaults used)
FLAG_DROPPED = const(16)  # the flash queue has dropped records since boot
FLAG_BATTERY_LOW = const(32)
FLAG_FLASH_ERROR = const(64)  # a flash write failed since boot

LOW_PCT = const(15)
# Single-cell LiPo resting voltage (mV) to charge (%), piecewise linear.
_CURVE = ((3300, 0), (3400, 2), (3500, 6), (3600, 15), (3700, 32), (3800, 50), (3900, 64), (4000, 78),
          (4100, 90), (4200, 100))


def battery_pct(mv):
    if mv <= _CURVE[0][0]:
        return 0
    for i in range(1, len(_CURVE)):
        v1, p1 = _CURVE[i]
        if mv <= v1:
            v0, p0 = _CURVE[i - 1]
            return p0 + (p1 - p0) * (mv - v0) // (v1 - v0)
    return 100


class Battery:
    """Battery voltage through a divider on an ADC with read_uv() (ESP32: calibrated microvolts)."""

    def __init__(self, adc, num=2, den=1, samples=8):
        self.adc = adc
        self.num = num
        self.den = den
        self.samples = samples

    def read_mv(self):
        if self.adc is None:
            return 0
        acc = 0
        for _ in range(self.samples):
            acc += self.adc.read_uv() // 1000
        return acc // self.samples * self.num // self.den


# Postures (dsp.posture_of codes: 0 +x, 1 -x, 2 +y, 3 -y, 4 +z, 5 -z up) the band cannot hold still on an
# ankle. Reference enclosure: y runs along the shin, +y toward the knee; "-y up" means the foot held above the
# knee, which a sleeping infant does not keep up for minutes without moving (a band hung by its strap does).
IMPOSSIBLE_POSTURES = (3,)
IMPOSSIBLE_S = const(120)


class Wear:
    """Band-off heuristics, fed once a second: no movement and no posture change for off_s seconds,
    or an impossible posture held still for IMPOSSIBLE_S seconds."""

    def __init__(self, off_s, impossible=IMPOSSIBLE_POSTURES):
        self.off_s = off_s
        self.impossible = impossible
        self.posture = -1
        self.still_s = 0
        self.worn = True

    def hop(self, posture, active):
        if active or posture != self.posture:
            self.still_s = 0
        else:
            self.still_s += 1
        self.posture = posture
        if self.still_s >= self.off_s:
            self.worn = False
        elif posture in self.impossible and self.still_s >= IMPOSSIBLE_S:
            self.worn = False
        else:
            self.worn = True
        return self.worn
