# The band's event queue: an append-only ring of event packets in flash.
#
# Nothing the detector reports may be lost between detection and the host's log,
# whatever happens to the power. So every event is written to flash as its final
# 42-byte packet (packet.py: sequence number, boot id, CRC-16) before anything
# sends it, and it stays there until the host acknowledges it.
#
# Layout on the block device `dev` (flashdev.py; esp32.Partition on the band):
#   blocks 0, 1   the ack journal: 8-byte entries (seq u32 LE, then its bitwise
#                 complement); the highest valid entry is the last acknowledged
#                 seq. One block fills, the other is erased and takes over.
#   blocks 2..    the ring: each block holds SLOTS packets at slot * 42, written
#                 in order; within a block, slot i holds seq0 + i.
# Recovery after a reset reads every slot: a block's records are its leading
# valid, consecutive packets; a torn write (power lost mid-packet) leaves a
# non-erased invalid slot, which closes that block: the next record starts a new
# one. Blocks are erased only when the ring reuses them, so wear is one erase per
# block per lap. Complement-checked journal entries cannot be misread after a
# torn write: any state that checks out holds the value being written.
#
# Sequence numbers are monotonic across resets: the next seq is one past the
# highest found in the ring or the journal, so a record is identified by seq
# alone as well as by (band, boot, seq). They fit 31 bits (an event a second
# for 68 years); the packet field is u32.
#
# When the ring is full, opening a block drops the unacknowledged records of the
# oldest one: `dropped` counts them and drop_report() turns them into a DROPPED
# event for the host.
from array import array

from . import packet
from .events import DROPPED
from .flashdev import IOCTL_BLOCK_ERASE, geometry

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_JOURNAL = const(2)  # blocks of ack journal before the ring
_JENT = const(8)
_SIZE = const(42)
_VERSION = const(1)


def _u32(buf, pos):
    return buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)


def _valid_packet(buf):
    if buf[0] != _VERSION:
        return False
    got = buf[_SIZE - 2] | (buf[_SIZE - 1] << 8)
    return got == packet.crc16(buf, 0, _SIZE - 2)


def _erased(buf):
    for b in buf:
        if b != 0xFF:
            return False
    return True


class EventQueue:
    def __init__(self, dev, boot):
        nblocks, bs = geometry(dev)
        if nblocks < _JOURNAL + 2:
            raise ValueError(f"event queue needs at least {_JOURNAL + 2} flash blocks, got {nblocks}")
        self.dev = dev
        self.boot = boot & 0xFFFF
        self.block_size = bs
        self.slots = bs // _SIZE
        self.nring = nblocks - _JOURNAL
        self.capacity = self.nring * self.slots  # records held at most; at least (nring - 1) * slots
        self.dropped = 0  # total records dropped (oldest first) since boot
        self._drop_n = 0  # dropped but not yet reported by drop_report()
        self._drop_first = 0
        self._drop_last = 0
        self._seq0 = array("i", [0] * self.nring)
        self._cnt = array("i", [0] * self.nring)
        self._pkt = bytearray(_SIZE)  # append's encoding buffer
        self._rbuf = bytearray(_SIZE)  # read_into's buffer
        self._jbuf = bytearray(_JENT)
        self.recovered_torn = 0  # torn or corrupt slots found at recovery
        self._recover_journal()
        self._recover_ring()

    # -- recovery -------------------------------------------------------------

    def _recover_journal(self):
        per = self.block_size // _JENT
        best = -1
        best_blk = 0
        ends = [0, 0]  # per journal block: index after its last non-erased entry
        jb = self._jbuf
        for blk in range(_JOURNAL):
            for i in range(per):
                self.dev.readblocks(blk, jb, i * _JENT)
                if _erased(jb):
                    continue
                ends[blk] = i + 1
                ok = True
                for k in range(4):
                    if jb[k] ^ jb[4 + k] != 0xFF:
                        ok = False
                if ok:
                    v = _u32(jb, 0)
                    if v > best:
                        best = v
                        best_blk = blk
        self._jblk = best_blk
        self._jpos = ends[best_blk]
        self._jper = per
        self._acked = best  # -1: nothing ever acknowledged

    def _recover_ring(self):
        dev, buf, slots, nring = self.dev, self._rbuf, self.slots, self.nring
        seq0, cnt = self._seq0, self._cnt
        head = -1
        head_torn = False
        for b in range(nring):
            n = 0
            torn = False
            for i in range(slots):
                dev.readblocks(_JOURNAL + b, buf, i * _SIZE)
                if buf[0] == 0xFF and _erased(buf):
                    break
                s = _u32(buf, 2)
                if not _valid_packet(buf) or (i > 0 and s != seq0[b] + i):
                    torn = True
                    self.recovered_torn += 1
                    break
                if i == 0:
                    seq0[b] = s
                n += 1
            cnt[b] = n
            if n and (head < 0 or seq0[b] > seq0[head]):
                head = b
                head_torn = torn
        if head < 0:  # nothing in the ring: start afresh in block 0
            self._head = nring - 1
            self._nlive = 0
            self._hslot = slots
            self._next = max(self._acked + 1, 1)
            self._first = self._next
            return
        # Walk back from the head over blocks that continue each other's sequence.
        tail = head
        nlive = 1
        while nlive < nring:
            p = (tail - 1) % nring
            if cnt[p] == 0 or seq0[p] + cnt[p] != seq0[tail]:
                break
            tail = p
            nlive += 1
        self._head = head
        self._nlive = nlive
        self._hslot = slots if head_torn else cnt[head]
        self._next = max(seq0[head] + cnt[head], self._acked + 1)
        self._first = min(max(self._acked + 1, seq0[tail]), self._next)
        self._release()

    # -- queue API ------------------------------------------------------------

    def first_seq(self):
        return self._first

    def next_seq(self):
        return self._next

    def depth(self):
        return self._next - self._first

    def append(self, rec):
        """Write the event record (kind, t_ms, f0..f6) to flash; return its seq."""
        if self._hslot >= self.slots:
            self._open_block()
        seq = self._next
        packet.encode_into(self._pkt, 0, seq, self.boot, rec)
        h = self._head
        try:
            self.dev.writeblocks(_JOURNAL + h, self._pkt, self._hslot * _SIZE)
        except Exception:
            # The slot's state is unknown: close the block, as recovery would.
            self._hslot = self.slots
            raise
        if self._cnt[h] == 0:
            self._seq0[h] = seq
        self._cnt[h] += 1
        self._hslot += 1
        self._next = seq + 1
        return seq

    def read_into(self, seq, buf, off=0):
        """Copy the 42-byte packet of `seq` into buf[off:]; False if it is not held (acked, dropped, unknown)."""
        if not self._first <= seq < self._next:
            return False
        nring = self.nring
        b = self._head - self._nlive + 1
        for _ in range(self._nlive):
            b %= nring
            s0 = self._seq0[b]
            if s0 <= seq < s0 + self._cnt[b]:
                rb = self._rbuf
                self.dev.readblocks(_JOURNAL + b, rb, (seq - s0) * _SIZE)
                if not _valid_packet(rb) or _u32(rb, 2) != seq:
                    return False
                for i in range(_SIZE):
                    buf[off + i] = rb[i]
                return True
            b += 1
        return False

    def ack(self, upto_seq):
        """Release every record with seq <= upto_seq; returns how many were released. Persists the ack first."""
        upto = min(upto_seq, self._next - 1)
        if upto < self._first:
            return 0
        self._journal_write(upto)
        self._acked = upto
        n = upto + 1 - self._first
        self._first = upto + 1
        self._release()
        return n

    def drop_report(self, rec, t_ms):
        """If records were dropped since the last report, fill rec as a DROPPED event and return True."""
        if not self._drop_n:
            return False
        rec[0] = DROPPED
        rec[1] = t_ms
        rec[2] = self._drop_n
        rec[3] = self._drop_first
        rec[4] = self._drop_last
        for i in range(5, 9):
            rec[i] = 0
        self._drop_n = 0
        return True

    # -- internals ------------------------------------------------------------

    def _release(self):
        # Forget fully acknowledged blocks at the tail (their flash is erased when the ring comes round).
        while self._nlive > 1:
            t = (self._head - self._nlive + 1) % self.nring
            if self._seq0[t] + self._cnt[t] > self._first:
                break
            self._nlive -= 1

    def _open_block(self):
        nring = self.nring
        nb = (self._head + 1) % nring
        if self._nlive >= nring:  # the ring is full: nb is the tail, drop what it still holds
            lo = max(self._first, self._seq0[nb])
            hi = self._seq0[nb] + self._cnt[nb]
            if hi > lo:
                if not self._drop_n:
                    self._drop_first = lo
                self._drop_n += hi - lo
                self._drop_last = hi - 1
                self.dropped += hi - lo
                self._first = hi
            self._nlive -= 1
        self._cnt[nb] = 0
        self._hslot = self.slots  # stays closed if the erase fails
        self.dev.ioctl(IOCTL_BLOCK_ERASE, _JOURNAL + nb)
        self._seq0[nb] = self._next
        self._head = nb
        self._nlive += 1
        self._hslot = 0

    def _journal_write(self, seq):
        if self._jpos >= self._jper:
            other = 1 - self._jblk
            self.dev.ioctl(IOCTL_BLOCK_ERASE, other)
            self._jblk = other
            self._jpos = 0
        jb = self._jbuf
        for k in range(4):
            v = (seq >> (8 * k)) & 0xFF
            jb[k] = v
            jb[4 + k] = v ^ 0xFF
        pos = self._jpos
        self._jpos = pos + 1  # a failed write leaves the entry used
        self.dev.writeblocks(self._jblk, jb, pos * _JENT)
