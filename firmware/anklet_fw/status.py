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


# The wear decision. A band on a living leg is never perfectly still: breathing, pulse and muscle tone
# tilt it by a few mg from second to second even when the leg does not move, whatever its posture. A
# band lying off the ankle (on a table, in a drawer) sees only its sensor's noise, which averages to
# well under a mg over a second. So: a minute is "dead still" when no second had movement, the posture
# never changed, and each axis's 1 s mean stayed within FLOOR_MG; DEAD_MIN dead-still minutes in a row
# mean not worn. A still leg held in one orientation for minutes is still worn (the old rule, "no
# movement for a while, or foot-up held for 2 minutes", raised "not worn" many times a night on babies
# who never took it off).
FLOOR_MG = const(3)
DEAD_MIN = const(3)


class Wear:
    """Band-off detection, fed once a second with the detector's front end (dsp.Frontend)."""

    def __init__(self, off_s=0):
        # off_s: the stored off_min setting, kept for its id; the noise floor decides (above).
        self.off_s = off_s
        self.posture = -1
        self.n = 0  # seconds in the current minute
        self.moved = False
        self.lo_x = self.lo_y = self.lo_z = 0
        self.hi_x = self.hi_y = self.hi_z = 0
        self.dead = 0  # dead-still minutes in a row
        self.still_s = 0  # seconds since the last movement or posture change (for STATUS readers)
        self.worn = True

    def hop(self, fe):
        x = fe.sx
        y = fe.sy
        z = fe.sz
        if fe.active or fe.posture != self.posture:
            self.moved = True
            self.still_s = 0
        else:
            self.still_s += 1
        self.posture = fe.posture
        if self.n == 0:
            self.lo_x = self.hi_x = x
            self.lo_y = self.hi_y = y
            self.lo_z = self.hi_z = z
        else:
            self.lo_x = x if x < self.lo_x else self.lo_x
            self.hi_x = x if x > self.hi_x else self.hi_x
            self.lo_y = y if y < self.lo_y else self.lo_y
            self.hi_y = y if y > self.hi_y else self.hi_y
            self.lo_z = z if z < self.lo_z else self.lo_z
            self.hi_z = z if z > self.hi_z else self.hi_z
        self.n += 1
        if self.n == 60:
            # sx.. are sums of `lhp` decimated counts: the floor in the same units.
            floor = FLOOR_MG * fe.cpg * fe.lhp // 1000
            quiet = (self.hi_x - self.lo_x <= floor and self.hi_y - self.lo_y <= floor
                     and self.hi_z - self.lo_z <= floor)
            self.dead = self.dead + 1 if quiet and not self.moved else 0
            self.n = 0
            self.moved = False
            self.worn = self.dead < DEAD_MIN
        if self.moved:
            self.worn = True
        return self.worn
