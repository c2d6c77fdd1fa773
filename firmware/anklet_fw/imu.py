# What every IMU driver offers the sampling loop, and the bus plumbing they share.
#
#   imu = imu_lsm6.LSM6(i2c, 0x6A)          # checks the chip id, raises OSError if absent
#   imu.configure(fs=52, range_g=8)         # ValueError naming a rate or range the chip lacks
#   n = imu.read(buf)                       # buf: array('h'); n samples (x, y, z interleaved)
#   imu.overflows, imu.errors               # FIFO overflows seen; bus errors retried or not
#
# The chip's own FIFO holds the samples between reads, so the CPU wakes about
# once a second (configure() sets the FIFO threshold to one second of samples for
# a wake-up interrupt). Counts are int16 at counts_per_g = 32768 // range_g, the
# detector's unit. A bus error is retried `retries` times; if it persists, read()
# raises ImuError after counting it, and the next read() starts afresh.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    from time import sleep_ms
except ImportError:  # CPython
    from time import sleep

    def sleep_ms(ms):
        sleep(ms / 1000)


RETRIES = const(3)
CHUNK = const(16)  # samples per bus transaction when draining the FIFO


class ImuError(OSError):
    """A bus fault that outlasted the retries, or a chip that is absent or unknown."""


class ImuBase:
    PART = "?"
    RATES: tuple = ()  # supported output data rates, Hz (integers: the detector's fs)
    RANGES = (2, 4, 8, 16)
    FRAME = 6  # bytes per sample in the FIFO

    def __init__(self, i2c, addr, retries=RETRIES):
        self.i2c = i2c
        self.addr = addr
        self.retries = retries
        self.errors = 0  # bus errors, retried or not
        self.overflows = 0
        self.fs = 0
        self.range_g = 0
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self._w1 = bytearray(1)
        self._chunk = bytearray(CHUNK * self.FRAME)
        self._one = bytearray(self.FRAME)

    def _bus(self, write, reg, buf):
        # Bounded retries: a transient bus error costs a retry, a dead bus a clear error.
        n = self.retries + 1
        while True:
            try:
                if write:
                    self.i2c.writeto_mem(self.addr, reg, buf)
                else:
                    self.i2c.readfrom_mem_into(self.addr, reg, buf)
                return
            except OSError as exc:
                self.errors += 1
                n -= 1
                if n <= 0:
                    raise ImuError(f"{self.PART}: I2C {'write' if write else 'read'} of register 0x{reg:02x} "
                                   f"at 0x{self.addr:02x} failed after {self.retries + 1} tries ({exc})") from exc

    def _read_mem(self, reg, buf):
        self._bus(False, reg, buf)

    def _reg(self, reg):
        self._read_mem(reg, self._b1)
        return self._b1[0]

    def _set(self, reg, value):
        self._w1[0] = value
        self._bus(True, reg, self._w1)

    def _check_config(self, fs, range_g):
        if fs not in self.RATES:
            raise ValueError("{} has no {} Hz data rate (use one of {})".format(self.PART, fs, self.RATES))
        if range_g not in self.RANGES:
            raise ValueError("{} has no +-{} g range (use one of {})".format(self.PART, range_g, self.RANGES))

    def _wait_clear(self, reg, mask, what):
        # Bounded poll after a software reset: the chips need well under 50 ms.
        for _ in range(50):
            if not self._reg(reg) & mask:
                return
            sleep_ms(1)
        raise ImuError("{}: {} did not complete".format(self.PART, what))

    def read(self, buf):
        """Drain whole samples from the FIFO into buf (array('h'), x y z interleaved); return how many."""
        raise NotImplementedError


def s16le(b, i):
    v = b[i] | (b[i + 1] << 8)
    return v - 65536 if v & 0x8000 else v


def s16be(b, i):
    v = (b[i] << 8) | b[i + 1]
    return v - 65536 if v & 0x8000 else v


def driver(part):
    """The driver class for a boards.py IMU part name; imports only that driver."""
    if part in ("lsm6ds3trc", "lsm6dso"):
        from .imu_lsm6 import LSM6

        return LSM6
    if part == "mpu6886":
        from .imu_mpu6886 import MPU6886

        return MPU6886
    raise ValueError(f"unknown IMU part {part!r} (known: lsm6ds3trc, lsm6dso, mpu6886)")


def probe(i2c, addr, part=None):
    """Open the driver for `part` (boards.py name) at addr, or try every known driver."""
    if part is not None:
        return driver(part)(i2c, addr)
    last = None
    for name in ("lsm6ds3trc", "mpu6886"):
        try:
            return driver(name)(i2c, addr)
        except OSError as exc:
            last = exc
    raise ImuError(f"no known IMU at 0x{addr:02x} ({last})")
