"""Shared helpers for the monitor tests (no tests here): a scripted virtual band, a monitor on a virtual clock."""

from __future__ import annotations

import asyncio
import io
import time

from anklet.alerts import Notifier, Sound
from anklet.inproc import InprocLink, VirtualBand
from anklet.monitor import Monitor, Settings, VirtualClock
from anklet.statusview import StatusView
from anklet.store import Store
from anklet_fw import events as fw

START = 1_790_000_000.0


def episode_script(onset_s: float, dur_s: float, freq_chz: int = 250, every_s: int = 2):
    """START/UPDATE/END records of one episode as the detector reports it (START 5 s after onset)."""
    onset = int(onset_s * 1000)
    end = onset + int(dur_s * 1000)
    out = [(onset + 5000, (fw.START, onset + 5000, onset, freq_chz, 900, 300, 0, 0, 0))]
    t = onset + 5000 + every_s * 1000
    while t < end:
        out.append((t, (fw.UPDATE, t, onset, t - onset, freq_chz, 900, 300, -5, 0)))
        t += every_s * 1000
    out.append((end + 1000, (fw.END, end + 1000, onset, end - onset, freq_chz, freq_chz + 20, freq_chz - 20, 880, 300)))
    return out


def activity_script(duration_s: int, every_s: int = 60):
    return [(t * 1000, (fw.ACTIVITY, t * 1000, 20, 1, 0, 4, 0, 0, 5)) for t in range(every_s, duration_s, every_s)]


class Rig:
    """A virtual band, its in-process link, a monitor and a log, all on one virtual clock."""

    def __init__(self, tmp_path, *, script=(), duration_s=300, actions=(), settings=None, sound_player=None,
                 flash=None, boot=1, db_name="night.db", **band_kw):
        self.clock = VirtualClock(START)
        self.band = VirtualBand(script=script, duration_s=duration_s, clock=self.clock, actions=actions,
                                flash=flash, boot=boot, **band_kw)
        self.link = InprocLink(self.band, "band-test")
        self.store = Store(tmp_path / db_name)
        self.out = io.StringIO()
        self.sound = Sound("auto", out=io.StringIO(), player=sound_player) if sound_player else Sound("report")
        self.settings = settings or Settings(poll_s=0.01)
        self.monitor = Monitor(self.link, self.store, settings=self.settings, clock=self.clock, sound=self.sound,
                               notifier=Notifier(enabled=False), view=StatusView(self.out, tty=False, every_s=60))

    def t(self, at: float) -> float:
        """Monitor clock -> seconds of band time."""
        return at - START

    async def run(self, settle_s: float = 5.0, after=None, before=None):
        mon = asyncio.create_task(self.monitor.run())
        if before is not None:
            await before(self)  # the band's night starts when this returns (an output connected, ...)
        await self.band.run()
        # Let the monitor take in the last events (real time, bounded).
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and (self.band.queue.depth() > 0 and self.band.radio):
            await asyncio.sleep(0.01)
        if after is not None:
            await after(self)
        self.monitor.stop()
        await mon
        return self

    def raised(self, level=None, code=None):
        return [r for r in self.monitor.raised if (level is None or r.level == level) and (code is None or r.code == code)]
