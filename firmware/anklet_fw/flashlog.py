# A small power-safe record store: fixed-size records appended to one of two
# flash blocks, the newest valid one wins. Used for settings and the boot count.
#
# A record is `size` payload bytes whose first four are a generation number
# (u32 LE, one more each write), then a CRC-16 of the payload. A write cut by a
# power loss fails its CRC and is ignored: the previous record stands. When the
# active block is full the other one is erased and takes over.
#
# A newest record that fails its CRC (a flipped bit, or that cut write) is not
# passed over silently: `damaged` is then True and the owner says so (settings
# raise the band's settings flag, which the host turns into a FAULT).
from . import packet
from .flashdev import IOCTL_BLOCK_ERASE, geometry


class RecordLog:
    def __init__(self, dev, size):
        nblocks, bs = geometry(dev)
        if nblocks < 2:
            raise ValueError("a record log needs 2 flash blocks")
        self.dev = dev
        self.size = size
        self.slot = size + 2
        self.per = bs // self.slot
        self.buf = bytearray(self.slot)
        self.payload = bytearray(size)  # the newest record's payload after load()
        self.gen = -1  # its generation; -1 if none
        self.damaged = False  # the newest record written fails its CRC: an older one was loaded
        self._blk = 0
        self._pos = 0
        self._load()

    def _load(self):
        buf = self.buf
        ends = [0, 0]
        last_bad = [False, False]  # per block: its last non-blank slot fails its CRC
        valid = [0, 0]
        best_blk = 0
        for blk in range(2):
            for i in range(self.per):
                self.dev.readblocks(blk, buf, i * self.slot)
                blank = True
                for b in buf:
                    if b != 0xFF:
                        blank = False
                        break
                if blank:
                    continue
                ends[blk] = i + 1
                n = self.size
                if buf[n] | (buf[n + 1] << 8) != packet.crc16(buf, 0, n):
                    last_bad[blk] = True
                    continue
                last_bad[blk] = False
                valid[blk] += 1
                g = buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24)
                if g > self.gen:
                    self.gen = g
                    best_blk = blk
                    self.payload[:] = buf[:n]
        self._blk = best_blk
        self._pos = ends[best_blk]
        other = 1 - best_blk
        # Newer than the winner: a damaged slot after it in its block, or a block begun after it whose
        # records all fail (the first record after a block switch).
        self.damaged = last_bad[best_blk] or (ends[other] > 0 and valid[other] == 0)

    def write(self, payload):
        """Store payload (size bytes; its first four are overwritten with the next generation)."""
        gen = self.gen + 1
        buf = self.buf
        n = self.size
        buf[:n] = payload
        for k in range(4):
            buf[k] = (gen >> (8 * k)) & 0xFF
        c = packet.crc16(buf, 0, n)
        buf[n] = c & 0xFF
        buf[n + 1] = c >> 8
        if self._pos >= self.per:
            other = 1 - self._blk
            self.dev.ioctl(IOCTL_BLOCK_ERASE, other)
            self._blk = other
            self._pos = 0
        pos = self._pos
        self._pos += 1  # the slot is used even if the write fails
        self.dev.writeblocks(self._blk, buf, pos * self.slot)
        self.gen = gen
        self.damaged = False
        self.payload[:] = buf[:n]
