"""A real monitor on a virtual band, serving the bedside page, as a process of its own (so a test can kill it).

    python tests/web_rig.py DB PORT TOKEN

The band plays a scripted night (an episode of rhythmic shaking from 30 s to 70 s) on the monitor's virtual
clock, but only as far as it is told: each line `until N` on stdin lets it run (as fast as it can) to second N,
then it waits. Virtual time stands still while it waits, so what the page shows does not depend on the speed of
the machine. Prints `URL <address>` once the page is served, `AT N` each time the band reached the second asked.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_monitor_helpers import START, episode_script  # noqa: E402

from anklet.alerts import Notifier, Sound  # noqa: E402
from anklet.inproc import InprocLink, VirtualBand  # noqa: E402
from anklet.monitor import Monitor, Settings, VirtualClock  # noqa: E402
from anklet.outputs.web import WebOutput  # noqa: E402
from anklet.statusview import StatusView  # noqa: E402
from anklet.store import Store  # noqa: E402

EPISODE = (30, 40)  # onset s, duration s: NOTICE at 40 s, ALARM at 50 s, ends at 70 s


class GatedBand(VirtualBand):
    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.allowed = 0
        self.gate = asyncio.Event()

    async def _end_second(self, real0: float) -> None:
        await super()._end_second(real0)
        while self.t_s >= self.allowed:
            say(f"AT {self.t_s}")
            self.gate.clear()
            await self.gate.wait()


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def main(db: str, port: int, token: str) -> None:
    clock = VirtualClock(START)
    band = GatedBand(script=episode_script(*EPISODE), duration_s=3600, clock=clock)
    link = InprocLink(band, "bedroom-band")
    web = WebOutput("127.0.0.1", port, token=token, say=lambda s: say("URL " + s.split()[3]) if s.startswith("bedside") else None)
    mon = Monitor(link, Store(db), settings=Settings(poll_s=0.02), clock=clock, sound=Sound("report"),
                  notifier=Notifier(enabled=False), view=StatusView(sys.stderr, tty=False), outputs=[web])
    mon_task = asyncio.create_task(mon.run())
    band_task = asyncio.create_task(band.run())
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "quit":
            break
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "until":
            band.allowed = int(arg)
            band.gate.set()
    mon.stop()
    await mon_task
    band_task.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
