"""The Bluetooth link end to end over Bumble's virtual radio: the band's firmware radio (anklet_fw.radio) on
the MicroPython-API adapter, the host's BleakLink through the Bumble bleak backend. No mocks in between:
real ATT, SMP (LE Secure Connections, passkey) and link-layer encryption of Bumble's virtual controllers."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
from bleak import BleakClient
from bleak.exc import BleakError, BleakGATTProtocolError

from anklet import trace
from anklet.ble import BandRefused, CommandError, Pairing, PairingStore, open_link
from anklet.ble_commands import record
from anklet.bumble_band import bond, link_for, make_band_ble, start_radio, virtual_pair
from anklet.cli import CliError
from anklet.link import LinkLost
from anklet_fw import packet_host as packet
from anklet_fw.eventq import EventQueue
from anklet_fw.flashdev import RamFlash
from anklet_fw.radio import CONTROL_UUID, EVENTS_UUID, STATUS_UUID, Radio

UID = 0xA0B1C2D3E4F5


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def rec(i):
    return (4, 1000 * i, i, 2, 3, 4, 5, 6, 7)  # an ACTIVITY record, field 0 numbered


async def setup(tmp_path, pairing_s=60, **radio_kw):
    pair = await virtual_pair()
    queue = EventQueue(RamFlash(8, 4096), boot=3)
    radio = start_radio(pair, queue, boot=3, uid=UID, pairing_s=pairing_s, **radio_kw)
    store = PairingStore(tmp_path / "bands.json")
    return pair, queue, radio, store


def test_pair_stream_ack_and_resume(tmp_path):
    async def main():
        pair, q, radio, store = await setup(tmp_path)
        pairing = await bond(pair, store)
        assert pairing.uid == UID and store.get(pair.band_address) == pairing
        assert (tmp_path / "bands.json").stat().st_mode & 0o777 == 0o600
        radio.set_pairing(0)
        for i in range(5):
            q.append(rec(i))
        link = link_for(pair, pairing)
        await link.connect(None)
        got = [await link.next_event(2) for _ in range(5)]
        assert [e.seq for e in got] == [1, 2, 3, 4, 5]
        assert [e.fields["movement_mg"] for e in got] == [0, 1, 2, 3, 4] and got[0].boot == 3
        assert await link.next_event(0.2) is None
        await link.ack(3, 3)
        await asyncio.sleep(0.05)
        assert q.first_seq() == 4  # released only what was acknowledged
        st = await link.status()
        assert st.boot == 3 and st.queue_depth == 2
        await link.disconnect()
        # The host restarts knowing it committed up to 4: the band resends only 5, then new ones.
        q.append(rec(5))
        link2 = link_for(pair, pairing)
        await link2.connect(4)
        assert q.first_seq() == 5  # RESUME(4) also releases what the host says it holds
        assert [(await link2.next_event(2)).seq for _ in range(2)] == [5, 6]
        assert link2.errors == [] and pair.band_ble.irq_errors == []
        await pair.close()

    run(main())


def test_unpaired_central_cannot_read_write_or_subscribe(tmp_path):
    async def main():
        pair, q, radio, store = await setup(tmp_path, pairing_s=0)
        q.append(rec(0))
        client = BleakClient(pair.band_address, backend=pair.central.client_backend, timeout=5)
        await client.connect()
        for op in (client.read_gatt_char(STATUS_UUID),
                   client.write_gatt_char(CONTROL_UUID, packet.encode_control(packet.OP_RESUME, 1, 0, 0), response=True),
                   client.start_notify(EVENTS_UUID, lambda c, d: None)):
            with pytest.raises(BleakGATTProtocolError) as info:
                await op
            assert info.value.code in (0x05, 0x0F)  # insufficient authentication / encryption
        assert radio.sent == 0 and q.first_seq() == 1
        # Outside pairing mode the band refuses to bond, passkey or not.
        with pytest.raises(BleakError):
            await client.pair(passkey=pair.passkey)
        assert radio.refused >= 1 and not radio.secure
        await pair.close()

    run(main())


def test_wrong_passkey_is_refused(tmp_path):
    async def main():
        pair, q, radio, store = await setup(tmp_path)
        pair.passkey = (pair.passkey + 1) % 1000000  # what a stranger types
        with pytest.raises(BandRefused):
            await bond(pair, store)
        assert store.all() == [] and not radio.secure
        await pair.close()

    run(main())


def test_host_refuses_unpaired_band_and_wrong_identity(tmp_path):
    async def main():
        pair, q, radio, store = await setup(tmp_path)
        with pytest.raises(BandRefused, match="not paired"):
            await link_for(pair, None).connect(None)
        pairing = await bond(pair, store)
        # A bonded band whose identity is not the one paired (firmware swapped, or another band we bonded with).
        with pytest.raises(BandRefused, match="not the paired band"):
            await link_for(pair, Pairing(pairing.address, uid=UID ^ 1)).connect(None)
        assert radio.sent == 0
        await asyncio.sleep(0.05)
        assert not radio.connected  # refused and let go: the band is free for its own host
        await link_for(pair, pairing).connect(None)
        await pair.close()

    run(main())


def test_impostor_at_the_paired_address_is_refused(tmp_path):
    async def main():
        pair, q, radio, store = await setup(tmp_path)
        pairing = await bond(pair, store)
        # The real band goes away; another device takes its address and name but has no bond with us.
        radio.task.cancel()
        pair.drop()
        pair.link.remove_controller(pair.band_ble.device.controller)
        impostor = await make_band_ble(pair.link, pair.band_address, "anklet-test")
        fake_q = EventQueue(RamFlash(8, 4096), boot=1)
        fake = Radio(impostor, fake_q, 1, name="anklet-test", passkey=pair.passkey, uid=UID)
        fake.set_pairing(60)
        task = asyncio.get_running_loop().create_task(fake.run())
        fake_q.append(rec(0))
        link = link_for(pair, pairing, attempts=1)
        with pytest.raises(BandRefused):
            await link.connect(None)
        assert fake.sent == 0
        task.cancel()
        await pair.close()

    run(main())


def test_bad_control_writes_get_error_codes_and_keep_the_link(tmp_path):
    async def main():
        pair, q, radio, store = await setup(tmp_path)
        link = link_for(pair, await bond(pair, store))
        await link.connect(None)
        client = link.client
        replies = []
        await client.start_notify(CONTROL_UUID, lambda c, d: replies.append(packet.decode_reply(bytes(d))))
        good = packet.encode_control(packet.OP_IDENTIFY, 9, 5)
        cases = [
            (b"\x01\x06", packet.ERR_LENGTH),                                     # truncated
            (good[:-1] + bytes([good[-1] ^ 1]), packet.ERR_CRC),                # corrupted
            (b"\x02" + good[1:], packet.ERR_VERSION),
            (good[:3] + b"\x05" + good[4:], packet.ERR_LENGTH),                 # length field lies
            (packet.encode_control(packet.OP_ACK, 9, 1000, 3), packet.ERR_VALUE),  # acks what was never sent
            (packet.encode_control(packet.OP_RAW, 9, 2), packet.ERR_VALUE),
            (good, packet.ERR_UNSUPPORTED),                                      # this band has no LED
        ]
        for frame, code in cases:
            n = len(replies)
            await client.write_gatt_char(CONTROL_UUID, frame, response=True)
            for _ in range(50):
                if len(replies) > n:
                    break
                await asyncio.sleep(0.01)
            assert replies[-1][2] == code, (frame.hex(), replies[-1])
        with pytest.raises(BleakGATTProtocolError) as info:  # oversized: refused by the band's stack
            await client.write_gatt_char(CONTROL_UUID, bytes(100), response=True)
        assert info.value.code == 0x0D
        with pytest.raises(CommandError) as err:
            await link.command(packet.OP_SETTING, 1, 5)
        assert err.value.code == packet.ERR_UNSUPPORTED and "unsupported" in str(err.value)
        assert link.is_connected and radio.bad_frames == len(cases) + 1
        q.append(rec(1))
        radio.kick()
        assert (await link.next_event(2)).seq == 1  # still streaming
        await pair.close()

    run(main())


def test_settings_are_validated_by_the_band(tmp_path):
    seen = []

    def on_setting(key, value):
        if key == 1 and not 10 <= value <= 120:
            raise ValueError("alarm threshold out of range")
        seen.append((key, value))
        return 0

    async def main():
        pair, q, radio, store = await setup(tmp_path, on_setting=on_setting)
        link = link_for(pair, await bond(pair, store))
        await link.connect(None)
        await link.command(packet.OP_SETTING, 1, 30)
        with pytest.raises(CommandError) as err:
            await link.command(packet.OP_SETTING, 1, 500)
        assert err.value.code == packet.ERR_VALUE
        assert seen == [(1, 30)] and radio.time_set  # connect() also set the band's clock
        await pair.close()

    run(main())


def test_latency_band_emission_to_host_commit(tmp_path):
    from anklet.store import Store

    async def main():
        pair, q, radio, store = await setup(tmp_path)
        link = link_for(pair, await bond(pair, store))
        await link.connect(None)
        db = Store(tmp_path / "log.db")
        lat = []
        for i in range(60):
            t0 = time.perf_counter()
            q.append(rec(i))
            radio.kick()
            e = await link.next_event(2)
            db.add_events(link.band_id, [e], time.time())
            lat.append(time.perf_counter() - t0)
            await link.ack(e.boot, e.seq)
        db.close()
        await pair.close()
        return lat

    lat = run(main())
    med = statistics.median(lat)
    print(f"BLE latency emission->commit over {len(lat)} events: median {med * 1000:.1f} ms, "
          f"max {max(lat) * 1000:.1f} ms")
    assert med < 0.2


def test_link_loss_is_signalled_at_once_and_silence_after_liveness(tmp_path):
    async def main():
        pair, q, radio, store = await setup(tmp_path)
        link = link_for(pair, await bond(pair, store), liveness_s=0.6)
        await link.connect(None)
        assert link.is_connected and link.silence() < 1
        t0 = time.monotonic()
        pair.drop()
        with pytest.raises(LinkLost):
            await link.next_event(5)
        assert time.monotonic() - t0 < 1 and not link.is_connected
        with pytest.raises(LinkLost):
            await link.ack(3, 1)
        # A band that stays connected but says nothing (frozen) is dropped after liveness_s.
        await link.connect(None)
        radio.task.cancel()
        t0 = time.monotonic()
        with pytest.raises(LinkLost, match="no data"):
            while True:
                await link.next_event(0.2)
        assert time.monotonic() - t0 < 2
        await pair.close()

    run(main())


def test_record_raw_samples_to_a_trace(tmp_path):
    async def main():
        pair, q, radio, store = await setup(tmp_path)
        link = link_for(pair, await bond(pair, store))

        async def sampler():
            i = 0
            while True:
                await asyncio.sleep(0.002)
                radio.raw_push(i % 4096 - 2048, -4096, 4096 if i % 2 else -32768)
                i += 1

        task = asyncio.get_running_loop().create_task(sampler())
        r = await record(link, 0.5)
        task.cancel()
        await pair.close()
        return r

    r = run(main())
    assert r.fs == 50 and r.range_g == 8 and r.missing == 0 and r.bad_frames == 0
    assert len(r.samples) >= 40
    n = r.write(tmp_path / "t.csv")
    tr = trace.read(tmp_path / "t.csv")
    assert len(tr.t) == n and tr.t[1] - tr.t[0] == pytest.approx(0.02)
    counts = trace.quantise(tr.acc, 8)  # back to counts: 4096 per g at +-8 g
    assert (counts[:, 1] == -4096).all() and set(counts[:, 2]) <= {4096, -32768}
    assert (((counts[1:, 0] - counts[:-1, 0]) % 4096) == 1).all()  # consecutive samples, none lost


def test_open_link_needs_a_pairing(tmp_path):
    store = PairingStore(tmp_path / "b.json")
    with pytest.raises(CliError, match="no band is paired"):
        open_link(None, store=store)
    store.add(Pairing("F0:F1:F2:F3:F4:F5", 1, "anklet-1"))
    assert open_link(None, store=store).band_id == "F0:F1:F2:F3:F4:F5"
    assert open_link("anklet-1", store=store).pairing.uid == 1
    with pytest.raises(CliError, match="not paired"):
        open_link("AA:BB:CC:DD:EE:FF", store=store)


def test_monitor_raises_fault_after_link_loss_over_the_virtual_radio(tmp_path):
    """The real monitor on a BleakLink: events are logged and acknowledged; when the band vanishes the
    monitor raises its FAULT alarm within its no-data setting (2 s here; 30 s by default)."""
    import io

    from anklet.alerts import Notifier, Sound
    from anklet.monitor import Monitor, Settings
    from anklet.statusview import StatusView
    from anklet.store import Store

    async def main():
        # A worn band with a full battery (mV, %, worn, FIFO overflows, uptime s, firmware 0.1.0).
        pair, q, radio, store = await setup(tmp_path, status=lambda: (4100, 95, 1, 0, 60, 0x000100))
        link = link_for(pair, await bond(pair, store))
        db = Store(tmp_path / "log.db")
        out = io.StringIO()
        mon = Monitor(link, db, settings=Settings(no_data_s=2.0, tick_s=0.1, status_s=0.5, poll_s=0.1,
                                                  backoff_min_s=0.1, backoff_max_s=0.3),
                      sound=Sound("report", out=out), notifier=Notifier(False), view=StatusView(out=out, tty=False))
        raised = []
        mon.on_alarm = raised.append
        task = asyncio.get_running_loop().create_task(mon.run())
        for i in range(20):
            q.append(rec(i))
            radio.kick()
            await asyncio.sleep(0.01)
        for _ in range(200):
            if db.count_events() == 20 and q.depth() == 0:
                break
            await asyncio.sleep(0.02)
        assert db.count_events() == 20 and q.depth() == 0  # logged, then acknowledged, then released
        assert not [r for r in raised if r.level == "fault"]
        # The band dies: link cut and no more advertising.
        radio.task.cancel()
        pair.drop()
        pair.link.remove_controller(pair.band_ble.device.controller)
        t_loss = time.monotonic()
        while not [r for r in raised if r.code == "no_data"] and time.monotonic() - t_loss < 10:
            await asyncio.sleep(0.05)
        t_fault = time.monotonic() - t_loss
        mon.stop()
        await asyncio.wait_for(task, 10)
        db.close()
        await pair.close()
        return t_fault, raised

    t_fault, raised = run(main())
    faults = [r for r in raised if r.code == "no_data"]
    assert faults and faults[0].level == "fault"
    print(f"FAULT no_data raised {t_fault:.2f} s after the band vanished (setting 2 s)")
    assert t_fault <= 2.0 + 0.6


def test_cli_commands_refuse_bad_input_without_touching_the_radio(tmp_path, capsys):
    from anklet.cli import main

    empty = str(tmp_path / "none.json")
    assert main(["record", str(tmp_path / "t.csv"), "--duration", "0", "--pairings", empty]) == 2
    assert "--duration must be positive" in capsys.readouterr().err
    assert main(["record", str(tmp_path / "t.csv"), "--duration", "5", "--pairings", empty]) == 2
    assert "no band is paired" in capsys.readouterr().err
    assert main(["pair", "F0:F1:F2:F3:F4:F5", "--passkey", "1234567", "--pairings", empty]) == 2
    assert "not a 6-digit number" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_band_reset_keeps_its_bond_and_every_event(tmp_path):
    """The band resets mid-stream: its queue comes back from flash under a new boot id, its bond from its
    secrets file; the host reconnects without pairing again and logs every event once."""
    from anklet.store import Store
    from anklet_fw.radio import Bonds

    async def main():
        pair = await virtual_pair()
        flash = RamFlash(8, 4096)
        bonds_file = str(tmp_path / "bonds.bin")
        q = EventQueue(flash, boot=1)
        radio = start_radio(pair, q, boot=1, uid=UID, pairing_s=60, bonds=Bonds(bonds_file))
        pairing = await bond(pair, PairingStore(tmp_path / "bands.json"))
        db = Store(tmp_path / "log.db")
        link = link_for(pair, pairing)
        await link.connect(None)
        for i in range(10):
            q.append(rec(i))
        radio.kick()
        for _ in range(6):  # the host commits and acknowledges 6 of them...
            e = await link.next_event(2)
            db.add_events(link.band_id, [e], time.time())
            await link.ack(e.boot, e.seq)
        # ...and the band resets: radio gone, link gone, RAM gone; flash and the bonds file remain.
        radio.task.cancel()
        pair.drop()
        pair.link.remove_controller(pair.band_ble.device.controller)
        pair.band_ble = await make_band_ble(pair.link, pair.band_address, "anklet-test")
        q2 = EventQueue(flash, boot=2)
        assert q2.first_seq() <= 7 and q2.next_seq() == 11
        q2.append(rec(10))
        radio2 = start_radio(pair, q2, boot=2, uid=UID, bonds=Bonds(bonds_file))  # not in pairing mode
        with pytest.raises(LinkLost):  # what arrived before the reset is still delivered (and committed)
            while True:
                e = await link.next_event(2)
                db.add_events(link.band_id, [e], time.time())
                await link.ack(e.boot, e.seq)
        await link.connect(db.last_seq(link.band_id))
        while True:
            e = await link.next_event(1)
            if e is None:
                break
            db.add_events(link.band_id, [e], time.time())
            await link.ack(e.boot, e.seq)
        rows = db.db.execute("SELECT boot, seq FROM events ORDER BY id").fetchall()
        assert radio2.refused == 0
        db.close()
        await pair.close()
        return [tuple(r) for r in rows]

    rows = run(main())
    assert rows == [(1, s) for s in range(1, 11)] + [(2, 11)]


def test_a_stranger_cannot_hold_the_band(tmp_path):
    """An unsecured connection is dropped after SECURE_TIMEOUT_MS, freeing the band for its host."""
    from anklet_fw.radio import SECURE_TIMEOUT_MS

    now = [0]

    async def main():
        pair, q, radio, store = await setup(tmp_path, clock=lambda: now[0])
        pairing = await bond(pair, store)
        radio.set_pairing(0)
        stranger = BleakClient(pair.band_address, backend=pair.central.client_backend, timeout=5)
        store2 = await pair.central.keystore.get(pair.band_address)
        await pair.central.keystore.delete(pair.band_address)  # the stranger's stack has no bond
        await stranger.connect()
        assert radio.connected and not radio.secure
        now[0] += SECURE_TIMEOUT_MS + 1
        radio.service()
        for _ in range(50):
            if not stranger.is_connected:
                break
            await asyncio.sleep(0.02)
        assert not stranger.is_connected and radio.refused == 1
        await pair.central.keystore.update(pair.band_address, store2)
        link = link_for(pair, pairing)
        await link.connect(None)
        assert link.is_connected and radio.secure
        await pair.close()

    run(main())


def test_next_event_with_zero_timeout_takes_what_is_waiting(tmp_path):
    """The monitor drains a burst with next_event(0): it must return what has arrived, then None."""
    async def main():
        pair, q, radio, store = await setup(tmp_path)
        link = link_for(pair, await bond(pair, store))
        await link.connect(None)
        for i in range(5):
            q.append(rec(i))
        radio.kick()
        await asyncio.sleep(0.2)
        got = [await link.next_event(0) for _ in range(6)]
        await pair.close()
        return got

    got = run(main())
    assert [e.seq for e in got[:5]] == [1, 2, 3, 4, 5] and got[5] is None


def test_a_record_the_band_cannot_read_is_reported_not_retried_forever(tmp_path):
    async def main():
        pair = await virtual_pair()
        real = EventQueue(RamFlash(8, 4096), boot=3)

        class Flaky:  # the band's queue with one unreadable record (seq 3)
            def __getattr__(self, name):
                return getattr(real, name)

            def read_into(self, seq, buf, off=0):
                return seq != 3 and real.read_into(seq, buf, off)

        radio = start_radio(pair, Flaky(), boot=3, uid=UID, pairing_s=60)
        link = link_for(pair, await bond(pair, PairingStore(tmp_path / "b.json")))
        await link.connect(None)
        for i in range(5):
            real.append(rec(i))
        radio.kick()
        got = []
        while (e := await link.next_event(1)) is not None:
            got.append(e.seq)
            await link.ack(e.boot, e.seq)
        await pair.close()
        return got, link, radio

    got, link, radio = run(main())
    assert got == [1, 2, 4, 5] and radio.unreadable >= 1 and link.resyncs == 1
    assert any("could not send events 3 to 3" in e for e in link.errors)


def test_cli_without_a_bluetooth_stack_says_so(tmp_path, capsys, monkeypatch):
    import anklet.ble_commands as bc
    from anklet.cli import main

    async def no_stack(timeout):
        raise FileNotFoundError(2, "No such file or directory")  # what bleak does with no D-Bus / BlueZ

    monkeypatch.setattr(bc, "scan", no_stack)
    assert main(["scan", "--timeout", "0.1", "--pairings", str(tmp_path / "b.json")]) == 2
    assert "Bluetooth is not available" in capsys.readouterr().err


def test_events_the_band_dropped_are_reported_by_the_host(tmp_path):
    """The band's queue overflowed while the host was away: the host says which events are gone."""
    async def main():
        pair = await virtual_pair()
        q = EventQueue(RamFlash(4, 4096), boot=3)  # a small ring: two blocks of 97 records
        start_radio(pair, q, boot=3, uid=UID, pairing_s=60)
        link = link_for(pair, await bond(pair, PairingStore(tmp_path / "b.json")))
        for i in range(400):
            q.append(rec(i))
        assert q.dropped > 0
        await link.connect(0)  # the host had committed nothing yet
        first = await link.next_event(2)
        await pair.close()
        return first, q.dropped, link.gaps

    first, dropped, gaps = run(main())
    assert first.seq == dropped + 1
    assert [(g.first, g.last, g.count, g.cause) for g in gaps] == [(1, dropped, dropped, "band")]
    assert f"no longer holds events 1 to {dropped}" in gaps[0].message


def test_the_monitor_link_tries_once_and_leaves_the_backoff_to_the_monitor(tmp_path, monkeypatch):
    """A connect the monitor makes is one attempt (one scan, the stack's transient errors retried by
    bleak-retry-connector): the monitor's own backoff (at most 5 s) decides when to look again, so a band back in
    range is not kept waiting behind the link's private retries (3 x 10 s)."""
    import anklet.ble as ble
    from anklet import monitor

    seen: dict = {}
    monkeypatch.setattr(ble, "open_link", lambda band, **kw: seen.update(kw) or "link")
    assert monitor._open_ble_link(None) == "link" and seen == {"attempts": 1}

    scans = []
    real_find = ble.find_band

    async def counting_find(address, timeout, backend=None):
        scans.append(address)
        return await real_find(address, timeout, backend)

    async def main():
        pair, q, radio, store = await setup(tmp_path)
        monkeypatch.setattr(ble, "find_band", counting_find)
        away = Pairing("A0:A1:A2:A3:A4:A5", UID, "anklet-away")  # a paired band that is not in range
        link = link_for(pair, away, attempts=1, scan_timeout=0.5)
        with pytest.raises(LinkLost):
            await link.connect(None)
        await pair.close()

    run(main())
    assert len(scans) == 1
