"""Faults on the band's side of the link, reproduced over the real link: the firmware's radio and flash queue on
Bumble's virtual radio, the host's real BleakLink through the Bumble bleak backend (see test_ble_link.py).

- a host that cannot commit (so never acknowledges) still hears every episode event (alerts stream);
- a wiped band's events are never taken for the old ones (RESUME carries the boot id);
- every gap in the band's sequence is a FAULT with its count and cause; one flipped bit loses one record;
- the band's running count of lost events survives its own DROPPED reports being dropped;
- strangers: Just Works pairings, a spoofed host address and a full bond table change no bond."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient
from bleak.exc import BleakError
from bumble.pairing import PairingConfig, PairingDelegate

from anklet.bumble_backend import BumbleCentral
from anklet.bumble_band import bond, link_for, start_radio, virtual_pair
from anklet.faults import FaultTracker
from anklet.link.bleak_link import BandRefused
from anklet.link.pairing import PairingStore
from anklet_fw import events as ev
from anklet_fw.eventq import LOST_FLASH, EventQueue
from anklet_fw.radio import WINDOW, Bonds
from anklet_fw.sim import RamFlash

UID = 0xA0B1C2D3E4F5


def run(coro, timeout=40):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def activity(i):
    return (ev.ACTIVITY, 1000 * i, i, 0, 0, 0, 0, 0, 0)


def append(q, rec, radio=None):
    # What the band's sampling loop does: the event, then any loss report the queue has for the host.
    q.append(rec)
    out = [0] * 9
    while q.drop_report(out, rec[1]):
        q.append(out)
    if radio is not None:
        radio.kick()


async def drain(link, timeout=0.5, ack=True):
    got = []
    while (e := await link.next_event(timeout)) is not None:
        got.append(e)
        if ack:
            await link.ack(e.boot, e.seq)
    return got


def test_episode_events_beyond_a_full_window_reach_a_host_that_cannot_commit(tmp_path):
    """The host's log fails, so it acknowledges nothing: the band's window fills after 16 events. The
    episode's START, UPDATE and END still reach the host (alerts), once each; when the log recovers the
    in-order stream brings everything, each event exactly once."""

    async def main():
        pair = await virtual_pair()
        q = EventQueue(RamFlash(8, 4096), boot=3)
        radio = start_radio(pair, q, boot=3, uid=UID, pairing_s=60)
        link = link_for(pair, await bond(pair, PairingStore(tmp_path / "b.json")))
        early = []
        link.on_early = early.append
        await link.connect(None)
        for i in range(20):
            append(q, activity(i), radio)
        held = await drain(link, 0.3, ack=False)  # received, never acknowledged
        assert [e.seq for e in held] == list(range(1, WINDOW + 1))
        for rec in ((ev.START, 30000, 25000, 450, 800, 120, 0, 0, 0),
                    (ev.UPDATE, 35000, 25000, 10000, 450, 800, 120, 5, 0),
                    (ev.ACTIVITY, 36000, 1, 0, 0, 0, 0, 0, 0),
                    (ev.END, 40000, 25000, 15000, 450, 440, 460, 800, 120)):
            append(q, rec, radio)
        for _ in range(50):
            if len(early) >= 3:
                break
            await asyncio.sleep(0.02)
        assert await link.next_event(0.2) is None  # nothing in order: the window is still full
        ahead = link.take_early()
        # The log recovers: acknowledge what was held, then take the rest in order.
        await link.ack(held[-1].boot, held[-1].seq)
        rest = await drain(link)
        await pair.close()
        return early, ahead, held + rest, radio.early

    early, ahead, logged, sent_early = run(main())
    assert [(e.kind, e.seq) for e in early] == [("start", 21), ("update", 22), ("end", 24)]
    assert ahead == early and sent_early == 3
    assert [e.seq for e in logged] == list(range(1, 25))  # every event once, in order
    assert [e.kind for e in logged[20:]] == ["start", "update", "activity", "end"]


def test_a_wiped_band_is_never_resumed_across_its_new_identity(tmp_path):
    """The host logged events 1..100 of the band; the band is wiped (new flash, new boot id) and records 130
    events before the host reconnects. RESUME(100, old boot) must not release the new band's 1..100."""

    async def main():
        pair = await virtual_pair()
        q = EventQueue(RamFlash(8, 4096), boot=0x2001)  # the wiped band: a new boot id, seqs from 1 again
        radio = start_radio(pair, q, boot=0x2001, uid=UID, pairing_s=60)
        link = link_for(pair, await bond(pair, PairingStore(tmp_path / "b.json")))
        gaps = []
        faults = FaultTracker()
        link.on_gap = lambda g: (gaps.append(g), faults.gap(g))
        for i in range(130):
            append(q, activity(i))
        radio.kick()
        await link.connect(100, 0x7A31)  # the log ends with seq 100 of boot 0x7a31
        got = await drain(link)
        # The same band reset (flash kept, a new boot): a resume with the boot the log holds is accepted.
        q.ack(120)
        await link.disconnect()
        await link.connect(130, 0x2001)
        append(q, activity(999), radio)
        more = await drain(link)
        await pair.close()
        return got, more, gaps, faults.check(0.0), q

    got, more, gaps, faults, q = run(main())
    assert [e.seq for e in got] == list(range(1, 131)) and got[0].boot == 0x2001  # nothing released unseen
    assert [(g.cause, g.count) for g in gaps] == [("wiped", None)]
    assert [f.code for f in faults] == ["dropped"] and "wiped" in faults[0].message
    assert [e.seq for e in more] == [131]


def test_a_flipped_bit_loses_one_record_and_is_a_fault_with_its_cause(tmp_path):
    """One bit flipped in a ring block, then a reset: only that record is lost, no older block, no seq
    reused; the host gets a DROPPED event saying why and raises one FAULT for that gap."""

    async def main():
        flash = RamFlash(8, 4096)
        q = EventQueue(flash, boot=1)
        for i in range(200):  # two blocks and more
            q.append(activity(i))
        flash.mem[2 * 4096 + 4 * 42 + 17] ^= 0x10  # record 5, in the oldest block
        q2 = EventQueue(flash, boot=2)  # the band resets: the queue comes back from flash
        append(q2, (ev.BOOT, 0, 3, 2, 100, 0, 0, 0, 0))
        pair = await virtual_pair()
        radio = start_radio(pair, q2, boot=2, uid=UID, pairing_s=60)
        link = link_for(pair, await bond(pair, PairingStore(tmp_path / "b.json")))
        faults = FaultTracker()
        link.on_gap = faults.gap
        await link.connect(None)
        radio.kick()
        got = await drain(link)
        for e in got:
            faults.event(e)
        await pair.close()
        return got, faults.check(0.0), link.gaps

    got, faults, gaps = run(main())
    seqs = [e.seq for e in got]
    assert seqs == [s for s in range(1, 203) if s != 5]  # 200 records, BOOT 201, DROPPED 202
    dropped = got[-1]
    assert dropped.kind == "dropped" and dropped.fields == {"count": 1, "first_seq": 5, "last_seq": 5,
                                                            "cause": LOST_FLASH, "total": 1}
    assert [(g.first, g.last, g.cause) for g in gaps] == [(5, 5, "unsendable")]
    lost = [f for f in faults if f.code == "dropped"]
    assert len(lost) == 1 and "events 5 to 5" in lost[0].message and lost[0].level == "fault"


def test_the_running_lost_count_survives_dropped_reports_being_dropped(tmp_path):
    """The host is away long: the band's ring overflows many times and drops its own DROPPED reports too.
    The last report's running total, and the status frame, still count every event lost."""

    async def main():
        pair = await virtual_pair()
        q = EventQueue(RamFlash(4, 4096), boot=3)  # two ring blocks of 97 records
        radio = start_radio(pair, q, boot=3, uid=UID, pairing_s=60)
        link = link_for(pair, await bond(pair, PairingStore(tmp_path / "b.json")))
        for i in range(1500):
            append(q, activity(i))
        await link.connect(None)
        radio.kick()
        got = await drain(link)
        await link.status()
        await pair.close()
        return got, link.band_lost_total, q

    got, status_total, q = run(main())
    seqs = {e.seq for e in got}
    missing = [s for s in range(1, max(seqs) + 1) if s not in seqs]
    reports = [e for e in got if e.kind == "dropped"]
    reported = sum(e.fields["count"] for e in reports)
    assert reported < len(missing)  # some of the band's own reports were lost with the rest...
    assert reports[-1].fields["total"] == len(missing) == status_total == q.lost  # ...the running count was not


def _just_works(central: BumbleCentral) -> None:
    # A stranger's stack with no display and no keyboard: LE Secure Connections "Just Works", no passkey.
    central.device.pairing_config_factory = lambda conn: PairingConfig(
        sc=True, mitm=False, bonding=True,
        delegate=PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
        identity_address_type=PairingConfig.AddressType.RANDOM)


async def _stranger_pairs(pair, address: str) -> bool:
    """A Just Works pairing attempt from `address`; True if the stranger ended up on a secured link."""
    central = BumbleCentral(pair.link, address)
    await central.start()
    _just_works(central)
    client = BleakClient(pair.band_address, backend=central.client_backend, timeout=5)
    try:
        await client.connect()
        try:
            await client.pair()
        except BleakError:
            pass
        await asyncio.sleep(0.2)
        return client.is_connected
    finally:
        if client.is_connected:
            await client.disconnect()
        await central.close()


def test_strangers_cannot_bond_without_the_passkey_nor_evict_the_host(tmp_path):
    async def main():
        pair = await virtual_pair()
        q = EventQueue(RamFlash(8, 4096), boot=3)
        path = str(tmp_path / "bonds.bin")
        radio = start_radio(pair, q, boot=3, uid=UID, pairing_s=60, bonds=Bonds(path, limit=2))
        pairing = await bond(pair, PairingStore(tmp_path / "b.json"))
        size = (tmp_path / "bonds.bin").stat().st_size
        # Just Works in pairing mode, then outside it: no key kept, link dropped.
        assert not await _stranger_pairs(pair, "D0:D1:D2:D3:D4:D5")
        radio.set_pairing(0)
        assert not await _stranger_pairs(pair, "D0:D1:D2:D3:D4:D6")
        # A stranger taking the host's own address while the host is away.
        await pair.central.close()
        assert not await _stranger_pairs(pair, pair.host_address)
        assert (tmp_path / "bonds.bin").stat().st_size == size and radio.secrets_refused >= 3
        await pair.restart_host()
        link = link_for(pair, pairing)
        await link.connect(None)  # the parents' host still holds a working bond
        assert radio.secure
        await link.disconnect()
        # The bond table is bounded: a second host with the passkey fits, a third is refused, the first stays.
        radio.set_pairing(60)
        for n, addr in enumerate(("C0:C1:C2:C3:C4:C5", "C0:C1:C2:C3:C4:C6")):
            central = BumbleCentral(pair.link, addr)
            await central.start()
            client = BleakClient(pair.band_address, backend=central.client_backend, timeout=5)
            await client.connect()
            if n == 0:
                await client.pair(passkey=pair.passkey)
            else:
                with pytest.raises((BleakError, BandRefused)):
                    await client.pair(passkey=pair.passkey)
                    await client.read_gatt_char("6a1e0003-7c3f-4d2b-9a55-616e6b6c6574")
            if client.is_connected:
                await client.disconnect()
            await central.close()
        await asyncio.sleep(0.1)
        link = link_for(pair, pairing)
        await link.connect(None)
        ok = radio.secure
        await pair.close()
        return ok, Bonds(path).items

    ok, items = run(main())
    assert ok and len(items) == 2


def test_pair_passkey_on_the_platform_stack_is_refused_clearly(tmp_path, capsys):
    from anklet.cli import main

    assert main(["pair", "F0:F1:F2:F3:F4:F5", "--passkey", "123456", "--pairings", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "--passkey cannot be passed" in err and "without --passkey" in err


def test_events_lost_on_the_band_are_a_gap_on_the_night_report(tmp_path):
    from datetime import datetime

    from anklet.records import DeviceEvent
    from anklet.report.data import gather_night, night_of
    from anklet.store import Store

    store = Store(tmp_path / "log.db")
    base = datetime(2026, 3, 4, 22, 0).astimezone().timestamp()
    evs = [DeviceEvent("boot", 0, {"reason": 1, "boot_count": 1, "fw_version": 1}, 1, 1)]
    evs += [DeviceEvent("activity", 60000 * s, {"movement_mg": 5}, s, 1) for s in range(2, 61) if not 21 <= s <= 40]
    evs.append(DeviceEvent("dropped", 3_600_000, {"count": 20, "first_seq": 21, "last_seq": 40, "cause": 1,
                                                  "total": 20}, 61, 1))
    for e in evs:
        store.add_events("band-a", [e], base + e.t_ms / 1000)
    night = gather_night(store, night_of(datetime.fromtimestamp(base).astimezone()))
    store.close()
    lost = [g for g in night.gaps if g.kind == "events_lost"]
    assert len(lost) == 1 and not lost[0].watching
    assert round(lost[0].duration_s) == 21 * 60  # from event 20 to event 41
    assert "20 events (seq 21-40) lost on the band: its queue was full" in lost[0].messages[0]


def test_the_monitor_resumes_with_its_logs_boot_and_a_wiped_band_loses_nothing_it_holds(tmp_path):
    """The real monitor over the link: its log ends with seq 100 of boot 0x7a31; the band it meets was wiped
    (boot 0x2001, 130 events). The monitor's RESUME carries the log's boot id, the band refuses it, and all
    130 events are logged, with a FAULT saying the band was wiped."""
    import io
    import time

    from anklet.alerts import Notifier, Sound
    from anklet.monitor import Monitor, Settings
    from anklet.records import DeviceEvent
    from anklet.statusview import StatusView
    from anklet.store import Store

    async def main():
        pair = await virtual_pair()
        q = EventQueue(RamFlash(8, 4096), boot=0x2001)
        radio = start_radio(pair, q, boot=0x2001, uid=UID, pairing_s=60,
                            status=lambda: (4100, 95, 1, 0, 60, 0x000100))
        link = link_for(pair, await bond(pair, PairingStore(tmp_path / "b.json")))
        db = Store(tmp_path / "log.db")
        db.add_events(link.band_id, [DeviceEvent("activity", 1000 * s, {"movement_mg": 1}, s, 0x7A31)
                                     for s in range(1, 101)], time.time() - 60)
        for i in range(130):
            append(q, activity(i))
        out = io.StringIO()
        mon = Monitor(link, db, settings=Settings(tick_s=0.1, status_s=0.5, poll_s=0.1, backoff_min_s=0.1,
                                                  backoff_max_s=0.3),
                      sound=Sound("report", out=out), notifier=Notifier(False), view=StatusView(out=out, tty=False))
        raised = []
        mon.on_alarm = raised.append
        task = asyncio.get_running_loop().create_task(mon.run())
        radio.kick()
        for _ in range(300):
            if q.depth() == 0 and q.next_seq() == 131:
                break
            await asyncio.sleep(0.02)
        mon.stop()
        await asyncio.wait_for(task, 10)
        rows = db.db.execute("SELECT boot & 65535, seq FROM events WHERE band = ? ORDER BY id",
                             (link.band_id,)).fetchall()
        db.close()
        await pair.close()
        return [tuple(r) for r in rows], raised

    rows, raised = run(main())
    assert rows[100:] == [(0x2001, s) for s in range(1, 131)]  # none of the wiped band's events released unseen
    wiped = [r for r in raised if r.code == "dropped"]
    assert len(wiped) == 1 and "wiped" in wiped[0].message and wiped[0].level == "fault"
