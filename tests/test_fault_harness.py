"""A tester's fault harness: the real monitor, the real BleakLink over Bumble's virtual radio and the band's firmware
radio and flash queue, with faults thrown in at random while the band sends events and episodes: radio cuts, the
monitor killed and restarted, the log's disk full, the log locked by another process, the log file deleted, the
wall clock stepped by hours. Whatever happens: every event is logged exactly once and in order, every episode
raises its ALARM (or a monitor was killed while it was under way, and the restart says so with a FAULT), and every
storage fault raised a FAULT.

`make test` runs a CI-sized night (about 20 s); `make soak` (ANKLET_SOAK=1) a long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import time

from fault_rig import LinkRig, activity, episode, fill, small_fs

from anklet.monitor import Settings, WallStepClock

SOAK = os.environ.get("ANKLET_SOAK") == "1"
ROUNDS = 400 if SOAK else 30
FAULTS = ("cut", "kill", "full", "lock", "delete", "wall")


def test_random_faults_lose_nothing_and_silence_no_alarm(tmp_path):
    rng = random.Random(int(os.environ.get("ANKLET_SEED", "17")))
    with contextlib.ExitStack() as stack:
        try:
            mnt = stack.enter_context(small_fs(tmp_path / "fs", 4096))
            faults = FAULTS
        except BaseException:  # no mount here: every fault but the full disk
            mnt = tmp_path
            faults = tuple(f for f in FAULTS if f != "full")
        db = mnt / "night.db"
        clock = WallStepClock()
        stats = {f: 0 for f in FAULTS}

        async def main():
            rig = await LinkRig(tmp_path, db, settings=Settings(no_data_s=5.0, tick_s=0.1, status_s=0.5, poll_s=0.1,
                                                                 backoff_min_s=0.1, backoff_max_s=0.3,
                                                                 link_call_s=2.0),
                                clock=clock, nblocks=64).start()
            progress["rig"] = rig
            sent = 0
            episodes = []  # (first t_ms, last t_ms, killed while under way)
            t_ms = 0
            for rnd in range(ROUNDS):
                fault = faults[rnd % len(faults)] if rnd < len(faults) else rng.choice(faults)
                stats[fault] += 1
                progress["round"] = (rnd, fault)
                # Some activity, then an episode long enough to ALARM, with the fault thrown in mid-episode.
                batch = [activity(t_ms // 1000 + i) for i in range(rng.randint(3, 12))]
                rig.send(batch)
                sent += len(batch)
                t_ms += 60_000
                ep = episode(t_ms, 24)
                half = rng.randint(1, len(ep) - 1)
                rig.send(ep[:half])
                killed = await throw(rig, fault, mnt)
                rig.send(ep[half:])
                sent += len(ep)
                episodes.append((t_ms, t_ms + 30_000, killed))
                t_ms += 60_000
                await rig.until(lambda s=sent: len(rig.logged()) == s and rig.queue.depth() == 0, timeout=30,
                                what=f"round {rnd} ({fault}): {sent} events logged")
            await rig.stop()
            return rig, sent, episodes

        async def throw(rig: LinkRig, fault: str, mnt) -> bool:
            if fault == "cut":
                await rig.until(lambda: rig.pair.drop() or rig.monitor.link_state != "connected", what="a cut")
            elif fault == "kill":
                await asyncio.sleep(rng.uniform(0, 0.2))
                await rig.kill_monitor()
                await rig.start_monitor()
                return True
            elif fault == "full":
                n = rig.codes().count("log_write")
                filler = fill(mnt)
                await rig.until(lambda: rig.codes().count("log_write") > n or rig.queue.depth() == 0, what="full")
                await asyncio.sleep(rng.uniform(0.2, 0.6))
                filler.unlink()
            elif fault == "lock":
                other = sqlite3.connect(db, isolation_level=None)
                other.execute("BEGIN IMMEDIATE")
                await asyncio.sleep(rng.uniform(0.3, 1.0))
                other.execute("ROLLBACK")
                other.close()
            elif fault == "delete":
                n = rig.codes().count("log_deleted")
                for p in (db, db.with_name("night.db-wal"), db.with_name("night.db-shm")):
                    p.unlink(missing_ok=True)
                await rig.until(lambda: rig.codes().count("log_deleted") > n, what="log_deleted FAULT")
            elif fault == "wall":
                clock.step_wall(rng.choice((-1, 1)) * rng.uniform(60, 7200))
            return False

        t0 = time.monotonic()
        async def guarded():
            try:
                return await asyncio.wait_for(main(), 600 if SOAK else 120)
            except TimeoutError:
                for t in asyncio.all_tasks():
                    t.print_stack(limit=8)
                raise AssertionError(f"the harness hung at {progress.get('round')}: {stats}; raised {rig_codes()}") from None

        def rig_codes():
            return [r.code for r in progress.get("rig").raised] if progress.get("rig") else []

        progress: dict = {}
        rig, sent, episodes = asyncio.run(guarded())
        elapsed = time.monotonic() - t0
        logged = rig.logged()
    print(f"fault harness: {ROUNDS} rounds, {sent} events, {len(episodes)} episodes in {elapsed:.1f} s; "
          f"faults {stats}; raised {sorted(set(rig.codes()))}")
    assert logged == list(range(1, sent + 1))  # exactly once, in order, through every fault
    alarms = [r for r in rig.raised if r.level == "alarm"]
    for first, last, killed in episodes:
        alarmed = any(first <= (r.t_ms or -1) <= last for r in alarms)
        assert alarmed or killed, f"episode at band t={first / 1000:.0f} s raised no ALARM"
    if stats["kill"]:
        assert rig.codes().count("host_crash") >= stats["kill"]  # each restart says the monitor had stopped
    if stats["delete"]:
        assert rig.codes().count("log_deleted") >= stats["delete"]
