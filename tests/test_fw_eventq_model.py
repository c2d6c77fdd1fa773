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
