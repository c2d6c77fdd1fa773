# The band's event queue: an append-only ring of event packets in flash.
#
# Nothing the detector reports may be lost between detection and the host's log,
# whatever happens to the power. So every event is written to flash as its final
# 42-byte packet (packet.py: sequence number, boot id, CRC-16) before anything
# sends it, and it stays there until the host acknowledges it.
#
# Layout on the block device `dev` (flashdev.py; esp32.Partition on the band):
#   blocks 0, 1   the journal: 8-byte entries (value u32 LE, then its bitwise
#                 complement). Bit 31 clear: an acknowledged seq (the highest
#                 valid one is the last acknowledged); bit 31 set: the running
#                 count of records lost on the band (the highest is current).
#                 One block fills, the other is erased and takes over, and the
#                 latest of both values is written into it first.
#   blocks 2..    the ring: each block holds SLOTS packets at slot * 42, written
#                 in order; within a block, slot i holds seq0 + i.
# Recovery after a reset reads every slot. A slot that is not erased but fails
# its CRC (a torn write, or a bit flipped since) is a hole: only that record is
# lost, and its seq is burnt, never given to another record (the host may hold
# the record already). A block's first seq comes from any valid slot in it, so a
# hole anywhere, slot 0 too, neither hides the block's other records nor breaks
# the chain of older blocks. A torn write closes its block: the next record
# starts a new one. Blocks are erased only when the ring reuses them, so wear is
# one erase per block per lap. Complement-checked journal entries cannot be
# misread after a torn write: any state that checks out holds the value being
# written.
#
# Sequence numbers are monotonic across resets: the next seq is one past the
# highest found in the ring or the journal, so a record is identified by seq
# alone as well as by (band, boot, seq). They fit 31 bits (an event a second
# for 68 years); the packet field is u32.
#
# Every unacknowledged record the band loses leaves a gap in seq, and each gap is
# reported with its cause: LOST_FULL (the ring was full: opening a block drops
# the oldest one's records) or LOST_FLASH (a record found damaged at recovery, or
# unreadable when sent). drop_report() turns them into DROPPED events (count,
# first seq, last seq, cause, running total). `lost` is that running total; it is
# kept in the journal, so neither a reset nor a DROPPED event dropped in its turn
# loses it: every DROPPED event and every status frame carries it.
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
_LOST_BIT = const(0x80)  # in a journal entry's byte 3: the entry holds the lost count, not an ack

LOST_FULL = const(1)  # the ring was full while the host was away: the oldest unacknowledged records went
LOST_FLASH = const(2)  # a record damaged in flash (bit flip, or a write cut by a power loss)


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
        self.dropped = 0  # records lost (any cause) since boot
        self.lost = 0  # records lost (any cause) since the flash was new: kept in the journal
        # Per cause (index LOST_FULL, LOST_FLASH): lost but not yet reported by drop_report(), and the seq range.
        self._rep_n = array("i", [0, 0, 0])
        self._rep_first = array("i", [0, 0, 0])
        self._rep_last = array("i", [0, 0, 0])
        self._zero = bytearray(2)  # programmed over a damaged slot's version and kind: counted, never again
        self._seq0 = array("i", [0] * self.nring)
        self._cnt = array("i", [0] * self.nring)
        self._pkt = bytearray(_SIZE)  # append's encoding buffer
        self._rbuf = bytearray(_SIZE)  # read_into's buffer
        self._jbuf = bytearray(_JENT)
        self.recovered_torn = 0  # torn or corrupt slots found at recovery
        self._recover_journal()
        self._recover_ring()
        if self._rep_n[LOST_FLASH]:
            self._journal_lost()

    # -- recovery -------------------------------------------------------------

    def _recover_journal(self):
        per = self.block_size // _JENT
        best = -1
        best_blk = 0
        lost = 0
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
                if not ok:
                    continue
                if jb[3] & _LOST_BIT:
                    jb[3] &= 0x7F
                    v = _u32(jb, 0)
                    if v > lost:
                        lost = v
                    continue
                v = _u32(jb, 0)
                if v > best:
                    best = v
                    best_blk = blk
        self._jblk = best_blk
        self._jpos = ends[best_blk]
        self._jper = per
        self._acked = best  # -1: nothing ever acknowledged
        self.lost = lost

    def _recover_ring(self):
        dev, buf, slots, nring = self.dev, self._rbuf, self.slots, self.nring
        seq0, cnt = self._seq0, self._cnt
        head = -1
        head_torn = False
        for b in range(nring):
            n = 0  # extent: slots written, valid or not
            s0 = -1  # unknown until a valid slot says it
            bad = 0
            for i in range(slots):
                dev.readblocks(_JOURNAL + b, buf, i * _SIZE)
                if buf[0] == 0xFF and _erased(buf):
                    break
                n = i + 1
                if _valid_packet(buf):
                    s = _u32(buf, 2)
                    if s0 < 0 and s >= i:
                        s0 = s - i
                    if s == s0 + i:
                        continue
                bad += 1
            seq0[b] = s0
            cnt[b] = n if s0 >= 0 else 0
            self.recovered_torn += bad
            if s0 >= 0 and (head < 0 or s0 > seq0[head]):
                head = b
                head_torn = bad > 0
        if head >= 0:
            # A block after a full or closed head, written only with damaged slots (its first record
            # flipped): its seqs were given out, so they are burnt, not reused.
            nb = (head + 1) % nring
            if nb != head and cnt[nb] == 0 and (head_torn or cnt[head] == slots):
                n = self._extent(nb)
                if n:
                    seq0[nb] = seq0[head] + cnt[head]
                    cnt[nb] = n
                    head = nb
                    head_torn = True
        if head < 0:  # nothing in the ring: start afresh in block 0
            self._head = nring - 1
            self._nlive = 0
            self._hslot = slots
            self._next = max(self._acked + 1, 1)
            self._first = self._next
            return
        # Walk back from the head over blocks that continue each other's sequence. A block's extent counts
        # its holes, so a damaged record does not break the chain.
        tail = head
        nlive = 1
        while nlive < nring:
            p = (tail - 1) % nring
            if cnt[p] == 0 or not 0 < seq0[tail] - seq0[p] <= cnt[p]:
                break
            tail = p
            nlive += 1
        self._head = head
        self._nlive = nlive
        self._hslot = slots if head_torn else cnt[head]
        self._next = max(seq0[head] + cnt[head], self._acked + 1)
        self._first = min(max(self._acked + 1, seq0[tail]), self._next)
        # Holes among the unacknowledged records are lost: count and report them.
        b = tail
        for _ in range(nlive):
            for i in range(cnt[b]):
                s = seq0[b] + i
                if s >= self._first:
                    dev.readblocks(_JOURNAL + b, buf, i * _SIZE)
                    if not _valid_packet(buf) or _u32(buf, 2) != s:
                        self._damaged(b, i, s)
            b = (b + 1) % nring
        self._release()

    def _extent(self, b):
        """Slots of block b that are not erased."""
        buf = self._rbuf
        n = 0
        for i in range(self.slots):
            self.dev.readblocks(_JOURNAL + b, buf, i * _SIZE)
            if _erased(buf):
                break
            n = i + 1
        return n

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
                    if self._damaged(b, seq - s0, seq):  # damaged since it was written
                        self._journal_lost()
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
        """If records were lost since the last report, fill rec as a DROPPED event and return True.

        Fields: count, first seq, last seq, cause (LOST_FULL, LOST_FLASH), running total `lost`."""
        for cause in (LOST_FLASH, LOST_FULL):
            n = self._rep_n[cause]
            if n:
                rec[0] = DROPPED
                rec[1] = t_ms
                rec[2] = n
                rec[3] = self._rep_first[cause]
                rec[4] = self._rep_last[cause]
                rec[5] = cause
                rec[6] = self.lost
                rec[7] = 0
                rec[8] = 0
                self._rep_n[cause] = 0
                return True
        return False

    def _note_lost(self, cause, first, last):
        n = last + 1 - first
        if not self._rep_n[cause]:
            self._rep_first[cause] = first
        self._rep_n[cause] += n
        self._rep_last[cause] = last
        self.dropped += n
        self.lost += n

    def _damaged(self, b, slot, seq):
        # A damaged record in _rbuf: lost. Counted once: its version and kind bytes are then programmed to 0,
        # which marks it counted across reads and resets (one flipped bit cannot make both 0: every kind is
        # at least 1). True if it was counted now.
        if self._rbuf[0] == 0 and self._rbuf[1] == 0:
            return False
        self._note_lost(LOST_FLASH, seq, seq)
        try:
            self.dev.writeblocks(_JOURNAL + b, self._zero, slot * _SIZE)
        except OSError:
            pass
        return True

    def _journal_lost(self):
        try:
            self._journal_write(self.lost, _LOST_BIT)
        except OSError:
            pass  # the count stays right in RAM, in the status and in DROPPED events; the flash error is the band's

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
                self._note_lost(LOST_FULL, lo, hi - 1)
                self._first = hi
                self._journal_lost()
            self._nlive -= 1
        self._cnt[nb] = 0
        self._hslot = self.slots  # stays closed if the erase fails
        self.dev.ioctl(IOCTL_BLOCK_ERASE, _JOURNAL + nb)
        self._seq0[nb] = self._next
        self._head = nb
        self._nlive += 1
        self._hslot = 0

    def _journal_write(self, value, tag=0):
        if self._jpos >= self._jper:
            other = 1 - self._jblk
            self.dev.ioctl(IOCTL_BLOCK_ERASE, other)
            self._jblk = other
            self._jpos = 0
            # The new block must hold the latest of both values before the old block can be erased.
            if tag:
                if self._acked >= 0:
                    self._journal_put(self._acked, 0)
            elif self.lost:
                self._journal_put(self.lost, _LOST_BIT)
        self._journal_put(value, tag)

    def _journal_put(self, value, tag):
        jb = self._jbuf
        for k in range(4):
            v = (value >> (8 * k)) & 0xFF
            if k == 3:
                v = (v & 0x7F) | tag
            jb[k] = v
            jb[4 + k] = v ^ 0xFF
        pos = self._jpos
        self._jpos = pos + 1  # a failed write leaves the entry used
        self.dev.writeblocks(self._jblk, jb, pos * _JENT)
