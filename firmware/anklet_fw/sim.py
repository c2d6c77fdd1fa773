# Register-level fakes of the IMUs, an I2C bus to hang them on, and sample
# sources, for the tests and the virtual band. They behave as the drivers
# assume the datasheets say: chip ids, software reset, FIFO modes, thresholds,
# overrun flags and burst reads that roll back over the FIFO output registers.
# Not installed on a band.
from array import array

from .flashdev import ERASED, IOCTL_BLOCK_COUNT, IOCTL_BLOCK_ERASE, IOCTL_BLOCK_SIZE

_RANGE_CODE_LSM6 = {0: 2, 1: 16, 2: 4, 3: 8}
_ODR_LSM6 = {0: 0, 1: 13, 2: 26, 3: 52, 4: 104, 5: 208, 6: 416}


class FakeI2C:
    """readfrom_mem_into / writeto_mem over fake chips; fail_reads/fail_writes make the next N calls raise EIO."""

    def __init__(self, *devices):
        self.devices = {}
        for d in devices:
            self.devices[d.addr] = d
        self.fail_reads = 0
        self.fail_writes = 0
        self.transactions = 0

    def scan(self):
        return sorted(self.devices)

    def _dev(self, addr):
        self.transactions += 1
        d = self.devices.get(addr)
        if d is None:
            raise OSError(19)  # ENODEV: no ACK
        return d

    def readfrom_mem_into(self, addr, reg, buf):
        d = self._dev(addr)
        if self.fail_reads:
            self.fail_reads -= 1
            raise OSError(5)
        d.sync()
        d.read(reg, buf)

    def writeto_mem(self, addr, reg, data):
        d = self._dev(addr)
        if self.fail_writes:
            self.fail_writes -= 1
            raise OSError(5)
        d.sync()
        for i in range(len(data)):
            d.write(reg + i, data[i])


class ArraySource:
    """Samples from an array('h') of x, y, z counts at +-8 g; after the end, a band lying still (0, 0, 1 g)."""

    def __init__(self, data):
        self.data = data
        self.n = len(data)  # samples held (x3); FileSource refills below this
        self.i = 0
        self.x = self.y = 0
        self.z = 4096

    def next(self):
        i = self.i
        if i + 3 <= self.n:
            d = self.data
            self.x, self.y, self.z = d[i], d[i + 1], d[i + 2]
            self.i = i + 3
        else:
            self.x, self.y, self.z = 0, 0, 4096
        return True

    def done(self):
        return self.i + 3 > self.n


class FileSource(ArraySource):
    """Samples from a file of little-endian int16 x, y, z at +-8 g, read in blocks."""

    def __init__(self, path, block=256):
        super().__init__(array("h", bytes(6 * block)))
        self.f = open(path, "rb")
        self._fill()

    def _fill(self):
        n = self.f.readinto(self.data) if self.f else 0
        self.n = (n or 0) // 2
        self.i = 0
        if not n and self.f:
            self.f.close()
            self.f = None

    def next(self):
        if self.i + 3 > self.n and self.f:
            self._fill()
        return ArraySource.next(self)

    def done(self):
        return self.f is None and self.i + 3 > self.n


def _clamp16(v):
    return 32767 if v > 32767 else (-32768 if v < -32768 else v)


class _Chip:
    """A chip with 256 registers, a byte FIFO and a sample clock (tick() or an injected millisecond clock)."""

    def __init__(self, addr, source, fifo_bytes, clock=None):
        self.addr = addr
        self.source = source
        self.regs = bytearray(256)
        self.fifo = bytearray(fifo_bytes)
        self.fhead = 0
        self.flen = 0
        self.clock = clock
        self._t = clock() if clock else 0
        self._acc = 0
        self.samples = 0  # produced by the sensor
        self.lost = 0  # samples that found the FIFO full

    def sync(self):
        if self.clock is None:
            return
        now = self.clock()
        rate = self.rate()
        self._acc += (now - self._t) * rate
        self._t = now
        n = self._acc // 1000
        self._acc -= n * 1000
        if n > 4096:  # a long stall: the FIFO overflows anyway
            self.lost += n - 4096
            n = 4096
        self.tick(n)

    def rate(self):
        return 0

    def fifo_clear(self):
        self.fhead = self.flen = 0

    def fifo_push(self, b):
        cap = len(self.fifo)
        if self.flen == cap:
            return False
        self.fifo[(self.fhead + self.flen) % cap] = b & 0xFF
        self.flen += 1
        return True

    def fifo_drop(self, n):
        n = min(n, self.flen)
        self.fhead = (self.fhead + n) % len(self.fifo)
        self.flen -= n

    def fifo_pop(self):
        if not self.flen:
            return 0
        b = self.fifo[self.fhead]
        self.fhead = (self.fhead + 1) % len(self.fifo)
        self.flen -= 1
        return b

    def tick(self, n=1):
        for _ in range(n):
            self.source.next()
            self.samples += 1
            self.sample(self.source.x, self.source.y, self.source.z)


class FakeLSM6(_Chip):
    """LSM6DS3TR-C (who=0x6A, 4 KB FIFO of 16-bit words) or LSM6DSO (who=0x6C, tagged 7-byte words)."""

    def __init__(self, source, addr=0x6A, who=0x6A, clock=None, extra_tags=0):
        self.who = who
        self.dso = who == 0x6C
        super().__init__(addr, source, 7 * 438 if self.dso else 4096, clock)
        self.extra_tags = extra_tags  # DSO: insert a timestamp word every N samples
        self.overrun = False
        self.resets = 0
        self._reset()

    def _reset(self):
        for i in range(256):
            self.regs[i] = 0
        self.regs[0x0F] = self.who
        self.regs[0x12] = 0x04  # IF_INC on after reset
        self.fifo_clear()
        self.overrun = False

    def _mode_reg(self):
        return 0x0A

    def _fifo_on(self):
        r = self.regs
        if r[0x10] >> 4 == 0:
            return False
        if self.dso:
            return r[0x0A] & 7 == 6 and r[0x09] & 0x0F != 0
        return r[0x0A] & 7 == 6 and (r[0x0A] >> 3) & 0x0F != 0 and r[0x08] & 7 == 1

    def rate(self):
        return _ODR_LSM6.get(self.regs[0x10] >> 4, 0)

    def write(self, reg, b):
        if reg == 0x12 and b & 1:
            self.resets += 1
            self._reset()
            return
        self.regs[reg] = b
        if reg == 0x0A and b & 7 == 0:  # bypass mode empties the FIFO
            self.fifo_clear()
            self.overrun = False

    def sample(self, x, y, z):
        if not self._fifo_on():
            return
        fs = _RANGE_CODE_LSM6[(self.regs[0x10] >> 2) & 3]
        if self.dso and self.extra_tags and self.samples % self.extra_tags == 0:
            self._push_word(0x04 << 3, 1, 2, 3)  # a timestamp word the driver must skip
        self._push_word(0x02 << 3, _clamp16(x * 8 // fs), _clamp16(y * 8 // fs), _clamp16(z * 8 // fs))

    def _push_word(self, tag, a, b, c):
        frame = 7 if self.dso else 6
        if len(self.fifo) - self.flen < frame:
            self.overrun = True  # continuous mode: the oldest word goes
            self.fifo_drop(frame)
        if self.dso:
            self.fifo_push(tag)
        for v in (a, b, c):
            self.fifo_push(v & 0xFF)
            self.fifo_push((v >> 8) & 0xFF)

    def read(self, reg, buf):
        out_reg = 0x78 if self.dso else 0x3E
        if reg == out_reg:
            for i in range(len(buf)):
                buf[i] = self.fifo_pop()
            return
        for i in range(len(buf)):
            buf[i] = self._reg(reg + i)

    def _reg(self, r):
        if r in (0x3A, 0x3B):
            words = self.flen // 7 if self.dso else self.flen // 2
            if r == 0x3A:
                return words & 0xFF
            hi = (words >> 8) & (0x03 if self.dso else 0x07)
            return hi | (0x40 if self.overrun else 0) | (0 if self.flen else 0x10)
        return self.regs[r & 0xFF]


class FakeMPU6886(_Chip):
    """MPU6886: 1 KB FIFO of 8-byte big-endian frames (accel x, y, z, temperature)."""

    def __init__(self, source, addr=0x68, clock=None):
        super().__init__(addr, source, 1024, clock)
        self.resets = 0
        self.int_status = 0
        self._reset()

    def _reset(self):
        for i in range(256):
            self.regs[i] = 0
        self.regs[0x75] = 0x19
        self.regs[0x6B] = 0x40  # asleep after reset
        self.fifo_clear()
        self.int_status = 0

    def rate(self):
        if self.regs[0x6B] & 0x40:
            return 0
        return 1000 // (1 + self.regs[0x19])

    def write(self, reg, b):
        if reg == 0x6B and b & 0x80:
            self.resets += 1
            self._reset()
            return
        if reg == 0x6A and b & 0x04:
            self.fifo_clear()
            b &= ~0x04
        self.regs[reg] = b

    def sample(self, x, y, z):
        r = self.regs
        if not (r[0x6A] & 0x40 and r[0x23] & 0x08):
            return
        if len(self.fifo) - self.flen < 8:
            self.lost += 1
            self.int_status |= 0x10
            if r[0x1A] & 0x40:  # stop when full
                return
            self.fifo_drop(8)
        fs = 2 << ((r[0x1C] >> 3) & 3)
        for v in (x * 8 // fs, y * 8 // fs, z * 8 // fs, 0x0AB0):
            v = _clamp16(v)
            self.fifo_push((v >> 8) & 0xFF)
            self.fifo_push(v & 0xFF)

    def read(self, reg, buf):
        if reg == 0x74:
            for i in range(len(buf)):
                buf[i] = self.fifo_pop()
            return
        for i in range(len(buf)):
            r = reg + i
            if r == 0x3A:
                buf[i] = self.int_status
                self.int_status = 0
            elif r == 0x72:
                buf[i] = (self.flen >> 8) & 0x1F
            elif r == 0x73:
                buf[i] = self.flen & 0xFF
            else:
                buf[i] = self.regs[r & 0xFF]


def make_imu(part, source, clock=None, addr=None):
    """A fake chip for a boards.py IMU part name."""
    if part == "mpu6886":
        return FakeMPU6886(source, addr or 0x68, clock)
    if part == "lsm6dso":
        return FakeLSM6(source, addr or 0x6A, 0x6C, clock)
    if part == "lsm6ds3trc":
        return FakeLSM6(source, addr or 0x6A, 0x6A, clock)
    raise ValueError("no fake for IMU part {!r}".format(part))


class PowerCut(Exception):
    """Raised by RamFlash when its byte budget runs out: the power went in the middle of a write."""


class RamFlash:
    """NOR flash in RAM. `budget`: bytes that may still be programmed or erased before PowerCut (None: no limit)."""

    def __init__(self, nblocks, block_size=4096):
        self.nblocks = nblocks
        self.block_size = block_size
        self.mem = bytearray(b"\xff" * (nblocks * block_size))
        self.budget = None
        self.writes = 0  # bytes programmed or erased so far
        self.erases = [0] * nblocks

    def _spend(self):
        # True if one more byte may change; raises once the budget is spent.
        if self.budget is not None:
            if self.budget <= 0:
                raise PowerCut()
            self.budget -= 1
        self.writes += 1

    def _check(self, block, offset, n):
        if not 0 <= block < self.nblocks or offset < 0 or offset + n > self.block_size:
            raise OSError(22)  # EINVAL

    def readblocks(self, block, buf, offset=0):
        n = len(buf)
        self._check(block, offset, n)
        a = block * self.block_size + offset
        buf[:] = self.mem[a : a + n]

    def writeblocks(self, block, buf, offset=0):
        n = len(buf)
        self._check(block, offset, n)
        a = block * self.block_size + offset
        mem = self.mem
        for i in range(n):
            self._spend()
            mem[a + i] &= buf[i]

    def ioctl(self, op, arg):
        if op == IOCTL_BLOCK_COUNT:
            return self.nblocks
        if op == IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == IOCTL_BLOCK_ERASE:
            self._check(arg, 0, 0)
            a = arg * self.block_size
            self.erases[arg] += 1
            for i in range(self.block_size):
                self._spend()
                self.mem[a + i] = ERASED
            return 0
        return None
