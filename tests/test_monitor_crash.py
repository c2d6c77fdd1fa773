"""Crash recovery: the monitor killed with SIGKILL mid-stream loses nothing it acknowledged.

The band's queue lives in a file (the firmware's FileFlash), so it outlives the monitor's
process like a real band does. After each kill: everything the band's ack journal says
was acknowledged must be in the log; a new monitor (the band restarted too: a new boot)
then collects the rest, and in the end every event is logged exactly once, in order.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from test_monitor_helpers import Rig

from anklet_fw.eventq import EventQueue
from anklet_fw.flashdev import FileFlash

NBLOCKS = 16

CHILD = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from anklet_fw import events as fw
    from anklet_fw.flashdev import FileFlash
    from test_monitor_helpers import Rig
    boot = int(sys.argv[1])
    script = [(t * 1000, (fw.ACTIVITY, t * 1000, t % 97, 0, 0, 4, 0, 0, 1)) for t in range(1, 100000)]
    rig = Rig(Path({tmp!r}), script=script, duration_s=100000, flash=FileFlash({flash!r}, {nblocks}), boot=boot)
    asyncio.run(rig.run())
""")


def logged_seqs(db: Path) -> list[int]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT seq FROM events ORDER BY seq")]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        con.close()


def test_kill_at_random_moments_loses_nothing_acknowledged(tmp_path):
    db = tmp_path / "night.db"
    flash_path = str(tmp_path / "band.flash")
    code = CHILD.format(tests=str(Path(__file__).parent), tmp=str(tmp_path), flash=flash_path, nblocks=NBLOCKS)
    rng = random.Random(1234)
    boot = 1
    for _round in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code, str(boot)], stderr=subprocess.PIPE)
        target = len(logged_seqs(db)) + rng.randint(50, 400)
        deadline = time.monotonic() + 30
        while len(logged_seqs(db)) < target and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))  # somewhere in the middle of a commit or an ack
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
        # What the band was told it may forget is all in the log.
        flash = FileFlash(flash_path, NBLOCKS)
        q = EventQueue(flash, boot + 1)
        acked_upto = q.first_seq() - 1
        flash.close()
        seqs = logged_seqs(db)
        assert acked_upto > 0
        assert set(range(1, acked_upto + 1)) <= set(seqs), "an acknowledged event is missing from the log"
        assert len(seqs) == len(set(seqs))
        boot += 1

    # A last monitor, on the band's next boot, collects what the band still holds.
    flash = FileFlash(flash_path, NBLOCKS)
    rig = Rig(tmp_path, duration_s=5, flash=flash, boot=boot)
    asyncio.run(rig.run())
    total = rig.band.queue.next_seq() - 1
    seqs = logged_seqs(db)
    assert seqs == list(range(1, total + 1)), "every event logged exactly once"
    assert rig.band.queue.depth() == 0
    # Each killed monitor left its session open: the next one reported the crash.
    assert len(rig.raised(code="host_crash")) == 1
    flash.close()
