"""Malformed, truncated, oversized, corrupted, forged and replayed packets, fuzzed with hypothesis: a clear
error, the connection kept, nothing wrong logged. First the codecs alone, then over Bumble's virtual radio
(band firmware radio <-> BleakLink), both directions."""

from __future__ import annotations

import asyncio
import time

from bleak.exc import BleakGATTProtocolError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anklet.bumble_band import bond, link_for, start_radio, virtual_pair
from anklet.link.pairing import PairingStore
from anklet.store import Store
from anklet_fw import packet_host as packet
from anklet_fw.eventq import EventQueue
from anklet_fw.flashdev import RamFlash
from anklet_fw.radio import CONTROL_UUID

SLOW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])


# -- codecs alone --------------------------------------------------------------------------

@given(st.binary(max_size=64))
def test_control_decoder_only_raises_control_errors(data):
    try:
        op, token, args = packet.decode_control(data)
    except packet.ControlError as exc:
        assert exc.code in range(1, 8) and str(exc)
    else:  # it was a well-formed frame: it must re-encode to the same bytes
        assert packet.encode_control(op, token, *args) == bytes(data)


@given(st.binary(max_size=80))
def test_band_frame_decoders_only_raise_packet_errors(data):
    for decode in (packet.decode, packet.decode_reply, packet.decode_status, packet.decode_raw):
        try:
            decode(bytes(data))
        except packet.PacketError as exc:
            assert str(exc)


@given(st.sampled_from([packet.OP_ACK, packet.OP_RESUME, packet.OP_TIME, packet.OP_SETTING, packet.OP_RAW,
                        packet.OP_IDENTIFY]), st.integers(0, 255), st.data())
def test_control_round_trip_and_single_bit_flips_are_caught(op, token, data):
    widths = {packet.OP_ACK: (4, 2), packet.OP_RESUME: (4, 2), packet.OP_TIME: (4, 2), packet.OP_SETTING: (1, 4),
              packet.OP_RAW: (1,), packet.OP_IDENTIFY: (1,)}[op]
    args = []
    for i, w in enumerate(widths):
        if op == packet.OP_SETTING and i == 1:
            args.append(data.draw(st.integers(-(1 << 31), (1 << 31) - 1)))
        else:
            args.append(data.draw(st.integers(0, (1 << (8 * w)) - 1)))
    frame = packet.encode_control(op, token, *args)
    assert packet.decode_control(frame) == (op, token, tuple(args))
    bit = data.draw(st.integers(0, 8 * len(frame) - 1))
    bad = bytearray(frame)
    bad[bit // 8] ^= 1 << (bit % 8)
    try:
        packet.decode_control(bad)
        raise AssertionError(f"flipped bit {bit} not detected")
    except packet.ControlError:
        pass


# -- over the virtual radio ----------------------------------------------------------------

def _good(i):
    return (1, 10_000 + 100 * i, 9_000, 150, 800, 60, 0, 0, 0)  # START records


bad_packet = st.one_of(
    st.tuples(st.just("random"), st.binary(min_size=0, max_size=200)),
    st.tuples(st.just("truncated"), st.integers(0, packet.SIZE - 1)),
    st.tuples(st.just("oversized"), st.binary(min_size=1, max_size=60)),
    st.tuples(st.just("corrupt"), st.integers(0, 8 * packet.SIZE - 1)),
    st.tuples(st.just("version"), st.integers(2, 255)),
    st.tuples(st.just("replay"), st.integers(0, 1000)),
    st.tuples(st.just("forged_ahead"), st.integers(5, 1000)),
)


@SLOW
@given(st.lists(st.one_of(st.just(("good", None)), bad_packet), min_size=5, max_size=40))
def test_bad_event_packets_never_reach_the_log(tmp_path_factory, schedule):
    tmp = tmp_path_factory.mktemp("fuzz")

    async def main():
        pair = await virtual_pair()
        q = EventQueue(RamFlash(8, 4096), boot=2)
        radio = start_radio(pair, q, boot=2, pairing_s=60)
        link = link_for(pair, await bond(pair, PairingStore(tmp / "b.json")))
        await link.connect(None)
        db = Store(tmp / "log.db")
        ble = pair.band_ble
        sent_good: list[bytes] = []
        n_good = n_bad = 0
        for what, arg in schedule:
            buf = bytearray(packet.SIZE)
            if what == "good":
                seq = q.append(_good(n_good))
                q.read_into(seq, buf)
                sent_good.append(bytes(buf))
                n_good += 1
                radio.service()
                continue
            n_bad += 1
            template = sent_good[-1] if sent_good else packet.encode(1, 2, _good(0))
            if what == "random":
                bad = arg
            elif what == "truncated":
                bad = template[:arg]
            elif what == "oversized":
                bad = template + arg
            elif what == "corrupt":
                b = bytearray(template)
                b[arg // 8] ^= 1 << (arg % 8)
                bad = bytes(b)
            elif what == "version":
                bad = bytes([arg]) + template[1:]
            elif what == "replay":
                if not sent_good:  # nothing to replay yet (a valid packet at the expected seq is no replay)
                    n_bad -= 1
                    continue
                bad = sent_good[arg % len(sent_good)]
            else:  # a well-formed packet from the future, as an attacker inside the link might forge
                bad = packet.encode(q.next_seq() + arg, 2, (1, 0, 1, 2, 3, 4, 0, 0, 0))
            ble.gatts_notify(radio._conn, radio.h_events, bad)
        got = []
        deadline = time.monotonic() + 10
        while len(got) < n_good and time.monotonic() < deadline:
            e = await link.next_event(0.5)
            if e is None:
                continue
            db.add_events(link.band_id, [e], time.time())
            await link.ack(e.boot, e.seq)
            got.append(e)
        assert await link.next_event(0.1) is None
        assert link.is_connected
        rows = db.db.execute("SELECT seq, kind, t_ms FROM events ORDER BY id").fetchall()
        logged = [(r[0], r[1], r[2]) for r in rows]
        db.close()
        await pair.close()
        return n_good, logged, link

    n_good, logged, link = asyncio.run(asyncio.wait_for(main(), 30))
    assert logged == [(i + 1, "start", 10_000 + 100 * i) for i in range(n_good)]
    # Each malformed packet is rejected with its reason; replays and forgeries are dropped as repeats or
    # make the link ask the band to resend (and the band's own copies win).
    malformed = sum(what in ("random", "truncated", "oversized", "corrupt", "version") for what, _ in schedule)
    assert link.bad_packets == malformed
    assert len(link.errors) == min(malformed, 100) and all("dropped" in e for e in link.errors)


@SLOW
@given(st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=15))
def test_fuzzed_control_writes_get_an_answer_and_change_nothing(tmp_path_factory, frames):
    tmp = tmp_path_factory.mktemp("cfuzz")

    async def main():
        pair = await virtual_pair()
        q = EventQueue(RamFlash(8, 4096), boot=2)
        radio = start_radio(pair, q, boot=2, pairing_s=60)
        link = link_for(pair, await bond(pair, PairingStore(tmp / "b.json")))
        for i in range(3):
            q.append(_good(i))
        await link.connect(None)
        replies = []
        await link.client.start_notify(CONTROL_UUID, lambda c, d: replies.append(packet.decode_reply(bytes(d))))
        answered = undecodable = 0
        for f in frames:
            n = len(replies)
            try:
                await link.client.write_gatt_char(CONTROL_UUID, f, response=True)
            except BleakGATTProtocolError as exc:  # longer than the band accepts: refused by its stack
                assert exc.code == 0x0D and len(f) > packet.CTRL_MAX
                answered += 1
                continue
            for _ in range(100):
                if len(replies) > n:
                    break
                await asyncio.sleep(0.005)
            assert len(replies) > n, f"no answer to {f.hex()}"
            answered += 1
            op, token, code, value = replies[-1]
            try:
                packet.decode_control(f)
            except packet.ControlError as exc:
                assert code == exc.code  # the band says what was wrong
                undecodable += 1
        assert answered == len(frames) and link.is_connected
        assert radio.bad_frames >= undecodable
        # The 3 events are still there unless a fuzzed frame was a valid ACK/RESUME (then only released).
        assert q.next_seq() == 4
        await pair.close()

    asyncio.run(asyncio.wait_for(main(), 30))
