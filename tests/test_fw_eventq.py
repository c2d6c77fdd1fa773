# Flash event queue tests. Plain asserts and no CPython-only imports: this module
# runs under pytest (CPython) and, through test_fw_micropython.py, under the
# real `micropython` binary.

from anklet_fw import packet_host as packet
from anklet_fw.eventq import LOST_FLASH, LOST_FULL, EventQueue
from anklet_fw.events import ACTIVITY, DROPPED
from anklet_fw.sim import PowerCut, RamFlash


def rec_for(i):
    return [ACTIVITY, 1000 * i, i, i * 3, -i, 7, 0, 1, i % 5]


def fields_of(buf):
    seq, boot, kind, t_ms, vals = packet.decode(buf)
    return seq, boot, [kind, t_ms] + list(vals)


def test_append_read_ack_roundtrip():
    dev = RamFlash(6, 256)
    q = EventQueue(dev, boot=7)
    assert q.depth() == 0 and q.first_seq() == q.next_seq() == 1
    seqs = [q.append(rec_for(i)) for i in range(10)]
    assert seqs == list(range(1, 11))
    buf = bytearray(50)
    assert q.read_into(4, buf, 3)
    seq, boot, rec = fields_of(bytes(buf[3:45]))
    assert (seq, boot, rec) == (4, 7, rec_for(3))
    assert q.ack(4) == 4
    assert q.first_seq() == 5 and q.depth() == 6
    assert not q.read_into(4, buf)
    assert q.read_into(5, buf)
    # ack beyond what exists releases only what exists, and is not persisted beyond it
    assert q.ack(10**6) == 6
    assert q.depth() == 0 and q.first_seq() == q.next_seq() == 11


def test_survives_reset_and_keeps_sequence():
    dev = RamFlash(6, 256)
    q = EventQueue(dev, boot=1)
    for i in range(15):
        q.append(rec_for(i))
    q.ack(9)
    q2 = EventQueue(dev, boot=2)
    assert (q2.first_seq(), q2.next_seq()) == (10, 16)
    buf = bytearray(42)
    assert q2.read_into(12, buf)
    assert fields_of(buf) == (12, 1, rec_for(11))  # the boot id it was written under
    s = q2.append(rec_for(99))
    assert s == 16
    assert q2.read_into(16, buf) and fields_of(buf) == (16, 2, rec_for(99))
    q2.ack(16)
    q3 = EventQueue(dev, boot=3)
    assert q3.depth() == 0 and q3.next_seq() == 17


def test_full_ring_drops_oldest_and_reports():
    dev = RamFlash(5, 128)  # 3 ring blocks of 3 slots
    q = EventQueue(dev, boot=1)
    assert q.slots == 3 and q.capacity == 9
    for i in range(9):
        q.append(rec_for(i))
    assert q.dropped == 0 and q.depth() == 9
    q.append(rec_for(9))  # opens block 0 again: seqs 1..3 go
    assert q.dropped == 3 and q.first_seq() == 4 and q.depth() == 7
    rec = [0] * 9
    assert q.drop_report(rec, 5000)
    assert rec[:7] == [DROPPED, 5000, 3, 1, 3, LOST_FULL, 3]
    assert not q.drop_report(rec, 6000)
    buf = bytearray(42)
    assert not q.read_into(3, buf) and q.read_into(4, buf)
    q2 = EventQueue(dev, boot=2)
    assert (q2.first_seq(), q2.next_seq()) == (4, 11)


def test_acked_blocks_are_reused_without_drops():
    dev = RamFlash(5, 128)
    q = EventQueue(dev, boot=1)
    for i in range(100):
        s = q.append(rec_for(i))
        if i % 4 == 3:
            q.ack(s)
    assert q.dropped == 0
    # one erase per block per lap of the ring, and the journal switches blocks rarely
    assert max(dev.erases[2:]) <= 100 // 9 + 1
    assert max(dev.erases[:2]) <= 2


def test_queue_needs_room():
    try:
        EventQueue(RamFlash(3, 128), 1)
    except ValueError as exc:
        assert "at least 4 flash blocks" in str(exc)
    else:
        raise AssertionError("accepted a 3-block device")


def _scenario(q, log):
    # Appends, acks, wrap-arounds and drops; log records what completed.
    ops = []
    for i in range(22):
        ops.append(("a", i))
        if i in (3, 8, 12, 19):
            ops.append(("k", i - 1))
    for op, arg in ops:
        log["op"] = (op, arg)
        log["first_before"] = q.first_seq()
        if op == "a":
            s = q.append(rec_for(arg))
            log["seqs"][s] = rec_for(arg)
        else:
            q.ack(arg)
            log["acked"] = max(log["acked"], min(arg, q.next_seq() - 1))
        log["first"] = q.first_seq()


def _check_recovery(dev, log, q_after):
    q2 = EventQueue(dev, boot=9)
    first, nxt = q2.first_seq(), q2.next_seq()
    seqs = log["seqs"]
    assert first >= log["acked"] + 1, (first, log)
    allowed = max(log["first_before"], q_after.first_seq())
    op, arg = log["op"]
    if op == "k":
        allowed = max(allowed, arg + 1)
    assert first <= allowed, (first, allowed, log["op"])
    assert nxt > max(seqs) if seqs else nxt >= 1
    buf = bytearray(42)
    for s in range(first, nxt):
        if not q2.read_into(s, buf):
            # Only the record being written when the power went may be a hole: its seq is burnt (never
            # reused) and reported lost to flash.
            assert op == "a" and s == max(seqs, default=0) + 1 and nxt == s + 1, (s, first, nxt, log["op"])
            rep = [0] * 9
            assert q2.drop_report(rep, 0) and rep[2:7] == [1, s, s, LOST_FLASH, q2.lost]
            continue
        seq, _, rec = fields_of(buf)
        assert seq == s
        if s in seqs:
            assert rec == seqs[s]
        else:  # only the record being written when the power went may appear unannounced
            assert op == "a" and rec == rec_for(arg) and s == max(seqs, default=0) + 1
    # and it keeps working: more records, all acknowledged, then another reset
    for i in range(5):
        last = q2.append(rec_for(100 + i))
    q2.ack(last)
    q3 = EventQueue(dev, boot=10)
    assert q3.depth() == 0 and q3.next_seq() == last + 1


def test_power_cut_at_every_byte():
    # Count the bytes the scenario programs or erases, then cut the power before each one.
    dev = RamFlash(5, 128)
    log = {"seqs": {}, "acked": -1}
    _scenario(EventQueue(dev, 1), log)
    total = dev.writes
    assert total > 1000
    for cut in range(total):
        dev = RamFlash(5, 128)
        q = EventQueue(dev, 1)
        dev.budget = cut
        log = {"seqs": {}, "acked": -1, "op": None, "first_before": 1}
        try:
            _scenario(q, log)
        except PowerCut:
            pass
        else:
            raise AssertionError(f"scenario finished within {cut} bytes")
        dev.budget = None
        _check_recovery(dev, log, q)


def test_file_flash_keeps_the_queue_and_programs_like_nor():
    from anklet_fw.flashdev import FileFlash

    path = "/tmp/anklet_test_fileflash.bin"
    try:
        import os

        os.remove(path)
    except OSError:
        pass
    dev = FileFlash(path, 6, 256)
    dev.writeblocks(5, b"\x0f\xf0", 10)
    dev.writeblocks(5, b"\xf3\x3f", 10)  # programming only clears bits
    got = bytearray(2)
    dev.readblocks(5, got, 10)
    assert bytes(got) == b"\x03\x30"
    dev.ioctl(6, 5)
    dev.readblocks(5, got, 10)
    assert bytes(got) == b"\xff\xff"
    q = EventQueue(dev, boot=4)
    for i in range(12):
        q.append(rec_for(i))
    q.ack(5)
    dev.close()
    q2 = EventQueue(FileFlash(path, 6, 256), boot=5)
    assert (q2.first_seq(), q2.next_seq()) == (6, 13)
    buf = bytearray(42)
    assert q2.read_into(12, buf) and fields_of(buf) == (12, 4, rec_for(11))
    # a file of the wrong size is a different flash: it starts erased
    assert EventQueue(FileFlash(path, 7, 256), boot=6).depth() == 0


def _flip(dev, block, offset, bit=0):
    # One bit of the queue's device flipped in place (ring block `block`, after the two journal blocks).
    dev.mem[(2 + block) * dev.block_size + offset] ^= 1 << bit


def _readable(q):
    buf = bytearray(42)
    return [s for s in range(q.first_seq(), q.next_seq()) if q.read_into(s, buf)]


def test_a_flipped_bit_in_a_ring_block_loses_only_that_record():
    # 4 ring blocks of 6 slots; 20 records unacknowledged; one bit flipped in record 3 (the oldest block).
    dev = RamFlash(6, 256)
    q = EventQueue(dev, boot=1)
    for i in range(20):
        q.append(rec_for(i))
    _flip(dev, 0, 2 * 42 + 20)
    q2 = EventQueue(dev, boot=2)
    assert (q2.first_seq(), q2.next_seq()) == (1, 21)  # no older block dropped, no seq reused
    assert _readable(q2) == [s for s in range(1, 21) if s != 3]
    rep = [0] * 9
    assert q2.drop_report(rep, 0) and rep[2:7] == [1, 3, 3, LOST_FLASH, 1]
    assert q2.append(rec_for(99)) == 21


def test_a_flipped_bit_in_the_head_block_never_reuses_a_seq():
    # The head block holds seqs 19..22 in slots 0..3. A flip in erased slot 4 makes it look like a torn
    # write: its seq (23) is burnt and reported lost, loud rather than reused.
    for slot in (0, 1, 3, 4):
        dev = RamFlash(6, 256)
        q = EventQueue(dev, boot=1)
        for i in range(22):
            q.append(rec_for(i))
        q.ack(10)
        _flip(dev, 3, slot * 42 + 9, 3)
        q2 = EventQueue(dev, boot=2)
        assert q2.next_seq() == (24 if slot == 4 else 23) and q2.first_seq() == 11, slot
        lost = [19 + slot]
        assert _readable(q2) == [s for s in range(11, 23) if s not in lost]
        assert q2.lost == 1 and q2.append(rec_for(0)) == q2.next_seq() - 1 > 22


def test_a_flip_in_the_only_record_of_the_head_block_burns_its_seq():
    dev = RamFlash(6, 256)
    q = EventQueue(dev, boot=1)
    for i in range(19):  # 3 full blocks, then seq 19 alone in slot 0 of block 3
        q.append(rec_for(i))
    _flip(dev, 3, 30)
    q2 = EventQueue(dev, boot=2)
    assert q2.next_seq() == 20 and 19 not in _readable(q2) and q2.lost == 1


def test_the_lost_count_survives_resets_and_journal_turnover():
    dev = RamFlash(5, 128)  # 3 ring blocks of 3 slots; a journal block holds 16 entries
    q = EventQueue(dev, boot=1)
    for i in range(15):
        q.append(rec_for(i))  # the host is away: 6 dropped
    assert q.lost == 6
    q.ack(q.next_seq() - 1)  # the host came back
    for i in range(40):  # the journal turns over twice; only acks are written
        q.ack(q.append(rec_for(i)))
    q2 = EventQueue(dev, boot=2)
    assert q2.lost == 6 and q2.dropped == 0  # running total kept; nothing lost in this boot
    # A read that finds a record damaged since it was written counts it once, however often it is read.
    s = q2.append(rec_for(1))
    q2.append(rec_for(2))
    blk = (q2._head - (1 if q2._hslot == 1 else 0)) % q2.nring
    slot = (s - q2._seq0[blk])
    _flip(dev, blk, slot * 42 + 15)
    buf = bytearray(42)
    assert not q2.read_into(s, buf) and not q2.read_into(s, buf)
    assert q2.lost == 7 and EventQueue(dev, boot=3).lost == 7
