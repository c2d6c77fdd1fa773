"""EventQueue against a model, with random appends, acks and resets (hypothesis; CPython only)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from anklet_fw import packet_host as packet
from anklet_fw.eventq import EventQueue
from anklet_fw.events import ACTIVITY
from anklet_fw.sim import RamFlash

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 9)),
        st.tuples(st.just("ack"), st.integers(-3, 40)),  # relative to first_seq
        st.tuples(st.just("reset"), st.just(0)),
    ),
    max_size=60,
)


def rec(i: int) -> list[int]:
    return [ACTIVITY, i * 1000, i, -i, i * 7, 0, 1, 2, 3]


@settings(max_examples=150, deadline=None)
@given(ops=OPS, nblocks=st.integers(4, 7))
def test_queue_matches_model(ops, nblocks):
    dev = RamFlash(nblocks, 128)  # 3 packets per block: wraps and drops come quickly
    q = EventQueue(dev, 1)
    boot = 1
    content: dict[int, list[int]] = {}
    acked = 0
    last = 0
    first = 1
    buf = bytearray(42)
    for op, arg in ops:
        if op == "append":
            for _ in range(arg):
                before = q.depth()
                s = q.append(rec(last + 1))
                assert s == last + 1  # consecutive, across resets too
                last = s
                content[s] = rec(s)
                if q.first_seq() > first:  # dropped: only when the ring had no room left
                    assert before >= (q.nring - 1) * q.slots
                    assert q.first_seq() > acked
        elif op == "ack":
            upto = q.first_seq() + arg
            released = q.ack(upto)
            if upto >= first:
                acked = max(acked, min(upto, last))
                assert released == min(upto, last) + 1 - first
            else:
                assert released == 0
        else:
            boot += 1
            q = EventQueue(dev, boot)
        assert q.next_seq() == last + 1
        assert q.first_seq() >= first  # never goes back: acked or dropped stays gone
        assert q.first_seq() >= acked + 1
        assert q.depth() <= q.capacity
        first = q.first_seq()
        for s in range(first, last + 1):
            assert q.read_into(s, buf), s
            seq, _, kind, t_ms, f = packet.decode(buf)
            assert seq == s and [kind, t_ms, *f] == content[s]
        assert not q.read_into(first - 1, buf) and not q.read_into(last + 1, buf)


def test_one_flipped_bit_anywhere_loses_at_most_one_record_and_reuses_no_seq():
    """The fault harness for flash bit flips: a queue in a random state, one random bit of its ring flipped,
    a reset. At most the damaged record is lost, and reported; no seq is reused; nothing else changes.
    ANKLET_SOAK=1 runs many more trials (make soak)."""
    import os
    import random

    from anklet_fw.eventq import LOST_FLASH

    rnd = random.Random(1717)
    trials = 3000 if os.environ.get("ANKLET_SOAK") else 100
    for trial in range(trials):
        dev = RamFlash(8, 512)  # 6 ring blocks of 12 records
        q = EventQueue(dev, boot=1)
        for i in range(rnd.randint(1, 90)):
            s = q.append(rec(i))
            if rnd.random() < 0.1:
                q.ack(s - rnd.randint(0, 5))
        live = set(range(q.first_seq(), q.next_seq()))
        nxt, lost0 = q.next_seq(), q.lost
        byte = rnd.randrange(2 * 512, 8 * 512)
        dev.mem[byte] ^= 1 << rnd.randrange(8)
        q2 = EventQueue(dev, boot=2)
        buf = bytearray(packet.SIZE)
        readable = {s for s in range(q2.first_seq(), q2.next_seq()) if q2.read_into(s, buf)}
        gone = live - readable
        assert len(gone) <= 1, (trial, sorted(gone))
        assert q2.next_seq() >= nxt, (trial, q2.next_seq(), nxt)  # no seq reused
        assert q2.lost - lost0 <= 1 and q2.lost - lost0 >= len(gone), trial
        if gone:
            out = [0] * 9
            assert q2.drop_report(out, 0) and out[3] == out[4] == gone.pop() and out[5] == LOST_FLASH, trial
        assert q2.append(rec(0)) >= nxt
