"""Torture: 1,000 events from the band's firmware radio to the host's SQLite log over Bumble's virtual radio,
with the link cut at random moments (at least 20 times) and the host "process" restarted twice.

The restart is in-process: the host's Bumble device (its controller, bonds kept in a JSON key-store file),
the BleakLink and the Store are thrown away without a clean shutdown and made anew, as a restarted
`anklet monitor` would. Every event must be logged exactly once, in order.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time

from anklet.bumble_band import bond, link_for, start_radio, virtual_pair
from anklet.link import LinkError
from anklet.link.pairing import PairingStore
from anklet.store import Store
from anklet_fw.eventq import EventQueue
from anklet_fw.flashdev import RamFlash

N_EVENTS = 1000
MIN_DROPS = 25
RESTART_AT = (300, 650)  # restart the host after this many events are logged


def test_thousand_events_through_drops_and_host_restarts(tmp_path):
    rng = random.Random(20261121)
    db_path = tmp_path / "log.db"
    stats = {"drops": 0, "restarts": 0, "connects": 0, "delivered": 0, "redelivered": 0, "lost_signals": 0}

    async def host(pair, pairing, stop):
        """A minimal monitor: commit each burst, then acknowledge it; reconnect on loss."""
        db = Store(db_path)
        # Short timeouts: the virtual radio answers in milliseconds, a stuck exchange is a lost one.
        link = link_for(pair, pairing, attempts=20, liveness_s=3.0, connect_timeout=1.5, reply_timeout=1.5)
        band = link.band_id
        seen_this_session = -1
        while not stop.is_set():
            try:
                await link.connect(db.last_seq(band))
                stats["connects"] += 1
                while not stop.is_set():
                    e = await link.next_event(0.2)
                    if e is None:
                        continue
                    batch = [e]  # as the monitor does: a burst, committed at once, then acknowledged
                    while len(batch) < 64 and (more := await link.next_event(0)) is not None:
                        batch.append(more)
                    for e in batch:
                        assert e.seq > seen_this_session, "link delivered out of order"
                        seen_this_session = e.seq
                    stats["delivered"] += len(batch)
                    stats["redelivered"] += len(batch) - db.add_events(band, batch, time.time())
                    await link.ack(batch[-1].boot, batch[-1].seq)
            except LinkError:
                stats["lost_signals"] += 1
                await asyncio.sleep(0.01)

    async def main():
        Store(db_path).close()  # the log exists before the first host starts
        pair = await virtual_pair(host_keys=str(tmp_path / "host_keys.json"))
        queue = EventQueue(RamFlash(16, 4096), boot=7)
        radio = start_radio(pair, queue, boot=7, pairing_s=60)
        pairing = await bond(pair, PairingStore(tmp_path / "bands.json"))
        radio.set_pairing(0)  # from now on no new bonds: restarted hosts must use the stored one

        cuts_done = asyncio.Event()

        async def producer():
            for i in range(N_EVENTS):
                if i == N_EVENTS - 50:
                    await cuts_done.wait()  # the last events wait for the cuts: every cut falls mid-stream
                queue.append((4, 1000 * i, i, 0, 0, 0, 0, 0, 0))
                radio.kick()
                await asyncio.sleep(rng.uniform(0, 0.01))

        async def disrupter():
            # Cut the link at random moments, each once the host is streaming again after the previous cut
            # (retrying while it is between connections).
            while logged() == 0:  # the host is paired and streaming
                await asyncio.sleep(0.01)
            for _ in range(MIN_DROPS):
                await asyncio.sleep(rng.uniform(0.02, 0.15))
                while drop_points and logged() <= drop_points[-1]:
                    await asyncio.sleep(0.005)
                while not pair.drop():
                    await asyncio.sleep(0.01)
                stats["drops"] += 1
                drop_points.append(logged())
            cuts_done.set()

        def logged():
            with sqlite3.connect(db_path) as c:
                return c.execute("SELECT COUNT(*) FROM events").fetchone()[0]

        drop_points: list[int] = []
        stop = asyncio.Event()
        prod = asyncio.create_task(producer())
        dis = asyncio.create_task(disrupter())
        h = asyncio.create_task(host(pair, pairing, stop))
        t0 = time.monotonic()
        for target in RESTART_AT:
            while logged() < target:
                assert time.monotonic() - t0 < 60, f"stuck at {logged()} events, {stats}"
                await asyncio.sleep(0.02)
            # The host dies mid-stream: no disconnect, no goodbye. (The flag as well as the cancel: Python 3.11's
            # wait_for can swallow a cancellation that races with its result.)
            stop.set()
            h.cancel()
            await asyncio.gather(h, return_exceptions=True)
            await pair.restart_host()
            stats["restarts"] += 1
            stop = asyncio.Event()
            h = asyncio.create_task(host(pair, pairing, stop))
        await prod
        while logged() < N_EVENTS or not dis.done():
            assert time.monotonic() - t0 < 60, f"stuck at {logged()} events, {stats}"
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(h, return_exceptions=True)
        await pair.close()
        stats["mid_stream_drops"] = sum(0 < n < N_EVENTS for n in drop_points)
        return time.monotonic() - t0

    async def guarded():
        try:
            return await asyncio.wait_for(main(), 80)
        except TimeoutError:
            for t in asyncio.all_tasks():
                t.print_stack(limit=6)
            raise AssertionError(f"torture hung: {stats}") from None

    elapsed = asyncio.run(guarded())
    with sqlite3.connect(db_path) as c:
        rows = c.execute("SELECT seq, boot, t_ms FROM events ORDER BY id").fetchall()
    print(f"torture: {len(rows)} events logged in {elapsed:.1f} s; {stats}")
    assert [r[0] for r in rows] == list(range(1, N_EVENTS + 1))  # each once, in order
    assert all(r[1] == 7 and r[2] == 1000 * (r[0] - 1) for r in rows)
    assert stats["drops"] >= 20 and stats["restarts"] == 2
    assert stats["mid_stream_drops"] >= 20  # the cuts fell while events were flowing
    assert stats["lost_signals"] >= 20  # and the link said so each time
