# Flash block devices for the event queue and settings.
#
# The interface is MicroPython's extended block protocol, the one esp32.Partition
# offers, so a partition drops in unchanged on the band:
#   readblocks(block, buf, offset)   read len(buf) bytes from block at offset
#   writeblocks(block, buf, offset)  program bytes (NOR flash: bits only go 1 -> 0)
#   ioctl(4, 0) block count, ioctl(5, 0) block size, ioctl(6, block) erase to 0xFF
# FileFlash here keeps the flash in a file (the virtual band, or a band without a
# spare partition); sim.RamFlash keeps it in RAM for tests and can cut the power
# after a given number of programmed or erased bytes.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


IOCTL_BLOCK_COUNT = const(4)
IOCTL_BLOCK_SIZE = const(5)
IOCTL_BLOCK_ERASE = const(6)
ERASED = const(0xFF)


def geometry(dev):
    return dev.ioctl(IOCTL_BLOCK_COUNT, 0), dev.ioctl(IOCTL_BLOCK_SIZE, 0)


class FileFlash:
    """NOR flash kept in a file of nblocks * block_size bytes, created erased if missing or of the wrong size."""

    def __init__(self, path, nblocks, block_size=4096):
        self.nblocks = nblocks
        self.block_size = block_size
        size = nblocks * block_size
        try:
            f = open(path, "r+b")
            f.seek(0, 2)
            if f.tell() != size:
                f.close()
                f = None
        except OSError:
            f = None
        if f is None:
            f = open(path, "w+b")
            chunk = b"\xff" * block_size
            for _ in range(nblocks):
                f.write(chunk)
            f.flush()
        self._f = f
        self._tmp = bytearray(64)
        self._views = {}  # memoryviews of _tmp by length, made once: writes then allocate nothing

    def _seek(self, block, offset, n):
        if not 0 <= block < self.nblocks or offset < 0 or offset + n > self.block_size:
            raise OSError(22)
        self._f.seek(block * self.block_size + offset)

    def readblocks(self, block, buf, offset=0):
        self._seek(block, offset, len(buf))
        self._f.readinto(buf)

    def writeblocks(self, block, buf, offset=0):
        # Program semantics: AND with what is there, in chunks through a fixed buffer.
        n = len(buf)
        self._seek(block, offset, n)
        tmp = self._tmp
        done = 0
        while done < n:
            k = min(len(tmp), n - done)
            view = self._views.get(k)
            if view is None:
                view = self._views[k] = memoryview(tmp)[:k]
            self._f.seek(block * self.block_size + offset + done)
            self._f.readinto(view)
            for i in range(k):
                tmp[i] &= buf[done + i]
            self._f.seek(block * self.block_size + offset + done)
            self._f.write(view)
            done += k
        self._f.flush()

    def ioctl(self, op, arg):
        if op == IOCTL_BLOCK_COUNT:
            return self.nblocks
        if op == IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == IOCTL_BLOCK_ERASE:
            # Through the fixed buffer, not a block-sized bytes object: opening a queue block allocates nothing.
            self._seek(arg, 0, 0)
            tmp = self._tmp
            for i in range(len(tmp)):
                tmp[i] = 0xFF
            left = self.block_size
            while left >= len(tmp):
                self._f.write(tmp)
                left -= len(tmp)
            if left:
                self._f.write(b"\xff" * left)
            self._f.flush()
            return 0
        return None

    def close(self):
        self._f.close()


class SubFlash:
    """A window of `count` blocks of another device starting at `first`: queue and settings share one partition."""

    def __init__(self, dev, first, count):
        self.dev = dev
        self.first = first
        self.count = count

    def readblocks(self, block, buf, offset=0):
        if not 0 <= block < self.count:
            raise OSError(22)
        self.dev.readblocks(self.first + block, buf, offset)

    def writeblocks(self, block, buf, offset=0):
        if not 0 <= block < self.count:
            raise OSError(22)
        self.dev.writeblocks(self.first + block, buf, offset)

    def ioctl(self, op, arg):
        if op == IOCTL_BLOCK_COUNT:
            return self.count
        if op == IOCTL_BLOCK_ERASE:
            if not 0 <= arg < self.count:
                raise OSError(22)
            return self.dev.ioctl(op, self.first + arg)
        return self.dev.ioctl(op, arg)


def __getattr__(name):
    # RamFlash and PowerCut moved to sim.py (tests only, kept off the band's heap); old imports still work.
    if name in ("RamFlash", "PowerCut"):
        from . import sim

        return getattr(sim, name)
    raise AttributeError(name)
