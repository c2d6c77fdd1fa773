# Flash event queue tests. Plain asserts and no CPython-only imports: this module
# runs under pytest (CPython) and, through test_fw_micropython.py, under the
# real `micropython` binary.

from anklet_fw import packet_host as packet
from anklet_fw.eventq import EventQueue
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
    assert rec[:5] == [DROPPED, 5000, 3, 1, 3]
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
        assert q2.read_into(s, buf), (s, first, nxt, log["op"])
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
