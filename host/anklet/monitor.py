"""`anklet monitor`: watch the band all night, log everything, wake the parents when it matters.

The pipeline for every event: link -> store (commit) -> ack to the band -> fault
tracker and alarm rule -> alerts. The band is acknowledged only after the commit, so
killing the monitor at any moment loses nothing the band was told it may forget: the
band resends the rest on reconnect and the log ignores what it already has.

If the log cannot be written, events are kept in memory (and on the band, which is not
acknowledged), a FAULT alarm is raised, and the alarm rule still runs: a full disk must
not silence an episode. Writes are retried every tick.

Time. Every decision the monitor makes in time (no data for 30 s, mute 5 minutes,
sound repeats, status reads) uses an injected clock: the real one at night, a virtual
one in tests and the accelerated demo. `poll_s`, how long one `next_event` call may
wait, is real seconds (it only bounds how quickly the loop notices a stop).

Acknowledge and mute. Acknowledging silences every alarm now active and mutes them
for `mute_s` (default 5 minutes); when the mute ends, those whose condition is still
there (the episode is still going, the band still silent) sound again. Anything new
sounds at once, mute or not: a new episode, a higher level of the same episode (the
5-minute escalation), a new kind of fault. NOTICE (10 s) is shown and notified but
not sounded; ALARM, ESCALATION and FAULT alarms sound and repeat every `repeat_s`
until acknowledged. A fault whose condition clears stops sounding by itself; an
episode alarm keeps sounding after the episode ends until someone acknowledges it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import math
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .alarm import ALARM_S_DEFAULT, AlarmRule, check_alarm_s
from .alerts import Notifier, Sound
from .faults import CODES, ONE_SHOT, FaultChange, FaultTracker
from .link import BandLink, LinkError, LinkLost
from .outputs.hub import OutputHub
from .records import AlarmDecision, DeviceEvent
from .statusview import Snapshot, StatusView, clock_text, duration_text, radio_logs
from .store import Store, StoreError

_DB_ERRORS = (sqlite3.Error, OSError)
LOCK_WAIT_S = 0.05  # real seconds a log write waits for another process's lock
MUTE_MAX_S = 3600.0  # an acknowledgement mutes for at most an hour


# -- clocks ----------------------------------------------------------------------------------


class Clock(Protocol):
    """Two clocks: `now()` is wall time, for the log and what parents read; `monotonic()` times every delay and
    repeat (no data for 30 s, mute 5 minutes, sound repeats, status reads), so a wall-clock step (NTP, a
    daylight-saving mistake, a parent setting the clock) can neither delay a FAULT nor stop an ALARM repeating.
    `sleep()` waits on the monotonic clock."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualClock:
    """Time that moves only when told: `advance(dt)` / `set(t)` wake the sleepers that are due.

    Tests drive it directly; the demo's virtual band drives it from its sample clock. `t` is the monotonic
    time; the wall clock reads `t + wall_offset`, and `step_wall(dt)` steps the wall clock alone, as NTP or a
    parent changing the computer's clock would.
    """

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.t = float(start)
        self.wall_offset = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._n = 0

    def now(self) -> float:
        return self.t + self.wall_offset

    def monotonic(self) -> float:
        return self.t

    def step_wall(self, seconds: float) -> None:
        self.wall_offset += seconds

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._n += 1
        heapq.heappush(self._sleepers, (self.t + seconds, self._n, fut))
        await fut

    def set(self, t: float) -> None:
        self.t = max(self.t, float(t))
        while self._sleepers and self._sleepers[0][0] <= self.t:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def advance(self, seconds: float) -> None:
        self.set(self.t + seconds)


class WallStepClock(RealClock):
    """The real clocks with the wall clock stepped by `offset` seconds: for fault drills (`step_wall`)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def step_wall(self, seconds: float) -> None:
        self.offset += seconds


# -- settings and state ------------------------------------------------------------------------


@dataclass
class Settings:
    alarm_s: float = ALARM_S_DEFAULT  # the alarm rule's ALARM threshold (10-120 s)
    no_data_s: float = 30.0  # FAULT when nothing arrives for longer (host clock)
    mute_s: float = 300.0  # acknowledge mutes for this long, then still-present alarms resume
    repeat_s: float = 10.0  # an unacknowledged loud alarm sounds again this often
    status_s: float = 10.0  # read the band's status this often (also proof of life)
    tick_s: float = 1.0  # housekeeping: faults, mute, repeats, requests, status redraw
    poll_s: float = 0.5  # real seconds one next_event() may wait
    drain_s: float = 0.001  # real seconds to wait for more events of a burst (kept > 0: some links spin on 0)
    batch: int = 64  # events committed per transaction at most
    guard_s: float = 1.0  # a next_event() call still running this long after its timeout is cut short
    link_call_s: float = 10.0  # real seconds a status read or an acknowledgement may take
    backoff_min_s: float = 1.0
    backoff_max_s: float = 5.0  # a band back in range is found within 5 s
    battery_low_pct: int = 20
    battery_critical_pct: int = 5
    heartbeat_s: float = 5.0
    max_pending: int = 100_000  # events held in memory while the log cannot be written
    host_check_s: float = 30.0  # the computer's own checks (sound, power, disk, sleep: anklet.hostcheck) this often

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"setting {name} must be a finite number, not {value!r}")
        check_alarm_s(self.alarm_s)
        for name, (lo, hi, what) in SETTING_RANGES.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ValueError(f"{what} {value:g} is out of range: it must be {lo:g} to {hi:g}")


# Every setting that governs an alarm has a finite range (docs/failures.md lists them): name -> (lo, hi, what).
SETTING_RANGES: dict[str, tuple[float, float, str]] = {
    "no_data_s": (1.0, 600.0, "the no-data limit (s)"),
    "mute_s": (0.0, MUTE_MAX_S, "the mute after an acknowledgement (s)"),
    "repeat_s": (1.0, 300.0, "the alarm repeat interval (s)"),
    "status_s": (0.05, 300.0, "the status read interval (s)"),
    "tick_s": (0.01, 10.0, "the housekeeping interval (s)"),
    "heartbeat_s": (0.1, 60.0, "the heartbeat interval (s)"),
    "host_check_s": (1.0, 600.0, "the interval between checks of this computer (s)"),
    "link_call_s": (0.01, 60.0, "the link call limit (s)"),
    "battery_low_pct": (0, 100, "the low-battery threshold (%)"),
    "battery_critical_pct": (0, 100, "the critical-battery threshold (%)"),
    "max_pending": (1, 10_000_000, "the events held while the log cannot be written"),
}


def check_mute_s(mute_s: float) -> float:
    """A mute must end: finite, 0 to MUTE_MAX_S seconds (60 minutes)."""
    if not isinstance(mute_s, (int, float)) or not math.isfinite(mute_s) or not 0 <= mute_s <= MUTE_MAX_S:
        raise ValueError(f"a mute of {mute_s!r} s is out of range: it must be 0 to {MUTE_MAX_S / 60:g} minutes")
    return float(mute_s)


@dataclass
class ActiveAlarm:
    key: tuple[Any, ...]
    level: str  # notice | alarm | escalation | fault | warning
    code: str
    message: str
    since: float
    loud: bool
    ids: list[int] = field(default_factory=list)
    present: bool = True  # the condition still holds (episode going on, fault not cleared)
    acked: bool = False
    muted_until: float | None = None

    def describe(self) -> str:
        return f"{self.level.upper()}: {self.message}"


# What each level says. The advice rests on the source documents (docs/sources.md): 001_b580ab075515d23b.txt
# lists "Continuous shaking lasting minutes could indicate seizures" among the "Signs That Require Medical
# Attention" and says "consulting a pediatrician promptly is vital"; it also says seizures involve repetitive
# shaking "often over 30 seconds". The monitor cannot tell a seizure from anything else: it says what it saw.
ALARM_TEXT = {
    "notice": ("rhythmic shaking", ""),
    "alarm": ("PROLONGED RHYTHMIC SHAKING", ": check on the baby now"),
    "escalation": ("RHYTHMIC SHAKING FOR OVER 5 MINUTES",
                   ": continuous shaking lasting minutes could indicate a seizure; get medical help now"),
}

_RANK = {"escalation": 0, "alarm": 1, "fault": 2, "notice": 3, "warning": 4}


@dataclass
class AlarmRecord:
    """What the monitor raised, for summaries (demo, tests)."""

    level: str
    code: str
    message: str
    at: float  # monitor clock
    t_ms: int | None = None  # band clock of the event that caused it (episode alarms)
    sounded: str | None = None


class Monitor:
    def __init__(self, link: BandLink, store: Store, *, settings: Settings | None = None, clock: Clock | None = None,
                 sound: Sound | None = None, notifier: Notifier | None = None, view: StatusView | None = None,
                 outputs: list[Any] | None = None, host_probes: list[Any] | None = None) -> None:
        self.link = link
        self.store = store
        self.s = settings or Settings()
        self.clock: Clock = clock or RealClock()
        self.sound = sound or Sound("auto")
        self.notifier = notifier or Notifier()
        self.view = view or StatusView()
        self.band_id = link.band_id
        with contextlib.suppress(*_DB_ERRORS):
            # Another process's write lock (`anklet ack`, a triage being saved, a stray sqlite3 shell) must not
            # hold up the event loop: a write waits at most this long, then is retried at the next tick.
            store.set_busy_timeout(LOCK_WAIT_S)
        self.rule = AlarmRule(self.s.alarm_s)
        self.faults = FaultTracker(self.s.no_data_s, self.s.battery_low_pct, self.s.battery_critical_pct,
                                   start=self.clock.monotonic())
        link.on_gap = self.faults.gap  # every gap in the band's sequence is a FAULT with its count and cause
        self.active: dict[tuple[Any, ...], ActiveAlarm] = {}
        self.raised: list[AlarmRecord] = []
        self.link_state = "starting"
        self.connected = False
        self.pending: list[DeviceEvent] = []  # received, not yet committed (log failing)
        self.logged = 0  # events newly committed by this monitor
        self.received = 0
        self.early_heard = 0  # events decided on ahead of the in-order stream (the band's window was full)
        self.overstays = 0  # next_event() calls that overran their timeout and were cut short
        self.battery: tuple[int, int] | None = None
        self.worn: bool | None = None
        self.activity = ""
        self.episode: tuple[int, int, int] | None = None  # (boot, onset_ms, last t_ms)
        self._band_now: tuple[int, float] | None = None  # (t_ms, monotonic time) of the latest event
        self.muted_until: float | None = None
        self._muted_codes: set[str] = set()
        self._fed: dict[int, int] = {}  # boot -> highest seq fed to the rule
        self._committed: dict[int, int] = {}  # boot -> highest seq committed to the log
        self._unlogged: list[tuple[ActiveAlarm, str, float, dict[str, Any]]] = []  # alarms the log could not take
        self._log_lost = False  # the log file vanished and could not be written again yet
        self._last_boot: int | None = None  # the boot of the latest committed event
        self._last_sound = -1e18
        self._sound_errors: set[str] = set()
        self._stop = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: int | None = None
        self._next_status = 0.0
        self._status_task: asyncio.Task[None] | None = None
        self._fault_n = 0
        self._next_host = 0.0
        self._host_task: asyncio.Task[None] | None = None
        self.on_alarm: Callable[[AlarmRecord], None] | None = None
        self.on_session: Callable[[int], None] | None = None  # `anklet monitor` starts its sentinel here
        self.last_alarmed_episode: int | None = None
        self._triage_running = False
        self.outputs = OutputHub(self, outputs or [])  # web page, MQTT, push: each sees the alarm board
        self.host_probes = list(host_probes or [])  # anklet.hostcheck: muted sound, on battery, disk full, slept
        self._next_host = 0.0
        self._host_task: asyncio.Task[None] | None = None
        self._db_args: list[str] | None = None
        self._unreachable_since: float | None = None  # wall time the band was last said to be out of reach
        self.cli = "anklet"  # how the commands this monitor suggests are typed here (the demo may give a path)
        self.view.source = self.snapshot  # the status block is drawn from the state of the moment, never older

    # -- running -------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    @property
    def triage_running(self) -> bool:
        """The triage questions are being asked in this monitor's terminal."""
        return self._triage_running

    async def run(self, keys: bool = False) -> None:
        """Monitor until stop() is called (or the task is cancelled)."""
        now = self.clock.now()
        self._stop.clear()
        try:
            self._session, unclean = self.store.start_session(now, os.getpid())
        except _DB_ERRORS as exc:
            self._session, unclean = None, None
            self.faults.log_write(str(exc))
        if self._session is not None and self.on_session is not None:
            self.on_session(self._session)
        if unclean:
            alive = unclean["alive_at"]
            self.faults.host_crashed(
                f"the monitor stopped unexpectedly (last alive {alive:%H:%M:%S}) and nothing was watched until now; "
                "what the band kept meanwhile is being recovered")
        self.view.line(now, f"monitoring band {self.band_id}; log {self.store.path}; alarm after "
                            f"{duration_text(self.s.alarm_s)}; sound: {self.sound.describe()}")
        if self.sound.mode == "auto" and not self.sound.player:
            # Say so before the night, not at the first alarm.
            self._sound_errors.add(self.sound.why_not)
            self.faults.sound_failed(f"{self.sound.why_not}; alarms will only ring the terminal bell")
        await self.outputs.start()
        restore_keys = self._start_keys() if keys else None
        link_task = asyncio.create_task(self._supervise(self._link_loop, "link"))
        tick_task = asyncio.create_task(self._supervise(self._tick_loop, "tick"))
        try:
            await self._stop.wait()
        finally:
            # The loops also watch the flag: a cancellation swallowed inside a link call (asyncio.wait_for in 3.11
            # can lose one that races with a result) must not keep the monitor from stopping.
            self._stop.set()
            tasks = [link_task, tick_task, *self._tasks, *([self._status_task] if self._status_task else [])]
            for _ in range(3):
                for t in tasks:
                    t.cancel()
                done, left = await asyncio.wait(tasks, timeout=self.s.link_call_s)
                for t in done:
                    if not t.cancelled():
                        t.exception()  # retrieved: the loops report their own errors
                if not left:
                    break
                tasks = list(left)
            if restore_keys:
                restore_keys()
            if self._host_task is not None:
                self._host_task.cancel()
            with contextlib.suppress(Exception):
                await self._bounded(self.link.disconnect(), "disconnect")
            await self._flush_pending(ack=False)
            await self.outputs.close()
            end = self.clock.now()
            if self._session is not None:
                with contextlib.suppress(*_DB_ERRORS):
                    self.store.end_session(self._session, end, "stopped")
            self.view.close()
            self.view.line(end, "monitor stopped: the band is NOT being watched any more", "fault")

    async def _supervise(self, loop_fn: Callable[[], Any], name: str) -> None:
        """Run a loop; an unexpected error is reported loudly and the loop restarts."""
        while not self._stop.is_set():
            try:
                await loop_fn()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the night's watch silently
                self.faults.host_crashed(f"internal error in the monitor's {name} loop: {type(exc).__name__}: {exc}")
                await self._faults_changed()
                await asyncio.sleep(0.5)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the link ------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base = min(self.s.backoff_max_s, self.s.backoff_min_s * 2 ** min(attempt - 1, 16))
        return base * (0.75 + 0.5 * random.random())

    async def _link_loop(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self.link_state = "connecting" if attempt == 0 else f"out of reach, reconnecting (attempt {attempt + 1})"
            try:
                resume = self.store.last_seq(self.band_id)
            except _DB_ERRORS:
                # Resume after what is committed, never after what was only fed to the rule: the band must resend
                # what the log does not hold.
                resume = self._committed.get(self._last_boot) if self._last_boot is not None else None
            try:
                row = self.store.db.execute("SELECT boot FROM events WHERE band = ? AND seq = ? ORDER BY id DESC LIMIT 1",
                                            (self.band_id, resume)).fetchone() if resume is not None else None
            except _DB_ERRORS:
                row = None
            try:
                await self.link.connect(resume, None if row is None else row[0] & 0xFFFF)  # its boot id
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # LinkError, or whatever a Bluetooth stack raises
                attempt += 1
                delay = self._backoff(attempt)
                self.link_state = f"out of reach, reconnecting in {duration_text(delay)} (attempt {attempt})"
                self._out_of_reach(attempt, f"cannot connect: {type(exc).__name__}: {exc}")
                await self._sleep_or_stop(delay)
                continue
            attempt = 0
            self._unreachable_since = None
            self.connected = True
            self.link_state = "connected"
            self.view.line(self.clock.now(), "connected to the band", "ok",
                           detail=f"band {self.band_id}" + ("" if resume is None else f", resuming after event {resume}"))
            try:
                await self._receive()
            except LinkError as exc:
                self._out_of_reach(0, f"{type(exc).__name__}: {exc}")
            finally:
                self.connected = False
                self.link_state = "out of reach, reconnecting"
                with contextlib.suppress(Exception):
                    await self._bounded(self.link.disconnect(), "disconnect")

    def _out_of_reach(self, attempt: int, detail: str) -> None:
        """Say once that the band is out of reach, then every tenth failed attempt; each one with --verbose."""
        now = self.clock.now()
        if self._unreachable_since is None:
            self._unreachable_since = now
            self.view.line(now, "band out of reach; reconnecting", "warning", detail=detail)
        elif attempt % 10 == 0:
            self.view.line(now, f"band still out of reach (since {clock_text(self._unreachable_since)}); reconnecting",
                           "warning", detail=detail)
        elif self.view.verbose:
            self.view.line(now, f"reconnecting (attempt {attempt})", "info", detail=detail)

    async def _sleep_or_stop(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()

    async def _receive(self) -> None:
        self._next_status = self.clock.monotonic() + self.s.status_s
        await self._read_status()
        while not self._stop.is_set():
            e = await self._next_event(self.s.poll_s)
            await self._take_early()
            if e is None:
                continue
            batch = [e]
            while len(batch) < self.s.batch:
                more = await self._next_event(self.s.drain_s)
                if more is None:
                    break
                batch.append(more)
            await self._handle(batch)

    async def _next_event(self, timeout: float) -> DeviceEvent | None:
        """link.next_event, bounded: a link that overstays its timeout (a bug there) must not stall the watch."""
        try:
            return await asyncio.wait_for(self.link.next_event(timeout), timeout + self.s.guard_s)
        except asyncio.TimeoutError:
            self.overstays += 1
            return None

    async def _bounded(self, call: Any, what: str) -> Any:
        """A link call that must not hang the monitor: after link_call_s (real) it counts as a lost link."""
        try:
            return await asyncio.wait_for(call, self.s.link_call_s)
        except asyncio.TimeoutError:
            raise LinkLost(f"the band did not answer a {what} within {self.s.link_call_s:g} s") from None

    async def _status_poll(self) -> None:
        with contextlib.suppress(LinkError):  # the receive loop notices a lost link
            await self._read_status()

    async def _read_status(self) -> None:
        st = await self._bounded(self.link.status(), "status read")
        self.faults.data(self.clock.monotonic())
        self.battery = (st.battery_pct, st.battery_mv)
        self.worn = st.worn
        self.faults.status(st.battery_pct, st.worn, st.battery_mv)
        await self._faults_changed()

    async def _handle(self, batch: list[DeviceEvent]) -> None:
        """Commit, feed the alarm rule, acknowledge.

        The rule is fed from what was received, whatever the log does (a full disk, a read-only remount, another
        process's write lock must not silence an episode), and before the acknowledgement: a radio drop between
        commit and acknowledgement must not skip the rule for the batch (the band resends it, but the log then
        calls it old).
        """
        now = self.clock.now()
        self.received += len(batch)
        mono = self.clock.monotonic()
        self.faults.data(mono)
        self._band_now = (batch[-1].t_ms, mono)
        lost: LinkError | None = None
        async with self._flush_lock:
            self.pending.extend(batch)
            if len(self.pending) > self.s.max_pending:
                # Forget the newest, never the oldest: acknowledging a later event would release older ones the
                # log never got. The newest stay on the band (not acknowledged) and come again on a reconnect.
                del self.pending[self.s.max_pending:]
            flags, ack = self._commit(now)
        for e in batch:
            if e.seq is None or e.boot is None:
                continue  # the log refused it and said so
            # False: a resend the log already holds. None: not written (the log is failing): judged by what
            # the rule has seen, so an event received again after the log recovers is not fed twice.
            new = flags.get((e.boot, e.seq))
            if new is not False and e.seq > self._fed.get(e.boot, -1):
                self._fed[e.boot] = e.seq
                await self._consume(e, now)
        await self._faults_changed()
        if ack is not None:
            try:
                await self._bounded(self.link.ack(*ack), "acknowledgement")  # only now may the band forget them
            except LinkError as exc:
                lost = exc
        if lost is not None:
            raise lost  # committed; the band resends and the log ignores the repeats

    async def _take_early(self) -> None:
        """Decide on the alarm-relevant events the band sent ahead of its in-order stream.

        The band sends them when its window of unacknowledged events is full, which happens when the log cannot
        be written: the episode must still alarm. They are for the rule only; each comes again in order to be
        logged, and is not fed twice (`_fed` counts it). An early event passes over older in-order events the
        rule has not seen; those are older news of the same or an earlier episode, and the later event decides.
        """
        early = self.link.take_early()
        if not early:
            return
        now = self.clock.now()
        self.faults.data(self.clock.monotonic())
        for e in early:
            if e.boot is None or e.seq is None or e.seq <= self._fed.get(e.boot, -1):
                continue
            self._fed[e.boot] = e.seq
            self.early_heard += 1
            await self._consume(e, now)
        await self._faults_changed()

    def _commit(self, now: float) -> tuple[dict[tuple[int | None, int | None], bool], tuple[int, int] | None]:
        """Commit pending events: ({(boot, seq): new}, (boot, seq) to acknowledge). ({}, None) if the log failed."""
        if not self.pending:
            return {}, None
        batch = self.pending
        try:
            flags = self.store.insert_events(self.band_id, batch, now)
        except ValueError as exc:  # an event the log refuses: log the others one by one, report the bad one
            flags = []
            for e in batch:
                try:
                    flags += self.store.insert_events(self.band_id, [e], now)
                except ValueError as one:
                    flags.append(False)
                    self.view.line(now, "the log refused an event from the band", "warning", detail=str(one))
                except _DB_ERRORS as db_exc:
                    self._log_failed(db_exc)
                    return {}, None
            self.view.line(now, "some events from the band were refused", "warning", detail=str(exc))
        except _DB_ERRORS as exc:
            self._log_failed(exc)
            return {}, None
        self.faults.log_write(None)
        self.pending = []
        self.logged += sum(flags)
        for e in batch:
            if e.boot is not None and e.seq is not None:
                self._committed[e.boot] = max(e.seq, self._committed.get(e.boot, -1))
                self._last_boot = e.boot
        last = batch[-1]
        ack = None if last.boot is None or last.seq is None else (last.boot, last.seq)
        return {(e.boot, e.seq): new for e, new in zip(batch, flags, strict=True)}, ack

    def _log_failed(self, exc: BaseException) -> None:
        self.faults.log_write(str(exc))
        if "full" in str(exc) or getattr(exc, "errno", None) == errno.ENOSPC:
            # Free what the write-ahead file holds: on a nearly full disk it is what keeps the log from recovering.
            with contextlib.suppress(Exception):
                self.store.checkpoint()

    async def _flush_pending(self, ack: bool = True) -> None:
        if not self.pending:
            return
        async with self._flush_lock:
            _, last = self._commit(self.clock.now())
            if last is not None and ack and self.connected:
                with contextlib.suppress(LinkError):  # committed; the band resends and the log ignores the repeats
                    await self._bounded(self.link.ack(*last), "acknowledgement")

    # -- what events mean ---------------------------------------------------------------------------

    async def _consume(self, e: DeviceEvent, now: float) -> None:
        self.faults.event(e)
        f = e.fields
        if e.kind == "status":
            self.battery = (f.get("battery_pct", 0), f.get("battery_mv", 0))
            self.worn = bool(f.get("worn", 1))
        elif e.kind == "activity":
            # Say which minute it is about: during an episode the latest minute is already in the past.
            self.activity = (f"minute to {clock_text(self._wall_of(e.t_ms, now))}: movement "
                             f"{f.get('movement_mg', 0)} mg, active {f.get('active_s', 0)} s/min, {f.get('jerks', 0)} jerks")
        elif e.kind in ("start", "update"):
            self.episode = (e.boot or 0, f["onset_ms"], e.t_ms)
        elif e.kind in ("end", "boot"):
            self.episode = None
        if e.kind == "start":
            self.view.line(now, f"rhythmic movement started at {clock_text(self._wall_of(f['onset_ms'], now))}, "
                                f"{f.get('freq_chz', 0) / 100:.1f} Hz", "info", detail=f"band t={f['onset_ms']} ms")
        elif e.kind == "end":
            self.view.line(now, f"rhythmic movement ended after {duration_text(f.get('dur_ms', 0) / 1000)}, "
                                f"{f.get('freq_chz', 0) / 100:.1f} Hz", "info")
        for d in self.rule.feed(e):
            await self._decision(d, e, now)

    def _wall_of(self, t_ms: int, now: float) -> float:
        """The wall time of a moment on the band's clock, from the latest event received (band time, monotonic)."""
        if self._band_now is None:
            return now
        band_t, at = self._band_now
        band_now_ms = band_t + (self.clock.monotonic() - at) * 1000
        return now - max(0.0, band_now_ms - t_ms) / 1000

    def command(self, *words: str) -> str:
        """A command for this monitor's log, as it works when typed here: the --db only when it is not the
        default log."""
        import shlex

        if self._db_args is None:
            from .store import default_db_path

            default = Path(self.store.path).resolve() == Path(default_db_path()).resolve()
            self._db_args = [] if default else ["--db", str(self.store.path)]
        return " ".join([self.cli, *(shlex.quote(w) for w in [*words, *self._db_args])])

    async def _decision(self, d: AlarmDecision, e: DeviceEvent, now: float) -> None:
        key = ("episode", e.boot, d.onset_ms)
        a = self.active.get(key)
        if d.level == "clear":
            if a is not None:
                a.present = False
                if a.acked:
                    del self.active[key]
            self._suggest_triage(e, d, now)
            return
        dur = duration_text(d.duration_ms / 1000)
        what, advice = ALARM_TEXT[d.level]
        msg = f"{what} for {dur} at {d.freq_chz / 100:.1f} Hz{advice}"
        loud = d.level != "notice"
        if a is None:
            a = ActiveAlarm(key, d.level, d.level, msg, now, loud)
            self.active[key] = a
        else:
            a.level, a.code, a.message, a.loud = d.level, d.level, msg, a.loud or loud
            a.acked, a.muted_until = False, None  # a higher level sounds, mute or not
        self._log_alarm(a, d.level, now, dict(band_id=self.band_id, boot=e.boot, t_ms=d.t_ms, onset_ms=d.onset_ms,
                                              message=msg))
        await self._announce(a, AlarmRecord(d.level, d.level, msg, now, d.t_ms))

    def _suggest_triage(self, e: DeviceEvent, d: AlarmDecision, now: float) -> None:
        """After an alarmed episode: where to record what the parents saw (the triage questions)."""
        try:
            episode_id = self.store.episode_id(self.band_id, e.boot or 0, d.onset_ms)
        except _DB_ERRORS:
            episode_id = None
        if episode_id is None:
            return
        self.last_alarmed_episode = episode_id
        self.view.line(now, f"episode {episode_id} is over ({duration_text(d.duration_ms / 1000)}). When the baby is "
                            f"safe, record what you saw: press t here, or run {self.command('triage', str(episode_id))}",
                       "info")

    async def triage(self, episode_id: int | None = None, inp: Any = None, out: Any = None) -> dict[str, Any] | None:
        """The triage questions about an episode (default: the last one that alarmed), answers saved with it.

        The questions run in a thread with a log connection of their own; the monitor goes on watching meanwhile.
        Its log lines are held until the answers are in (printed into a question they would garble it); an ALARM,
        ESCALATION or FAULT is never held: its banner goes over the question, the alarm sounds, and the question
        is written again.
        """
        episode_id = episode_id if episode_id is not None else self.last_alarmed_episode
        now = self.clock.now()
        if episode_id is None:
            self.view.line(now, "no alarmed episode to ask about yet", "info")
            return None
        if self._triage_running:
            return None
        self._triage_running = True
        echo = _PromptEcho(out if out is not None else self.view.out)
        self.view.pause(prompt=echo.pending)
        path = self.store.path

        def ask() -> dict[str, Any]:
            from .triage import after_alarm

            store = Store(path)
            try:
                return after_alarm(store, episode_id, inp or sys.stdin, echo)  # type: ignore[no-any-return,arg-type]
            finally:
                store.close()

        error: Exception | None = None
        try:
            result = await _in_daemon_thread(ask)
        except Exception as exc:  # a problem in the questions must not stop the watch
            error = exc
        finally:
            self.view.resume()  # the held lines now, after the answers
            self._triage_running = False
        if error is not None:
            self.view.line(self.clock.now(), "the triage questions stopped before the end; nothing was saved",
                           "warning", detail=f"{type(error).__name__}: {error}")
            return None
        self.view.line(self.clock.now(), f"triage of episode {episode_id}: {str(result.get('level', '?')).upper()} "
                                         f"(saved with the episode; `{self.command('triage', str(episode_id), '--show')}` "
                                         "prints it again)", "info")
        return result

    async def _faults_changed(self) -> None:
        """Raise and clear faults: decided on the monotonic clock, logged at wall time."""
        for ch in self.faults.check(self.clock.monotonic()):
            await self._fault(ch, self.clock.now())

    async def _fault(self, ch: FaultChange, now: float) -> None:
        if ch.raised:
            if ch.code in ONE_SHOT:
                self._fault_n += 1
                key: tuple[Any, ...] = ("fault", ch.code, self._fault_n)
            else:
                key = ("fault", ch.code)
            a = ActiveAlarm(key, ch.level, ch.code, ch.message, now, loud=ch.level == "fault",
                            present=ch.code not in ONE_SHOT)
            self._log_alarm(a, ch.level, now, dict(band_id=self.band_id, code=ch.code, message=ch.message),
                            fault=ch.code != "log_write")
            if self.muted_until is not None and self.clock.monotonic() < self.muted_until and ch.code in self._muted_codes:
                a.acked, a.muted_until = True, self.muted_until  # the same trouble again within the mute
            self.active[key] = a
            await self._announce(a, AlarmRecord(ch.level, ch.code, ch.message, now))
        else:
            gone = self.active.pop(("fault", ch.code), None)
            if gone is not None:
                for i in gone.ids:
                    with contextlib.suppress(*_DB_ERRORS):
                        self.store.end_alarm(i, now)
            self.view.line(now, f"resolved: {CODES.get(ch.code, ch.code.replace('_', ' '))}", "ok")
            self.outputs.changed()

    def _log_alarm(self, a: ActiveAlarm, level: str, at: float, kw: dict[str, Any], fault: bool = True) -> None:
        """Log an alarm; if the log cannot take it now, keep it and try again every tick (`_retry_unlogged`)."""
        try:
            a.ids.append(self.store.add_alarm(level, at, **kw))
        except _DB_ERRORS as exc:
            if fault:
                self.faults.log_write(str(exc))
            if len(self._unlogged) < 10_000:
                self._unlogged.append((a, level, at, kw))

    def _retry_unlogged(self) -> None:
        """Alarms the log could not take, and a probe of a log said to be failing: a write that works clears the
        log_write fault even when no event is waiting."""
        while self._unlogged:
            a, level, at, kw = self._unlogged[0]
            try:
                a.ids.append(self.store.add_alarm(level, at, **kw))
            except _DB_ERRORS:
                return
            self._unlogged.pop(0)
            self.faults.log_write(None)
        if "log_write" in self.faults.active and not self.pending and self._session is not None:
            with contextlib.suppress(*_DB_ERRORS):
                self.store.session_alive(self._session, self.clock.now())
                self.faults.log_write(None)

    async def _announce(self, a: ActiveAlarm, rec: AlarmRecord) -> None:
        self.raised.append(rec)
        self.view.line(rec.at, a.describe() + (" (muted)" if a.acked else ""), a.level)
        if self.on_alarm:
            self.on_alarm(rec)
        self.outputs.changed()
        if a.level != "warning":
            self._spawn(self._notify(a))
        if a.loud and not a.acked:
            self._last_sound = self.clock.monotonic()
            self._spawn(self._sound(a, rec))

    async def _notify(self, a: ActiveAlarm) -> None:
        if not self.notifier.enabled:
            return
        err = await self.notifier.send(f"anklet {a.level.upper()}", a.message, critical=a.level != "notice")
        if err and self.notifier.sent == 0 and "notify" not in self._sound_errors:
            self._sound_errors.add("notify")
            self.faults.notify_failed(err)
            await self._faults_changed()

    async def _sound(self, a: ActiveAlarm | None, rec: AlarmRecord | None = None) -> None:
        result = await self.sound.play()
        if rec is not None:
            rec.sounded = str(result)
        if a is not None:
            for i in a.ids[-1:]:
                with contextlib.suppress(*_DB_ERRORS):
                    self.store.set_sounded(i, str(result))
        if result.error and result.error not in self._sound_errors:
            self._sound_errors.add(result.error)
            self.faults.sound_failed(f"{result.error}; used {result.how}")
            await self._faults_changed()

    # -- acknowledge and mute --------------------------------------------------------------------

    def acknowledge(self, by: str = "key", mute_s: float | None = None) -> int:
        """Silence every active alarm and mute them for mute_s; return how many were acknowledged."""
        now, mono = self.clock.now(), self.clock.monotonic()
        mute = self.s.mute_s
        if mute_s is not None:
            try:
                mute = check_mute_s(mute_s)
            except ValueError as exc:  # an old or hand-made request: the default mute, and say so
                self.view.line(now, f"{exc}; muting for the default {duration_text(mute)}", "warning")
        ids: list[int] = []
        n = 0
        for key, a in list(self.active.items()):
            if a.acked:
                continue
            n += 1
            a.acked, a.muted_until = True, mono + mute
            ids += a.ids
            if key[0] == "fault":
                self._muted_codes.add(a.code)
            if not a.present:
                del self.active[key]
        if n:
            self.muted_until = mono + mute
        with contextlib.suppress(*_DB_ERRORS):
            self.store.ack_alarms(ids, now, by)
        if n:
            still = [a for a in self.active.values() if a.present]
            tail = f"; still present, they sound again at {clock_text(now + mute)} unless resolved" if still else ""
            self.view.line(now, f"acknowledged {n} alarm(s) ({by}); muted for {duration_text(mute)}{tail}", "ok")
        else:
            self.view.line(now, f"nothing to acknowledge ({by})", "info")
        self.outputs.acknowledged(by, n)
        return n

    # -- housekeeping ------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        next_beat = 0.0
        while not self._stop.is_set():
            await self.clock.sleep(self.s.tick_s)
            now = self.clock.now()
            await self.tick(now)
            mono = self.clock.monotonic()
            if self._session is not None and mono >= next_beat:
                next_beat = mono + self.s.heartbeat_s
                with contextlib.suppress(*_DB_ERRORS):
                    self.store.session_alive(self._session, now)

    async def tick(self, now: float | None = None) -> None:
        """Housekeeping; `now` is the wall time for the log, every delay is timed on the monotonic clock."""
        now = self.clock.now() if now is None else now
        mono = self.clock.monotonic()
        self._check_log_file(now)
        try:
            requests = self.store.take_requests(now)
        except _DB_ERRORS:
            requests = []
        for r in requests:
            if r["action"] == "ack":
                self.acknowledge(by=r.get("source") or "cli", mute_s=r.get("mute_s"))
        if self.pending:
            await self._flush_pending()
        self._retry_unlogged()
        if self.connected and mono >= self._next_status and (self._status_task is None or self._status_task.done()):
            # Here, not in the receive loop (it may be waiting), and in a task of its own: a slow band must not
            # hold up the fault checks below.
            self._next_status = mono + self.s.status_s
            self._status_task = asyncio.create_task(self._status_poll())
        if self.host_probes and mono >= self._next_host and (self._host_task is None or self._host_task.done()):
            self._next_host = mono + self.s.host_check_s
            self._host_task = asyncio.create_task(self._host_check())
        await self._faults_changed()
        if self.muted_until is not None and mono >= self.muted_until:
            self.muted_until = None
            self._muted_codes.clear()
        for key, a in list(self.active.items()):
            if a.acked and a.muted_until is not None and mono >= a.muted_until:
                if a.present:
                    a.acked, a.muted_until = False, None
                    await self._announce(a, AlarmRecord(a.level, a.code, "mute over, still: " + a.message, now))
                else:
                    del self.active[key]
        loud = [a for a in self.active.values() if a.loud and not a.acked]
        if loud and mono - self._last_sound >= self.s.repeat_s:
            self._last_sound = mono
            self._spawn(self._sound(None))
        self.view.update(self.snapshot(now))
        self.outputs.tick(now)

    def host_event(self, code: str, message: str) -> None:
        """Something the computer itself announced (about to sleep): a one-shot FAULT, sounded and published now."""
        self.faults.host(code, message, once=True)
        self._spawn(self._faults_changed())

    async def _host_check(self) -> None:
        """Run the computer's probes in a thread (they may run a command) and raise or clear their FAULTs."""
        probes = list(self.host_probes)

        def run_all() -> list[tuple[Any, str | None]]:
            out = []
            for p in probes:
                try:
                    out.append((p, p.check()))
                except Exception:  # a probe that breaks knows nothing: unknown is not a fault
                    out.append((p, None))
            return out

        for probe, problem in await asyncio.to_thread(run_all):
            self.faults.host(probe.code, problem, once=probe.once)
        await self._faults_changed()

    def _check_log_file(self, now: float) -> None:
        """The log file deleted or replaced under the monitor: say so loudly, write a new one, keep logging."""
        if not self.store.replaced():
            return
        try:
            kept = self.store.reopen()
            self.store.set_busy_timeout(LOCK_WAIT_S)
        except (*_DB_ERRORS, StoreError) as exc:
            if not self._log_lost:
                self._log_lost = True
                self.faults.log_deleted(f"the log file {self.store.path} was deleted or replaced and cannot be "
                                        f"written again ({exc}); events stay in memory and on the band")
            self.faults.log_write(str(exc))
            return
        self._log_lost = False
        self.faults.log_deleted(f"the log file {self.store.path} was deleted or replaced during the night; it was "
                                f"written again from what the monitor held ({kept} events) and logging goes on")

    def snapshot(self, now: float | None = None) -> Snapshot:
        now = self.clock.now() if now is None else now
        mono = self.clock.monotonic()
        episode = ""
        if self.episode is not None and self._band_now is not None:
            boot, onset, _ = self.episode
            band_t, at = self._band_now
            running = (band_t + (mono - at) * 1000 - onset) / 1000
            level = self.rule.level
            since = clock_text(self._wall_of(onset, now))
            episode = (f"rhythmic movement for {duration_text(max(0.0, running))}, since {since}"
                       + (f" ({level.upper()})" if level else ""))
        alarms = sorted((a for a in self.active.values() if not a.acked), key=lambda a: (_RANK.get(a.level, 9), a.since))
        muted = None if self.muted_until is None else max(0.0, self.muted_until - mono)
        return Snapshot(
            now=now, band=self.band_id, link=self.link_state, silent_s=self.faults.silent_for(mono),
            battery_pct=self.battery[0] if self.battery else None, battery_mv=self.battery[1] if self.battery else None,
            worn=self.worn, activity=("shaking now; " + self.activity) if episode and self.activity else self.activity,
            episode=episode, alarms=[a.describe() for a in alarms], muted_s=muted, logged=self.logged,
            ack_command=self.command("ack"),
        )

    # -- the acknowledge key ----------------------------------------------------------------------

    def _start_keys(self) -> Callable[[], None] | None:
        if not sys.stdin.isatty():
            return None
        try:
            import termios
            import tty
        except ImportError:  # Windows: `anklet ack` from another terminal
            return None
        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        loop = asyncio.get_running_loop()

        def on_key() -> None:
            ch = os.read(fd, 1)
            if ch in (b"a", b"A", b" ", b"\n"):
                self.acknowledge("key")
            elif ch in (b"t", b"T") and not self._triage_running:
                # The questions want whole lines: give the terminal back its line mode meanwhile.
                loop.remove_reader(fd)
                termios.tcsetattr(fd, termios.TCSADRAIN, old)
                self._spawn(questions())

        async def questions() -> None:
            try:
                await self.triage()
            finally:
                if not self._stop.is_set():
                    tty.setcbreak(fd)
                    loop.add_reader(fd, on_key)

        loop.add_reader(fd, on_key)

        def restore() -> None:
            with contextlib.suppress(Exception):
                loop.remove_reader(fd)
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

        return restore


class _PromptEcho:
    """The triage questions' output stream, remembering the line being written (the question waiting for its
    answer) so that an alarm printed over it can write it again."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self._tail = ""

    def write(self, text: str) -> int:
        self._tail = (self._tail + text).rpartition("\n")[2]
        return int(self.out.write(text) or 0)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.out.flush()

    def pending(self) -> str:
        return self._tail


async def _in_daemon_thread(fn: Callable[[], Any]) -> Any:
    """Run fn in a daemon thread: one blocked reading the terminal must not keep the process from exiting."""
    import threading

    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)

    def work() -> None:
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=work, name="anklet-triage", daemon=True).start()
    return await fut


# -- `anklet monitor` ----------------------------------------------------------------------------------


def _open_ble_link(band: str | None) -> BandLink:
    from .cli import CliError

    try:
        from . import ble  # the Bluetooth issue's module
    except ImportError as exc:
        raise CliError(f"Bluetooth support is not available ({exc}); `anklet demo` runs without it") from exc
    # One attempt per connect: the monitor owns the backoff between attempts (Settings.backoff_*), so a band back
    # in range is found within backoff_max_s of a scan, not after the link's own retries (3 x 10 s).
    return ble.open_link(band, attempts=1)  # CliError with advice when the band is not paired


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("monitor", help="watch the band all night: log, alarms, faults",
                              description="Connect to the paired band and watch it: log every event, alarm on "
                                          "prolonged rhythmic shaking, raise FAULT alarms when watching stops.")
    from .config import add_setting_args

    add_setting_args(p)  # --config, --band, --alarm-s, ..., --web: they override config.toml (`anklet config`)
    p.add_argument("--db", help="the log (default: $ANKLET_DB or ~/.local/share/anklet/anklet.db)")
    p.add_argument("--verbose", action="store_true",
                   help="also print what the radio and its libraries report (connection errors and their causes)")
    p.add_argument("--no-sentinel", action="store_true",
                   help="do not start the sentinel process that alarms if the monitor itself dies or hangs")
    p.set_defaults(func=_cmd_monitor)


def _cmd_monitor(args: Any) -> int:
    from .cli import CliError
    from .config import monitor_config
    from .store import StoreError, default_db_path

    cfg, settings, watcher = monitor_config(args)  # CliError naming the bad key
    radio_logs(args.verbose)
    try:
        store = Store(args.db or default_db_path())
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    link = _open_ble_link(cfg["band"])
    from .hostcheck import SleepInhibitor, default_probes, watch_sleep

    mon = Monitor(link, store, settings=settings, sound=Sound(cfg["alarm.sound"]), notifier=Notifier(cfg["alarm.notify"]),
                  view=StatusView(verbose=args.verbose), outputs=watcher.outputs(),
                  host_probes=default_probes(store.path))
    watcher.follow(mon)
    inhibitor = SleepInhibitor()
    if inhibitor.start():
        mon.view.line(time.time(), "the computer will not sleep while the monitor runs (systemd-inhibit)", "ok")
    else:
        mon.view.line(time.time(), f"no sleep inhibitor ({inhibitor.why_not}): make sure this computer does not "
                                   "sleep at night; if it does, anklet says so when it wakes", "warning")

    def start_sentinel(session_id: int) -> None:
        # A process of its own (own session: a Ctrl-C or a kill of the monitor's group spares it) that sounds a
        # FAULT alarm if this monitor stops beating without a clean stop (anklet.faults.sentinel).
        cmd = [sys.executable, "-m", "anklet.faults", "--db", str(store.path), "--session", str(session_id),
               "--sound", cfg["alarm.sound"]]
        try:
            subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            mon.view.line(time.time(), "the watchdog for the monitor could not start: if the monitor dies, nothing will "
                                       "say so", "warning", detail=f"sentinel process: {exc}")

    if not args.no_sentinel:
        mon.on_session = start_sentinel

    async def main() -> None:
        with contextlib.suppress(NotImplementedError, AttributeError):  # Windows: Ctrl-C only
            import signal

            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, mon.stop)  # a clean stop, not a crash
        task = asyncio.create_task(mon.run(keys=True))
        watch = asyncio.create_task(watcher.run())  # config.toml changes: taken over, or refused and said so

        def sleeping(going: bool) -> None:
            if going:
                mon.host_event("host_sleeping", "the computer is going to sleep now: the band will not be watched "
                                                "until it wakes; switch off its sleep (or keep a laptop's lid open)")

        sleep_watch = asyncio.create_task(watch_sleep(sleeping))  # logind's PrepareForSleep, where there is one
        try:
            await task
        except asyncio.CancelledError:
            mon.stop()
            await task
        finally:
            watch.cancel()
            sleep_watch.cancel()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        inhibitor.stop()
        store.close()
    sys.stdout.write("\a")
    return 0
