"""Shared helpers for the fault tests (no tests here): the real Monitor on a real BleakLink over Bumble's virtual
radio against the band's firmware radio and flash queue, and small filesystems to fill or make read-only."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from anklet.alerts import Notifier, Sound
from anklet.bumble_band import bond, link_for, start_radio, virtual_pair
from anklet.link.pairing import PairingStore
from anklet.monitor import Monitor, Settings
from anklet.statusview import StatusView
from anklet.store import Store
from anklet_fw import events as fw
from anklet_fw.eventq import EventQueue
from anklet_fw.flashdev import RamFlash

FAST = dict(no_data_s=3.0, tick_s=0.1, status_s=0.5, poll_s=0.1, backoff_min_s=0.1, backoff_max_s=0.3,
            link_call_s=2.0)


@contextlib.contextmanager
def small_fs(path: Path, size_kb: int):
    """A tmpfs of size_kb at path (root only: the tests skip where mounting is not permitted)."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("needs mount (Debian: mount)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()}): needs root with CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def ext4_fs(path: Path, image: Path, size_mb: int = 4):
    """An ext4 filesystem on a loop device at path, mounted errors=remount-ro as distributions do (root only)."""
    path.mkdir(parents=True, exist_ok=True)
    missing = [t for t in ("mkfs.ext4", "e2fsck", "findmnt", "mount") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian: e2fsprogs, util-linux, mount)")
    with open(image, "wb") as f:
        f.truncate(size_mb << 20)
    r = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    if r.returncode == 0:
        r = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(path)], capture_output=True,
                           text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount an ext4 loop device here ({r.stderr.strip()}): needs root with loop devices")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def emergency_read_only(path: Path) -> None:
    """What ext4 does on a disk error: the filesystem turns read-only under the running programs."""
    dev = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(path)], capture_output=True, text=True,
                         check=True).stdout.strip()
    Path(f"/sys/fs/ext4/{Path(dev).name}/trigger_fs_error").write_text("anklet fault test\n")


def repair_and_remount(path: Path, image: Path) -> None:
    """After the error: unmount, check the filesystem, mount it again (what a restart does)."""
    subprocess.run(["umount", str(path)], check=True, capture_output=True)
    subprocess.run(["e2fsck", "-f", "-y", str(image)], capture_output=True)
    subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(path)], check=True, capture_output=True)


def fill(path: Path) -> Path:
    """Fill the filesystem holding path to the last byte; returns the filler file (delete it to free the room)."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)
    return filler


def activity(i: int) -> tuple:
    return (fw.ACTIVITY, 1000 * i, i % 97, 1, 0, 4, 0, 0, 1)


def episode(onset_ms: int, dur_s: int, every_s: int = 2) -> list[tuple]:
    """START, UPDATEs and END of one episode (band clock), as the detector sends them."""
    out = [(fw.START, onset_ms + 5000, onset_ms, 250, 900, 300, 0, 0, 0)]
    t = onset_ms + 5000 + every_s * 1000
    end = onset_ms + dur_s * 1000
    while t < end:
        out.append((fw.UPDATE, t, onset_ms, t - onset_ms, 250, 900, 300, -5, 0))
        t += every_s * 1000
    out.append((fw.END, end + 1000, onset_ms, end - onset_ms, 250, 270, 230, 880, 300))
    return out


class LinkRig:
    """A band (firmware radio, RAM flash queue) and the real monitor over the virtual radio."""

    def __init__(self, tmp_path: Path, db_path: Path, *, settings: Settings | None = None, clock=None,
                 nblocks: int = 16) -> None:
        self.tmp_path = tmp_path
        self.db_path = db_path
        self.settings = settings or Settings(**FAST)
        self.clock = clock
        self.nblocks = nblocks
        self.raised: list = []
        self.out = io.StringIO()
        self.monitor: Monitor | None = None
        self.task: asyncio.Task | None = None

    async def start(self) -> LinkRig:
        self.pair = await virtual_pair()
        self.queue = EventQueue(RamFlash(self.nblocks, 4096), boot=3)
        self.radio = start_radio(self.pair, self.queue, boot=3, pairing_s=60,
                                 status=lambda: (4100, 95, 1, 0, 60, 0x000100))
        self.pairing = await bond(self.pair, PairingStore(self.tmp_path / "bands.json"))
        self.radio.set_pairing(0)
        await self.start_monitor()
        return self

    async def start_monitor(self) -> Monitor:
        self.store = Store(self.db_path)
        link = link_for(self.pair, self.pairing, connect_timeout=1.5, reply_timeout=1.5)
        self.monitor = Monitor(link, self.store, settings=self.settings, clock=self.clock,
                               sound=Sound("report", out=self.out), notifier=Notifier(False),
                               view=StatusView(out=self.out, tty=False))
        self.monitor.on_alarm = self.raised.append
        self.task = asyncio.get_running_loop().create_task(self.monitor.run())
        return self.monitor

    async def kill_monitor(self) -> None:
        """The monitor dies without a goodbye (as a SIGKILL would leave the band and the log)."""
        assert self.task is not None
        self.store.db.close()  # first, so that nothing more reaches the log: no clean end of the session
        self.task.cancel()
        try:
            await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), 15)
        except TimeoutError:
            raise AssertionError("the monitor did not stop within 15 s of its cancellation") from None
        try:
            await asyncio.wait_for(self.pair.central.close(), 15)
        except TimeoutError:
            raise AssertionError("the host's Bumble device did not close within 15 s") from None
        await asyncio.wait_for(self.pair.restart_host(), 15)

    def send(self, recs) -> None:
        for r in recs:
            self.queue.append(r)
        self.radio.kick()

    async def until(self, cond, timeout: float = 20.0, what: str = "") -> None:
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout:
                active = self.monitor.faults.active if self.monitor else {}
                raise AssertionError(f"timed out waiting for {what or cond}; raised {self.codes()}; active {active}\n{self.out.getvalue()[-3000:]}")
            await asyncio.sleep(0.02)

    def codes(self) -> list[str]:
        return [r.code for r in self.raised]

    def logged(self) -> list[int]:
        """Sequence numbers in the log, read as a stranger would (a connection of its own)."""
        import sqlite3

        try:
            con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        except sqlite3.Error:
            return []
        try:
            return [r[0] for r in con.execute("SELECT seq FROM events WHERE kind != 'boot' ORDER BY id")]
        except sqlite3.Error:
            return []
        finally:
            con.close()

    async def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 10)
            with contextlib.suppress(Exception):
                self.store.close()
        await self.pair.close()


def mode_of(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
