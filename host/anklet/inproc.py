"""A band in the same process as the monitor: for the demo and the tests, no radio needed.

`VirtualBand` is the band's side built from the firmware's own code: the real
`anklet_fw.detector.Detector` fed with accelerometer counts (a simulated night), the
real flash `EventQueue` (on RAM or a file, so it survives a "reset"), BOOT, STATUS and
DROPPED events as the firmware reports them. It can also play a script of ready-made
event records, which tests use to place events at exact times.

Its time is the sample clock: each simulated second it pushes `fs` samples and moves
the shared `VirtualClock` to `start + t`, so the monitor's timers (30 s no data,
mute 5 min) run in the band's time. `speed` caps it to that many times real time
(None: as fast as the CPU allows).

`FirmwareBand` goes further: the firmware's whole sampling loop (`anklet_fw.band.Band`)
reads a fake IMU chip (`anklet_fw.sim`, register level, with its FIFO) that plays a
simulated night, and reports battery from a fake ADC. This is what the demo runs.

`InprocLink` is the monitor's side: the `BandLink` contract, delivering the queue's
packets in sequence, decoded with anklet_fw.packet like the radio's, and releasing
them from the queue only when acknowledged. Faults are injected by switching the
band's radio off (`radio = False`), taking it off the ankle (`worn = False`) or
draining its battery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from anklet_fw import VERSION_PACKED, packet
from anklet_fw import events as fw_events
from anklet_fw.detector import Detector
from anklet_fw.eventq import EventQueue
from anklet_fw.packet_host import version_text

try:  # the firmware's RAM flash, a test and simulation device (it moved from flashdev to sim)
    from anklet_fw.sim import RamFlash
except ImportError:  # pragma: no cover
    from anklet_fw.flashdev import RamFlash  # type: ignore[attr-defined,no-redef]

from .link import BandLink, BandStatus, LinkLost
from .monitor import VirtualClock
from .records import DeviceEvent

FW_VERSION = VERSION_PACKED  # what the firmware sends


def battery_mv(pct: float) -> int:
    """A LiPo cell's rough voltage at a state of charge (3.3 V empty, 4.2 V full)."""
    return int(3300 + 9 * max(0.0, min(100.0, pct)))


class VirtualBand:
    def __init__(self, *, counts: Any = None, script: Iterable[tuple[int, tuple[int, ...]]] = (), duration_s: int | None = None,
                 fs: int = 50, range_g: int = 8, flash: Any = None, boot: int = 1, boot_reason: int = 1,
                 clock: VirtualClock | None = None, start: float | None = None, speed: float | None = None,
                 status_s: int = 60, battery_pct: float = 90.0, drain_pct_per_h: float = 1.5,
                 actions: Iterable[tuple[int, Callable[[VirtualBand], Any]]] = ()) -> None:
        self.counts = counts
        self.script = sorted(script, key=lambda item: item[0])
        self.actions = sorted(actions, key=lambda item: item[0])  # (t_s, fn(band)): run as that second begins
        n = 0 if counts is None else len(counts) // fs
        last = (self.script[-1][0] // 1000 + 1) if self.script else 0
        self.duration_s = duration_s if duration_s is not None else max(n, last)
        self.fs = fs
        self.det = Detector(fs, range_g) if counts is not None else None
        self.queue = EventQueue(flash if flash is not None else RamFlash(32), boot)
        self.boot = boot
        self.boot_reason = boot_reason
        self.clock = clock or VirtualClock()
        self.start = self.clock.now() if start is None else start
        self.speed = speed
        self.status_s = status_s
        self.battery_pct = battery_pct
        self.drain = drain_pct_per_h / 3600.0
        self.worn = True
        self.radio = True  # False: out of range, the link drops
        self.t_s = 0
        self.sent = 0  # events appended to the queue
        self.done = asyncio.Event()
        self.new_data = asyncio.Event()
        self.link: InprocLink | None = None  # set by the link that talks to this band
        self.caught_up: Callable[[], bool] | None = None
        self.pace_max_s = 0.05
        self._rec = [0] * fw_events.REC_LEN

    def _append(self, rec: Any) -> None:
        self.queue.append(rec)
        self.sent += 1
        self.new_data.set()

    def _status_rec(self) -> tuple[int, ...]:
        pct = int(self.battery_pct)
        return (fw_events.STATUS, self.t_s * 1000, battery_mv(self.battery_pct), pct, int(self.worn), 0,
                self.queue.depth(), self.t_s, 0)

    def set_radio(self, on: bool) -> None:
        self.radio = on
        self.new_data.set()  # wake a waiting link so it notices

    async def run(self) -> None:
        """Live the night: one second of samples at a time, moving the clock along."""
        self._append((fw_events.BOOT, 0, self.boot_reason, self.boot, FW_VERSION, 0, 0, 0, 0))
        script = list(self.script)
        si = ai = 0
        rec = self._rec
        real0 = time.perf_counter()
        for sec in range(self.duration_s):
            while ai < len(self.actions) and self.actions[ai][0] <= sec:
                self.actions[ai][1](self)
                ai += 1
            if self.det is not None:
                c = self.counts
                for i in range(sec * self.fs, (sec + 1) * self.fs):
                    self.det.push(int(c[i][0]), int(c[i][1]), int(c[i][2]))
                    while self.det.pop_into(rec):
                        self._append(rec)
            self.t_s = sec + 1
            while si < len(script) and script[si][0] <= self.t_s * 1000:
                self._append(script[si][1])
                si += 1
            self.battery_pct = max(0.0, self.battery_pct - self.drain)
            if self.status_s and self.t_s % self.status_s == 0:
                self._append(self._status_rec())
            if self.queue.drop_report(rec, self.t_s * 1000):
                self._append(rec)
            await self._end_second(real0)
        self.done.set()

    async def _end_second(self, real0: float) -> None:
        """Move the host's clock to the band's, let the host catch up, and keep to the demo's speed."""
        self.clock.set(self.start + self.t_s)
        await self._pace()
        if self.speed:
            await asyncio.sleep(max(0.0, real0 + self.t_s / self.speed - time.perf_counter()))
        else:
            await asyncio.sleep(0)

    async def _pace(self) -> None:
        """Let a connected host take in this second's events before time moves on.

        Both sides share one thread: without this the band could run minutes of virtual
        time ahead of the monitor. Bounded in real time, so a host that stops
        acknowledging (its log failing) slows the night down but does not stop it.
        """
        deadline = time.perf_counter() + self.pace_max_s
        n = 0
        while True:
            if self.caught_up is not None:  # another transport says when the host has caught up
                if self.caught_up():
                    return
            else:
                link = self.link
                if link is None or not link.connected or not self.radio:
                    for _ in range(8):  # not connected: the band goes on, but lets the host's reconnecting run
                        await asyncio.sleep(0)
                    return
                if link.delivered() and self.queue.depth() == 0:
                    return
            if time.perf_counter() > deadline:
                return
            n += 1
            await asyncio.sleep(0 if n < 100 else 0.0005)

    def status(self) -> BandStatus:
        return BandStatus(battery_mv(self.battery_pct), int(self.battery_pct), self.worn, 0, self.queue.depth(),
                          self.t_s, self.boot, version_text(FW_VERSION))


class InprocLink(BandLink):
    def __init__(self, band: VirtualBand, band_id: str = "virtual-band") -> None:
        self.band = band
        self.band_id = band_id
        self.connected = False
        self._next = 0
        self._buf = bytearray(packet.SIZE)
        self.connects = 0
        band.link = self

    def delivered(self) -> bool:
        return self._next >= self.band.queue.next_seq()

    def _check(self) -> None:
        if not self.connected:
            raise LinkLost("not connected")
        if not self.band.radio:
            self.connected = False
            raise LinkLost("the band went out of range")

    async def connect(self, resume_after: int | None, resume_boot: int | None = None) -> None:
        await asyncio.sleep(0)
        if not self.band.radio:
            raise LinkLost("the band is not in range")
        q = self.band.queue
        self._next = q.first_seq() if resume_after is None else max(q.first_seq(), resume_after + 1)
        self.connected = True
        self.connects += 1

    async def next_event(self, timeout: float) -> DeviceEvent | None:
        self._check()
        q = self.band.queue
        if self._next >= q.next_seq():
            if timeout <= 0:
                return None
            self.band.new_data.clear()
            try:
                await asyncio.wait_for(self.band.new_data.wait(), timeout)
            except asyncio.TimeoutError:
                return None
            self._check()
        self._next = max(self._next, q.first_seq())  # the oldest may have been dropped meanwhile
        while self._next < q.next_seq():
            seq = self._next
            self._next += 1
            if q.read_into(seq, self._buf):
                return DeviceEvent.from_packet(bytes(self._buf))
        return None

    async def ack(self, boot: int, seq: int) -> None:
        self._check()
        self.band.queue.ack(seq)

    async def status(self) -> BandStatus:
        self._check()
        return self.band.status()

    async def disconnect(self) -> None:
        self.connected = False


class _Ticks:
    """The band's millisecond clock (ticks_ms / ticks_diff), moved by FirmwareBand one second at a time."""

    def __init__(self) -> None:
        self.ms = 0

    def ticks_ms(self) -> int:
        return self.ms

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b


class _BatteryADC:
    """The battery divider's ADC: a LiPo discharging linearly from `mv` at `drain_mv_per_h`."""

    def __init__(self, ticks: _Ticks, mv: float, drain_mv_per_h: float, div: int = 2) -> None:
        self.ticks = ticks
        self.mv0 = mv
        self.drain = drain_mv_per_h
        self.div = div

    def mv(self) -> float:
        return self.mv0 - self.drain * self.ticks.ms / 3_600_000

    def read_uv(self) -> int:
        return int(self.mv() * 1000 / self.div)


class FirmwareBand(VirtualBand):
    """The firmware's sampling loop on a fake IMU playing `counts` (N x 3 int16 at +-8 g, at the band's rate)."""

    def __init__(self, counts: Any, *, part: str = "lsm6ds3trc", flash: Any = None, clock: VirtualClock | None = None,
                 start: float | None = None, speed: float | None = None, battery_mv: float = 4000.0,
                 drain_mv_per_h: float = 20.0, boot_reason: int | None = None,
                 actions: Iterable[tuple[int, Callable[[VirtualBand], Any]]] = (), settings: dict[str, Any] | None = None,
                 script: Iterable[tuple[int, tuple[int, ...]]] = ()) -> None:
        from array import array

        from anklet_fw import band as fwband
        from anklet_fw.imu import probe
        from anklet_fw.sim import ArraySource, FakeI2C, make_imu

        data = array("h")
        data.frombytes(counts.astype("<i2").tobytes())
        self.ticks = _Ticks()
        chip = make_imu(part, ArraySource(data), self.ticks.ticks_ms)
        imu = probe(FakeI2C(chip), chip.addr, part)
        self.adc = _BatteryADC(self.ticks, battery_mv, drain_mv_per_h)
        reason = fwband.REASON_POWER_ON if boot_reason is None else boot_reason
        self.fw = fwband.Band(imu, flash if flash is not None else RamFlash(48), self.ticks, adc=self.adc,
                              reset_reason=reason)
        if settings:
            self.fw.apply_settings(settings)
        fs = self.fw.settings["fs"]
        self.chip = chip
        self.fw.radio = self  # the loop calls radio.kick() when it queued events
        self.clock = clock or VirtualClock()
        self.start = self.clock.now() if start is None else start
        self.speed = speed
        self.queue = self.fw.queue
        self.boot = self.fw.boot_id
        self.fs = fs
        self.duration_s = len(counts) // fs
        self.actions = sorted(actions, key=lambda item: item[0])
        self.script = sorted(script, key=lambda item: item[0])
        self.radio = True
        self.t_s = 0
        self._seq0 = self.queue.next_seq() - 1  # the BOOT event the loop queued at start-up
        self.done = asyncio.Event()
        self.new_data = asyncio.Event()
        self.link = None
        self.caught_up = None
        self.pace_max_s = 0.05

    @property
    def sent(self) -> int:  # type: ignore[override]
        return self.queue.next_seq() - self._seq0

    # What the sampling loop asks of its radio (anklet_fw.radio.Radio): told when events are queued; raw
    # streaming is never on here.
    def kick(self) -> None:
        self.new_data.set()

    wake = kick

    def raw_on(self) -> bool:
        return False

    def raw_push(self, x: int, y: int, z: int) -> None:
        pass

    async def run(self) -> None:
        ai = si = 0
        real0 = time.perf_counter()
        for sec in range(self.duration_s):
            while ai < len(self.actions) and self.actions[ai][0] <= sec:
                self.actions[ai][1](self)
                ai += 1
            self.ticks.ms = (sec + 1) * 1000
            self.fw.step()
            self.t_s = sec + 1
            while si < len(self.script) and self.script[si][0] <= self.t_s * 1000:
                self.queue.append(self.script[si][1])
                si += 1
                self.wake()
            await self._end_second(real0)
        self.done.set()

    def status(self) -> BandStatus:
        mv, pct, worn, ovf, depth, up, _flags = self.fw.status()
        return BandStatus(mv, pct, bool(worn), ovf, depth, up, self.boot, version_text(FW_VERSION))
