"""Storage and radio faults under the real monitor, over the real link (Bumble's virtual radio, the real BleakLink,
the band's firmware radio and flash queue): alarms come from what the monitor receives whatever the log does, the
event loop is never held by the log, and every event is committed and acknowledged exactly once when the log
recovers. A radio drop between commit and acknowledgement does not skip the alarm rule."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from fault_rig import (
    LinkRig,
    activity,
    emergency_read_only,
    episode,
    ext4_fs,
    fill,
    repair_and_remount,
    small_fs,
)

from anklet.store import Store
from anklet_fw import events as fw


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late the event loop runs a 20 ms sleep: a blocked loop shows here."""
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(0.02)
        lags.append(time.monotonic() - t - 0.02)


def test_write_lock_held_by_another_process_neither_blocks_nor_silences(tmp_path):
    db = tmp_path / "night.db"

    async def main():
        rig = await LinkRig(tmp_path, db).start()
        rig.send([activity(i) for i in range(3)])
        await rig.until(lambda: len(rig.logged()) == 3, what="first events logged")
        # A stranger (a sqlite3 shell, a backup tool) takes the write lock and keeps it.
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        stop, lags = asyncio.Event(), []
        lagger = asyncio.get_running_loop().create_task(loop_lag(stop, lags))
        rig.send(episode(100_000, 26))  # 26 s of rhythm: NOTICE at 10 s, ALARM at 20 s
        await rig.until(lambda: "alarm" in rig.codes(), what="ALARM while the log is locked")
        await rig.until(lambda: "log_write" in rig.codes(), what="log_write FAULT")
        await asyncio.sleep(1.0)
        stop.set()
        await lagger
        assert rig.logged() == [1, 2, 3]  # nothing committed meanwhile: the lock is held
        other.execute("ROLLBACK")
        other.close()
        n = 3 + len(episode(100_000, 26))
        await rig.until(lambda: len(rig.logged()) == n and rig.queue.depth() == 0, what="recovery")
        await rig.until(lambda: "log_write" not in rig.monitor.faults.active, what="fault cleared")
        await rig.stop()
        return rig, lags, n

    rig, lags, n = run(main())
    assert rig.logged() == list(range(1, n + 1))  # each once, in order, and the band was acknowledged
    assert max(lags) < 0.5, f"the event loop was held {max(lags):.2f} s by the log's lock"
    assert rig.codes().count("alarm") == 1 and rig.codes().count("notice") == 1


def test_full_small_filesystem_alarms_then_recovers_exactly_once(tmp_path):
    mnt = tmp_path / "fs"
    with small_fs(mnt, 200):
        db = mnt / "night.db"

        async def main():
            rig = await LinkRig(tmp_path, db).start()
            # A night's worth of small events on a 200 KB filesystem: the write-ahead file must not fill it.
            sent = 0
            for _burst in range(10):
                rig.send([activity(sent + i) for i in range(10)])
                sent += 10
                await rig.until(lambda s=sent: len(rig.logged()) == s, what=f"{sent} events logged")
            assert "log_write" not in rig.codes()
            filler = fill(mnt)  # something else fills the disk
            ep = episode(400_000, 24)
            rig.send(ep)
            await rig.until(lambda: "alarm" in rig.codes(), what="ALARM on a full disk")
            await rig.until(lambda: "log_write" in rig.codes(), what="log_write FAULT")
            filler.unlink()
            total = sent + len(ep)
            await rig.until(lambda: len(rig.logged()) == total and rig.queue.depth() == 0, what="recovery")
            await rig.until(lambda: "log_write" not in rig.monitor.faults.active, what="fault cleared")
            await rig.stop()
            return rig, total

        rig, total = run(main(), 90)
        assert rig.logged() == list(range(1, total + 1))
        assert rig.codes().count("alarm") == 1


def test_emergency_read_only_filesystem_alarms_and_loses_nothing(tmp_path):
    """ext4 turns read-only under the monitor (a disk error): the episode still alarms, nothing is acknowledged
    that is not committed; after the repair and a restart of the monitor every event is logged exactly once."""
    mnt, image = tmp_path / "fs", tmp_path / "ext4.img"
    with ext4_fs(mnt, image):
        db = mnt / "night.db"

        async def main():
            rig = await LinkRig(tmp_path, db).start()
            rig.send([activity(i) for i in range(5)])
            await rig.until(lambda: len(rig.logged()) == 5, what="first events logged")
            emergency_read_only(mnt)
            ep = episode(100_000, 24)
            rig.send(ep)
            await rig.until(lambda: "alarm" in rig.codes(), what="ALARM on a read-only disk")
            await rig.until(lambda: "log_write" in rig.codes(), what="log_write FAULT")
            assert rig.queue.depth() == len(ep)  # nothing acknowledged that the log does not hold
            await rig.kill_monitor()
            repair_and_remount(mnt, image)
            await rig.start_monitor()
            total = 5 + len(ep)
            await rig.until(lambda: len(rig.logged()) == total and rig.queue.depth() == 0, what="recovery")
            await rig.stop()
            return rig, total

        rig, total = run(main())
        assert rig.logged() == list(range(1, total + 1))
        assert rig.codes().count("alarm") >= 1


def test_radio_drop_between_commit_and_ack_still_runs_the_rule(tmp_path):
    """Every commit is followed by a radio drop before its acknowledgement: the band resends the batch, the log
    calls it old, and still the episode's ALARM and the dropped-events FAULT are raised, each once."""
    db = tmp_path / "night.db"

    async def main():
        rig = await LinkRig(tmp_path, db).start()
        rig.send([activity(i) for i in range(2)])
        await rig.until(lambda: len(rig.logged()) == 2, what="first events logged")
        store: Store = rig.store
        real = store.insert_events
        drops = []

        def insert_then_drop(band_id, events, received_at):
            flags = real(band_id, events, received_at)
            if any(flags) and any(e.kind in ("start", "update", "end", "dropped") for e in events):
                drops.append(rig.pair.drop())  # committed; the acknowledgement will not get through
            return flags

        store.insert_events = insert_then_drop
        rig.send(episode(100_000, 22))
        await rig.until(lambda: rig.queue.depth() == 0 and len(drops) >= 1 and "alarm" in rig.codes(),
                        what="episode through the drops")
        rig.send([(fw.DROPPED, 200_000, 7, 3, 9, 0, 0, 0, 0)])  # DROPPED: the band lost 7 events (seq 3-9)
        await rig.until(lambda: "dropped" in rig.codes() and rig.queue.depth() == 0, what="dropped FAULT")
        await rig.stop()
        return rig, drops

    rig, drops = run(main())
    assert len(drops) >= 2 and any(drops)
    assert rig.codes().count("alarm") == 1 and rig.codes().count("dropped") == 1
    n = len(rig.logged())
    assert rig.logged() == list(range(1, n + 1))


def test_episode_beyond_a_full_window_alarms_while_the_log_is_locked(tmp_path):
    """The band holds at most 16 unacknowledged events in flight. With the log locked, 20 ordinary events fill that
    window before the episode starts: the episode's events reach the monitor only ahead of the in-order stream, on
    the band's alerts characteristic, and must still raise NOTICE and ALARM. Once the lock goes, every event is
    logged once, in order, and the episode is not alarmed twice."""
    db = tmp_path / "night.db"

    async def main():
        rig = await LinkRig(tmp_path, db).start()
        rig.send([activity(i) for i in range(2)])
        await rig.until(lambda: len(rig.logged()) == 2, what="first events logged")
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        rig.send([activity(i) for i in range(2, 22)])
        rig.send(episode(100_000, 26))
        await rig.until(lambda: "alarm" in rig.codes(), what="ALARM with the window full and the log locked")
        early = rig.monitor.early_heard
        assert rig.logged() == [1, 2]
        other.execute("ROLLBACK")
        other.close()
        n = 22 + len(episode(100_000, 26))
        await rig.until(lambda: len(rig.logged()) == n and rig.queue.depth() == 0, what="recovery")
        await rig.stop()
        return rig, early, n

    rig, early, n = run(main())
    assert early > 0  # the decision came from the alerts stream: the in-order one was stalled
    assert rig.logged() == list(range(1, n + 1))
    assert rig.codes().count("alarm") == 1 and rig.codes().count("notice") == 1
